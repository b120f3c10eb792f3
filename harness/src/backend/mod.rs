//! Backends: where scenarios run. A backend gives each scenario a [`Stage`]: a Kubernetes
//! client, a kubeconfig for `command` steps, a way to serve the scenario's Git repos to Flux,
//! a way to wait until the platform has reacted, and the list of what it cannot faithfully
//! show. The runner only talks to the stage; it never asks which backend it has.
//!
//! `sim` gives every scenario its own simulated platform (API server, Gatekeeper and Flux per
//! the scenario's profile, its repos) with a loopback port for commands, so parallel scenarios
//! cannot see each other's cluster-scoped objects. `cluster` shares an existing cluster between
//! scenarios (isolated by namespace only). `kind` comes with its own issue.
//!
//! AWS: the run's emulator (moto, LocalStack on the host or in Docker) or an external endpoint,
//! chosen with `--aws` ([`aws::AwsChoice`]); a scenario needing a service it lacks fails before
//! its stage is made ([`aws`]).
//!
//! [`cluster_checks`]: the `cluster` backend's preconditions (components installed and ready,
//! the AWS identity), reported before a run.

pub mod aws;
pub mod cluster_checks;
pub mod kind;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sim::apiserver::{kubeconfig, RunningServer};
use sim::aws::emulator::{Moto, MotoOptions};
use sim::aws::localstack::{ContainerOptions, LocalStack, LocalStackContainer, LocalStackOptions};
use sim::aws::AwsTarget;
use sim::git::{Change, RepoHandle, RepoSpec, Sha};
use sim::platform::{Platform, PlatformConfig, Tools};

use crate::scenario::Loaded;

/// Errors setting up a backend or a scenario's stage.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot start the simulator: {0}")]
    Sim(#[from] sim::apiserver::ServeError),
    #[error("cannot start the simulated platform: {0}")]
    Platform(#[from] sim::platform::PlatformError),
    #[error("cannot write the simulator's kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create a temporary directory: {0}")]
    TempDir(#[source] std::io::Error),
    #[error("cannot load the kubeconfig: {0}")]
    Config(String),
    #[error("{0}")]
    Profile(String),
    #[error("the scenario needs AWS, but {0}")]
    NoAws(&'static str),
    #[error("{0}")]
    Emulator(#[from] sim::aws::emulator::EmulatorError),
    #[error("{0}")]
    LocalStack(#[from] sim::aws::localstack::LocalStackError),
    #[error("{0}")]
    MissingService(#[from] aws::MissingService),
    #[error("--aws {0} runs the emulator on this machine's loopback, which the cluster's controllers cannot reach: on --backend cluster use --aws external (the AWS_* variables, with AWS_ENDPOINT_URL for an emulator the cluster can reach)")]
    AwsUnreachable(aws::AwsChoice),
}

/// Errors of a stage operation (repos, settling).
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("the {backend} backend cannot {what} yet")]
    Unsupported { backend: &'static str, what: &'static str },
    #[error("{0}")]
    Git(#[from] sim::git::GitError),
    #[error("{0} is not one of the scenario's repos")]
    UnknownRepo(String),
    #[error("{0}")]
    Settle(#[from] sim::runtime::SettleError),
    #[error("git work failed: {0}")]
    Join(String),
}

/// Which backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    Sim,
    Kind,
    Cluster,
}

enum Mode {
    Sim {
        tools: Tools,
    },
    Cluster {
        client: kube::Client,
        kubeconfig: PathBuf,
    },
    /// A kind cluster `kind up` made ready: its client, the scenario repos the interception
    /// front serves to its Flux, and the front itself (stopped with the backend).
    Kind {
        client: kube::Client,
        kubeconfig: PathBuf,
        repos: sim::git::Repos,
        front: Box<kind::interception::Front>,
        _dir: tempfile::TempDir,
    },
}

/// A backend for a run.
pub struct Backend {
    pub name: &'static str,
    /// What this backend cannot show faithfully, said once per run.
    pub fidelity_notes: Vec<String>,
    mode: Mode,
    aws: AwsMode,
}

/// Where kubectl (and its built-in kustomize, which the simulated Flux runs) is:
/// `IDP_HARNESS_KUBECTL`, else the set-up's `.venv/bin/kubectl`, else `kubectl` on PATH.
pub fn find_kubectl() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("IDP_HARNESS_KUBECTL") {
        return Some(PathBuf::from(p));
    }
    find_in_venv("kubectl").or_else(|| {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("kubectl")).find(|p| p.is_file()))
    })
}

/// Where idp-harness keeps what it can reuse between runs (kustomize outputs keyed by their
/// complete inputs): `IDP_HARNESS_CACHE_DIR`, else `$XDG_CACHE_HOME/idp-harness`, else
/// `~/.cache/idp-harness`. `IDP_HARNESS_CACHE=off` turns it off.
pub fn build_cache_dir() -> Option<PathBuf> {
    if std::env::var("IDP_HARNESS_CACHE").is_ok_and(|v| v == "off" || v == "0" || v == "false") {
        return None;
    }
    if let Some(d) = std::env::var_os("IDP_HARNESS_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("idp-harness"))
}

/// The set-up venv's Python, which runs the AWS emulator moto: `IDP_HARNESS_PYTHON`, else
/// `.venv/bin/python`.
pub fn find_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("IDP_HARNESS_PYTHON") {
        return Some(PathBuf::from(p));
    }
    find_in_venv("python")
}

/// Where LocalStack's venv Python should be (`make localstack-setup` makes it):
/// `IDP_HARNESS_LOCALSTACK_PYTHON`, else `localstack/.venv/bin/python` found as
/// `.venv/bin/python` is, else that path under the current directory (which may not exist).
pub fn localstack_python() -> PathBuf {
    if let Some(p) = std::env::var_os("IDP_HARNESS_LOCALSTACK_PYTHON") {
        return PathBuf::from(p);
    }
    let rel = Path::new("localstack/.venv/bin/python");
    find_in_workspace(rel).unwrap_or_else(|| std::path::absolute(rel).unwrap_or_else(|_| rel.to_path_buf()))
}

/// `.venv/bin/<name>` under the current directory, next to the binary's target directory, or
/// in this workspace.
fn find_in_venv(name: &str) -> Option<PathBuf> {
    find_in_workspace(&PathBuf::from(".venv/bin").join(name))
}

/// `rel` under the current directory, next to the binary's target directory, or in this
/// workspace.
fn find_in_workspace(rel: &Path) -> Option<PathBuf> {
    let rel = rel.to_path_buf();
    let mut candidates = vec![rel.clone()];
    if let Ok(exe) = std::env::current_exe() {
        // target/<profile>/[deps/]idp-harness → the workspace root.
        for up in exe.ancestors().skip(2).take(3) {
            candidates.push(up.join(&rel));
        }
    }
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(&rel));
    let found = candidates.into_iter().find(|p| p.is_file())?;
    Some(std::path::absolute(&found).unwrap_or(found))
}

/// True when a scenario talks to AWS: its profile has a component that does (given only for
/// the simulator, whose components the harness runs), it has initial AWS state, or it expects
/// AWS state.
pub fn needs_aws(loaded: &Loaded, profile: Option<&sim::platform::Profile>) -> bool {
    fn steps_need(steps: &[serde_saphyr::Spanned<crate::scenario::Step>]) -> bool {
        steps.iter().any(|s| {
            let s = &s.value;
            s.expect.as_ref().is_some_and(|e| e.0.iter().any(|e| e.aws.is_some()))
                || [&s.try_, &s.catch, &s.finally, &s.cleanup].iter().any(|b| b.as_ref().is_some_and(|b| steps_need(b)))
        })
    }
    profile.is_some_and(|p| p.uses_aws())
        || loaded.scenario.spec.aws.is_some()
        || steps_need(&loaded.scenario.spec.steps)
}

/// Where a run's AWS calls go. Emulators start on first need and are shared by the run's
/// scenarios, each in its own account.
enum AwsMode {
    /// A moto server.
    Moto { python: Option<PathBuf>, server: tokio::sync::OnceCell<Arc<Moto>> },
    /// LocalStack as a host process from `localstack/.venv`.
    LocalStack { python: PathBuf, server: tokio::sync::OnceCell<Arc<LocalStack>> },
    /// LocalStack in Docker.
    Container { options: ContainerOptions, server: tokio::sync::OnceCell<Arc<LocalStackContainer>> },
    /// An endpoint given by the environment (real AWS, or an emulator someone else runs).
    External(AwsTarget),
    /// None configured.
    Off(&'static str),
}

impl AwsMode {
    /// The services it has, for the check before a scenario runs; `None` when there is no AWS.
    fn provider(&self) -> Option<aws::Provider> {
        match self {
            AwsMode::Moto { .. } => Some(aws::Provider::Moto),
            AwsMode::LocalStack { .. } => Some(aws::Provider::LocalStackHost),
            AwsMode::Container { options, .. } if options.auth_token => Some(aws::Provider::LocalStackToken),
            AwsMode::Container { .. } => Some(aws::Provider::LocalStackArchive),
            AwsMode::External(_) => Some(aws::Provider::External),
            AwsMode::Off(_) => None,
        }
    }

    /// The mode for `choice` on a backend (`cluster`: only `external` can be reached).
    /// Checks at once what can be checked without starting anything (LocalStack's venv, the
    /// Docker CLI), so a wrong choice fails the run before any scenario.
    fn for_choice(choice: aws::AwsChoice, cluster: bool) -> Result<AwsMode, BackendError> {
        match choice {
            aws::AwsChoice::External => Ok(aws_from_env()),
            c if cluster => Err(BackendError::AwsUnreachable(c)),
            aws::AwsChoice::Moto => Ok(AwsMode::Moto { python: find_python(), server: Default::default() }),
            aws::AwsChoice::Localstack => {
                let python = localstack_python();
                if !python.is_file() {
                    return Err(sim::aws::localstack::LocalStackError::VenvMissing(python).into());
                }
                Ok(AwsMode::LocalStack { python, server: Default::default() })
            }
            aws::AwsChoice::LocalstackContainer => {
                let options = ContainerOptions::from_env();
                options.preflight()?;
                Ok(AwsMode::Container { options, server: Default::default() })
            }
        }
    }

    /// What the run's notes say about it.
    fn note(&self) -> Option<String> {
        match self {
            AwsMode::Moto { .. } => None,
            AwsMode::LocalStack { python, .. } => Some(format!(
                "AWS: LocalStack (localstack-core from {}, free services: IAM, STS, Secrets Manager, SSM, KMS); scenarios that need RDS or Organizations fail before they run",
                python.display()
            )),
            AwsMode::Container { options, .. } if options.auth_token => Some(format!(
                "AWS: LocalStack in Docker ({}, with LOCALSTACK_AUTH_TOKEN: every service assumed available)",
                options.image()
            )),
            AwsMode::Container { options, .. } => Some(format!(
                "AWS: LocalStack in Docker ({}, free services: IAM, STS, Secrets Manager, SSM, KMS); scenarios that need RDS or Organizations fail before they run",
                options.image()
            )),
            AwsMode::External(t) => Some(format!(
                "AWS: the external endpoint {} (region {})",
                t.endpoint.as_deref().unwrap_or("of real AWS"),
                t.region
            )),
            AwsMode::Off(_) => None,
        }
    }
}

/// The run's emulator, as a stage holds it: to tell a dead one from a failing check.
#[derive(Clone)]
enum Emulator {
    Moto(Arc<Moto>),
    LocalStack(Arc<LocalStack>),
    Container(Arc<LocalStackContainer>),
}

impl Emulator {
    fn check(&self) -> Result<(), String> {
        match self {
            Emulator::Moto(m) => m.check().map_err(|e| e.to_string()),
            Emulator::LocalStack(l) => l.check().map_err(|e| e.to_string()),
            Emulator::Container(c) => c.check().map_err(|e| e.to_string()),
        }
    }
}

impl Backend {
    /// The simulator: each scenario gets its own platform.
    pub async fn sim() -> Result<Backend, BackendError> {
        let kubectl = find_kubectl();
        let mut notes = vec![
            "pods run on virtual nodes (no image pulls, probes or crashes), and only secrets-store.csi.k8s.io volumes have files".to_string(),
            "time does not pass on the simulator: controllers run to a fixed point, so retries, intervals and health-check timeouts conclude at once".to_string(),
        ];
        if kubectl.is_none() {
            notes.push("kubectl was not found (run `make setup`): Flux Kustomizations cannot be built".into());
        }
        let aws = AwsMode::Moto { python: find_python(), server: Default::default() };
        Ok(Backend {
            name: "sim",
            fidelity_notes: notes,
            mode: Mode::Sim { tools: Tools { kubectl, build_cache: build_cache_dir() } },
            aws,
        })
    }

    /// An existing cluster from a kubeconfig (default: `KUBECONFIG` or `~/.kube/config`).
    pub async fn cluster(kubeconfig: Option<PathBuf>, context: Option<String>) -> Result<Backend, BackendError> {
        let options = kube::config::KubeConfigOptions { context, ..Default::default() };
        let (config, path) = match &kubeconfig {
            Some(p) => {
                let kc = kube::config::Kubeconfig::read_from(p)
                    .map_err(|e| BackendError::Config(format!("{}: {e}", p.display())))?;
                (
                    kube::Config::from_custom_kubeconfig(kc, &options)
                        .await
                        .map_err(|e| BackendError::Config(e.to_string()))?,
                    p.clone(),
                )
            }
            None => {
                let path = std::env::var_os("KUBECONFIG").map(PathBuf::from).unwrap_or_else(|| {
                    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(".kube/config")
                });
                (kube::Config::from_kubeconfig(&options).await.map_err(|e| BackendError::Config(e.to_string()))?, path)
            }
        };
        let client = kube::Client::try_from(config).map_err(|e| BackendError::Config(e.to_string()))?;
        Ok(Backend {
            name: "cluster",
            fidelity_notes: Vec::new(),
            mode: Mode::Cluster { client, kubeconfig: path },
            aws: aws_from_env(),
        })
    }

    /// A kind cluster that `idp-harness kind up` made ready (named `name`): the harness serves
    /// the scenarios' repos and answers STS for the cluster through the interception front on
    /// the `kind` network's gateway, and wires the cluster to it (CoreDNS rewrites, CA).
    pub async fn kind(name: &str, scenarios: &[Loaded]) -> Result<Backend, BackendError> {
        use kind::{cluster_wiring, install, interception, sts, sweep, tls, up};
        let cache =
            sweep::cache_dir().ok_or_else(|| BackendError::Config("no home directory for the kind state".into()))?;
        let state = up::ready_cluster(&cache, name).ok_or_else(|| {
            BackendError::Config(format!(
                "no kind cluster {name:?} is ready: run `idp-harness kind up --name {name}` first (`make nightly` does), or `idp-harness kind status`"
            ))
        })?;
        let endpoint = state.aws_endpoint.clone().ok_or_else(|| {
            BackendError::Config(format!("the kind cluster {name:?} has no AWS emulator endpoint recorded: run `idp-harness kind up --name {name}` again"))
        })?;
        let dir = tempfile::Builder::new().prefix("idp-harness-kind-").tempdir().map_err(BackendError::TempDir)?;
        let kubeconfig = dir.path().join("kubeconfig");
        let out = std::process::Command::new("kind")
            .args(["get", "kubeconfig", "--name", name])
            .output()
            .map_err(|e| BackendError::Config(format!("running `kind get kubeconfig --name {name}`: {e}")))?;
        if !out.status.success() {
            return Err(BackendError::Config(format!(
                "`kind get kubeconfig --name {name}` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        std::fs::write(&kubeconfig, &out.stdout)
            .map_err(|source| BackendError::Kubeconfig { path: kubeconfig.clone(), source })?;
        let backend = Backend::cluster(Some(kubeconfig.clone()), None).await?;
        let Mode::Cluster { client, .. } = backend.mode else {
            return Err(BackendError::Config("internal: the cluster backend made no client".into()));
        };
        // What the scenarios need intercepted: their Git hosts and regions.
        let mut git_hosts: Vec<String> = scenarios
            .iter()
            .flat_map(|l| l.scenario.spec.repos.iter().filter_map(|r| kind::gitserver::url_host(&r.value.url)))
            .collect();
        git_hosts.sort();
        git_hosts.dedup();
        let mut regions: Vec<String> = scenarios
            .iter()
            .filter_map(|l| {
                crate::scenario::profile::resolve(l.scenario.spec.profile.as_ref(), l.dir()).ok().and_then(|p| p.region)
            })
            .collect();
        regions.push(sim::aws::DEFAULT_REGION.to_string());
        regions.sort();
        regions.dedup();
        let region = sim::aws::DEFAULT_REGION;
        // The credentials the cluster's controllers hold (so the same account on moto, where
        // unknown keys act in the default account, and on LocalStack, where the key decides).
        let target = AwsTarget::with_keys(
            Some(&endpoint),
            region,
            install::EMULATOR_ACCESS_KEY,
            install::EMULATOR_SECRET_KEY,
            None,
        )
        .with_log(Arc::new(sim::aws::CallLog::default()));
        let gateway = up::kind_gateway().map_err(|e| BackendError::Config(e.to_string()))?;
        let ca = std::sync::Arc::new(
            tls::CertAuthority::load_or_create(&cache).map_err(|e| BackendError::Config(e.to_string()))?,
        );
        let repos = sim::git::Repos::new(dir.path().join("repos"));
        let interceptor = sts::StsInterceptor::new(kind::jwt::Jwks::from_client(client.clone()), target.clone());
        let front = interception::Front::start(interception::FrontConfig {
            bind: std::net::SocketAddr::from((gateway, 0)),
            ca: ca.clone(),
            git: Some(repos.clone()),
            git_hosts,
            sts: Some((std::sync::Arc::new(interceptor), regions)),
        })
        .await
        .map_err(|e| BackendError::Config(format!("starting the interception front on {gateway}: {e}")))?;
        let wiring = cluster_wiring::Interception {
            gateway,
            port: front.addr().port(),
            hosts: front.hosts().to_vec(),
            ca_pem: ca.ca_pem().to_string(),
            extra_roots: std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").ok(),
            aws_endpoint: state.aws_cluster_endpoint.clone(),
        };
        // Trust patches only for what `kind up` installed.
        let profile = kind::readiness::Component::installed_profile(&state.components);
        let context = format!("kind-{name}");
        let steps = install::interception_steps(&profile, &wiring);
        tokio::task::spawn_blocking(move || up::apply_interception(&context, &steps))
            .await
            .map_err(|e| BackendError::Config(e.to_string()))?
            .map_err(|e| BackendError::Config(format!("wiring the cluster to the interception front: {e}")))?;
        Ok(Backend {
            name: "kind",
            fidelity_notes: vec![
                "kind: scenarios share one cluster and one AWS account (the emulator's); they run one at a time unless -j says otherwise".to_string(),
            ],
            mode: Mode::Kind { client, kubeconfig, repos, front: Box::new(front), _dir: dir },
            aws: AwsMode::External(target),
        })
    }

    /// The account every scenario acts in, when the backend has only one (a real cluster's
    /// controllers hold one set of credentials): `${account}` is that account, not a made-up
    /// one. `None`: each scenario gets its own (emulators on the simulator).
    pub async fn fixed_account(&self) -> Option<String> {
        let AwsMode::External(t) = &self.aws else { return None };
        if let Some(a) = t.account() {
            return Some(a.to_string());
        }
        let who = t.clients().sts.get_caller_identity().send().await.ok()?;
        who.account().map(str::to_string)
    }

    /// Starts the run's AWS emulator before the first scenario when a scenario will need it,
    /// and waits until it has loaded the services the simulated platform calls (moto loads a
    /// service's code on its first request; RDS alone takes most of a second): the emulator's
    /// start is the run's cost, not its first scenarios'. Returns how long that took; errors
    /// are left for the scenarios that need the emulator to report.
    pub async fn prepare(&self, scenarios: &[Loaded]) -> Option<Duration> {
        // On the simulator with moto, once per backend (a later run finds it started).
        match (&self.mode, &self.aws) {
            (Mode::Sim { .. }, AwsMode::Moto { server, .. }) if !server.initialized() => {}
            _ => return None,
        }
        let needed = scenarios.iter().any(|l| {
            let profile = crate::scenario::profile::resolve(l.scenario.spec.profile.as_ref(), l.dir()).ok();
            needs_aws(l, profile.as_ref())
        });
        if !needed {
            return None;
        }
        let started = std::time::Instant::now();
        // While moto starts (one busy core), one throwaway platform fills this process's caches
        // (compiled schema patterns, lazily built tables) that the first scenario would fill,
        // and the scenarios' kustomize builds are made (each a kubectl process of 40 to 60 ms
        // the first time a tree is seen; see `run::prefetch`).
        let Mode::Sim { tools } = &self.mode else { return None };
        let (t1, t2) = (tools.clone(), tools.clone());
        let platform = tokio::task::spawn_blocking(move || {
            let config = PlatformConfig { tools: t1, ..Default::default() };
            Platform::start(config).map(drop)
        });
        let plans = crate::run::prefetch::plans(scenarios);
        let builds = tokio::task::spawn_blocking(move || sim::flux::kustomize::prefetch::prefetch(&plans, &t2));
        let (target, _) = self.aws_for(WARM_UP_ACCOUNT, sim::aws::DEFAULT_REGION).await.ok()?;
        let c = target.clients();
        // One cheap call per service, in an account of its own; answers do not matter. Then
        // one "not found" per service: moto builds its error answers lazily (20 to 25 ms the
        // first time, measured), and every ACK reconcile starts by reading what may not exist.
        let calls = async {
            let _ = tokio::join!(
                c.iam.list_roles().send(),
                c.sts.get_caller_identity().send(),
                c.secretsmanager.list_secrets().send(),
                c.rds.describe_db_instances().send(),
                c.organizations.describe_organization().send(),
            );
            let missing = format!("arn:aws:iam::{WARM_UP_ACCOUNT}:policy/idp-harness-warm-up");
            let _ = tokio::join!(
                c.iam.get_policy().policy_arn(missing).send(),
                c.iam.get_role().role_name("idp-harness-warm-up").send(),
                c.secretsmanager.describe_secret().secret_id("idp-harness-warm-up").send(),
                c.rds.describe_db_instances().db_instance_identifier("idp-harness-warm-up").send(),
            );
        };
        let _ = tokio::join!(calls, platform, builds);
        Some(started.elapsed())
    }

    /// On `--backend cluster`: whether the cluster has what the scenarios' profiles name (CRDs,
    /// controllers ready, the Crossplane provider healthy) and who the AWS credentials are.
    /// `None` on the other backends (the simulator makes its platform; `kind up` waited for
    /// its own).
    pub async fn preflight(&self, scenarios: &[Loaded]) -> Option<cluster_checks::PreconditionReport> {
        let Mode::Cluster { client, .. } = &self.mode else { return None };
        let mut components: Vec<kind::readiness::Component> = Vec::new();
        for l in scenarios {
            let Ok(p) = crate::scenario::profile::resolve(l.scenario.spec.profile.as_ref(), l.dir()) else { continue };
            for c in kind::readiness::Component::of_profile(&p) {
                if !components.contains(&c) {
                    components.push(c);
                }
            }
        }
        let aws = match &self.aws {
            AwsMode::External(t) => Some(t.clone()),
            _ => None,
        };
        Some(cluster_checks::check_preconditions(client, &components, aws.as_ref()).await)
    }

    /// Scenarios at once by default: the simulator gives each its own platform; a shared
    /// cluster runs them one at a time (Flux objects in `flux-system` and cluster-scoped
    /// objects would collide).
    pub fn default_parallel(&self) -> usize {
        match self.mode {
            Mode::Sim { .. } => std::thread::available_parallelism().map_or(2, |n| n.get()),
            _ => 1,
        }
    }

    /// The backend `kind`, with the AWS of `aws` (default: moto on the simulator, the AWS_*
    /// variables on a cluster, the cluster's emulator container on kind). `scenarios` are the
    /// run's: the kind backend intercepts the Git hosts and regions they use.
    pub async fn start(
        kind: BackendKind,
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
        aws: Option<aws::AwsChoice>,
        scenarios: &[Loaded],
    ) -> Result<Backend, BackendError> {
        let backend = match kind {
            BackendKind::Sim => Backend::sim().await?,
            BackendKind::Cluster => Backend::cluster(kubeconfig, context).await?,
            BackendKind::Kind => {
                if aws.is_some() {
                    return Err(BackendError::Config(
                        "--aws does not apply to --backend kind: the cluster's emulator is chosen by `idp-harness kind up --aws`".into(),
                    ));
                }
                let name = context.unwrap_or_else(|| kind::config::DEFAULT_CLUSTER.to_string());
                return Backend::kind(&name, scenarios).await;
            }
        };
        match aws {
            Some(choice) => backend.with_aws(choice),
            None => Ok(backend),
        }
    }

    /// The process id of the run's AWS emulator (moto), once started (for diagnostics: which
    /// process to look at when AWS calls fail).
    pub fn aws_emulator_pid(&self) -> Option<u32> {
        match &self.aws {
            AwsMode::Moto { server, .. } => server.get().map(|m| m.pid()),
            _ => None,
        }
    }

    /// This backend with its AWS calls going to `choice`.
    pub fn with_aws(mut self, choice: aws::AwsChoice) -> Result<Backend, BackendError> {
        self.aws = AwsMode::for_choice(choice, matches!(self.mode, Mode::Cluster { .. }))?;
        if let Some(note) = self.aws.note() {
            self.fidelity_notes.push(note);
        }
        Ok(self)
    }

    /// The AWS target of one scenario's `account`, starting the run's emulator on first need.
    async fn aws_for(&self, account: &str, region: &str) -> Result<(AwsTarget, Option<Emulator>), BackendError> {
        match &self.aws {
            AwsMode::Moto { python, server } => {
                let python = python.clone().ok_or(BackendError::NoAws(
                    "the set-up's Python (.venv/bin/python, which runs the AWS emulator moto) was not found: run `make setup` or set IDP_HARNESS_PYTHON",
                ))?;
                let moto = server
                    .get_or_try_init(|| async move {
                        let opts = MotoOptions { python, port: 0, log: None };
                        tokio::task::spawn_blocking(move || Moto::start(&opts).map(Arc::new))
                            .await
                            .map_err(|e| BackendError::Config(format!("starting moto: {e}")))?
                            .map_err(BackendError::Emulator)
                    })
                    .await?;
                moto.check()?;
                Ok((emulator_target(moto.url(), account, region), Some(Emulator::Moto(moto.clone()))))
            }
            AwsMode::LocalStack { python, server } => {
                let ls = server
                    .get_or_try_init(|| async {
                        let opts = LocalStackOptions::new(python.clone());
                        tokio::task::spawn_blocking(move || LocalStack::start(&opts).map(Arc::new))
                            .await
                            .map_err(|e| BackendError::Config(format!("starting LocalStack: {e}")))?
                            .map_err(BackendError::LocalStack)
                    })
                    .await?;
                ls.check()?;
                Ok((emulator_target(ls.url(), account, region), Some(Emulator::LocalStack(ls.clone()))))
            }
            AwsMode::Container { options, server } => {
                let c = server
                    .get_or_try_init(|| async {
                        let opts = options.clone();
                        tokio::task::spawn_blocking(move || LocalStackContainer::start(&opts).map(Arc::new))
                            .await
                            .map_err(|e| BackendError::Config(format!("starting LocalStack in Docker: {e}")))?
                            .map_err(BackendError::LocalStack)
                    })
                    .await?;
                Ok((emulator_target(c.url(), account, region), Some(Emulator::Container(c.clone()))))
            }
            AwsMode::External(t) => Ok((t.clone().with_log(Arc::new(sim::aws::CallLog::default())), None)),
            AwsMode::Off(why) => Err(BackendError::NoAws(why)),
        }
    }

    /// The scenario's AWS when it needs AWS, after checking the run's AWS has every service it
    /// needs (before anything starts).
    /// `profile` is given for the simulator only: a real cluster's components reach AWS by
    /// themselves, so there the harness needs AWS only for the scenario's own AWS state and
    /// expectations.
    async fn scenario_aws(
        &self,
        loaded: &Loaded,
        profile: Option<&sim::platform::Profile>,
        account: &str,
    ) -> Result<Option<(AwsTarget, Option<Emulator>)>, BackendError> {
        if !needs_aws(loaded, profile) {
            return Ok(None);
        }
        if let Some(provider) = self.aws.provider() {
            let bare = sim::platform::Profile::bare();
            aws::check(provider, &aws::needed_services(loaded, profile.unwrap_or(&bare)))?;
        }
        let region = profile.and_then(|p| p.region.as_deref()).unwrap_or(sim::aws::DEFAULT_REGION);
        Ok(Some(self.aws_for(account, region).await?))
    }

    /// A stage on a cluster the run's scenarios share (kind, cluster).
    fn shared_stage(
        &self,
        client: &kube::Client,
        kubeconfig: &Path,
        aws: Option<AwsTarget>,
        repos: Option<sim::git::Repos>,
    ) -> Arc<Stage> {
        Arc::new(Stage {
            client: client.clone(),
            kubeconfig: kubeconfig.to_path_buf(),
            backend: self.name,
            aws,
            emulator: None,
            cli_target: Default::default(),
            sim: None,
            repos,
        })
    }

    /// The stage one scenario runs on, acting in AWS `account` when the scenario needs AWS.
    pub async fn stage(&self, loaded: &Loaded, account: &str) -> Result<Arc<Stage>, BackendError> {
        match &self.mode {
            Mode::Cluster { client, kubeconfig } => {
                let aws = self.scenario_aws(loaded, None, account).await?;
                Ok(self.shared_stage(client, kubeconfig, aws.map(|(t, _)| t), None))
            }
            Mode::Kind { client, kubeconfig, repos, .. } => {
                let aws = self.scenario_aws(loaded, None, account).await?;
                // The previous scenario's repos go: the next one may declare the same URLs.
                repos.clear().map_err(|e| BackendError::Config(format!("clearing the served repos: {e}")))?;
                Ok(self.shared_stage(client, kubeconfig, aws.map(|(t, _)| t), Some(repos.clone())))
            }
            Mode::Sim { tools } => {
                let profile = crate::scenario::profile::resolve(loaded.scenario.spec.profile.as_ref(), loaded.dir())
                    .map_err(BackendError::Profile)?;
                let aws = self.scenario_aws(loaded, Some(&profile), account).await?;
                let dir = sim::scratch::new_dir().map_err(BackendError::TempDir)?;
                let config = PlatformConfig {
                    profile,
                    tools: tools.clone(),
                    work_dir: Some(dir.path().join("platform")),
                    aws: aws.as_ref().map(|(t, _)| t.clone()),
                    ..Default::default()
                };
                let platform = Platform::start(config)?;
                // IRSA as an EKS cluster sets it up: the cluster's issuer is an IAM OIDC provider
                // of the account.
                if let Some((target, _)) = &aws {
                    let issuer = platform.server().issuer().url().to_string();
                    sim::aws::roles::register_oidc_provider(&target.clients(), &issuer).await.map_err(|e| {
                        BackendError::Config(format!("registering the cluster's OIDC issuer in IAM: {e}"))
                    })?;
                }
                let running = platform
                    .server()
                    .serve("127.0.0.1:0".parse().map_err(|_| BackendError::Config("loopback".into()))?)
                    .await?;
                let path = dir.path().join("kubeconfig");
                kubeconfig::write(&path, &running.url(), None, None)
                    .map_err(|source| BackendError::Kubeconfig { path: path.clone(), source })?;
                Ok(Arc::new(Stage {
                    client: platform.server().client(),
                    kubeconfig: path,
                    backend: self.name,
                    aws: aws.as_ref().map(|(t, _)| t.clone()),
                    emulator: aws.and_then(|(_, m)| m),
                    cli_target: Default::default(),
                    repos: Some(platform.repos().clone()),
                    sim: Some(SimStage { platform, running: tokio::sync::Mutex::new(Some(running)), _dir: dir }),
                }))
            }
        }
    }

    /// Stops what the backend started.
    pub async fn shutdown(self) {
        if let Mode::Kind { front, .. } = self.mode {
            front.stop().await;
        }
    }
}

struct SimStage {
    platform: Platform,
    running: tokio::sync::Mutex<Option<RunningServer>>,
    _dir: tempfile::TempDir,
}

/// What one scenario runs against.
pub struct Stage {
    pub client: kube::Client,
    /// For `command` steps (`KUBECONFIG`).
    pub kubeconfig: PathBuf,
    pub backend: &'static str,
    /// Where this scenario's AWS calls go (its own account on an emulator), when it needs AWS.
    pub aws: Option<AwsTarget>,
    /// The run's emulator, to tell a dead one from a failing check.
    emulator: Option<Emulator>,
    /// Credentials for `command` steps (see [`Stage::aws_env`]).
    cli_target: tokio::sync::OnceCell<AwsTarget>,
    sim: Option<SimStage>,
    /// The scenario repos this stage serves to Flux (the simulator's own, or those the kind
    /// backend's interception front serves).
    repos: Option<sim::git::Repos>,
}

/// How long a stage waits for its platform to settle after an action.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

impl Stage {
    /// Makes a scenario repo from a local directory, served under its URL.
    pub async fn add_repo(&self, spec: RepoSpec) -> Result<(), StageError> {
        let Some(repos) = self.repos.clone() else {
            return Err(StageError::Unsupported { backend: self.backend, what: "serve scenario Git repos" });
        };
        tokio::task::spawn_blocking(move || repos.add(spec).map(|_| ()))
            .await
            .map_err(|e| StageError::Join(e.to_string()))??;
        Ok(())
    }

    /// Commits `changes` on `branch` (default: the repo's first branch) of the repo at `url`,
    /// tags the commit when asked, and lets the platform know. Returns the new commit.
    pub async fn commit(
        &self,
        url: &str,
        branch: Option<&str>,
        changes: Vec<Change>,
        message: &str,
        tag: Option<&str>,
    ) -> Result<(Sha, String), StageError> {
        let Some(repos) = &self.repos else {
            return Err(StageError::Unsupported { backend: self.backend, what: "commit to scenario Git repos" });
        };
        let repo: RepoHandle = repos.get(url).ok_or_else(|| StageError::UnknownRepo(url.to_string()))?;
        let branch = branch.map(str::to_string).unwrap_or_else(|| repo.head_branch().to_string());
        let (message, tag) = (message.to_string(), tag.map(str::to_string));
        let b = branch.clone();
        let sha = tokio::task::spawn_blocking(move || -> Result<Sha, sim::git::GitError> {
            let sha = repo.commit(&b, &changes, &message)?;
            if let Some(t) = tag {
                repo.create_tag(&t, sha.as_str())?;
            }
            Ok(sha)
        })
        .await
        .map_err(|e| StageError::Join(e.to_string()))??;
        // The simulated source-controller learns of the commit at once (a webhook receiver would
        // tell the real one; on a real cluster the `reconcile` step asks Flux to fetch).
        if let Some(sim) = &self.sim {
            sim.platform.runtime().touch(&sim::flux::source::git_repositories());
        }
        Ok((sha, branch))
    }

    /// On the simulator, makes every ACK controller look at AWS again (drift made behind its
    /// back is corrected at the next settle), as its periodic resync would.
    pub fn resync_aws_controllers(&self) {
        if let Some(sim) = &self.sim {
            sim::ack::resync(&sim.platform);
        }
    }

    /// Waits until the platform has reacted to everything done so far: on the simulator, the
    /// controllers' fixed point; on a real cluster nothing (expectations poll).
    pub async fn settle(&self) -> Result<(), StageError> {
        if let Some(sim) = &self.sim {
            sim.platform.settle(SETTLE_TIMEOUT).await?;
        }
        Ok(())
    }

    /// True when, once settled, the platform cannot change by itself (the simulator: no clock,
    /// no outside actors). Expectations then stop waiting as soon as the settled state says no.
    pub fn rest_is_final(&self) -> bool {
        self.sim.is_some()
    }

    /// The AWS calls made for this scenario so far (by the harness and, on the simulator, by the
    /// platform's components), with the instant their times count from.
    pub fn aws_calls(&self) -> Option<(std::time::Instant, Vec<sim::aws::Call>)> {
        let log = self.aws.as_ref()?.log()?;
        Some((log.started(), log.calls()))
    }

    /// When the platform's controller clock started (decisions' `atMs` count from it); `None` on
    /// real clusters.
    pub fn decisions_origin(&self) -> Option<std::time::Instant> {
        self.sim.as_ref().map(|s| s.platform.runtime().started())
    }

    /// What the platform's controllers decided (for evidence bundles); empty on real clusters.
    pub fn decisions(&self) -> Vec<serde_json::Value> {
        self.sim.as_ref().map(|s| s.platform.decisions().iter().map(|d| d.to_json()).collect()).unwrap_or_default()
    }

    /// The content of `path` inside `pod`'s `container` (default: the first): on the simulator,
    /// the file the CSI driver wrote for the volume mounted there; on a cluster, `kubectl exec
    /// cat`. The content is the caller's to compare, never to print.
    pub async fn read_pod_file(
        &self,
        pod: &serde_json::Value,
        container: Option<&str>,
        path: &str,
    ) -> Result<Vec<u8>, String> {
        if let Some(sim) = &self.sim {
            return sim::csi::read_pod_file(sim.platform.work_dir(), pod, container, path);
        }
        let kubectl = find_kubectl().ok_or("kubectl was not found (run `make setup`)")?;
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let mut cmd = tokio::process::Command::new(kubectl);
        cmd.env("KUBECONFIG", &self.kubeconfig).args(["exec", "-n", ns, name]);
        if let Some(c) = container {
            cmd.args(["-c", c]);
        }
        let out = cmd
            .args(["--", "cat", path])
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| format!("cannot run kubectl exec: {e}"))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(format!("kubectl exec {ns}/{name} -- cat {path}: {}", String::from_utf8_lossy(&out.stderr).trim()))
        }
    }

    /// Ok while the AWS emulator (if this stage uses one) runs; why not when it has stopped.
    pub fn aws_health(&self) -> Result<(), String> {
        self.emulator.as_ref().map_or(Ok(()), Emulator::check)
    }

    /// Environment for `command` steps: the AWS endpoint, region and credentials. On moto, a
    /// tool cannot send the account header, so the first call makes an IAM user `idp-harness`
    /// with an access key in the scenario's account, and tools use that key (moto maps known
    /// keys to their account). LocalStack takes the account from the access key id itself.
    pub async fn aws_env(&self) -> Result<Vec<(String, String)>, String> {
        let Some(target) = &self.aws else { return Ok(Vec::new()) };
        if !matches!(self.emulator, Some(Emulator::Moto(_))) {
            return Ok(target.env());
        }
        let keyed = self
            .cli_target
            .get_or_try_init(|| async {
                let iam = target.clients().iam;
                let user = "idp-harness";
                if let Err(e) = iam.create_user().user_name(user).send().await {
                    if sim::aws::error_code(&e) != Some("EntityAlreadyExists") {
                        return Err(format!("cannot make AWS credentials for commands: {}", sim::aws::error_text(&e)));
                    }
                }
                let key =
                    iam.create_access_key().user_name(user).send().await.map_err(|e| {
                        format!("cannot make AWS credentials for commands: {}", sim::aws::error_text(&e))
                    })?;
                let k = key.access_key().ok_or("moto returned no access key")?;
                Ok::<_, String>(AwsTarget::with_keys(
                    target.endpoint.as_deref(),
                    &target.region,
                    k.access_key_id(),
                    k.secret_access_key(),
                    None,
                ))
            })
            .await?;
        Ok(keyed.env())
    }

    /// Stops the stage's own server (the simulator's port); the platform goes when dropped.
    pub async fn shutdown(&self) {
        if let Some(sim) = &self.sim {
            if let Some(r) = sim.running.lock().await.take() {
                r.shutdown().await;
            }
        }
    }

    /// The directory paths of the platform's scratch data live under (simulator only).
    pub fn work_dir(&self) -> Option<&Path> {
        self.sim.as_ref().map(|s| s.platform.work_dir())
    }
}

/// `--aws external` (the cluster backend's default): `AWS_ENDPOINT_URL` (an emulator or a proxy) and/or the standard
/// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`/`AWS_REGION` variables.
fn aws_from_env() -> AwsMode {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let region =
        var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).unwrap_or_else(|| sim::aws::DEFAULT_REGION.into());
    match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(key), Some(secret)) => AwsMode::External(AwsTarget::with_keys(
            var("AWS_ENDPOINT_URL").as_deref(),
            &region,
            &key,
            &secret,
            var("AWS_SESSION_TOKEN").as_deref(),
        )),
        _ => AwsMode::Off(
            "--aws external (the cluster backend's default) has no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for an emulator); profiles and SSO are not read yet",
        ),
    }
}

/// The account [`Backend::prepare`] warms the emulator up in (no scenario gets it: theirs are
/// `1` followed by eleven digits or more, see `run::scenario::account_for`).
const WARM_UP_ACCOUNT: &str = "000000000001";

/// A scenario's account on an emulator, with a fresh call log.
fn emulator_target(url: &str, account: &str, region: &str) -> AwsTarget {
    AwsTarget::emulator(url, account, region).with_log(Arc::new(sim::aws::CallLog::default()))
}

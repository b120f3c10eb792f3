//! `kind up | down | status`: the phases of a bring-up (preflight, sweep, cluster, AWS
//! emulator, image preload, install, readiness), each with a progress line and its elapsed
//! time, and the teardown. Everything it runs comes from the pure planners of the sibling
//! modules; this module sequences them, prints progress and cleans up on failure (unless asked
//! to keep). It must not know about scenarios.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sim::platform::Profile;

use super::config::{self, ClusterOptions, Reuse};
use super::docker::{self, CommandLine, ExecError};
use super::emulator::{self, Emulator, EmulatorSpec};
use super::install::{self, Action, Plan, PlanInput};
use super::sweep::{self, ClusterState, ObjectKind, Owner, Phase};
use super::{images, versions};

/// How long the emulator may take to answer its health check.
const EMULATOR_TIMEOUT: Duration = Duration::from_secs(120);

/// What `kind up` is asked to do.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub name: String,
    pub aws: Emulator,
    /// Keep what was created when the bring-up fails (for inspection).
    pub keep: bool,
    pub profile: Profile,
    /// `~/.cache/idp-harness` (records, rendered configs, image archives).
    pub cache: PathBuf,
}

/// Errors of `kind up | down | status`.
#[derive(Debug, thiserror::Error)]
pub enum KindError {
    #[error(transparent)]
    Unpinned(#[from] versions::NodeImageUnpinned),
    #[error("missing requirement: {what}: {detail}")]
    Missing { what: &'static str, detail: String },
    #[error("{phase}: {source}")]
    Exec {
        phase: &'static str,
        #[source]
        source: ExecError,
    },
    #[error("cannot render the kind configuration: {0}")]
    Render(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no cache directory: set HOME or XDG_CACHE_HOME")]
    NoCache,
    #[error("the AWS emulator container {name}: {detail}")]
    Emulator { name: String, detail: String },
    #[error("the install plan is out of order: {0}")]
    Order(#[from] install::OrderError),
    #[error("editing the CoreDNS configuration: {0}")]
    Coredns(String),
}

impl KindError {
    /// A hint printed under the error.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            KindError::Missing { .. } => Some("see docs/kind.md, Requirements"),
            KindError::Unpinned(_) => Some("pin the node image by digest; `kind up` refuses tag-only images"),
            KindError::Exec { .. } => {
                Some("rerun with --keep to leave the cluster for inspection (kubectl --context kind-<name>)")
            }
            _ => None,
        }
    }
}

fn exec(phase: &'static str) -> impl Fn(ExecError) -> KindError {
    move |source| KindError::Exec { phase, source }
}

/// Progress lines on stderr: `[kind up] <phase>: <message> (<elapsed>)`.
pub struct Progress {
    started: Instant,
    phase_started: Instant,
    phase: &'static str,
}

impl Progress {
    pub fn new() -> Progress {
        Progress { started: Instant::now(), phase_started: Instant::now(), phase: "start" }
    }

    pub fn phase(&mut self, phase: &'static str) {
        self.phase = phase;
        self.phase_started = Instant::now();
        eprintln!("[kind up] {phase} …");
    }

    pub fn note(&self, msg: &str) {
        eprintln!("[kind up] {}: {msg} ({:.1}s)", self.phase, self.phase_started.elapsed().as_secs_f64());
    }

    pub fn done(&self) {
        eprintln!(
            "[kind up] {} done in {:.1}s (total {:.1}s)",
            self.phase,
            self.phase_started.elapsed().as_secs_f64(),
            self.started.elapsed().as_secs_f64()
        );
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// The preflight commands and what each proves.
pub fn preflight_commands() -> Vec<(&'static str, CommandLine)> {
    vec![
        ("a Docker engine", CommandLine::new("docker", ["info", "--format", "{{.ServerVersion}}"])),
        ("kind", CommandLine::new("kind", ["version"])),
        ("helm", CommandLine::new("helm", ["version", "--short"])),
        ("kubectl", CommandLine::new("kubectl", ["version", "--client"])),
    ]
}

/// Runs the preflight; the first failure names what is missing. `only` limits it (the e2e
/// test checks docker and kind alone).
pub fn preflight(only: Option<&[&str]>) -> Result<Vec<String>, KindError> {
    preflight_with(only, &docker::run)
}

/// [`preflight`] with the command runner given (tests pass a fake one).
pub fn preflight_with(
    only: Option<&[&str]>,
    run: &dyn Fn(&CommandLine) -> Result<String, ExecError>,
) -> Result<Vec<String>, KindError> {
    let mut found = Vec::new();
    for (what, cmd) in preflight_commands() {
        if only.is_some_and(|o| !o.contains(&cmd.program.as_str())) {
            continue;
        }
        match run(&cmd) {
            Ok(out) => found.push(format!("{what}: {}", out.lines().next().unwrap_or("").trim())),
            Err(e) => {
                let detail = match &e {
                    ExecError::Missing { hint, .. } => format!("`{}` not found; {hint}", cmd.program),
                    other => other.to_string(),
                };
                return Err(KindError::Missing { what, detail });
            }
        }
    }
    Ok(found)
}

/// Everything `kind up` would do, for `--dry-run`.
pub struct DryRun {
    pub config: config::Rendered,
    pub emulator: EmulatorSpec,
    pub plan: Plan,
    pub images: Vec<String>,
    pub cache: PathBuf,
    pub name: String,
    pub region: String,
}

fn region(profile: &Profile) -> String {
    profile.region.clone().unwrap_or_else(|| sim::aws::DEFAULT_REGION.to_string())
}

fn token_set() -> bool {
    std::env::var_os(sim::aws::localstack::AUTH_TOKEN_VAR).is_some_and(|v| !v.is_empty())
}

/// Builds the whole plan without running anything.
pub fn dry_run(opts: &UpOptions) -> Result<DryRun, KindError> {
    let image = versions::node_image()?;
    let cfg = config::render(&ClusterOptions::new(&opts.name, image)).map_err(|e| KindError::Render(e.to_string()))?;
    let emulator = EmulatorSpec::new(opts.aws, &opts.name, token_set());
    let region = region(&opts.profile);
    let plan = install::plan(&PlanInput { profile: &opts.profile, emulator: &emulator, region: region.clone() });
    install::check_order(&plan.steps)?;
    let images = install::images(&plan);
    Ok(DryRun { config: cfg, emulator, plan, images, cache: opts.cache.clone(), name: opts.name.clone(), region })
}

impl DryRun {
    /// The plan as text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let ctx = config::context(&self.name);
        let w = &mut s;
        use std::fmt::Write as _;
        let _ = writeln!(w, "# kind up --dry-run: cluster {} (context {ctx}), region {}", self.name, self.region);
        let _ = writeln!(
            w,
            "\n## Pins\nkind {}  node {}  helm {}  flux {}",
            versions::KIND_VERSION,
            self.config_image(),
            versions::HELM_VERSION,
            versions::FLUX_VERSION
        );
        let _ = writeln!(w, "\n## Preflight");
        for (what, c) in preflight_commands() {
            let _ = writeln!(w, "{c}    # {what}");
        }
        let _ = writeln!(
            w,
            "\n## kind configuration (hash {}; reused when a cluster {} carries it, else recreated)",
            self.config.hash, self.name
        );
        let _ = writeln!(w, "{}", self.config.yaml);
        let _ = writeln!(w, "{}", config::create_cluster(&self.name, "<cache>/kind/<name>.yaml"));
        let _ = writeln!(
            w,
            "\n## AWS emulator ({:?}, pods use {})",
            self.emulator.emulator,
            self.emulator.cluster_endpoint()
        );
        let owner = Owner { run_id: "<run id>".into(), pid: 0, host: "<host>".into(), cluster: self.name.clone() };
        let _ = writeln!(w, "{}", self.emulator.run(&owner));
        let _ = writeln!(w, "{}", self.emulator.port());
        let _ = writeln!(w, "\n## Images (preloaded; archives under {})", images::images_dir(&self.cache).display());
        for i in &self.images {
            let p = images::preload(&images::images_dir(&self.cache), i, &self.name);
            let _ = writeln!(w, "{i}\n    {}\n    {}\n    {}", p.pull, p.save, p.load);
        }
        let _ = writeln!(w, "\n## Install steps, in order");
        for (n, step) in self.plan.steps.iter().enumerate() {
            write_step(w, n + 1, step, &ctx);
        }
        if !self.plan.notes.is_empty() {
            let _ = writeln!(w, "\n## Notes");
            for n in &self.plan.notes {
                let _ = writeln!(w, "- {n}");
            }
        }
        let _ = writeln!(
            w,
            "\n## Interception (applied by the run that starts the host-side TLS server, once its port and CA are known; shown with example values)"
        );
        let example = super::cluster_wiring::Interception {
            gateway: std::net::Ipv4Addr::new(172, 18, 0, 1),
            port: 8443,
            hosts: {
                let mut h = vec!["github.com".to_string()];
                h.extend(super::cluster_wiring::sts_hosts(&self.region));
                h
            },
            ca_pem: "<interception CA PEM>".into(),
            extra_roots: None,
            aws_endpoint: Some(self.emulator.cluster_endpoint()),
        };
        for (n, step) in install::interception_steps(&Profile::default(), &example).iter().enumerate() {
            write_step(w, n + 1, step, &ctx);
        }
        s
    }

    /// A hash of what the install phase does (steps, values, images, emulator endpoint): a
    /// reused cluster installed from the same plan skips the installs.
    pub fn plan_hash(&self) -> String {
        let text = serde_json::json!({
            "plan": self.plan,
            "images": self.images,
            "emulator": self.emulator,
        })
        .to_string();
        let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
        d.as_ref().iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    fn config_image(&self) -> &'static str {
        versions::NODE_IMAGE.unwrap_or("<not pinned>")
    }
}

fn write_step(w: &mut String, n: usize, step: &install::Step, ctx: &str) {
    use std::fmt::Write as _;
    let after =
        if step.depends_on.is_empty() { String::new() } else { format!(" (after {})", step.depends_on.join(", ")) };
    let _ = writeln!(w, "\n{n}. {}{after}", step.id);
    match &step.action {
        Action::Helm(h) => {
            let source = match h.chart.source {
                versions::ChartSource::Repo { url, chart } => format!("{chart} from {url}"),
                versions::ChartSource::Oci { reference } => reference.to_string(),
            };
            let _ =
                writeln!(w, "   chart {source} version {}, release {} in {}", h.chart.version, h.release, h.namespace);
            for l in h.values.lines() {
                let _ = writeln!(w, "   | {l}");
            }
        }
        Action::Apply { objects } => {
            for l in install::manifest(objects).lines() {
                let _ = writeln!(w, "   | {l}");
            }
        }
        Action::CorednsRewrite { hosts } => {
            let _ = writeln!(w, "   {}", install::coredns_get(ctx));
            let _ = writeln!(
                w,
                "   add to the .:53 block: rewrite name exact <host> {} for {}",
                super::cluster_wiring::service_fqdn(),
                hosts.join(", ")
            );
            let _ = writeln!(w, "   kubectl --context {ctx} replace -f -");
        }
        Action::ApplyUrl { .. } | Action::Patch { .. } => {}
    }
    for c in install::commands(step, ctx) {
        let _ = writeln!(w, "   $ {c}");
    }
    for k in &step.waits {
        let _ = writeln!(w, "   wait: {}", install::wait_command(k, ctx, install::WAIT_TIMEOUT));
    }
}

/// What a finished bring-up reports.
#[derive(Debug, Clone)]
pub struct UpReport {
    pub context: String,
    pub reused: bool,
    pub aws_endpoint: String,
    pub aws_cluster_endpoint: String,
}

/// What this run created (removed on failure unless `--keep`).
#[derive(Default)]
struct Created {
    cluster: Option<String>,
    container: Option<String>,
}

/// `kind up`.
pub fn up(opts: &UpOptions, progress: &mut Progress) -> Result<UpReport, KindError> {
    let plan = dry_run(opts)?;
    progress.phase("preflight");
    for line in preflight(None)? {
        progress.note(&line);
    }
    progress.done();

    progress.phase("sweep");
    sweep_stale(&opts.cache, progress)?;
    progress.done();

    let owner = Owner::this_process(&opts.name);
    let mut created = Created::default();
    let result = bring_up(opts, &plan, &owner, &mut created, progress);
    if let Err(e) = &result {
        if opts.keep {
            eprintln!("[kind up] failed ({e}); --keep: leaving cluster {} and its emulator for inspection (remove with `idp-harness kind down --name {}`)", opts.name, opts.name);
        } else {
            if let Some(c) = &created.container {
                let _ = docker::run(&CommandLine::new("docker", ["rm", "-f", c]));
            }
            if let Some(c) = &created.cluster {
                eprintln!("[kind up] failed; deleting cluster {c} it created (pass --keep to leave it)");
                let _ = docker::run(&config::delete_cluster(c));
                let _ = std::fs::remove_file(sweep::state_path(&opts.cache, c));
            }
        }
    }
    result
}

fn bring_up(
    opts: &UpOptions,
    plan: &DryRun,
    owner: &Owner,
    created: &mut Created,
    progress: &mut Progress,
) -> Result<UpReport, KindError> {
    let name = &opts.name;
    let ctx = config::context(name);

    progress.phase("cluster");
    let dir = opts.cache.join("kind");
    std::fs::create_dir_all(&dir).map_err(|source| KindError::Write { path: dir.clone(), source })?;
    let cfg_path = dir.join(format!("{name}.yaml"));
    std::fs::write(&cfg_path, &plan.config.yaml)
        .map_err(|source| KindError::Write { path: cfg_path.clone(), source })?;
    let clusters =
        config::parse_clusters(&docker::run(&config::get_clusters()).map_err(exec("listing kind clusters"))?);
    let found = if clusters.contains(name) { docker::run(&config::read_hash(name)).ok() } else { None };
    let decision = config::decide(name, &clusters, found.as_deref(), &plan.config.hash);
    let mut state = ClusterState {
        name: name.clone(),
        owner: owner.clone(),
        phase: Phase::Creating,
        config_hash: plan.config.hash.clone(),
        aws_endpoint: None,
        aws_cluster_endpoint: None,
        plan_hash: Some(plan.plan_hash()),
        components: super::readiness::Component::of_profile(&opts.profile),
    };
    let reused = decision == Reuse::Reuse;
    // A reused cluster that a finished `kind up` installed from the same plan needs neither
    // images nor installs: only the readiness checks run.
    let installed = reused
        && sweep::read_states(&opts.cache)
            .iter()
            .any(|s| s.name == *name && s.phase == Phase::Ready && s.plan_hash == state.plan_hash);
    match &decision {
        Reuse::Reuse => progress.note(&format!("reusing cluster {name} (configuration hash {})", plan.config.hash)),
        Reuse::Recreate { reason } => {
            progress.note(&format!("recreating: {reason}"));
            docker::run(&config::delete_cluster(name)).map_err(exec("deleting the outdated cluster"))?;
        }
        Reuse::Create => {}
    }
    if !reused {
        write_state(&opts.cache, &state)?;
        created.cluster = Some(name.clone());
        progress.note(&format!("creating cluster {name} from {}", cfg_path.display()));
        docker::run(&config::create_cluster(name, &cfg_path.display().to_string()))
            .map_err(exec("creating the kind cluster"))?;
    }
    progress.done();

    progress.phase("aws emulator");
    let spec = &plan.emulator;
    let running = docker::run(&CommandLine::new(
        "docker",
        ["inspect", "--format", "{{.State.Running}} {{.Config.Image}}", &spec.name],
    ))
    .map(|o| o.trim() == format!("true {}", spec.image))
    .unwrap_or(false);
    if !running {
        let _ = docker::run(&spec.remove());
        docker::run(&spec.run(owner)).map_err(exec("starting the AWS emulator"))?;
        created.container = Some(spec.name.clone());
    } else {
        progress.note(&format!("reusing container {}", spec.name));
    }
    let out = docker::run(&spec.port()).map_err(exec("finding the emulator's port"))?;
    let port = emulator::parse_host_port(&out)
        .ok_or_else(|| KindError::Emulator { name: spec.name.clone(), detail: format!("no host port in {out:?}") })?;
    wait_http(SocketAddr::from(([127, 0, 0, 1], port)), spec.health_path(), EMULATOR_TIMEOUT)
        .map_err(|detail| KindError::Emulator { name: spec.name.clone(), detail })?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let issuer = ClusterOptions::new(name, versions::node_image()?).issuer;
    let arn = register_issuer(&endpoint, spec, &plan.region, &issuer)
        .map_err(|detail| KindError::Emulator { name: spec.name.clone(), detail })?;
    progress.note(&format!("IRSA: issuer {issuer} registered as {arn}"));
    state.aws_endpoint = Some(endpoint);
    state.aws_cluster_endpoint = Some(spec.cluster_endpoint());
    progress.note(&format!("{} at http://127.0.0.1:{port} (pods: {})", spec.image, spec.cluster_endpoint()));
    progress.done();

    progress.phase("images");
    if installed {
        progress.note("the reused cluster has them");
    }
    let idir = images::images_dir(&opts.cache);
    std::fs::create_dir_all(&idir).map_err(|source| KindError::Write { path: idir.clone(), source })?;
    for image in plan.images.iter().filter(|_| !installed) {
        let p = images::preload(&idir, image, name);
        let in_docker = docker::run(&p.inspect).is_ok();
        for cmd in images::steps(&p, p.archive.is_file(), in_docker) {
            docker::run(cmd).map_err(exec("preloading images"))?;
        }
        progress.note(image);
    }
    progress.done();

    progress.phase("install");
    if installed {
        progress.note("the reused cluster was installed from this plan: checking readiness only");
    }
    for step in &plan.plan.steps {
        for cmd in install::commands(step, &ctx).iter().filter(|_| !installed) {
            docker::retry(cmd, Duration::from_secs(60), Duration::from_secs(5)).map_err(exec("installing"))?;
        }
        for check in &step.waits {
            let cmd = install::wait_command(check, &ctx, Duration::from_secs(30));
            docker::retry(&cmd, install::WAIT_TIMEOUT, Duration::from_secs(3))
                .map_err(exec("waiting for readiness"))?;
        }
        progress.note(&format!("{} ready", step.id));
    }
    progress.done();

    state.phase = Phase::Ready;
    write_state(&opts.cache, &state)?;
    Ok(UpReport {
        context: ctx,
        reused,
        aws_endpoint: state.aws_endpoint.clone().unwrap_or_default(),
        aws_cluster_endpoint: spec.cluster_endpoint(),
    })
}

/// IRSA as on EKS: the cluster's service-account issuer becomes an IAM OIDC provider (for
/// audience `sts.amazonaws.com`) in the emulator's account. Returns its ARN.
fn register_issuer(endpoint: &str, spec: &EmulatorSpec, region: &str, issuer: &str) -> Result<String, String> {
    let target = sim::aws::AwsTarget::emulator(endpoint, spec.default_account(), region);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime for the IAM call: {e}"))?;
    rt.block_on(sim::aws::roles::register_oidc_provider(&target.clients(), issuer))
}

/// The record of cluster `name` when a `kind up` finished it: its emulator endpoints are what
/// `--backend kind` runs use.
pub fn ready_cluster(cache: &Path, name: &str) -> Option<ClusterState> {
    sweep::read_states(cache).into_iter().find(|s| s.name == name && s.phase == Phase::Ready)
}

/// The `kind` network's IPv4 gateway: the host as pods see it (where the interception server
/// must listen).
pub fn kind_gateway() -> Result<std::net::Ipv4Addr, KindError> {
    let out = docker::run(&emulator::inspect_network()).map_err(exec("inspecting the kind network"))?;
    emulator::parse_gateway(&out).ok_or_else(|| KindError::Missing {
        what: "the kind network's IPv4 gateway",
        detail: "`docker network inspect kind` lists no IPv4 gateway".to_string(),
    })
}

/// Applies the interception steps (for the run that starts the host-side server).
pub fn apply_interception(context: &str, steps: &[install::Step]) -> Result<(), KindError> {
    for step in steps {
        if let Action::CorednsRewrite { hosts } = &step.action {
            let cm = docker::run(&install::coredns_get(context)).map_err(exec("reading the CoreDNS ConfigMap"))?;
            let edited = install::coredns_edit(&cm, hosts).map_err(KindError::Coredns)?;
            docker::run(&install::coredns_replace(context, edited)).map_err(exec("writing the CoreDNS ConfigMap"))?;
        }
        for cmd in install::commands(step, context) {
            docker::run(&cmd).map_err(exec("wiring the interception"))?;
        }
        for check in &step.waits {
            let cmd = install::wait_command(check, context, Duration::from_secs(30));
            docker::retry(&cmd, install::WAIT_TIMEOUT, Duration::from_secs(3))
                .map_err(exec("waiting for readiness"))?;
        }
    }
    Ok(())
}

fn write_state(cache: &Path, state: &ClusterState) -> Result<(), KindError> {
    sweep::write_state(cache, state)
        .map_err(|source| KindError::Write { path: sweep::state_path(cache, &state.name), source })
}

fn labelled_objects() -> Result<Vec<sweep::Labelled>, KindError> {
    let mut o = sweep::parse_lines(
        ObjectKind::Container,
        &docker::run(&sweep::list_containers()).map_err(exec("listing containers"))?,
    );
    o.extend(sweep::parse_lines(
        ObjectKind::Network,
        &docker::run(&sweep::list_networks()).map_err(exec("listing networks"))?,
    ));
    Ok(o)
}

/// Removes what crashed runs left, saying what and why.
pub fn sweep_stale(cache: &Path, progress: &Progress) -> Result<usize, KindError> {
    let objects = labelled_objects()?;
    let clusters =
        config::parse_clusters(&docker::run(&config::get_clusters()).map_err(exec("listing kind clusters"))?);
    let states = sweep::read_states(cache);
    let stale = sweep::select_stale(&objects, &clusters, &states, &sweep::this_host(), &sweep::pid_alive);
    for s in &stale {
        progress.note(&format!("removing stale {}: {}", s.what, s.reason));
        if let Err(e) = docker::run(&s.what.remove()) {
            progress.note(&format!("could not remove {}: {e}", s.what));
        }
        if let sweep::Target::Cluster { name } = &s.what {
            let _ = std::fs::remove_file(sweep::state_path(cache, name));
        }
    }
    Ok(stale.len())
}

/// `kind down`: every labelled object of the cluster, then the cluster (when the harness made
/// it, or `force`), then its record. Returns what was removed.
pub fn down(cache: &Path, name: &str, force: bool) -> Result<Vec<String>, KindError> {
    let objects = labelled_objects()?;
    let clusters =
        config::parse_clusters(&docker::run(&config::get_clusters()).map_err(exec("listing kind clusters"))?);
    let states = sweep::read_states(cache);
    let mut removed = Vec::new();
    for t in sweep::select_down(&objects, &clusters, &states, name, force) {
        docker::run(&t.remove()).map_err(exec("removing"))?;
        removed.push(t.to_string());
    }
    let _ = std::fs::remove_file(sweep::state_path(cache, name));
    if clusters.iter().any(|c| c == name) && !removed.iter().any(|r| r.starts_with("kind cluster")) {
        removed
            .push(format!("(kind cluster {name} was not made by idp-harness: left alone; pass --force to delete it)"));
    }
    Ok(removed)
}

/// `kind status` as text.
pub fn status(cache: &Path, name: &str) -> Result<String, KindError> {
    let mut s = String::new();
    use std::fmt::Write as _;
    let clusters =
        config::parse_clusters(&docker::run(&config::get_clusters()).map_err(exec("listing kind clusters"))?);
    let exists = clusters.iter().any(|c| c == name);
    let _ = writeln!(s, "cluster {name}: {}", if exists { "exists" } else { "absent" });
    let want =
        versions::node_image().ok().and_then(|i| config::render(&ClusterOptions::new(name, i)).ok()).map(|r| r.hash);
    if exists {
        let found = docker::run(&config::read_hash(name)).ok();
        let _ = writeln!(
            s,
            "configuration hash: {} (this harness: {})",
            found.as_deref().unwrap_or("unreadable").trim(),
            want.as_deref().unwrap_or("unpinned")
        );
        if let Some(w) = &want {
            let verdict = match config::decide(name, &clusters, found.as_deref(), w) {
                Reuse::Reuse => "up to date: `kind up` reuses it".to_string(),
                Reuse::Recreate { reason } => format!("`kind up` would recreate it: {reason}"),
                Reuse::Create => "`kind up` would create it".to_string(),
            };
            let _ = writeln!(s, "{verdict}");
        }
    }
    match sweep::read_states(cache).into_iter().find(|st| st.name == name) {
        Some(st) => {
            let _ = writeln!(
                s,
                "record: phase {:?}, run {}, pid {} on {}, emulator {} (pods: {})",
                st.phase,
                st.owner.run_id,
                st.owner.pid,
                st.owner.host,
                st.aws_endpoint.as_deref().unwrap_or("-"),
                st.aws_cluster_endpoint.as_deref().unwrap_or("-")
            );
        }
        None => {
            let _ = writeln!(s, "record: none (not made by idp-harness on this machine)");
        }
    }
    for o in labelled_objects()?.iter().filter(|o| o.labels.get(sweep::CLUSTER).map(String::as_str) == Some(name)) {
        let _ = writeln!(
            s,
            "{:?} {} (run {})",
            o.kind,
            o.name,
            o.labels.get(sweep::RUN_ID).map(String::as_str).unwrap_or("-")
        );
    }
    Ok(s)
}

/// Polls `GET path` until any HTTP status below 500 comes back.
fn wait_http(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        match http_status(addr, path) {
            Ok(code) if code < 500 => return Ok(()),
            Ok(code) => last = format!("HTTP {code}"),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(format!("not answering on {addr}{path} within {timeout:?} (last: {last})"))
}

fn http_status(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf)?;
    parse_status(&buf[..n]).ok_or_else(|| std::io::Error::other("not an HTTP response"))
}

/// The status code of an HTTP response's first line.
fn parse_status(head: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(head).ok()?;
    text.strip_prefix("HTTP/")?.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: &Path) -> UpOptions {
        UpOptions {
            name: "idp-harness".into(),
            aws: Emulator::Moto,
            keep: false,
            profile: Profile::default(),
            cache: dir.to_path_buf(),
        }
    }

    #[test]
    fn the_dry_run_shows_every_part_of_the_plan() {
        let dir = tempfile::tempdir().unwrap();
        let d = dry_run(&opts(dir.path())).unwrap();
        let text = d.render();
        for want in [
            "kind.x-k8s.io/v1alpha4",
            versions::NODE_IMAGE.unwrap(),
            "docker run -d --name idp-harness-aws --network kind",
            "kind load image-archive",
            "ghcr.io/fluxcd/source-controller:v1.9.4",
            "helm upgrade --install csi-secrets-store secrets-store-csi-driver",
            "tokenRequests",
            "wait: kubectl --context kind-idp-harness wait --for=condition=Established crd/gitrepositories.source.toolkit.fluxcd.io",
            "providers.pkg.crossplane.io/provider-aws-iam",
            "rewrite name exact <host> idp-harness-intercept.idp-harness.svc.cluster.local",
            "SSL_CERT_FILE",
            "docker info",
        ] {
            assert!(text.contains(want), "dry run lacks {want:?}:\n{text}");
        }
        // Steps appear in plan order, numbered.
        let pos = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s}"));
        assert!(pos("\n1. aws-credentials\n") < pos("\n2. flux\n"));
        assert!(pos("\n9. crossplane\n") < pos("\n10. crossplane-provider-aws-iam (after crossplane)\n"));
    }

    #[test]
    fn the_plan_hash_follows_what_is_installed() {
        let dir = tempfile::tempdir().unwrap();
        let a = dry_run(&opts(dir.path())).unwrap().plan_hash();
        assert_eq!(a, dry_run(&opts(dir.path())).unwrap().plan_hash());
        let mut o = opts(dir.path());
        o.profile.crossplane_aws = None;
        assert_ne!(dry_run(&o).unwrap().plan_hash(), a);
        let mut o = opts(dir.path());
        o.profile.region = Some("eu-west-1".into());
        assert_ne!(dry_run(&o).unwrap().plan_hash(), a);
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status(b"HTTP/1.0 404 Not Found\r\n"), Some(404));
        assert_eq!(parse_status(b"SSH-2.0"), None);
    }

    #[test]
    fn preflight_names_what_is_missing() {
        let no_kind = |c: &CommandLine| match c.program.as_str() {
            "kind" => Err(ExecError::Missing { program: "kind".into(), hint: docker::install_hint("kind") }),
            "docker" => Ok("29.1.0\n".to_string()),
            _ => Ok("ok".to_string()),
        };
        let e = preflight_with(None, &no_kind).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("missing requirement: kind: `kind` not found; install kind"), "{msg}");
        assert!(msg.contains("KIND_VERSION"), "{msg}");
        let no_engine = |c: &CommandLine| match c.program.as_str() {
            "docker" => Err(ExecError::Failed {
                command: c.to_string(),
                status: "exit status: 1".into(),
                stderr: "Cannot connect to the Docker daemon".into(),
            }),
            _ => Ok("ok".to_string()),
        };
        let msg = preflight_with(None, &no_engine).unwrap_err().to_string();
        assert!(msg.starts_with("missing requirement: a Docker engine:"), "{msg}");
        let all = preflight_with(None, &|_: &CommandLine| Ok("v\n".to_string())).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[0], "a Docker engine: v");
        // `only` limits the checks.
        assert_eq!(preflight_with(Some(&["docker"]), &no_kind).unwrap(), vec!["a Docker engine: 29.1.0"]);
        let cmds = preflight_commands();
        assert_eq!(cmds[0].1.to_string(), "docker info --format {{.ServerVersion}}");
        assert_eq!(
            cmds.iter().map(|(_, c)| c.program.as_str()).collect::<Vec<_>>(),
            vec!["docker", "kind", "helm", "kubectl"]
        );
    }
}

//! Backends: where scenarios run. A backend gives each scenario a [`Stage`]: a Kubernetes
//! client, a kubeconfig for `command` steps, a way to serve the scenario's Git repos to Flux,
//! a way to wait until the platform has reacted, and the list of what it cannot faithfully
//! show. The runner only talks to the stage; it never asks which backend it has.
//!
//! `sim` gives every scenario its own simulated platform (API server, Gatekeeper and Flux per
//! the scenario's profile, its repos) with a loopback port for commands, so parallel scenarios
//! cannot see each other's cluster-scoped objects. `cluster` shares an existing cluster between
//! scenarios (isolated by namespace only). `kind` comes with its own issue.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sim::apiserver::{kubeconfig, RunningServer};
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
    #[error("backend {0:?} is not available yet (it comes with its own issue); use --backend sim or cluster")]
    NotBuilt(String),
    #[error("{0}")]
    Profile(String),
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
    Sim { tools: Tools },
    Cluster { client: kube::Client, kubeconfig: PathBuf },
}

/// A backend for a run.
pub struct Backend {
    pub name: &'static str,
    /// What this backend cannot show faithfully, said once per run.
    pub fidelity_notes: Vec<String>,
    mode: Mode,
}

/// Where kubectl (and its built-in kustomize, which the simulated Flux runs) is:
/// `IDP_HARNESS_KUBECTL`, else the set-up's `.venv/bin/kubectl` under the current directory or
/// next to the binary's target directory, else `kubectl` on PATH.
pub fn find_kubectl() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("IDP_HARNESS_KUBECTL") {
        return Some(PathBuf::from(p));
    }
    let mut candidates = vec![PathBuf::from(".venv/bin/kubectl")];
    if let Ok(exe) = std::env::current_exe() {
        // target/<profile>/[deps/]idp-harness → the workspace root.
        for up in exe.ancestors().skip(2).take(3) {
            candidates.push(up.join(".venv/bin/kubectl"));
        }
    }
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/kubectl"));
    if let Some(found) = candidates.into_iter().find(|p| p.is_file()) {
        return Some(std::path::absolute(&found).unwrap_or(found));
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("kubectl")).find(|p| p.is_file()))
}

impl Backend {
    /// The simulator: each scenario gets its own platform.
    pub async fn sim() -> Result<Backend, BackendError> {
        let kubectl = find_kubectl();
        let mut notes = vec![
            "the Secrets Store CSI driver, ACK and Crossplane are not simulated yet; pods run on virtual nodes (no image pulls, probes or crashes)".to_string(),
            "time does not pass on the simulator: controllers run to a fixed point, so retries, intervals and health-check timeouts conclude at once".to_string(),
        ];
        if kubectl.is_none() {
            notes.push("kubectl was not found (run `make setup`): Flux Kustomizations cannot be built".into());
        }
        Ok(Backend { name: "sim", fidelity_notes: notes, mode: Mode::Sim { tools: Tools { kubectl } } })
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
        Ok(Backend { name: "cluster", fidelity_notes: Vec::new(), mode: Mode::Cluster { client, kubeconfig: path } })
    }

    pub async fn start(
        kind: BackendKind,
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
    ) -> Result<Backend, BackendError> {
        match kind {
            BackendKind::Sim => Backend::sim().await,
            BackendKind::Cluster => Backend::cluster(kubeconfig, context).await,
            BackendKind::Kind => Err(BackendError::NotBuilt("kind".into())),
        }
    }

    /// The stage one scenario runs on.
    pub async fn stage(&self, loaded: &Loaded) -> Result<Arc<Stage>, BackendError> {
        match &self.mode {
            Mode::Cluster { client, kubeconfig } => Ok(Arc::new(Stage {
                client: client.clone(),
                kubeconfig: kubeconfig.clone(),
                backend: self.name,
                sim: None,
            })),
            Mode::Sim { tools } => {
                let profile = crate::scenario::profile::resolve(loaded.scenario.spec.profile.as_ref(), loaded.dir())
                    .map_err(BackendError::Profile)?;
                let dir =
                    tempfile::Builder::new().prefix("idp-harness-sim-").tempdir().map_err(BackendError::TempDir)?;
                let config = PlatformConfig {
                    profile,
                    tools: tools.clone(),
                    work_dir: Some(dir.path().join("platform")),
                    ..Default::default()
                };
                let platform = Platform::start(config)?;
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
                    sim: Some(SimStage { platform, running: tokio::sync::Mutex::new(Some(running)), _dir: dir }),
                }))
            }
        }
    }

    /// Stops what the backend started.
    pub async fn shutdown(self) {}
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
    sim: Option<SimStage>,
}

/// How long a stage waits for its platform to settle after an action.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

impl Stage {
    /// Makes a scenario repo from a local directory, served under its URL.
    pub async fn add_repo(&self, spec: RepoSpec) -> Result<(), StageError> {
        let Some(sim) = &self.sim else {
            return Err(StageError::Unsupported { backend: self.backend, what: "serve scenario Git repos" });
        };
        let repos = sim.platform.repos().clone();
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
        let Some(sim) = &self.sim else {
            return Err(StageError::Unsupported { backend: self.backend, what: "commit to scenario Git repos" });
        };
        let repo: RepoHandle = sim.platform.repos().get(url).ok_or_else(|| StageError::UnknownRepo(url.to_string()))?;
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
        // tell the real one).
        sim.platform.runtime().touch(&sim::flux::source::git_repositories());
        Ok((sha, branch))
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

    /// What the platform's controllers decided (for evidence bundles); empty on real clusters.
    pub fn decisions(&self) -> Vec<serde_json::Value> {
        self.sim.as_ref().map(|s| s.platform.decisions().iter().map(|d| d.to_json()).collect()).unwrap_or_default()
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

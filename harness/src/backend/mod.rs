//! Backends: where scenarios run. A backend supplies a Kubernetes client, a kubeconfig for
//! `command` steps, and the list of what it cannot faithfully show. The runner never asks which
//! backend it has.
//!
//! `sim` starts the simulator's API server (in-process client, plus a loopback port for
//! commands); `cluster` uses an existing kubeconfig. `kind` comes with its own issue.

use std::path::PathBuf;

use sim::apiserver::{kubeconfig, ApiServer, ApiServerConfig, RunningServer};

/// Errors setting up a backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot start the simulator: {0}")]
    Sim(#[from] sim::apiserver::ServeError),
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
}

/// Which backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    Sim,
    Kind,
    Cluster,
}

/// A running backend.
pub struct Backend {
    pub name: &'static str,
    pub client: kube::Client,
    /// For `command` steps (`KUBECONFIG`).
    pub kubeconfig: PathBuf,
    /// What this backend cannot show faithfully, said once per run.
    pub fidelity_notes: Vec<String>,
    sim: Option<(ApiServer, RunningServer, tempfile::TempDir)>,
}

impl Backend {
    /// The simulator: a fresh API server with an in-process client and a loopback port.
    pub async fn sim() -> Result<Backend, BackendError> {
        let server = ApiServer::new(ApiServerConfig::default());
        let running = server.serve("127.0.0.1:0".parse().map_err(|_| BackendError::Config("loopback".into()))?).await?;
        let dir = tempfile::Builder::new().prefix("idp-harness-sim-").tempdir().map_err(BackendError::TempDir)?;
        let path = dir.path().join("kubeconfig");
        kubeconfig::write(&path, &running.url(), None, None)
            .map_err(|source| BackendError::Kubeconfig { path: path.clone(), source })?;
        Ok(Backend {
            name: "sim",
            client: server.client(),
            kubeconfig: path,
            fidelity_notes: vec![
                "no controllers run yet on the simulator: Deployments make no pods, Flux, Gatekeeper, CSI, ACK and Crossplane are not simulated".into(),
            ],
            sim: Some((server, running, dir)),
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
        Ok(Backend { name: "cluster", client, kubeconfig: path, fidelity_notes: Vec::new(), sim: None })
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

    /// Stops what the backend started (the simulator's port; its temp dir is removed).
    pub async fn shutdown(mut self) {
        if let Some((_server, running, _dir)) = self.sim.take() {
            running.shutdown().await;
        }
    }
}

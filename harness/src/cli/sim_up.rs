//! `idp-harness sim up`: runs the simulated platform (API server, Gatekeeper, Flux) in the
//! foreground, writes a kubeconfig for it, and stops cleanly on Ctrl-C or SIGTERM (removing the
//! kubeconfig it wrote).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use sim::apiserver::{kubeconfig, ApiServerConfig, ServeError};
use sim::platform::{Platform, PlatformConfig, PlatformError, Profile, Tools};

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Port to listen on (127.0.0.1); 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Where to write the kubeconfig.
    #[arg(long, default_value = "target/idp-harness/sim/kubeconfig")]
    pub kubeconfig: PathBuf,
    /// Require this bearer token from clients.
    #[arg(long, env = "IDP_HARNESS_SIM_TOKEN")]
    pub token: Option<String>,
    /// Serve https with a generated CA (written into the kubeconfig).
    #[arg(long)]
    pub tls: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum UpError {
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error("cannot write the kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot wait for Ctrl-C: {0}")]
    Signal(#[source] std::io::Error),
}

impl UpError {
    /// A hint for the user, printed under the error.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            UpError::Serve(_) => Some("pick another --port, or 0 for a free one"),
            UpError::Kubeconfig { .. } => Some("pass --kubeconfig with a writable path"),
            UpError::Signal(_) | UpError::Platform(_) => None,
        }
    }
}

pub async fn run(args: UpArgs) -> Result<(), UpError> {
    let started = std::time::Instant::now();
    let api = ApiServerConfig { token: args.token.clone(), tls: args.tls, ..Default::default() };
    let profile = Profile::default();
    let tools = Tools { kubectl: crate::backend::find_kubectl() };
    let platform = Platform::start(PlatformConfig { api, profile: profile.clone(), tools, work_dir: None })?;
    let running = platform.server().serve(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), args.port)).await?;
    let ready = started.elapsed();
    let path = std::path::absolute(&args.kubeconfig).unwrap_or(args.kubeconfig.clone());
    kubeconfig::write(&path, &running.url(), args.token.as_deref(), running.ca_pem.as_deref())
        .map_err(|source| UpError::Kubeconfig { path: path.clone(), source })?;
    println!("simulator API server listening on {} (ready in {:.1} ms)", running.url(), ready.as_secs_f64() * 1000.0);
    let component = |name: &str, v: &Option<String>| match v {
        Some(v) => format!("{name} {v}"),
        None => format!("{name} off"),
    };
    println!(
        "platform: {}, {} (controllers run to a fixed point after every change)",
        component("Flux", &profile.flux),
        component("Gatekeeper", &profile.gatekeeper)
    );
    println!("kubeconfig: {}", path.display());
    println!();
    println!("  export KUBECONFIG={}", path.display());
    println!("  kubectl get namespaces");
    println!();
    println!("Press Ctrl-C to stop.");
    wait_for_stop().await.map_err(UpError::Signal)?;
    println!("stopping");
    running.shutdown().await;
    let _ = std::fs::remove_file(&path);
    Ok(())
}

async fn wait_for_stop() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

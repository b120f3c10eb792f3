//! `idp-harness sim up`: runs the simulated platform (API server, Gatekeeper, Flux, the CSI
//! driver, ACK, Crossplane, and a moto server for their AWS calls) in the foreground, writes a
//! kubeconfig for it, and stops cleanly on Ctrl-C or SIGTERM (removing the kubeconfig it wrote
//! and stopping moto).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use sim::apiserver::{kubeconfig, ApiServerConfig, ServeError};
use sim::aws::emulator::{EmulatorError, Moto, MotoOptions};
use sim::aws::AwsTarget;

/// moto's account when a request names none: what the AWS CLI acts in against `sim up`'s moto.
const MOTO_DEFAULT_ACCOUNT: &str = "123456789012";
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
    #[error("the set-up's Python (.venv/bin/python, which runs the AWS emulator moto) was not found")]
    NoPython,
    #[error(transparent)]
    Emulator(#[from] EmulatorError),
    #[error("starting the AWS emulator: {0}")]
    Join(String),
    #[error("registering the cluster's OIDC issuer in the emulator's IAM: {0}")]
    Aws(String),
}

impl UpError {
    /// A hint for the user, printed under the error.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            UpError::Serve(_) => Some("pick another --port, or 0 for a free one"),
            UpError::Kubeconfig { .. } => Some("pass --kubeconfig with a writable path"),
            UpError::NoPython => Some("run `make setup`, or set IDP_HARNESS_PYTHON"),
            UpError::Signal(_) | UpError::Platform(_) | UpError::Emulator(_) | UpError::Join(_) | UpError::Aws(_) => {
                None
            }
        }
    }
}

pub async fn run(args: UpArgs) -> Result<(), UpError> {
    let started = std::time::Instant::now();
    let api = ApiServerConfig { token: args.token.clone(), tls: args.tls, ..Default::default() };
    let profile = Profile::default();
    let tools = Tools { kubectl: crate::backend::find_kubectl(), build_cache: crate::backend::build_cache_dir() };
    // The AWS-calling components get a moto server of their own, in moto's default account.
    let moto = if profile.uses_aws() {
        let python = crate::backend::find_python().ok_or(UpError::NoPython)?;
        let opts = MotoOptions { python, port: 0, log: None };
        Some(
            tokio::task::spawn_blocking(move || Moto::start(&opts))
                .await
                .map_err(|e| UpError::Join(e.to_string()))??,
        )
    } else {
        None
    };
    let aws = moto.as_ref().map(|m| AwsTarget::emulator(m.url(), MOTO_DEFAULT_ACCOUNT, sim::aws::DEFAULT_REGION));
    let platform =
        Platform::start(PlatformConfig { api, profile: profile.clone(), tools, work_dir: None, aws: aws.clone() })?;
    // IRSA as on EKS: the cluster's issuer is an IAM OIDC provider of the account.
    if let Some(t) = &aws {
        sim::aws::roles::register_oidc_provider(&t.clients(), platform.server().issuer().url())
            .await
            .map_err(UpError::Aws)?;
    }
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
    let components = [
        component("Flux", &profile.flux),
        component("Gatekeeper", &profile.gatekeeper),
        component("Secrets Store CSI + AWS provider", &profile.csi),
        component("ACK iam", &profile.ack_iam),
        component("ACK rds", &profile.ack_rds),
        component("ACK secretsmanager", &profile.ack_secretsmanager),
        component("Crossplane provider-aws-iam", &profile.crossplane_aws),
    ];
    println!("platform: {} (controllers run to a fixed point after every change)", components.join(", "));
    println!("kubeconfig: {}", path.display());
    if let Some(m) = &moto {
        println!("AWS emulator (moto): {} (account {MOTO_DEFAULT_ACCOUNT})", m.url());
    }
    println!();
    println!("  export KUBECONFIG={}", path.display());
    if let Some(m) = &moto {
        println!(
            "  export AWS_ENDPOINT_URL={} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION={}",
            m.url(),
            sim::aws::DEFAULT_REGION
        );
    }
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

//! The simulated platform: the API server, the controller runtime and the components a
//! platform profile enables (Flux, Gatekeeper, and later the CSI driver, ACK and Crossplane),
//! wired together in one process.
//!
//! This module only composes: each component's behaviour lives in its own module and is
//! installed from here. It must not know about scenarios.

use std::path::PathBuf;
use std::time::Duration;

use crate::apiserver::{ApiServer, ApiServerConfig};
use crate::git::Repos;
use crate::runtime::{Decision, Runtime, SettleError};

/// Which components run, at which versions. `None` leaves a component out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Flux version (`2.8`): decides the API versions served.
    pub flux: Option<String>,
    /// Gatekeeper version (`3.20`).
    pub gatekeeper: Option<String>,
    /// Secrets Store CSI driver version (`1.5`), with the AWS provider.
    pub csi: Option<String>,
    /// ACK iam-controller version (`1.4`).
    pub ack_iam: Option<String>,
    /// ACK rds-controller version (`1.6`).
    pub ack_rds: Option<String>,
    /// ACK secretsmanager-controller version (`1.1`).
    pub ack_secretsmanager: Option<String>,
    /// Crossplane's provider-aws-iam (upjet family) major version (`2`).
    pub crossplane_aws: Option<String>,
    /// The virtual nodes (count and extra labels); always present, 2 by default.
    pub nodes: crate::workloads::NodeSettings,
    /// The AWS region (default `us-east-1`); an AWS target's region takes precedence.
    pub region: Option<String>,
}

/// The versions the simulator models by default.
pub const DEFAULT_FLUX: &str = "2.8";
pub const DEFAULT_GATEKEEPER: &str = "3.20";
pub const DEFAULT_CSI: &str = "1.5";
pub const DEFAULT_ACK_IAM: &str = "1.4";
pub const DEFAULT_ACK_RDS: &str = "1.6";
pub const DEFAULT_ACK_SECRETSMANAGER: &str = "1.1";
pub const DEFAULT_CROSSPLANE_AWS: &str = "2";

impl Default for Profile {
    fn default() -> Self {
        Profile {
            flux: Some(DEFAULT_FLUX.into()),
            gatekeeper: Some(DEFAULT_GATEKEEPER.into()),
            csi: Some(DEFAULT_CSI.into()),
            ack_iam: Some(DEFAULT_ACK_IAM.into()),
            ack_rds: Some(DEFAULT_ACK_RDS.into()),
            ack_secretsmanager: Some(DEFAULT_ACK_SECRETSMANAGER.into()),
            crossplane_aws: Some(DEFAULT_CROSSPLANE_AWS.into()),
            nodes: Default::default(),
            region: None,
        }
    }
}

impl Profile {
    /// Only the API server, no components.
    pub fn bare() -> Self {
        Profile {
            flux: None,
            gatekeeper: None,
            csi: None,
            ack_iam: None,
            ack_rds: None,
            ack_secretsmanager: None,
            crossplane_aws: None,
            nodes: Default::default(),
            region: None,
        }
    }

    /// True when a component of the profile calls AWS (so the platform needs an endpoint).
    pub fn uses_aws(&self) -> bool {
        self.csi.is_some()
            || self.ack_iam.is_some()
            || self.ack_rds.is_some()
            || self.ack_secretsmanager.is_some()
            || self.crossplane_aws.is_some()
    }
}

/// External programs the components call.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    /// kubectl, whose `kustomize` subcommand builds Flux Kustomizations.
    pub kubectl: Option<PathBuf>,
    /// A directory where kustomize outputs are kept between runs (keyed by the kubectl binary,
    /// the artifact's digest and the build settings); `None`: builds are only shared within
    /// this process.
    pub build_cache: Option<PathBuf>,
}

/// Settings of a platform.
#[derive(Debug, Clone, Default)]
pub struct PlatformConfig {
    pub api: ApiServerConfig,
    pub profile: Profile,
    pub tools: Tools,
    /// Where scenario repositories and artifacts live (a directory the caller owns); a
    /// temporary directory when unset.
    pub work_dir: Option<PathBuf>,
    /// Where the AWS-calling components (CSI provider, ACK, Crossplane) send their calls, as
    /// which account. Without it those components report that no AWS endpoint is configured.
    pub aws: Option<crate::aws::AwsTarget>,
}

/// What the installed objects of a platform depend on: its profile, the API server's issuer
/// and the region.
fn image_key(config: &PlatformConfig) -> String {
    let region = region_of(config.aws.as_ref(), &config.profile);
    format!("{:?}|{:?}|{region}", config.profile, config.api.service_account_issuer)
}

/// The AWS target's region, else the profile's, else the default.
fn region_of<'a>(aws: Option<&'a crate::aws::AwsTarget>, profile: &'a Profile) -> &'a str {
    match (aws, &profile.region) {
        (Some(a), _) => a.region.as_str(),
        (None, Some(r)) => r.as_str(),
        (None, None) => crate::aws::DEFAULT_REGION,
    }
}

/// The installed state of the first platform started with each key in this process. The
/// components' CRDs, namespaces and nodes are the same for every platform of a profile, and
/// installing them through the API server's full pipeline is most of a platform's start; later
/// platforms copy them (objects are shared, never changed in place) and run the installs again
/// only to register their controllers and plugins.
static IMAGES: std::sync::Mutex<Vec<(String, crate::apiserver::ServerImage)>> = std::sync::Mutex::new(Vec::new());

/// At most this many profiles keep an image (a run uses one or a few).
const MAX_IMAGES: usize = 8;

fn installed_image(key: &str) -> Option<crate::apiserver::ServerImage> {
    let images = IMAGES.lock().unwrap_or_else(|e| e.into_inner());
    images.iter().find(|(k, _)| k == key).map(|(_, image)| image.clone())
}

fn keep_image(key: String, image: crate::apiserver::ServerImage) {
    let mut images = IMAGES.lock().unwrap_or_else(|e| e.into_inner());
    if images.iter().any(|(k, _)| *k == key) {
        return;
    }
    if images.len() >= MAX_IMAGES {
        images.remove(0);
    }
    images.push((key, image));
}

/// Starting a platform failed.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("unsupported {component} version {version:?}: the simulator models {supported}")]
    UnsupportedVersion { component: &'static str, version: String, supported: String },
    #[error("cannot create the platform's work directory: {0}")]
    WorkDir(#[source] std::io::Error),
    #[error("installing {component}: {message}")]
    Install { component: &'static str, message: String },
}

/// A running simulated platform. Dropping it stops the controllers and removes the temporary
/// work directory (when the platform made it).
pub struct Platform {
    server: ApiServer,
    runtime: Runtime,
    repos: Repos,
    profile: Profile,
    tools: Tools,
    work_dir: PathBuf,
    flux: Option<crate::flux::Flux>,
    gatekeeper: Option<std::sync::Arc<crate::gatekeeper::State>>,
    workloads: std::sync::Arc<crate::workloads::Workloads>,
    aws: Option<crate::aws::AwsTarget>,
    _temp: Option<tempfile::TempDir>,
}

impl Platform {
    /// Starts the API server and the profile's components. Must run inside a tokio runtime.
    pub fn start(config: PlatformConfig) -> Result<Platform, PlatformError> {
        Platform::start_from(config, true)
    }

    /// [`Platform::start`]; with `images`, the installed objects come from the process's
    /// image of the same profile when there is one (see [`installed_image`]).
    fn start_from(config: PlatformConfig, images: bool) -> Result<Platform, PlatformError> {
        let (work, temp) = match &config.work_dir {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(PlatformError::WorkDir)?;
                (d.clone(), None)
            }
            None => {
                let t = crate::scratch::new_dir().map_err(PlatformError::WorkDir)?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let image_key = images.then(|| image_key(&config));
        let image = image_key.as_deref().and_then(installed_image);
        let server = match &image {
            Some(image) => ApiServer::from_image(config.api.clone(), image),
            None => ApiServer::new(config.api.clone()),
        };
        let runtime = Runtime::start(&server);
        let repos = Repos::new(work.join("repos"));
        let mut platform = Platform {
            server,
            runtime,
            repos,
            profile: config.profile.clone(),
            tools: config.tools.clone(),
            work_dir: work,
            flux: None,
            gatekeeper: None,
            workloads: Default::default(),
            aws: config.aws.clone(),
            _temp: temp,
        };
        // Controllers start on what was installed once everything is (not once per object).
        let hold = platform.runtime.hold();
        // Workloads (nodes, Deployments, ReplicaSets, pods) are part of every cluster: always
        // installed, before the optional components; the profile only sets the nodes.
        platform.workloads = crate::workloads::install(&platform)?;
        // The EKS pod identity webhook runs in every EKS control plane.
        crate::identity::install(&platform)?;
        if let Some(v) = config.profile.gatekeeper.as_deref() {
            platform.gatekeeper = Some(crate::gatekeeper::install(&platform, v)?);
        }
        if let Some(v) = config.profile.flux.as_deref() {
            platform.flux = Some(crate::flux::install(&platform, v)?);
        }
        if let Some(v) = config.profile.crossplane_aws.as_deref() {
            crate::crossplane::install(&platform, v)?;
        }
        if let Some(v) = config.profile.csi.as_deref() {
            crate::csi::install(&platform, v)?;
        }
        crate::ack::install(&platform)?;
        platform.server.end_replay();
        if let (Some(key), None) = (image_key, image) {
            keep_image(key, platform.server.image());
        }
        drop(hold);
        Ok(platform)
    }

    pub fn server(&self) -> &ApiServer {
        &self.server
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The scenario repositories Flux fetches from.
    pub fn repos(&self) -> &Repos {
        &self.repos
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    pub fn tools(&self) -> &Tools {
        &self.tools
    }

    /// The platform's scratch directory.
    pub fn work_dir(&self) -> &std::path::Path {
        &self.work_dir
    }

    /// Flux, when the profile enables it.
    pub fn flux(&self) -> Option<&crate::flux::Flux> {
        self.flux.as_ref()
    }

    /// Gatekeeper's shared state, when the profile enables it.
    pub fn gatekeeper(&self) -> Option<&std::sync::Arc<crate::gatekeeper::State>> {
        self.gatekeeper.as_ref()
    }

    /// The AWS region the platform runs in: its AWS target's, else `us-east-1`. Nodes carry it
    /// (`topology.kubernetes.io/region`), the pod identity webhook injects it, the CSI provider
    /// and ACK use it.
    pub fn region(&self) -> &str {
        region_of(self.aws.as_ref(), &self.profile)
    }

    /// Where AWS calls go (see [`PlatformConfig::aws`]).
    pub fn aws(&self) -> Option<&crate::aws::AwsTarget> {
        self.aws.as_ref()
    }

    /// The workloads component (register volume plugins on it).
    pub fn workloads(&self) -> &std::sync::Arc<crate::workloads::Workloads> {
        &self.workloads
    }

    /// Waits for the controllers' fixed point (see [`Runtime::settle`]).
    pub async fn settle(&self, timeout: Duration) -> Result<(), SettleError> {
        self.runtime.settle(timeout).await
    }

    /// What the controllers decided, oldest first (for evidence bundles).
    pub fn decisions(&self) -> Vec<Decision> {
        self.runtime.decisions()
    }
}

/// Checks `version` against the `major.minor` versions a component supports.
pub fn check_version(component: &'static str, version: &str, supported: &[&str]) -> Result<(), PlatformError> {
    let mm: String = version.trim_start_matches('v').split('.').take(2).collect::<Vec<_>>().join(".");
    if supported.contains(&mm.as_str()) {
        Ok(())
    } else {
        Err(PlatformError::UnsupportedVersion {
            component,
            version: version.to_string(),
            supported: supported.join(", "),
        })
    }
}

#[cfg(test)]
mod tests;

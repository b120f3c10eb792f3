//! The simulated Flux: source-controller ([`source`]: GitRepository and the other sources),
//! kustomize-controller ([`kustomize`]) and helm-controller ([`helm`]), installed per the Flux
//! version the platform profile pins.
//!
//! The version decides the API versions served: Flux 2.8 and later serve only `v1`
//! (`source.toolkit.fluxcd.io/v1`, `kustomize.toolkit.fluxcd.io/v1`, `helm.toolkit.fluxcd.io/v2`);
//! 2.7 and earlier also serve `v1beta2` with a deprecation warning. Controllers share artifacts
//! through [`artifacts::ArtifactStore`], as the real ones share them over HTTP. This module
//! only wires; the reconcile logic is in the module named for each controller.

pub mod artifacts;
pub mod charts;
pub mod helm;
pub mod kustomize;
pub mod source;

use crate::platform::{check_version, Platform, PlatformError};
pub use artifacts::{Artifact, ArtifactStore};

/// Flux versions the simulator models.
pub const SUPPORTED_VERSIONS: &[&str] = &["2.5", "2.6", "2.7", "2.8"];
/// The namespace Flux runs in.
pub const FLUX_NAMESPACE: &str = "flux-system";

/// A Flux release, `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FluxVersion {
    pub major: u32,
    pub minor: u32,
}

impl FluxVersion {
    /// Parses `2.8`, `v2.8` or `2.8.1` (the patch is ignored).
    pub fn parse(s: &str) -> Option<FluxVersion> {
        let mut parts = s.trim().trim_start_matches('v').split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(FluxVersion { major, minor })
    }

    /// True for Flux 2.7 and earlier, which still serve the `v1beta2` APIs (deprecated).
    pub fn serves_v1beta2(self) -> bool {
        (self.major, self.minor) <= (2, 7)
    }
}

/// What every Flux controller needs.
#[derive(Clone)]
pub struct Flux {
    pub version: FluxVersion,
    pub artifacts: ArtifactStore,
}

/// Installs Flux: the `flux-system` namespace, the CRDs for the version, the controllers.
pub fn install(platform: &Platform, version: &str) -> Result<Flux, PlatformError> {
    check_version("flux", version, SUPPORTED_VERSIONS)?;
    let parsed = FluxVersion::parse(version).ok_or_else(|| PlatformError::UnsupportedVersion {
        component: "flux",
        version: version.to_string(),
        supported: SUPPORTED_VERSIONS.join(", "),
    })?;
    let server = platform.server();
    let fail = |e: crate::apiserver::ApiError| PlatformError::Install { component: "flux", message: e.to_string() };
    let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": FLUX_NAMESPACE}});
    server.install("", "v1", "namespaces", None, &ns).map_err(fail)?;
    let crds = crate::crds::made_once(&format!("flux {}.{}", parsed.major, parsed.minor), || {
        [source::crds(parsed), kustomize::crds(parsed), helm::crds(parsed)].into_iter().flatten().collect()
    });
    for crd in crds.iter() {
        server.install("apiextensions.k8s.io", "v1", "customresourcedefinitions", None, crd).map_err(fail)?;
    }
    let flux = Flux { version: parsed, artifacts: ArtifactStore::new(platform.work_dir().join("artifacts")) };
    source::install(platform, &flux)?;
    kustomize::install(platform, &flux)?;
    helm::install(platform, &flux)?;
    Ok(flux)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_decide_v1beta2() {
        assert_eq!(FluxVersion::parse("v2.8.1"), Some(FluxVersion { major: 2, minor: 8 }));
        assert!(FluxVersion::parse("2").is_none());
        assert!(!FluxVersion::parse("2.8").is_some_and(FluxVersion::serves_v1beta2));
        assert!(FluxVersion::parse("2.7").is_some_and(FluxVersion::serves_v1beta2));
    }
}

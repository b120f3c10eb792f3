//! Readiness: what "installed and ready" means for each platform component, as checks over the
//! Kubernetes API. The kind backend waits on them after an install; the cluster backend checks
//! them once, before a run, and says what is missing. This module must not run docker, kind or
//! helm.

/// One thing that must hold before scenarios run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "check", rename_all = "camelCase")]
pub enum Check {
    /// A CustomResourceDefinition exists and has `Established=True`.
    CrdEstablished { name: String },
    /// A Deployment has `Available=True` and all its replicas updated and available.
    DeploymentAvailable { namespace: String, name: String },
    /// A DaemonSet has every desired pod scheduled, updated and ready.
    DaemonSetReady { namespace: String, name: String },
    /// A Crossplane Provider (`pkg.crossplane.io/v1`) is `Installed=True` and `Healthy=True`.
    CrossplaneProviderHealthy { name: String },
    /// An object of any kind exists (for example a ProviderConfig or a ConfigMap).
    Exists { api_version: String, kind: String, namespace: Option<String>, name: String },
}

//! Identity in the simulated cluster: the service-account token issuer (signed JWTs, OIDC
//! discovery, JWKS), the TokenRequest subresource, and the EKS pod identity webhook (IRSA),
//! so that IRSA is checked, not assumed.
//!
//! The issuer belongs to the API server ([`crate::apiserver::ApiServer::issuer`]); other
//! simulated components mint pod tokens through [`token_for_pod`]. This module must not call
//! AWS: trust policies and STS are the AWS side's business.

pub mod issuer;
pub mod pod_identity;
pub mod token_request;

use std::sync::Arc;

use serde_json::Value;

pub use issuer::{default_issuer_url, Claims, Issuer, IssuerError, KubernetesClaims, ObjectRef, TokenError, TokenSpec};
pub use pod_identity::PodIdentityWebhook;

use crate::apiserver::ApiServer;
use crate::platform::{Platform, PlatformError};

/// Minting a token for a pod failed.
#[derive(Debug, thiserror::Error)]
pub enum PodTokenError {
    #[error("pod has no metadata.namespace")]
    NoNamespace,
    #[error("serviceaccounts {name:?} not found")]
    ServiceAccountNotFound { name: String },
    #[error(transparent)]
    Issuer(#[from] IssuerError),
}

/// A token for `pod` (as stored), as the kubelet requests one for a projected volume or the
/// CSI driver for `tokenRequests`: subject the pod's ServiceAccount, bound to the pod and its
/// node.
pub fn token_for_pod(
    server: &ApiServer,
    pod: &Value,
    audience: &str,
    expiration_seconds: i64,
) -> Result<String, PodTokenError> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let ns = pod["metadata"]["namespace"].as_str().filter(|n| !n.is_empty()).ok_or(PodTokenError::NoNamespace)?;
    let sa_name = pod["spec"]["serviceAccountName"].as_str().filter(|s| !s.is_empty()).unwrap_or("default");
    let sa = server
        .get_object("", "serviceaccounts", ns, sa_name)
        .ok_or_else(|| PodTokenError::ServiceAccountNotFound { name: sa_name.to_string() })?;
    let node = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()).map(|n| ObjectRef {
        name: n.to_string(),
        uid: server.get_object("", "nodes", "", n).map(|o| text(&o["metadata"]["uid"])).unwrap_or_default(),
    });
    let spec = TokenSpec {
        namespace: ns.to_string(),
        service_account: sa_name.to_string(),
        sa_uid: text(&sa["metadata"]["uid"]),
        audiences: vec![audience.to_string()],
        expiration_seconds,
        pod: Some(ObjectRef { name: text(&pod["metadata"]["name"]), uid: text(&pod["metadata"]["uid"]) }),
        node,
        secret: None,
    };
    Ok(server.issuer().mint(&spec)?)
}

/// Registers the pod identity webhook on the platform's API server. EKS runs it in the control
/// plane, so every platform has it.
pub fn install(platform: &Platform) -> Result<Arc<PodIdentityWebhook>, PlatformError> {
    let server = platform.server();
    let webhook = Arc::new(PodIdentityWebhook::new(server.downgrade(), platform.region()));
    server.admission().add_mutating(webhook.clone());
    Ok(webhook)
}

//! The runner's Kubernetes I/O: resolve apiVersion/kind to a resource (discovery, cached per
//! scenario), and send raw requests so that steps see exactly what the API server said: the
//! HTTP code, the `Status` (reason, message, details) and `Warning` headers. Works the same on
//! every backend; it must not know which one it talks to.

use std::collections::HashMap;
use std::sync::Mutex;

use http::{Method, Request};
use http_body_util::BodyExt;
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

/// Which object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// Resolved namespace (empty for cluster-scoped kinds).
    pub namespace: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{} {}", self.api_version, self.kind, self.name)
        } else {
            write!(f, "{}/{} {}/{}", self.api_version, self.kind, self.namespace, self.name)
        }
    }
}

/// What the API server answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub code: u16,
    pub body: Value,
    pub warnings: Vec<String>,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// `Status.reason` of an error answer.
    pub fn reason(&self) -> &str {
        self.body.get("reason").and_then(Value::as_str).unwrap_or("")
    }

    /// `Status.message` of an error answer (or the raw body).
    pub fn message(&self) -> String {
        match self.body.get("message").and_then(Value::as_str) {
            Some(m) => m.to_string(),
            None => self.body.to_string(),
        }
    }
}

/// Failures talking to the API server (not API errors, which are [`Answer`]s).
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("no matches for kind {kind:?} in version {api_version:?}")]
    NoMatch { api_version: String, kind: String },
    #[error("cannot reach the API server: {0}")]
    Transport(String),
    #[error("cannot build the request: {0}")]
    Request(String),
}

/// A client with a discovery cache.
pub struct Kube {
    pub client: kube::Client,
    cache: Mutex<HashMap<(String, String), (ApiResource, bool)>>,
}

impl Kube {
    pub fn new(client: kube::Client) -> Self {
        Kube { client, cache: Mutex::new(HashMap::new()) }
    }

    /// The resource for an apiVersion and kind, and whether it is namespaced.
    pub async fn resolve(&self, api_version: &str, kind: &str) -> Result<(ApiResource, bool), KubeError> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(hit);
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|_| KubeError::NoMatch { api_version: api_version.into(), kind: kind.into() })?;
        let namespaced = caps.scope == kube::discovery::Scope::Namespaced;
        if let Ok(mut c) = self.cache.lock() {
            c.insert(key, (ar.clone(), namespaced));
        }
        Ok((ar, namespaced))
    }

    /// Resolves a target, giving namespaced kinds `default_ns` when no namespace was written.
    pub async fn target(
        &self,
        api_version: &str,
        kind: &str,
        name: &str,
        ns: Option<&str>,
        default_ns: &str,
    ) -> Result<(Target, ApiResource), KubeError> {
        let (ar, namespaced) = self.resolve(api_version, kind).await?;
        let namespace =
            if namespaced { ns.filter(|n| !n.is_empty()).unwrap_or(default_ns).to_string() } else { String::new() };
        Ok((Target { api_version: api_version.into(), kind: kind.into(), name: name.into(), namespace }, ar))
    }

    pub fn url(ar: &ApiResource, t: &Target, sub: Option<&str>, query: &str) -> String {
        let base = if ar.group.is_empty() {
            format!("/api/{}", ar.version)
        } else {
            format!("/apis/{}/{}", ar.group, ar.version)
        };
        let ns = if t.namespace.is_empty() { String::new() } else { format!("/namespaces/{}", t.namespace) };
        let sub = sub.map(|s| format!("/{s}")).unwrap_or_default();
        let q = if query.is_empty() { String::new() } else { format!("?{query}") };
        format!("{base}{ns}/{}/{}{sub}{q}", ar.plural, t.name)
    }

    /// Sends one request and collects the answer.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Answer, KubeError> {
        let req = Request::builder()
            .method(method)
            .uri(url)
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::ACCEPT, "application/json")
            .body(kube::client::Body::from(body))
            .map_err(|e| KubeError::Request(e.to_string()))?;
        let resp = self.client.send(req).await.map_err(|e| KubeError::Transport(e.to_string()))?;
        let code = resp.status().as_u16();
        let warnings = resp
            .headers()
            .get_all(http::header::WARNING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(parse_warning)
            .collect();
        let bytes = resp.into_body().collect().await.map_err(|e| KubeError::Transport(e.to_string()))?.to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok(Answer { code, body, warnings })
    }

    /// Every object of a resource, in one namespace or (None) everywhere.
    pub async fn list(&self, ar: &ApiResource, namespace: Option<&str>) -> Result<Vec<Value>, KubeError> {
        let base = if ar.group.is_empty() {
            format!("/api/{}", ar.version)
        } else {
            format!("/apis/{}/{}", ar.group, ar.version)
        };
        let ns = namespace.map(|n| format!("/namespaces/{n}")).unwrap_or_default();
        let url = format!("{base}{ns}/{}", ar.plural);
        let a = self.send(Method::GET, &url, "application/json", Vec::new()).await?;
        if a.code != 200 {
            return Err(KubeError::Transport(format!("GET {url}: {} {}", a.code, a.message())));
        }
        Ok(a.body.get("items").and_then(Value::as_array).cloned().unwrap_or_default())
    }

    /// The cluster's service-account token issuer, from its OIDC discovery document (what IAM
    /// knows it by, for IRSA).
    pub async fn oidc_issuer(&self) -> Result<String, KubeError> {
        let url = "/.well-known/openid-configuration";
        let a = self.send(Method::GET, url, "application/json", Vec::new()).await?;
        if a.code != 200 {
            return Err(KubeError::Transport(format!("GET {url}: {} {}", a.code, a.message())));
        }
        a.body
            .get("issuer")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| KubeError::Transport(format!("GET {url}: the document names no issuer")))
    }

    /// The object, or None when it does not exist.
    pub async fn get(&self, ar: &ApiResource, t: &Target) -> Result<Option<Value>, KubeError> {
        let a = self.send(Method::GET, &Self::url(ar, t, None, ""), "application/json", Vec::new()).await?;
        match a.code {
            200 => Ok(Some(a.body)),
            404 => Ok(None),
            _ => Err(KubeError::Transport(format!("GET {t}: {} {}", a.code, a.message()))),
        }
    }
}

/// `299 - "text"` → `text`.
fn parse_warning(h: &str) -> String {
    let rest = h.splitn(3, ' ').nth(2).unwrap_or(h).trim();
    match rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => rest.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_unquoted() {
        assert_eq!(parse_warning(r#"299 - "[c] image \"x\" not allowed""#), r#"[c] image "x" not allowed"#);
    }
}

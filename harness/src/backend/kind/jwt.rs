//! Service-account token verification as AWS STS does it for IRSA: the signing key comes from
//! the cluster's JWKS (fetched from the API server's `/openid/v1/jwks`, or from an issuer URL's
//! OIDC discovery), found by the token's `kid`; RS256 (what kube-apiserver signs with) and ES256
//! (what the simulator signs with) are accepted; then `iss`, `exp`, `nbf` and `aud` are checked.
//! Refusals carry STS's error code and wording ([`Refusal`]).
//!
//! The key set is cached and fetched again when a token names a `kid` it does not hold (the
//! cluster rotated its key). This module must not log or quote tokens: messages name claims,
//! never the token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::Value;
use tokio::sync::Mutex;

/// Fetching the key set failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot fetch the cluster's {what} from {from}: {reason}")]
pub struct JwksError {
    pub what: &'static str,
    pub from: String,
    pub reason: String,
}

/// Where the issuer and its keys come from.
#[derive(Clone)]
pub enum JwksSource {
    /// The cluster's API server: `/.well-known/openid-configuration` (the issuer) and
    /// `/openid/v1/jwks`.
    Kube(kube::Client),
    /// An issuer URL: plain http, or https trusting only the CA `ca_pem` (required for https).
    Url { issuer_url: String, ca_pem: Option<String> },
    /// A fixed issuer and key set (tests).
    Fixed { issuer: String, jwks: Value },
}

impl std::fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksSource::Kube(_) => f.write_str("JwksSource::Kube"),
            JwksSource::Url { issuer_url, .. } => write!(f, "JwksSource::Url({issuer_url})"),
            JwksSource::Fixed { issuer, .. } => write!(f, "JwksSource::Fixed({issuer})"),
        }
    }
}

#[derive(Debug, Clone)]
struct KeySet {
    issuer: String,
    keys: Vec<Value>,
    fetched: Instant,
}

/// A cached key set.
#[derive(Debug)]
pub struct Jwks {
    source: JwksSource,
    cache: Mutex<Option<KeySet>>,
}

/// The shortest time between two fetches triggered by unknown `kid`s (so forged tokens cannot
/// make the front hammer the API server).
const REFETCH_AFTER: Duration = Duration::from_secs(2);

impl Jwks {
    pub fn new(source: JwksSource) -> Jwks {
        Jwks { source, cache: Mutex::new(None) }
    }

    pub fn from_client(client: kube::Client) -> Jwks {
        Jwks::new(JwksSource::Kube(client))
    }

    pub fn from_url(issuer_url: impl Into<String>, ca_pem: Option<String>) -> Jwks {
        Jwks::new(JwksSource::Url { issuer_url: issuer_url.into(), ca_pem })
    }

    pub fn fixed(issuer: impl Into<String>, jwks: Value) -> Jwks {
        Jwks::new(JwksSource::Fixed { issuer: issuer.into(), jwks })
    }

    async fn fetch(&self) -> Result<KeySet, JwksError> {
        let (discovery, jwks) = match &self.source {
            JwksSource::Fixed { issuer, jwks } => (serde_json::json!({"issuer": issuer}), jwks.clone()),
            JwksSource::Kube(client) => {
                let get = |path: &'static str, what: &'static str| async move {
                    let req = http::Request::get(path).body(Vec::new()).map_err(|e| JwksError {
                        what,
                        from: path.to_string(),
                        reason: e.to_string(),
                    })?;
                    let text = client.request_text(req).await.map_err(|e| JwksError {
                        what,
                        from: format!("the API server's {path}"),
                        reason: e.to_string(),
                    })?;
                    serde_json::from_str::<Value>(&text).map_err(|e| JwksError {
                        what,
                        from: format!("the API server's {path}"),
                        reason: format!("not JSON: {e}"),
                    })
                };
                (
                    get("/.well-known/openid-configuration", "OIDC discovery document").await?,
                    get("/openid/v1/jwks", "key set (JWKS)").await?,
                )
            }
            JwksSource::Url { issuer_url, ca_pem } => {
                let base = issuer_url.trim_end_matches('/');
                let doc_url = format!("{base}/.well-known/openid-configuration");
                let doc = http_get_json(&doc_url, ca_pem.as_deref()).await.map_err(|reason| JwksError {
                    what: "OIDC discovery document",
                    from: doc_url.clone(),
                    reason,
                })?;
                let jwks_url = doc["jwks_uri"].as_str().map(str::to_string).ok_or_else(|| JwksError {
                    what: "OIDC discovery document",
                    from: doc_url.clone(),
                    reason: "it has no jwks_uri".into(),
                })?;
                let jwks = http_get_json(&jwks_url, ca_pem.as_deref()).await.map_err(|reason| JwksError {
                    what: "key set (JWKS)",
                    from: jwks_url.clone(),
                    reason,
                })?;
                (doc, jwks)
            }
        };
        let issuer = discovery["issuer"].as_str().unwrap_or_default().to_string();
        let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
        Ok(KeySet { issuer, keys, fetched: Instant::now() })
    }

    /// The issuer and the key with `kid` (fetching the set again once if `kid` is unknown).
    async fn key(&self, kid: Option<&str>) -> Result<(String, Option<Value>), JwksError> {
        let mut cache = self.cache.lock().await;
        let find = |set: &KeySet| -> Option<Value> {
            match kid {
                Some(k) => set.keys.iter().find(|j| j["kid"].as_str() == Some(k)).cloned(),
                // No kid: usable only when the set has exactly one key.
                None if set.keys.len() == 1 => set.keys.first().cloned(),
                None => None,
            }
        };
        if let Some(set) = cache.as_ref() {
            if let Some(k) = find(set) {
                return Ok((set.issuer.clone(), Some(k)));
            }
            if set.fetched.elapsed() < REFETCH_AFTER {
                return Ok((set.issuer.clone(), None));
            }
        }
        let set = self.fetch().await?;
        let found = find(&set);
        let issuer = set.issuer.clone();
        *cache = Some(set);
        Ok((issuer, found))
    }

    /// The issuer URL (fetching the discovery document if needed).
    pub async fn issuer(&self) -> Result<String, JwksError> {
        if let Some(set) = self.cache.lock().await.as_ref() {
            return Ok(set.issuer.clone());
        }
        let set = self.fetch().await?;
        let issuer = set.issuer.clone();
        *self.cache.lock().await = Some(set);
        Ok(issuer)
    }
}

/// A minimal GET of a JSON document (the discovery document and the key set).
async fn http_get_json(url: &str, ca_pem: Option<&str>) -> Result<Value, String> {
    use http_body_util::{BodyExt, Empty};
    let uri: http::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let host = uri.host().ok_or("the URL has no host")?.to_string();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| "connection timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
    let req = http::Request::get(path)
        .header(http::header::HOST, uri.authority().map(|a| a.as_str()).unwrap_or(&host))
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    async fn send<S>(io: S, req: http::Request<Empty<bytes::Bytes>>) -> Result<(http::StatusCode, bytes::Bytes), String>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io)).await.map_err(|e| e.to_string())?;
        let driver = tokio::spawn(conn);
        let resp = sender.send_request(req).await.map_err(|e| e.to_string());
        let out = match resp {
            Ok(r) => {
                let status = r.status();
                r.into_body().collect().await.map(|b| (status, b.to_bytes())).map_err(|e| e.to_string())
            }
            Err(e) => Err(e),
        };
        driver.abort();
        out
    }
    let (status, body) = if https {
        let ca = ca_pem.ok_or("an https issuer URL needs the CA certificate to trust")?;
        let config = super::tls::client_config(ca).map_err(|e| e.to_string())?;
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        tokio::time::timeout(Duration::from_secs(10), send(stream, req))
            .await
            .map_err(|_| "timed out".to_string())??
    } else {
        tokio::time::timeout(Duration::from_secs(10), send(tcp, req)).await.map_err(|_| "timed out".to_string())??
    };
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))
}

/// The claims STS uses, once the token is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub issuer: String,
    pub subject: String,
    /// The audience that matched.
    pub audience: String,
}

/// Why STS refuses a token: the error code, HTTP status and message real STS answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl Refusal {
    pub fn invalid(message: impl Into<String>) -> Refusal {
        Refusal { code: "InvalidIdentityToken", status: 400, message: message.into() }
    }
}

/// STS's answer for a token that is not a JWT.
const NOT_A_JWT: &str =
    "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)";
/// STS's answer when the token's key cannot be found in the provider's key set.
pub const NO_VERIFICATION_KEY: &str =
    "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements";

fn decode_json(part: &str) -> Option<Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

/// Verifies `token` against `jwks` at `now` (Unix seconds); `audiences` are the client IDs the
/// OIDC provider accepts.
pub async fn verify(jwks: &Jwks, token: &str, audiences: &[String], now: i64) -> Result<Verified, Refusal> {
    let token = token.trim();
    let parts: Vec<&str> = token.split('.').collect();
    let [h, p, s] = parts.as_slice() else { return Err(Refusal::invalid(NOT_A_JWT)) };
    let (Some(header), Some(claims), Ok(sig)) = (decode_json(h), decode_json(p), URL_SAFE_NO_PAD.decode(s)) else {
        return Err(Refusal::invalid(NOT_A_JWT));
    };
    let alg = header["alg"].as_str().unwrap_or_default();
    if alg != "RS256" && alg != "ES256" {
        return Err(Refusal::invalid(format!(
            "Unsupported signing algorithm {alg:?}: the provider signs with RS256 or ES256"
        )));
    }
    let (issuer, key) = jwks.key(header["kid"].as_str()).await.map_err(|e| {
        tracing::warn!("sts interception: {e}");
        Refusal::invalid(NO_VERIFICATION_KEY)
    })?;
    let key = key.ok_or_else(|| Refusal::invalid(NO_VERIFICATION_KEY))?;
    let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
    verify_signature(alg, &key, signed, &sig)?;
    let iss = claims["iss"].as_str().unwrap_or_default();
    if iss != issuer {
        return Err(Refusal::invalid(format!("No OpenIDConnect provider found in your account for {iss}")));
    }
    let exp = claims["exp"].as_i64().ok_or_else(|| Refusal::invalid("Missing a required claim: exp"))?;
    if now >= exp {
        return Err(Refusal {
            code: "ExpiredTokenException",
            status: 400,
            message: format!("Token expired: current date/time {now} must be before the expiration date/time {exp}"),
        });
    }
    if let Some(nbf) = claims["nbf"].as_i64() {
        if now < nbf {
            return Err(Refusal::invalid(format!(
                "Token is not yet valid: current date/time {now} must be after the not-before date/time {nbf}"
            )));
        }
    }
    let auds: Vec<String> = match &claims["aud"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => return Err(Refusal::invalid("Missing a required claim: aud")),
    };
    let Some(audience) = auds.into_iter().find(|a| audiences.contains(a)) else {
        return Err(Refusal::invalid("Incorrect token audience"));
    };
    let subject = claims["sub"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Refusal::invalid("Missing a required claim: sub"))?;
    Ok(Verified { issuer, subject: subject.to_string(), audience })
}

fn verify_signature(alg: &str, jwk: &Value, signed: &[u8], sig: &[u8]) -> Result<(), Refusal> {
    let b64 = |name: &str| jwk[name].as_str().and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
    let bad_key = || Refusal::invalid(NO_VERIFICATION_KEY);
    let ok = match (alg, jwk["kty"].as_str()) {
        ("RS256", Some("RSA")) => {
            let (Some(n), Some(e)) = (b64("n"), b64("e")) else { return Err(bad_key()) };
            RsaPublicKeyComponents { n: &n, e: &e }.verify(&signature::RSA_PKCS1_2048_8192_SHA256, signed, sig).is_ok()
        }
        ("ES256", Some("EC")) => {
            let (Some(x), Some(y)) = (b64("x"), b64("y")) else { return Err(bad_key()) };
            if jwk["crv"].as_str() != Some("P-256") || x.len() != 32 || y.len() != 32 {
                return Err(bad_key());
            }
            let mut point = vec![4u8];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(signed, sig).is_ok()
        }
        // The token's algorithm does not match the key's type.
        _ => return Err(bad_key()),
    };
    if ok {
        Ok(())
    } else {
        Err(Refusal::invalid("The signature of the web identity token could not be verified with the provider's keys"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vector() -> Value {
        serde_json::from_str(include_str!("testdata/rs256.json")).expect("test vector")
    }

    fn rsa_jwks(v: &Value) -> Jwks {
        Jwks::fixed(
            "https://kubernetes.default.svc.cluster.local",
            json!({"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": v["kid"], "n": v["n"], "e": v["e"]}]}),
        )
    }

    const NOW: i64 = 1_800_000_000;

    #[tokio::test]
    async fn rs256_tokens_verify_against_a_fixed_key() {
        let v = vector();
        let token = v["token"].as_str().expect("token");
        let aud = vec!["sts.amazonaws.com".to_string()];
        let ok = verify(&rsa_jwks(&v), token, &aud, NOW).await.expect("verifies");
        assert_eq!(ok.subject, "system:serviceaccount:orders:api");
        assert_eq!(ok.issuer, "https://kubernetes.default.svc.cluster.local");

        // One flipped signature byte.
        let mut bad = token.to_string();
        let last = bad.pop().expect("char");
        bad.push(if last == 'A' { 'B' } else { 'A' });
        let err = verify(&rsa_jwks(&v), &bad, &aud, NOW).await.expect_err("tampered");
        assert_eq!(err.code, "InvalidIdentityToken");
        assert!(err.message.contains("signature"), "{err}");

        // Before nbf, after exp, other audience.
        let err = verify(&rsa_jwks(&v), token, &aud, 1_600_000_000).await.expect_err("nbf");
        assert!(err.message.starts_with("Token is not yet valid"), "{err}");
        let err = verify(&rsa_jwks(&v), token, &aud, 4_102_444_800).await.expect_err("exp");
        assert_eq!((err.code, err.status), ("ExpiredTokenException", 400));
        assert_eq!(
            err.message,
            "Token expired: current date/time 4102444800 must be before the expiration date/time 4102444800"
        );
        let err = verify(&rsa_jwks(&v), token, &["other".into()], NOW).await.expect_err("aud");
        assert_eq!(err.to_string(), "InvalidIdentityToken: Incorrect token audience");

        // Another key with the same kid: the signature does not verify.
        let mut other = v.clone();
        other["n"] = json!(URL_SAFE_NO_PAD.encode([0xc3u8; 256]));
        assert!(verify(&rsa_jwks(&other), token, &aud, NOW).await.is_err());
    }

    #[tokio::test]
    async fn unknown_keys_and_garbage_are_refused() {
        let v = vector();
        let empty = Jwks::fixed("https://kubernetes.default.svc.cluster.local", json!({"keys": []}));
        let aud = vec!["sts.amazonaws.com".to_string()];
        let err = verify(&empty, v["token"].as_str().expect("token"), &aud, NOW).await.expect_err("no key");
        assert_eq!(err.message, NO_VERIFICATION_KEY);
        let err = verify(&empty, "not-a-jwt", &aud, NOW).await.expect_err("garbage");
        assert_eq!(err.message, NOT_A_JWT);
        let err = verify(&empty, "a.b.c", &aud, NOW).await.expect_err("garbage parts");
        assert_eq!(err.message, NOT_A_JWT);
    }
}

//! The service-account token issuer: signs JWTs shaped like kube-apiserver's projected
//! service-account tokens, verifies them, and produces the OIDC discovery document and the JWKS
//! that an identity provider (AWS STS for IRSA) fetches.
//!
//! Deviation from real clusters: kube-apiserver usually signs with RS256; ring cannot generate
//! RSA keys, so this issuer signs with ES256 (ECDSA P-256, SHA-256). The algorithm is announced
//! in the JWT header, the discovery document and the JWK, so verifiers that read them (as STS
//! does) work. The key is generated at start and lives only in memory; `kid` is the unpadded
//! base64url SHA-256 of the public key's DER SubjectPublicKeyInfo, as kube-apiserver derives it.
//!
//! This module must not reach the store or the network: callers look objects up and pass what
//! the token binds to in a [`TokenSpec`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The JWS algorithm of every token this issuer signs.
pub const ALGORITHM: &str = "ES256";

/// The seed of the default issuer URL's cluster ID (fixed, so every run names the same issuer).
const DEFAULT_ISSUER_SEED: &[u8] = b"idp-harness-sim/service-account-issuer";

/// DER prefix of a P-256 SubjectPublicKeyInfo (id-ecPublicKey, prime256v1, BIT STRING of 66
/// bytes); the 65-byte uncompressed point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The issuer URL used when none is configured: an EKS-like OIDC issuer in us-east-1 whose
/// cluster ID (32 upper-case hex characters) is derived from a fixed seed, identical in every
/// run, so scenario trust policies can name it.
pub fn default_issuer_url() -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, DEFAULT_ISSUER_SEED);
    let id: String = digest.as_ref()[..16].iter().map(|b| format!("{b:02X}")).collect();
    format!("https://oidc.eks.us-east-1.amazonaws.com/id/{id}")
}

/// Setting up the issuer failed (only the system random generator can make it fail).
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("cannot generate the service-account signing key: the system random generator failed")]
    KeyGeneration,
    #[error("cannot sign the service-account token: the system random generator failed")]
    Signing,
    #[error("cannot encode the token claims: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Why a token did not verify. Worded as the usual OIDC verifiers (go-oidc) word it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("oidc: malformed jwt: {0}")]
    Malformed(String),
    #[error("oidc: id token signed with unsupported algorithm, expected [\"{ALGORITHM}\"] got {0:?}")]
    Algorithm(String),
    #[error("failed to verify signature: failed to verify id token signature")]
    Signature,
    #[error("oidc: id token issued by a different provider, expected {expected:?} got {got:?}")]
    Issuer { expected: String, got: String },
    #[error("oidc: expected audience {expected:?} got {}", go_strings(.got))]
    Audience { expected: String, got: Vec<String> },
    #[error("oidc: token is expired (Token Expiry: {expiry})")]
    Expired { expiry: String },
    #[error("oidc: current time {now} before the nbf (not before) time: {nbf}")]
    NotYetValid { now: String, nbf: String },
}

/// A list of strings as Go's `%q` prints a `[]string`: `["a" "b"]`.
fn go_strings(v: &[String]) -> String {
    format!("[{}]", v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(" "))
}

/// An object a token names: `{name, uid}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub name: String,
    pub uid: String,
}

/// The `kubernetes.io` private claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaims {
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectRef>,
    pub serviceaccount: ObjectRef,
}

/// The claims of a service-account token, in kube-apiserver's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaims,
    pub nbf: i64,
    pub sub: String,
}

/// What a token is minted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    pub namespace: String,
    pub service_account: String,
    pub sa_uid: String,
    /// The `aud` claim; empty means the issuer's default audience (the issuer URL), as
    /// kube-apiserver uses its API audiences.
    pub audiences: Vec<String>,
    pub expiration_seconds: i64,
    /// The pod the token is bound to, if any.
    pub pod: Option<ObjectRef>,
    /// The node of the bound pod (or the bound node), if known.
    pub node: Option<ObjectRef>,
    /// The Secret the token is bound to, if any.
    pub secret: Option<ObjectRef>,
}

/// The issuer: one signing key, one issuer URL.
pub struct Issuer {
    url: String,
    key: EcdsaKeyPair,
    kid: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer").field("url", &self.url).field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl Issuer {
    /// An issuer with a freshly generated P-256 key.
    pub fn new(issuer_url: impl Into<String>) -> Result<Issuer, IssuerError> {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|_| IssuerError::KeyGeneration)?;
        let key = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).map_err(|_| IssuerError::KeyGeneration)?;
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(key.public_key().as_ref());
        let kid = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &spki));
        Ok(Issuer { url: issuer_url.into(), key, kid, rng })
    }

    /// The issuer URL (the `iss` claim).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The key ID in token headers and the JWKS.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs a token for `spec`, valid from now.
    pub fn mint(&self, spec: &TokenSpec) -> Result<String, IssuerError> {
        self.mint_at(spec, jiff::Timestamp::now().as_second())
    }

    /// Signs a token for `spec` issued at `now` (Unix seconds).
    pub fn mint_at(&self, spec: &TokenSpec, now: i64) -> Result<String, IssuerError> {
        let claims = self.claims(spec, now);
        self.sign(&serde_json::to_value(&claims)?)
    }

    /// The claims a token for `spec` issued at `now` carries.
    pub fn claims(&self, spec: &TokenSpec, now: i64) -> Claims {
        let aud = if spec.audiences.is_empty() { vec![self.url.clone()] } else { spec.audiences.clone() };
        Claims {
            aud,
            exp: now.saturating_add(spec.expiration_seconds),
            iat: now,
            iss: self.url.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
            kubernetes: KubernetesClaims {
                namespace: spec.namespace.clone(),
                node: spec.node.clone(),
                pod: spec.pod.clone(),
                secret: spec.secret.clone(),
                serviceaccount: ObjectRef { name: spec.service_account.clone(), uid: spec.sa_uid.clone() },
            },
            nbf: now,
            sub: format!("system:serviceaccount:{}:{}", spec.namespace, spec.service_account),
        }
    }

    /// Signs any claims set with this issuer's key (tests use it to forge bad tokens).
    pub fn sign(&self, claims: &Value) -> Result<String, IssuerError> {
        let header = json!({"alg": ALGORITHM, "kid": self.kid});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let sig = self.key.sign(&self.rng, signing_input.as_bytes()).map_err(|_| IssuerError::Signing)?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    }

    /// Verifies signature, issuer, audience and time validity now.
    pub fn verify(&self, token: &str, expected_audience: &str) -> Result<Claims, TokenError> {
        self.verify_at(token, expected_audience, jiff::Timestamp::now().as_second())
    }

    /// [`Issuer::verify`] at `now` (Unix seconds).
    pub fn verify_at(&self, token: &str, expected_audience: &str, now: i64) -> Result<Claims, TokenError> {
        let parts: Vec<&str> = token.trim().split('.').collect();
        let [header, payload, sig] = parts.as_slice() else {
            return Err(TokenError::Malformed(format!(
                "compact JWS format must have three parts, got {}",
                parts.len()
            )));
        };
        let header: Value = decode_part(header, "header")?;
        let alg = header.get("alg").and_then(Value::as_str).unwrap_or_default();
        if alg != ALGORITHM {
            return Err(TokenError::Algorithm(alg.to_string()));
        }
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|e| TokenError::Malformed(format!("signature: {e}")))?;
        let public = signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, self.key.public_key());
        let signing_input_len = header_len(token);
        public.verify(&token.trim().as_bytes()[..signing_input_len], &sig).map_err(|_| TokenError::Signature)?;
        let claims: Claims = decode_part(payload, "payload")?;
        if claims.iss != self.url {
            return Err(TokenError::Issuer { expected: self.url.clone(), got: claims.iss });
        }
        if !claims.aud.iter().any(|a| a == expected_audience) {
            return Err(TokenError::Audience { expected: expected_audience.to_string(), got: claims.aud });
        }
        if now >= claims.exp {
            return Err(TokenError::Expired { expiry: rfc3339(claims.exp) });
        }
        if now < claims.nbf {
            return Err(TokenError::NotYetValid { now: rfc3339(now), nbf: rfc3339(claims.nbf) });
        }
        Ok(claims)
    }

    /// The OIDC discovery document (`/.well-known/openid-configuration`); `jwks_uri` is where
    /// the JWKS is served.
    pub fn discovery_document(&self, jwks_uri: &str) -> Value {
        json!({
            "issuer": self.url,
            "jwks_uri": jwks_uri,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
        })
    }

    /// The JSON Web Key Set (`/openid/v1/jwks`): the one public key.
    pub fn jwks(&self) -> Value {
        let point = self.key.public_key().as_ref();
        // Uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
        let (x, y) = point.get(1..).map(|xy| xy.split_at(32)).unwrap_or((&[], &[]));
        json!({"keys": [{
            "use": "sig",
            "kty": "EC",
            "kid": self.kid,
            "crv": "P-256",
            "alg": ALGORITHM,
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        }]})
    }
}

/// Length of `header.payload` in a compact JWS (the signing input).
fn header_len(token: &str) -> usize {
    token.trim().rfind('.').unwrap_or(0)
}

fn decode_part<T: serde::de::DeserializeOwned>(part: &str, what: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|e| TokenError::Malformed(format!("{what}: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| TokenError::Malformed(format!("{what}: {e}")))
}

fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs).map(|t| t.to_string()).unwrap_or_else(|_| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TokenSpec {
        TokenSpec {
            namespace: "team-a".into(),
            service_account: "app".into(),
            sa_uid: "uid-1".into(),
            audiences: vec!["sts.amazonaws.com".into()],
            expiration_seconds: 3600,
            pod: None,
            node: None,
            secret: None,
        }
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn default_issuer_is_stable_and_eks_shaped() {
        let url = default_issuer_url();
        assert_eq!(url, default_issuer_url());
        let id = url.strip_prefix("https://oidc.eks.us-east-1.amazonaws.com/id/").expect("EKS-like prefix");
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)), "{id}");
    }

    #[test]
    fn minted_token_verifies_with_kube_claims() {
        let issuer = Issuer::new("https://issuer.example").expect("issuer");
        let mut s = spec();
        s.pod = Some(ObjectRef { name: "web".into(), uid: "pod-uid".into() });
        let token = issuer.mint_at(&s, NOW).expect("mint");
        let claims = issuer.verify_at(&token, "sts.amazonaws.com", NOW + 10).expect("verifies");
        assert_eq!(claims.sub, "system:serviceaccount:team-a:app");
        assert_eq!((claims.iat, claims.nbf, claims.exp), (NOW, NOW, NOW + 3600));
        assert_eq!(claims.kubernetes.pod, Some(ObjectRef { name: "web".into(), uid: "pod-uid".into() }));
        assert_eq!(claims.kubernetes.serviceaccount.uid, "uid-1");
    }

    #[test]
    fn empty_audiences_default_to_the_issuer() {
        let issuer = Issuer::new("https://issuer.example").expect("issuer");
        let token = issuer.mint_at(&TokenSpec { audiences: vec![], ..spec() }, NOW).expect("mint");
        let claims = issuer.verify_at(&token, "https://issuer.example", NOW).expect("verifies");
        assert_eq!(claims.aud, vec!["https://issuer.example".to_string()]);
    }

    #[test]
    fn wrong_audience_is_refused() {
        let issuer = Issuer::new("https://issuer.example").expect("issuer");
        let token = issuer.mint_at(&spec(), NOW).expect("mint");
        let err = issuer.verify_at(&token, "vault", NOW).expect_err("wrong audience");
        assert_eq!(err.to_string(), r#"oidc: expected audience "vault" got ["sts.amazonaws.com"]"#);
    }

    #[test]
    fn expired_token_is_refused() {
        let issuer = Issuer::new("https://issuer.example").expect("issuer");
        let token = issuer.mint_at(&spec(), NOW).expect("mint");
        let err = issuer.verify_at(&token, "sts.amazonaws.com", NOW + 3600).expect_err("expired");
        assert_eq!(err.to_string(), "oidc: token is expired (Token Expiry: 2027-01-15T09:00:00Z)");
    }

    #[test]
    fn not_yet_valid_token_is_refused() {
        let issuer = Issuer::new("https://issuer.example").expect("issuer");
        let token = issuer.mint_at(&spec(), NOW).expect("mint");
        let err = issuer.verify_at(&token, "sts.amazonaws.com", NOW - 1).expect_err("early");
        assert_eq!(
            err.to_string(),
            "oidc: current time 2027-01-15T07:59:59Z before the nbf (not before) time: 2027-01-15T08:00:00Z"
        );
    }

    #[test]
    fn bad_signature_is_refused() {
        let issuer = Issuer::new("https://issuer.example").expect("issuer");
        let other = Issuer::new("https://issuer.example").expect("second issuer");
        let token = other.mint_at(&spec(), NOW).expect("mint");
        let err = issuer.verify_at(&token, "sts.amazonaws.com", NOW).expect_err("foreign key");
        assert_eq!(err.to_string(), "failed to verify signature: failed to verify id token signature");
        // A payload edited after signing fails the same way.
        let good = issuer.mint_at(&spec(), NOW).expect("mint");
        let parts: Vec<&str> = good.split('.').collect();
        let mut claims = issuer.claims(&spec(), NOW);
        claims.sub = "system:serviceaccount:kube-system:admin".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("json"));
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(issuer.verify_at(&forged, "sts.amazonaws.com", NOW), Err(TokenError::Signature));
    }

    #[test]
    fn wrong_issuer_is_refused() {
        let issuer = Issuer::new("https://issuer.example").expect("issuer");
        let mut claims = serde_json::to_value(issuer.claims(&spec(), NOW)).expect("json");
        claims["iss"] = json!("https://elsewhere.example");
        let token = issuer.sign(&claims).expect("sign");
        let err = issuer.verify_at(&token, "sts.amazonaws.com", NOW).expect_err("wrong issuer");
        assert_eq!(
            err.to_string(),
            r#"oidc: id token issued by a different provider, expected "https://issuer.example" got "https://elsewhere.example""#
        );
    }

    #[test]
    fn malformed_and_foreign_algorithms_are_refused() {
        let issuer = Issuer::new("https://issuer.example").expect("issuer");
        let err = issuer.verify_at("abc.def", "x", NOW).expect_err("two parts");
        assert_eq!(err.to_string(), "oidc: malformed jwt: compact JWS format must have three parts, got 2");
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let err = issuer.verify_at(&format!("{header}.e30."), "x", NOW).expect_err("alg none");
        assert_eq!(
            err.to_string(),
            r#"oidc: id token signed with unsupported algorithm, expected ["ES256"] got "none""#
        );
    }

    #[test]
    fn jwks_describes_the_signing_key() {
        let issuer = Issuer::new("https://issuer.example").expect("issuer");
        let jwks = issuer.jwks();
        let key = &jwks["keys"][0];
        assert_eq!(
            (key["kty"].as_str(), key["crv"].as_str(), key["alg"].as_str()),
            (Some("EC"), Some("P-256"), Some("ES256"))
        );
        assert_eq!(key["kid"].as_str(), Some(issuer.kid()));
        let x = URL_SAFE_NO_PAD.decode(key["x"].as_str().unwrap_or_default()).expect("x");
        let y = URL_SAFE_NO_PAD.decode(key["y"].as_str().unwrap_or_default()).expect("y");
        assert_eq!((x.len(), y.len()), (32, 32));
        let doc = issuer.discovery_document("https://api.example/openid/v1/jwks");
        assert_eq!(doc["issuer"], "https://issuer.example");
        assert_eq!(doc["id_token_signing_alg_values_supported"], json!(["ES256"]));
    }
}

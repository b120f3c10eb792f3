//! The TokenRequest subresource (`POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token`)
//! as kube-apiserver serves it: an `authentication.k8s.io/v1` TokenRequest in (JSON, YAML, or
//! the Kubernetes protobuf envelope that typed clients such as `kubectl create token` send),
//! the same TokenRequest with `status.token` and `status.expirationTimestamp` out.
//!
//! Defaults and checks follow kube-apiserver: audiences default to the issuer (the API
//! audiences), expirationSeconds to 3600, at least 600; the ServiceAccount must exist; a
//! bound object (Pod, Secret, Node) must exist, match its UID when one is given, and a Pod must
//! run as the ServiceAccount. Not modelled: `--service-account-max-token-expiration`, the
//! extended expiry of projected tokens, `warnafter`, and revocation when the bound object goes.
//! This module must not write to the store: a TokenRequest is never persisted.

use serde_json::{json, Value};

use super::issuer::{ObjectRef, TokenSpec};
use crate::apiserver::error::FieldError;
use crate::apiserver::{ApiError, ApiServer};

/// The default `spec.expirationSeconds` (one hour).
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest validity kube-apiserver accepts (10 minutes).
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;

const GROUP: &str = "authentication.k8s.io";
const KIND: &str = "TokenRequest";

/// Handles `POST .../serviceaccounts/<name>/token`; returns the TokenRequest with its status.
pub fn create(
    server: &ApiServer,
    namespace: &str,
    name: &str,
    body: &[u8],
    content_type: &str,
) -> Result<Value, ApiError> {
    let req = decode(body, content_type)?;
    let meta = &req["metadata"];
    if let Some(n) = meta["name"].as_str().filter(|n| !n.is_empty() && *n != name) {
        let e = FieldError::invalid("metadata.name", &json!(n), "must match the service account name if specified");
        return Err(ApiError::invalid(GROUP, KIND, name, &[e]));
    }
    if let Some(n) = meta["namespace"].as_str().filter(|n| !n.is_empty() && *n != namespace) {
        let e = FieldError::invalid(
            "metadata.namespace",
            &json!(n),
            "must match the service account namespace if specified",
        );
        return Err(ApiError::invalid(GROUP, KIND, name, &[e]));
    }
    let sa = server
        .get_object("", "serviceaccounts", namespace, name)
        .ok_or_else(|| ApiError::not_found("", "serviceaccounts", name))?;
    let spec = &req["spec"];
    let audiences: Vec<String> = match spec.get("audiences") {
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => {
            return Err(ApiError::bad_request(format!("spec.audiences: expected a list of strings, got {other}")))
        }
    };
    let audiences = if audiences.is_empty() { vec![server.issuer().url().to_string()] } else { audiences };
    let expiration = match spec.get("expirationSeconds") {
        Some(Value::Null) | None => DEFAULT_EXPIRATION_SECONDS,
        Some(v) => v
            .as_i64()
            .ok_or_else(|| ApiError::bad_request(format!("spec.expirationSeconds: expected an integer, got {v}")))?,
    };
    let now = jiff::Timestamp::now();
    let mut errors = Vec::new();
    if expiration < MIN_EXPIRATION_SECONDS {
        errors.push(FieldError::invalid(
            "spec.expirationSeconds",
            &json!(expiration),
            "may not specify a duration less than 10 minutes",
        ));
    }
    if expiration > MAX_EXPIRATION_SECONDS {
        errors.push(FieldError::invalid(
            "spec.expirationSeconds",
            &json!(expiration),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    if !errors.is_empty() {
        // kube-apiserver names no object in this error.
        return Err(ApiError::invalid(GROUP, KIND, "", &errors));
    }
    let mut token = TokenSpec {
        namespace: namespace.to_string(),
        service_account: name.to_string(),
        sa_uid: sa["metadata"]["uid"].as_str().unwrap_or_default().to_string(),
        audiences: audiences.clone(),
        expiration_seconds: expiration,
        pod: None,
        node: None,
        secret: None,
    };
    let bound = spec.get("boundObjectRef").filter(|b| !b.is_null());
    if let Some(b) = bound {
        bind(server, namespace, name, b, &mut token)?;
    }
    let jwt = server.issuer().mint_at(&token, now.as_second()).map_err(|e| ApiError::internal(e.to_string()))?;
    let expires = jiff::Timestamp::from_second(now.as_second().saturating_add(expiration))
        .map(|t| t.to_string())
        .unwrap_or_default();
    let created = jiff::Timestamp::from_second(now.as_second()).map(|t| t.to_string()).unwrap_or_default();
    let mut out_spec = json!({"audiences": audiences, "expirationSeconds": expiration});
    if let Some(b) = bound {
        out_spec["boundObjectRef"] = b.clone();
    }
    Ok(json!({
        "kind": KIND,
        "apiVersion": format!("{GROUP}/v1"),
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
        "spec": out_spec,
        "status": {"token": jwt, "expirationTimestamp": expires},
    }))
}

/// Resolves `spec.boundObjectRef` into the token's claims, with kube-apiserver's errors.
fn bind(server: &ApiServer, namespace: &str, sa: &str, b: &Value, token: &mut TokenSpec) -> Result<(), ApiError> {
    let kind = b["kind"].as_str().unwrap_or_default();
    let api_version = b["apiVersion"].as_str().unwrap_or_default();
    let ref_name = b["name"].as_str().unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let lookup = |plural: &str, ns: &str| {
        server.get_object("", plural, ns, ref_name).ok_or_else(|| ApiError::not_found("", plural, ref_name))
    };
    let uid = |v: &Value| v["metadata"]["uid"].as_str().unwrap_or_default().to_string();
    let found_uid = match (group, kind) {
        ("", "Pod") => {
            let pod = lookup("pods", namespace)?;
            let pod_sa = pod["spec"]["serviceAccountName"].as_str().unwrap_or("default");
            if pod_sa != sa {
                return Err(ApiError::bad_request(format!(
                    "cannot bind token for serviceaccount {sa:?} to pod running with different serviceaccount name."
                )));
            }
            token.pod = Some(ObjectRef { name: ref_name.to_string(), uid: uid(&pod) });
            if let Some(node_name) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
                if let Some(node) = server.get_object("", "nodes", "", node_name) {
                    token.node = Some(ObjectRef { name: node_name.to_string(), uid: uid(&node) });
                }
            }
            uid(&pod)
        }
        ("", "Secret") => {
            let secret = lookup("secrets", namespace)?;
            token.secret = Some(ObjectRef { name: ref_name.to_string(), uid: uid(&secret) });
            uid(&secret)
        }
        ("", "Node") => {
            let node = lookup("nodes", "")?;
            token.node = Some(ObjectRef { name: ref_name.to_string(), uid: uid(&node) });
            uid(&node)
        }
        _ => {
            return Err(ApiError::bad_request(format!(
                "cannot bind token to object of type {group}/{version}, Kind={kind}"
            )))
        }
    };
    if let Some(want) = b["uid"].as_str().filter(|u| !u.is_empty()) {
        if want != found_uid {
            return Err(ApiError::conflict(
                group,
                kind,
                ref_name,
                &format!("the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"),
            ));
        }
    }
    Ok(())
}

/// The request body as JSON, whatever encoding it came in.
fn decode(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    if content_type.starts_with("application/vnd.kubernetes.protobuf") {
        return protobuf::token_request(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding protobuf: {e}")));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    crate::apiserver::http::decode_body(body, content_type)
}

/// Just enough of the Kubernetes protobuf encoding to read a TokenRequest: the `k8s\0`
/// envelope (`runtime.Unknown`: typeMeta = 1, raw = 2), then `TokenRequest` (metadata = 1,
/// spec = 2), `ObjectMeta` (name = 1, namespace = 3), `TokenRequestSpec` (audiences = 1,
/// boundObjectRef = 3, expirationSeconds = 4) and `BoundObjectReference` (kind = 1,
/// apiVersion = 2, name = 3, uid = 4). Unknown fields are skipped.
mod protobuf {
    use serde_json::{json, Map, Value};

    const MAGIC: &[u8] = b"k8s\x00";

    /// A field: number and payload.
    enum Field<'a> {
        Varint(u64),
        Bytes(&'a [u8]),
        Other,
    }

    /// Why a protobuf body did not decode.
    #[derive(Debug, thiserror::Error)]
    pub enum Error {
        #[error("missing the k8s protobuf envelope")]
        Envelope,
        #[error("truncated message")]
        Truncated,
        #[error("unsupported wire type {0}")]
        WireType(u64),
        #[error("invalid UTF-8 in a string field")]
        Utf8,
    }

    fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, Error> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *buf.get(*pos).ok_or(Error::Truncated)?;
            *pos += 1;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(Error::Truncated)
    }

    fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, Error> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < buf.len() {
            let key = varint(buf, &mut pos)?;
            let field = match key & 7 {
                0 => Field::Varint(varint(buf, &mut pos)?),
                1 => {
                    pos = pos.checked_add(8).filter(|p| *p <= buf.len()).ok_or(Error::Truncated)?;
                    Field::Other
                }
                2 => {
                    let len = usize::try_from(varint(buf, &mut pos)?).map_err(|_| Error::Truncated)?;
                    let end = pos.checked_add(len).filter(|e| *e <= buf.len()).ok_or(Error::Truncated)?;
                    let bytes = &buf[pos..end];
                    pos = end;
                    Field::Bytes(bytes)
                }
                5 => {
                    pos = pos.checked_add(4).filter(|p| *p <= buf.len()).ok_or(Error::Truncated)?;
                    Field::Other
                }
                w => return Err(Error::WireType(w)),
            };
            out.push((key >> 3, field));
        }
        Ok(out)
    }

    fn string(b: &[u8]) -> Result<Value, Error> {
        std::str::from_utf8(b).map(|s| json!(s)).map_err(|_| Error::Utf8)
    }

    /// Decodes a protobuf TokenRequest into its JSON form.
    pub fn token_request(body: &[u8]) -> Result<Value, Error> {
        let unknown = body.strip_prefix(MAGIC).ok_or(Error::Envelope)?;
        let mut raw: &[u8] = &[];
        for (n, f) in fields(unknown)? {
            if let (2, Field::Bytes(b)) = (n, f) {
                raw = b;
            }
        }
        let mut out =
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {}, "spec": {}});
        for (n, f) in fields(raw)? {
            match (n, f) {
                (1, Field::Bytes(meta)) => {
                    for (n, f) in fields(meta)? {
                        match (n, f) {
                            (1, Field::Bytes(s)) => out["metadata"]["name"] = string(s)?,
                            (3, Field::Bytes(s)) => out["metadata"]["namespace"] = string(s)?,
                            _ => {}
                        }
                    }
                }
                (2, Field::Bytes(spec)) => out["spec"] = token_request_spec(spec)?,
                _ => {}
            }
        }
        Ok(out)
    }

    fn token_request_spec(buf: &[u8]) -> Result<Value, Error> {
        let mut spec = Map::new();
        let mut audiences = Vec::new();
        for (n, f) in fields(buf)? {
            match (n, f) {
                (1, Field::Bytes(s)) => audiences.push(string(s)?),
                (3, Field::Bytes(r)) => {
                    let mut bound = Map::new();
                    for (n, f) in fields(r)? {
                        let key = match n {
                            1 => "kind",
                            2 => "apiVersion",
                            3 => "name",
                            4 => "uid",
                            _ => continue,
                        };
                        if let Field::Bytes(s) = f {
                            bound.insert(key.into(), string(s)?);
                        }
                    }
                    spec.insert("boundObjectRef".into(), Value::Object(bound));
                }
                // int64 on the wire: two's complement in a 64-bit varint.
                (4, Field::Varint(v)) => {
                    spec.insert("expirationSeconds".into(), json!(v as i64));
                }
                _ => {}
            }
        }
        spec.insert("audiences".into(), Value::Array(audiences));
        Ok(Value::Object(spec))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn field(n: u64, bytes: &[u8]) -> Vec<u8> {
            let mut out = vec![((n << 3) | 2) as u8, bytes.len() as u8];
            out.extend_from_slice(bytes);
            out
        }

        #[test]
        fn decodes_a_token_request_envelope() {
            let mut spec = field(1, b"sts.amazonaws.com");
            spec.extend([4 << 3, 0xb0, 0x09]); // expirationSeconds = 1200
            spec.extend(field(3, &[field(1, b"Pod"), field(3, b"web")].concat()));
            let raw = field(2, &spec);
            let mut body = MAGIC.to_vec();
            body.extend(field(2, &raw));
            let v = token_request(&body).expect("decodes");
            assert_eq!(v["spec"]["audiences"], json!(["sts.amazonaws.com"]));
            assert_eq!(v["spec"]["expirationSeconds"], json!(1200));
            assert_eq!(v["spec"]["boundObjectRef"], json!({"kind": "Pod", "name": "web"}));
            assert!(matches!(token_request(b"{}"), Err(Error::Envelope)));
            assert!(matches!(token_request(b"k8s\x00\x12\x05ab"), Err(Error::Truncated)));
        }
    }
}

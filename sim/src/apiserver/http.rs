//! HTTP plumbing shared by every handler: body types, reading request bodies with the 3 MiB
//! limit, query parameters, content negotiation and `Status` responses.
//!
//! Nothing here knows about resources; handlers build on it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body::{Body as HttpBody, Frame};
use http_body_util::{combinators::BoxBody, BodyExt, Full, Limited};
use serde_json::Value;
use tokio::sync::mpsc;

use super::error::ApiError;

/// The response body type of the server.
pub type Body = BoxBody<Bytes, Infallible>;

/// Largest request body kube-apiserver accepts (3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// A streaming body fed by a channel (watches).
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl ChannelBody {
    pub fn new(rx: mpsc::Receiver<Bytes>) -> Self {
        ChannelBody { rx }
    }
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// Reads a request body, failing with 413 past [`MAX_BODY`].
pub async fn read_body<B>(body: B) -> Result<Bytes, ApiError>
where
    B: HttpBody<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                Err(ApiError::too_large())
            } else {
                Err(ApiError::bad_request(format!("error reading request body: {e}")))
            }
        }
    }
}

/// Query parameters (last value wins, as Go's `url.Values.Get` returns the first: we keep the
/// first to match).
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        let mut map = HashMap::new();
        if let Some(q) = q {
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
            }
        }
        Query(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|s| !s.is_empty())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.0.insert(key.to_string(), value.to_string());
    }
}

/// The representation a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
    Table,
    /// `as=PartialObjectMetadata` (or `...List` for lists).
    Metadata,
}

/// Picks the response format from an `Accept` header, as kube-apiserver negotiates it.
pub fn negotiate(accept: Option<&str>) -> Result<Format, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else { return Ok(Format::Json) };
    for part in accept.split(',') {
        let mut pieces = part.split(';').map(str::trim);
        let media = pieces.next().unwrap_or("");
        let params: HashMap<&str, &str> =
            pieces.filter_map(|p| p.split_once('=')).map(|(k, v)| (k.trim(), v.trim())).collect();
        match (media, params.get("as").copied()) {
            ("application/json" | "*/*" | "application/*", Some("Table")) => {
                if params.get("g").is_none_or(|g| *g == "meta.k8s.io") {
                    return Ok(Format::Table);
                }
            }
            (
                "application/json" | "*/*" | "application/*",
                Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
            ) => return Ok(Format::Metadata),
            ("application/json" | "*/*" | "application/*", None) => return Ok(Format::Json),
            ("application/yaml", None) => return Ok(Format::Yaml),
            _ => continue,
        }
    }
    Err(ApiError::not_acceptable(accept))
}

/// A JSON (or YAML) response with `Warning` headers.
pub fn object_response(code: u16, body: &Value, format: Format, warnings: &[String]) -> Response<Body> {
    let (bytes, ctype) = match format {
        Format::Yaml => match serde_saphyr::to_string(body) {
            Ok(s) => (Bytes::from(s), "application/yaml"),
            Err(_) => (Bytes::from(body.to_string()), "application/json"),
        },
        Format::Table => (Bytes::from(body.to_string()), "application/json;as=Table;v=v1;g=meta.k8s.io"),
        Format::Metadata => {
            let ctype = if body.get("kind").and_then(Value::as_str) == Some("PartialObjectMetadataList") {
                "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"
            } else {
                "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"
            };
            (Bytes::from(body.to_string()), ctype)
        }
        Format::Json => (Bytes::from(body.to_string()), "application/json"),
    };
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    add_warnings(&mut resp, warnings);
    resp
}

/// Adds `Warning: 299 - "<text>"` headers.
pub fn add_warnings(resp: &mut Response<Body>, warnings: &[String]) {
    for w in warnings {
        let text = format!("299 - {:?}", w.replace(['\n', '\r'], " "));
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
}

/// The `Status` response for an error.
pub fn error_response(err: &ApiError, warnings: &[String]) -> Response<Body> {
    let mut resp = object_response(err.code, &err.to_status(), Format::Json, warnings);
    if let Some(secs) = err.retry_after {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    resp
}

/// A plain-text response (`/healthz`, 404 pages).
pub fn text_response(code: u16, text: &str) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::from(text.to_string())));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

/// Decodes a request body as JSON, or YAML when the content type says so (YAML is a superset,
/// so JSON bodies labelled YAML work too).
pub fn decode_body(bytes: &[u8], content_type: &str) -> Result<Value, ApiError> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    let is_yaml =
        matches!(media, "application/yaml" | "application/apply-patch+yaml" | "application/x-yaml" | "text/yaml");
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the body of the request was empty"));
    }
    if is_yaml {
        let v: Value = serde_saphyr::from_slice(bytes).map_err(|e| {
            ApiError::bad_request(format!("error converting YAML to JSON: yaml: {}", e.without_snippet()))
        })?;
        Ok(v)
    } else {
        serde_json::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_table_when_asked() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(negotiate(Some(kubectl)).ok(), Some(Format::Table));
        assert_eq!(negotiate(Some("application/vnd.kubernetes.protobuf, application/json")).ok(), Some(Format::Json));
        assert_eq!(negotiate(None).ok(), Some(Format::Json));
        assert!(negotiate(Some("application/vnd.kubernetes.protobuf")).is_err_and(|e| e.code == 406));
    }

    #[test]
    fn malformed_bodies_are_bad_requests() {
        let e = decode_body(b"{\"a\":", "application/json").expect_err("truncated json");
        assert_eq!(e.code, 400);
        let e = decode_body(b"a: [", "application/yaml").expect_err("bad yaml");
        assert_eq!(e.code, 400);
        assert_eq!(decode_body(b"a: 1", "application/apply-patch+yaml").ok(), Some(serde_json::json!({"a": 1})));
    }
}

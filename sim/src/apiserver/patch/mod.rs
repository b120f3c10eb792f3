//! PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch,
//! applied to a live object as kube-apiserver does, with kube-apiserver's error codes and wording.
//!
//! Pure functions over `serde_json::Value`: this module must not touch the store, run admission,
//! validate, default, or handle server-side apply (`application/apply-patch+yaml`), and it must
//! never panic on any input.

pub mod strategic;

use serde_json::{json, Value};
use thiserror::Error;

use crate::apiserver::error::{ApiError, FieldError};
use crate::apiserver::schema::TypeNode;

/// kube-apiserver's limit on the number of operations in one JSON patch.
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// The three patch formats this module applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
}

impl PatchType {
    /// The patch type of a `Content-Type` header value; parameters (`; charset=utf-8`) and case
    /// are ignored. `None` for anything else (server-side apply included).
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let base = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match base.as_str() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            _ => None,
        }
    }

    /// The media type of this patch type.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Strategic => "application/strategic-merge-patch+json",
        }
    }
}

/// Why a patch could not be applied. [`PatchError::to_api_error`] gives the `Status`
/// kube-apiserver would answer with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PatchError {
    /// The body is malformed for its patch type, or a strategic-merge directive is malformed
    /// (400 BadRequest, message as is).
    #[error("{0}")]
    BadRequest(String),
    /// The patch is well-formed but cannot be applied: a JSON patch operation failed, or a
    /// strategic merge patch has lists of lists (422, with kube-apiserver's generic message; the
    /// specific reason goes into `details.causes`).
    #[error("{0}")]
    Unprocessable(String),
    /// The patched document is not an object (422 Invalid on field `patch`).
    #[error("{message}")]
    InvalidResult {
        /// The patched document, as JSON.
        result: String,
        message: String,
    },
    /// More JSON patch operations than kube-apiserver accepts (413).
    #[error("The allowed maximum operations in a JSON patch is {max}, got {got}")]
    TooManyOperations { max: usize, got: usize },
    /// Any other strategic merge failure (missing merge key, mismatched `$setElementOrder`, bad
    /// `$patch` value...): kube-apiserver passes these through unwrapped, so they become a 500
    /// with an empty reason and apimachinery's message.
    #[error("{0}")]
    Strategic(String),
}

impl PatchError {
    /// The error kube-apiserver returns for this failure (see `interpretStrategicMergePatchError`
    /// and `applyJSPatch` in kube-apiserver's PATCH handler).
    pub fn to_api_error(&self) -> ApiError {
        match self {
            PatchError::BadRequest(message) => ApiError::bad_request(message.clone()),
            PatchError::Unprocessable(message) => ApiError {
                code: 422,
                reason: "Invalid",
                message: "the server rejected our request due to an error in our request".to_string(),
                details: Some(Box::new(json!({"causes": [{"message": message}]}))),
                retry_after: None,
            },
            PatchError::InvalidResult { result, message } => {
                ApiError::invalid("", "", "", &[FieldError::invalid("patch", &Value::String(result.clone()), message)])
            }
            PatchError::TooManyOperations { .. } => ApiError {
                code: 413,
                reason: "RequestEntityTooLarge",
                message: format!("Request entity too large: {self}"),
                details: None,
                retry_after: None,
            },
            PatchError::Strategic(message) => {
                ApiError { code: 500, reason: "", message: message.clone(), details: None, retry_after: None }
            }
        }
    }
}

impl From<PatchError> for ApiError {
    fn from(e: PatchError) -> Self {
        e.to_api_error()
    }
}

/// Parses a PATCH request body. Like kube-apiserver, a body that is not valid JSON is a 400
/// `invalid JSON patch` whatever the patch type.
pub fn decode_patch_body(body: &[u8]) -> Result<Value, PatchError> {
    serde_json::from_slice(body).map_err(|_| PatchError::BadRequest("invalid JSON patch".to_string()))
}

/// Applies `patch` of `patch_type` to `original`. `shape` is the merge shape of the object's
/// kind (used by strategic merge patch only). The result is always an object.
pub fn apply_patch(
    patch_type: PatchType,
    original: &Value,
    patch: &Value,
    shape: &TypeNode,
) -> Result<Value, PatchError> {
    let result = match patch_type {
        PatchType::Json => apply_json_patch(original, patch)?,
        PatchType::Merge => apply_merge_patch(original, patch)?,
        PatchType::Strategic => strategic::strategic_merge_patch(original, patch, shape)?,
    };
    if result.is_object() {
        Ok(result)
    } else {
        Err(PatchError::InvalidResult {
            result: result.to_string(),
            message: format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(&result)
            ),
        })
    }
}

/// The word Go's JSON decoder uses for the kind of a value in type errors.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

const JSON_PATCH_OPS: [&str; 6] = ["add", "remove", "replace", "move", "copy", "test"];

/// RFC 6902 JSON patch.
fn apply_json_patch(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = match patch {
        Value::Null => return Ok(original.clone()),
        Value::Array(ops) => ops,
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch (a JSON patch must be a list of operations)",
                json_kind(other)
            )))
        }
    };
    if let Some(bad) = ops.iter().find(|op| !op.is_object()) {
        return Err(PatchError::BadRequest(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
            json_kind(bad)
        )));
    }
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations { max: MAX_JSON_PATCH_OPERATIONS, got: ops.len() });
    }
    let mut parsed = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("unknown");
        if !JSON_PATCH_OPS.contains(&kind) {
            return Err(PatchError::Unprocessable(format!(
                "Unexpected kind: {kind} (operation {i}: \"op\" must be one of {})",
                JSON_PATCH_OPS.join(", ")
            )));
        }
        let operation: json_patch::PatchOperation = serde_json::from_value(op.clone())
            .map_err(|e| PatchError::Unprocessable(format!("operation {i} ({kind}) is malformed: {e}")))?;
        parsed.push(operation);
    }
    let mut doc = original.clone();
    // `patch_unsafe` leaves `doc` half-patched on failure, which is fine on a copy, and unlike
    // `patch` it has no undo path that could panic.
    json_patch::patch_unsafe(&mut doc, &parsed).map_err(|e| PatchError::Unprocessable(e.to_string()))?;
    Ok(doc)
}

/// RFC 7386 JSON merge patch.
fn apply_merge_patch(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    if !patch.is_object() {
        return Err(PatchError::BadRequest("Invalid JSON Patch".to_string()));
    }
    let mut doc = original.clone();
    json_patch::merge(&mut doc, patch);
    Ok(doc)
}

#[cfg(test)]
mod tests;

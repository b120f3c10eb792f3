//! `ApiError`: every failure the API server reports, rendered as a `meta.k8s.io/v1` `Status`
//! with kube-apiserver's code, reason and wording.
//!
//! Constructors mirror `k8s.io/apimachinery/pkg/api/errors` so messages read the same as on a
//! real cluster (`deployments.apps "web" not found`). This module must not decide policy; it
//! only formats.

use serde_json::{json, Value};

/// The `reason` of one invalid field (`details.causes[].reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CauseType {
    NotFound,
    Required,
    Duplicate,
    Invalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    Internal,
    TypeInvalid,
}

impl CauseType {
    /// The wire string (`FieldValueInvalid`, ...).
    pub fn reason(self) -> &'static str {
        match self {
            CauseType::NotFound => "FieldValueNotFound",
            CauseType::Required => "FieldValueRequired",
            CauseType::Duplicate => "FieldValueDuplicate",
            CauseType::Invalid => "FieldValueInvalid",
            CauseType::NotSupported => "FieldValueNotSupported",
            CauseType::Forbidden => "FieldValueForbidden",
            CauseType::TooLong => "FieldValueTooLong",
            CauseType::TooMany => "FieldValueTooMany",
            CauseType::Internal => "InternalError",
            CauseType::TypeInvalid => "FieldValueTypeInvalid",
        }
    }
}

/// One invalid field, as `field.Error` in apimachinery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub kind: CauseType,
    /// Dotted path as kube-apiserver prints it: `spec.template.spec.containers[0].image`.
    pub field: String,
    /// The text after the path, e.g. `Invalid value: "x": must be ...` or `Required value`.
    pub detail: String,
}

impl FieldError {
    /// `Required value` (with an optional explanation).
    pub fn required(field: impl Into<String>, why: &str) -> Self {
        let detail = if why.is_empty() { "Required value".to_string() } else { format!("Required value: {why}") };
        FieldError { kind: CauseType::Required, field: field.into(), detail }
    }

    /// `Invalid value: <value>: <why>`; the value is printed as Go's `%#v` would for JSON.
    pub fn invalid(field: impl Into<String>, value: &Value, why: &str) -> Self {
        let detail = if why.is_empty() {
            format!("Invalid value: {}", go_value(value))
        } else {
            format!("Invalid value: {}: {why}", go_value(value))
        };
        FieldError { kind: CauseType::Invalid, field: field.into(), detail }
    }

    /// `Invalid value: <rendered>: <why>` with the value already rendered as Go prints it
    /// (e.g. `map[string]string{"app":"web"}`).
    pub fn invalid_rendered(field: impl Into<String>, rendered: &str, why: &str) -> Self {
        FieldError {
            kind: CauseType::Invalid,
            field: field.into(),
            detail: format!("Invalid value: {rendered}: {why}"),
        }
    }

    /// `Unsupported value: <value>: supported values: "a", "b"`.
    pub fn not_supported(field: impl Into<String>, value: &Value, allowed: &[String]) -> Self {
        let list: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
        FieldError {
            kind: CauseType::NotSupported,
            field: field.into(),
            detail: format!("Unsupported value: {}: supported values: {}", go_value(value), list.join(", ")),
        }
    }

    /// `Invalid value: "<type>": <field> in body must be of type <expected>: "<got>"`.
    pub fn type_invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError { kind: CauseType::TypeInvalid, field: field.into(), detail: detail.into() }
    }

    /// `Forbidden: <why>`.
    pub fn forbidden(field: impl Into<String>, why: &str) -> Self {
        FieldError { kind: CauseType::Forbidden, field: field.into(), detail: format!("Forbidden: {why}") }
    }

    /// `Duplicate value: <value>`.
    pub fn duplicate(field: impl Into<String>, value: &Value) -> Self {
        FieldError {
            kind: CauseType::Duplicate,
            field: field.into(),
            detail: format!("Duplicate value: {}", go_value(value)),
        }
    }

    /// `Too long: may not be more than <n> bytes` style errors.
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        FieldError {
            kind: CauseType::TooLong,
            field: field.into(),
            detail: format!("Too long: may not be more than {max} bytes"),
        }
    }

    /// `field: detail`, as in the top-level message.
    pub fn line(&self) -> String {
        if self.field.is_empty() {
            self.detail.clone()
        } else {
            format!("{}: {}", self.field, self.detail)
        }
    }
}

pub use super::gofmt::go_value;

/// A Kubernetes API error: HTTP code, `Status.reason`, message, optional details.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// Boxed: errors travel in every `Result` of the request path and should stay small.
    pub details: Option<Box<Value>>,
    /// `Retry-After` seconds, when set.
    pub retry_after: Option<u64>,
}

/// `deployments.apps` or `pods`: how kube-apiserver names a resource in messages.
pub fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError { code, reason, message: message.into(), details: None, retry_after: None }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    /// 404 `<resource>.<group> "<name>" not found`.
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        ApiError::new(404, "NotFound", format!("{} {name:?} not found", qualified(group, plural)))
            .with_details(json!({"name": name, "group": group, "kind": plural}))
    }

    /// 404 for a path or resource the server does not serve.
    pub fn no_resource() -> Self {
        ApiError::new(404, "NotFound", "the server could not find the requested resource").with_details(json!({}))
    }

    /// 409 `<resource>.<group> "<name>" already exists`.
    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        ApiError::new(409, "AlreadyExists", format!("{} {name:?} already exists", qualified(group, plural)))
            .with_details(json!({"name": name, "group": group, "kind": plural}))
    }

    /// 409 Conflict on a stale resourceVersion.
    pub fn conflict_modified(group: &str, plural: &str, name: &str) -> Self {
        Self::conflict(
            group,
            plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 `Operation cannot be fulfilled on <resource> "<name>": <why>`.
    pub fn conflict(group: &str, plural: &str, name: &str, why: &str) -> Self {
        ApiError::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {} {name:?}: {why}", qualified(group, plural)),
        )
        .with_details(json!({"name": name, "group": group, "kind": plural}))
    }

    /// 409 Conflict for server-side apply, with one cause per conflicting field.
    pub fn apply_conflict(message: String, causes: Vec<(String, String)>) -> Self {
        let causes: Vec<Value> = causes
            .into_iter()
            .map(|(field, msg)| json!({"reason": "FieldManagerConflict", "message": msg, "field": field}))
            .collect();
        ApiError::new(409, "Conflict", message).with_details(json!({"causes": causes}))
    }

    /// 422 `<Kind>.<group> "<name>" is invalid: ...` with one cause per field error.
    pub fn invalid(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Self {
        let what = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
        let summary = match errors {
            [one] => one.line(),
            many => format!("[{}]", many.iter().map(FieldError::line).collect::<Vec<_>>().join(", ")),
        };
        let causes: Vec<Value> =
            errors.iter().map(|e| json!({"reason": e.kind.reason(), "message": e.detail, "field": e.field})).collect();
        ApiError::new(422, "Invalid", format!("{what} {name:?} is invalid: {summary}"))
            .with_details(json!({"name": name, "group": group, "kind": kind, "causes": causes}))
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(403, "Forbidden", message)
    }

    /// 403 for an admission webhook denial, worded as kube-apiserver wraps webhook answers.
    pub fn admission_denied(webhook: &str, message: &str) -> Self {
        ApiError::new(403, "Forbidden", format!("admission webhook {webhook:?} denied the request: {message}"))
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_supported(group: &str, plural: &str, verb: &str) -> Self {
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{verb} is not supported on resources of kind {:?}", qualified(group, plural)),
        )
    }

    /// 406 NotAcceptable.
    pub fn not_acceptable(accept: &str) -> Self {
        ApiError::new(
            406,
            "NotAcceptable",
            format!("the server was unable to respond with a content type that the client supports ({accept})"),
        )
    }

    /// 410 Gone for an expired resourceVersion.
    pub fn gone(message: impl Into<String>) -> Self {
        ApiError::new(410, "Expired", message)
    }

    /// 413 RequestEntityTooLarge.
    pub fn too_large() -> Self {
        ApiError::new(413, "RequestEntityTooLarge", "the request body is too large: limit is 3145728 bytes")
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/apply-patch+yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {content_type:?})"))
    }

    /// 415 UnsupportedMediaType with a given message.
    pub fn unsupported_media_type_msg(message: String) -> Self {
        ApiError::new(415, "UnsupportedMediaType", message)
    }

    /// 401 Unauthorized.
    pub fn unauthorized() -> Self {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(500, "InternalError", format!("Internal error occurred: {}", message.into()))
    }

    /// The `Status` object sent on the wire.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.as_ref().clone();
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_reads_like_kube_apiserver() {
        let e = ApiError::not_found("apps", "deployments", "web");
        assert_eq!(e.message, r#"deployments.apps "web" not found"#);
        assert_eq!(e.to_status()["code"], 404);
        assert_eq!(ApiError::not_found("", "namespaces", "x").message, r#"namespaces "x" not found"#);
    }

    #[test]
    fn invalid_lists_several_causes_in_brackets() {
        let errs = vec![
            FieldError::required("spec.containers", ""),
            FieldError::invalid("metadata.name", &json!("Bad"), "must be lowercase"),
        ];
        let e = ApiError::invalid("", "Pod", "Bad", &errs);
        assert_eq!(
            e.message,
            r#"Pod "Bad" is invalid: [spec.containers: Required value, metadata.name: Invalid value: "Bad": must be lowercase]"#
        );
        assert_eq!(e.to_status()["details"]["causes"][1]["reason"], "FieldValueInvalid");
    }
}

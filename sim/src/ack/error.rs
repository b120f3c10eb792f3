//! Why an ACK reconcile failed, classified as the ACK runtime classifies it: terminal (the spec
//! must change: `InvalidInput`, `MalformedPolicyDocument`, a missing or non-Opaque Secret),
//! a reference that does not resolve yet, or recoverable (retried).
//!
//! The wording follows aws-controllers-k8s/runtime (`pkg/errors`) and the Go SDK v2 (the
//! `ACK.ResourceSynced` reason is Go's whole error chain, the `ACK.Terminal`/`ACK.Recoverable`
//! message the API error alone). This module must not call AWS or Kubernetes.

use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};

/// `ackerr.SecretNotFound`.
pub const SECRET_NOT_FOUND: &str = "kubernetes secret not found";
/// `ackerr.SecretTypeNotSupported`.
pub const SECRET_TYPE_NOT_SUPPORTED: &str = "only opaque secrets can be used";
/// AWS error codes the controllers treat as terminal (`exceptions.terminal_codes` of the
/// generators: iam-controller's `InvalidInput`, `MalformedPolicyDocument`; rds-controller's
/// and secretsmanager-controller's invalid-parameter codes).
const TERMINAL_CODES: &[&str] = &[
    "InvalidInput",
    "MalformedPolicyDocument",
    "InvalidParameter",
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "InvalidParameterException",
    "InvalidRequestException",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// An AWS API error: `message` is `<Code>: <message>` (the condition message), `chain` Go's
    /// operation error text (the Synced reason).
    #[error("{chain}")]
    Aws { code: String, message: String, chain: String },
    /// A Kubernetes Secret the spec points at is missing, lacks the key, or is not Opaque.
    #[error("{0}")]
    Secret(&'static str),
    /// A reference to another ACK resource does not resolve (`terminal`: it never will without
    /// a change to the referenced resource).
    #[error("{text}")]
    Reference { text: String, terminal: bool },
    /// Anything else (no endpoint, a Kubernetes write failing).
    #[error("{0}")]
    Other(String),
}

impl AckError {
    pub fn other(e: impl std::fmt::Display) -> Self {
        AckError::Other(e.to_string())
    }

    /// The runtime's classification: an `ACK.Terminal` condition, not `ACK.Recoverable`.
    pub fn is_terminal(&self) -> bool {
        match self {
            AckError::Aws { code, .. } => TERMINAL_CODES.contains(&code.as_str()),
            AckError::Secret(_) => true,
            AckError::Reference { .. } | AckError::Other(_) => false,
        }
    }

    /// The message of the `ACK.Terminal` or `ACK.Recoverable` condition.
    pub fn condition_message(&self) -> String {
        match self {
            AckError::Aws { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// The AWS error code, if this is an AWS error.
    pub fn code(&self) -> Option<&str> {
        match self {
            AckError::Aws { code, .. } => Some(code),
            _ => None,
        }
    }

    /// True for an AWS "does not exist" answer (`NoSuchEntity`, `DBInstanceNotFound`,
    /// `ResourceNotFoundException`, ...).
    pub fn is_not_found(&self) -> bool {
        self.code().is_some_and(|c| {
            c == "NoSuchEntity"
                || c.ends_with("NotFound")
                || c.ends_with("NotFoundFault")
                || c == "ResourceNotFoundException"
        })
    }
}

/// Converts an SDK error of `service` (the Go SDK's service id: `IAM`, `RDS`,
/// `Secrets Manager`) calling `operation` (`CreateRole`).
pub fn aws<E>(service: &str, operation: &str, err: SdkError<E, HttpResponse>) -> AckError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let text = crate::aws::error_text(&err);
    match &err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("UnknownError").to_string();
            let raw = se.raw();
            let request_id = ["x-amzn-requestid", "x-amz-request-id", "x-amzn-request-id"]
                .iter()
                .find_map(|h| raw.headers().get(*h))
                .unwrap_or_default();
            let chain = format!(
                "operation error {service}: {operation}, https response error StatusCode: {}, RequestID: {request_id}, {text}",
                raw.status().as_u16()
            );
            AckError::Aws { code, message: text, chain }
        }
        _ => AckError::Aws {
            code: "RequestError".into(),
            message: text.clone(),
            chain: format!("operation error {service}: {operation}, {text}"),
        },
    }
}

/// An AWS API error the emulator does not give but AWS would (the simulator checks what moto
/// does not): worded as [`aws`] words a real one, with a request id made from `seed` (the same
/// for the same resource, so a retried call repeats the same condition message).
pub fn emulated(service: &str, operation: &str, status: u16, code: &str, message: &str, seed: &str) -> AckError {
    let text = format!("{code}: {message}");
    let request_id = crate::aws::stable_request_id(&format!("{seed}/{operation}"));
    let chain = format!(
        "operation error {service}: {operation}, https response error StatusCode: {status}, RequestID: {request_id}, {text}"
    );
    AckError::Aws { code: code.to_string(), message: text, chain }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_runtime() {
        let aws = |code: &str| AckError::Aws { code: code.into(), message: format!("{code}: x"), chain: "c".into() };
        assert!(aws("MalformedPolicyDocument").is_terminal());
        assert!(aws("InvalidInput").is_terminal());
        assert!(!aws("LimitExceeded").is_terminal());
        assert!(aws("NoSuchEntity").is_not_found());
        assert!(aws("DBInstanceNotFound").is_not_found());
        assert!(!aws("EntityAlreadyExists").is_not_found());
        assert!(AckError::Secret(SECRET_NOT_FOUND).is_terminal());
        assert!(!AckError::Reference { text: "r".into(), terminal: false }.is_terminal());
        assert_eq!(aws("InvalidInput").condition_message(), "InvalidInput: x");
        assert_eq!(aws("InvalidInput").to_string(), "c");
    }
}

//! The admission chain: mutating plugins, then validating plugins, called on create, update
//! and delete (dry runs included) before anything is stored.
//!
//! Plugins are registered by later parts of the simulator (Gatekeeper, the pod identity
//! webhook). A denial is reported as kube-apiserver reports a webhook denial. Plugins must be
//! quick and must not call back into the HTTP layer.

use std::sync::{Arc, RwLock};

use serde_json::Value;

use super::error::ApiError;
use super::resources::ResourceDef;

/// The operation being admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// What a plugin sees (the fields of an `AdmissionRequest`).
#[derive(Debug)]
pub struct AdmissionRequest<'a> {
    pub uid: String,
    pub operation: Operation,
    pub resource: &'a ResourceDef,
    pub subresource: Option<&'a str>,
    pub namespace: &'a str,
    pub name: &'a str,
    /// The new object (None on delete).
    pub object: Option<&'a Value>,
    /// The old object (None on create).
    pub old_object: Option<&'a Value>,
    pub dry_run: bool,
    pub user: &'a str,
}

impl AdmissionRequest<'_> {
    /// The request as an `admission.k8s.io/v1` `AdmissionRequest` JSON value.
    pub fn to_json(&self) -> Value {
        let r = self.resource;
        serde_json::json!({
            "uid": self.uid,
            "kind": {"group": r.group, "version": r.version, "kind": r.kind},
            "resource": {"group": r.group, "version": r.version, "resource": r.plural},
            "subResource": self.subresource.unwrap_or(""),
            "requestKind": {"group": r.group, "version": r.version, "kind": r.kind},
            "requestResource": {"group": r.group, "version": r.version, "resource": r.plural},
            "name": self.name,
            "namespace": self.namespace,
            "operation": self.operation.as_str(),
            "userInfo": {"username": self.user, "groups": ["system:masters", "system:authenticated"]},
            "object": self.object.cloned().unwrap_or(Value::Null),
            "oldObject": self.old_object.cloned().unwrap_or(Value::Null),
            "dryRun": self.dry_run,
            "options": Value::Null,
        })
    }
}

/// A plugin's answer.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Warnings sent to the client (`Warning` headers).
    pub warnings: Vec<String>,
    /// Set to deny the request.
    pub denial: Option<ApiError>,
}

impl Verdict {
    pub fn allow() -> Self {
        Verdict::default()
    }

    /// A denial worded as kube-apiserver words a webhook's: 403 `admission webhook "<name>"
    /// denied the request: <message>`.
    pub fn deny_webhook(webhook: &str, message: &str) -> Self {
        Verdict { warnings: Vec::new(), denial: Some(ApiError::admission_denied(webhook, message)) }
    }
}

/// A mutating plugin: may change the object.
pub trait MutatingPlugin: Send + Sync {
    fn name(&self) -> &str;
    /// Whether the request matches the plugin's rules (a webhook configuration's `rules`); only
    /// matching requests are copied and passed to [`MutatingPlugin::admit`]. `req.object` is
    /// not set yet.
    fn intercepts(&self, req: &AdmissionRequest<'_>) -> bool {
        let _ = req;
        true
    }
    fn admit(&self, req: &AdmissionRequest<'_>, object: &mut Value) -> Verdict;
}

/// A validating plugin: allows or denies.
pub trait ValidatingPlugin: Send + Sync {
    fn name(&self) -> &str;
    fn validate(&self, req: &AdmissionRequest<'_>) -> Verdict;
}

/// The registered plugins, in order.
#[derive(Default)]
pub struct AdmissionChain {
    mutating: RwLock<Vec<Arc<dyn MutatingPlugin>>>,
    validating: RwLock<Vec<Arc<dyn ValidatingPlugin>>>,
}

impl AdmissionChain {
    pub fn add_mutating(&self, p: Arc<dyn MutatingPlugin>) {
        self.mutating.write().unwrap_or_else(|e| e.into_inner()).push(p);
    }

    pub fn add_validating(&self, p: Arc<dyn ValidatingPlugin>) {
        self.validating.write().unwrap_or_else(|e| e.into_inner()).push(p);
    }

    /// Runs every mutating plugin, then every validating one. Returns the warnings, or the first
    /// denial.
    pub fn run(&self, req: &AdmissionRequest<'_>, object: Option<&mut Value>) -> Result<Vec<String>, ApiError> {
        let mut warnings = Vec::new();
        let mutating: Vec<_> = self.mutating.read().unwrap_or_else(|e| e.into_inner()).clone();
        let validating: Vec<_> = self.validating.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut object = object;
        if let Some(obj) = object.as_deref_mut() {
            for p in mutating.iter().filter(|p| p.intercepts(&AdmissionRequest { object: None, ..clone_req(req) })) {
                let snapshot = obj.clone();
                let req = AdmissionRequest { object: Some(&snapshot), ..clone_req(req) };
                let v = p.admit(&req, obj);
                warnings.extend(v.warnings);
                if let Some(d) = v.denial {
                    return Err(d);
                }
            }
        }
        let req = AdmissionRequest { object: object.as_deref().or(req.object), ..clone_req(req) };
        for p in &validating {
            let v = p.validate(&req);
            warnings.extend(v.warnings);
            if let Some(d) = v.denial {
                return Err(d);
            }
        }
        Ok(warnings)
    }
}

fn clone_req<'a>(r: &AdmissionRequest<'a>) -> AdmissionRequest<'a> {
    AdmissionRequest {
        uid: r.uid.clone(),
        operation: r.operation,
        resource: r.resource,
        subresource: r.subresource,
        namespace: r.namespace,
        name: r.name,
        object: r.object,
        old_object: r.old_object,
        dry_run: r.dry_run,
        user: r.user,
    }
}

//! Gatekeeper's validating webhook (`validation.gatekeeper.sh`) as an admission plugin of the
//! simulator's API server: every CREATE and UPDATE (dry runs included) outside the exempt
//! namespaces is evaluated against the constraints; a deny answers 403 with the constraint
//! names and messages; warn adds warnings; evaluation errors admit (failurePolicy Ignore).
//!
//! It also refuses what Gatekeeper's webhook refuses of its own kinds: a ConstraintTemplate
//! whose CRD cannot be made (name not the lowercased kind, no kind) and an invalid constraint
//! (unknown enforcement action). This module must not write anything.

use std::sync::Arc;

use serde_json::Value;

use super::constraint::Constraint;
use super::controller::{Exclusion, State};
use super::template::{ConstraintTemplate, CONSTRAINTS_GROUP};
use super::WEBHOOK_NAME;
use crate::apiserver::admission::{AdmissionRequest, Operation, ValidatingPlugin, Verdict};
use crate::apiserver::WeakApiServer;

/// The plugin.
pub struct Webhook {
    state: Arc<State>,
    server: WeakApiServer,
}

impl Webhook {
    pub fn new(state: Arc<State>, server: WeakApiServer) -> Self {
        Webhook { state, server }
    }

    fn namespace_object(&self, req: &AdmissionRequest<'_>) -> Option<Value> {
        if req.resource.group.is_empty() && req.resource.kind == "Namespace" {
            return req.object.cloned();
        }
        if req.namespace.is_empty() {
            return None;
        }
        let server = self.server.upgrade()?;
        server.get_object("", "namespaces", "", req.namespace).map(|n| n.as_ref().clone())
    }
}

impl ValidatingPlugin for Webhook {
    fn name(&self) -> &str {
        WEBHOOK_NAME
    }

    fn validate(&self, req: &AdmissionRequest<'_>) -> Verdict {
        if req.operation == Operation::Delete || req.subresource.is_some() {
            return Verdict::allow();
        }
        let group = req.resource.group.as_str();
        if let Some(obj) = req.object {
            if group == "templates.gatekeeper.sh" {
                if let Err(e) = ConstraintTemplate::from_value(obj) {
                    return Verdict::deny_webhook(WEBHOOK_NAME, &e.cause);
                }
            }
            if group == CONSTRAINTS_GROUP {
                if let Err(e) = Constraint::from_value(obj) {
                    return Verdict::deny_webhook(WEBHOOK_NAME, &e.to_string());
                }
            }
        }
        let exclusions = self.state.exclusions.read().unwrap_or_else(|e| e.into_inner());
        if Exclusion::excludes(&exclusions, "webhook", req.namespace) {
            return Verdict::allow();
        }
        drop(exclusions);
        let policy = self.state.policy.read().unwrap_or_else(|e| e.into_inner());
        // No constraint, nothing to evaluate: skip building the AdmissionReview (most requests
        // while a platform installs).
        if !policy.has_constraints() || !policy.may_match_kind(&req.resource.group, &req.resource.kind) {
            return Verdict::allow();
        }
        let namespace_object = self.namespace_object(req);
        let outcome = policy.admit(&req.to_json(), namespace_object.as_ref());
        for e in &outcome.errors {
            tracing::warn!("gatekeeper webhook: {e} (admitted: failurePolicy Ignore)");
        }
        outcome.to_verdict()
    }
}

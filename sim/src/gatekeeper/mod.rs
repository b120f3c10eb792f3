//! The policy core of the simulated OPA Gatekeeper: ConstraintTemplates compiled with regorus,
//! constraint matching, and evaluation for admission and audit, as pure functions over JSON.
//!
//! The policy modules below are pure functions over JSON and must not touch the API server;
//! [`controller`] installs Gatekeeper on a simulated platform (CRDs, the controllers that turn
//! templates into constraint CRDs and write statuses, inventory sync, audit) and [`webhook`] is
//! the validating admission plugin that calls [`PolicySet::admit`].
//!
//! The pieces, in the order a request meets them:
//! * [`template`]: parse a ConstraintTemplate, compile its Rego (v0 or v1), report compile errors
//!   as `status.byPod[].errors` data, build the constraint CRD.
//! * [`constraint`]: parse a constraint object and decide whether it matches a request
//!   (`spec.match`), plus the webhook-level exclusions.
//! * [`eval`]: run `violation[r]` for matching constraints, apply enforcement actions, combine
//!   the admission verdict; audit-mode evaluation and the constraint audit status.
//! * [`inventory`]: the `data.inventory` layout built from synced objects.
//! * [`builtins`]: the deprecated OPA builtins Gatekeeper still accepts and regorus lacks.

pub mod builtins;
pub mod constraint;
pub mod controller;
pub mod crds;
pub mod eval;
pub mod functions;
pub mod inventory;
pub mod policy_set;
pub mod template;
pub mod webhook;

pub use constraint::{
    glob_matches, webhook_skips, Constraint, ConstraintError, EnforcementAction, Match, MatchTarget, ScopedAction,
};
pub use controller::{install, State};
pub use eval::{
    admission_review, audit_object, audit_review, audit_status, evaluate, AdmissionOutcome, AuditViolation,
    ConstraintResult, EvalError, Violation,
};
pub use inventory::Inventory;
pub use policy_set::PolicySet;
pub use template::{ingest, CompiledTemplate, ConstraintTemplate, Ingested, RegoVersion, TemplateError};

/// The validating webhook's name; denials are worded as coming from it.
pub const WEBHOOK_NAME: &str = "validation.gatekeeper.sh";
/// The enforcement point of the validating webhook (for `scoped` enforcement).
pub const WEBHOOK_ENFORCEMENT_POINT: &str = "validation.gatekeeper.sh";
/// The enforcement point of audit (for `scoped` enforcement).
pub const AUDIT_ENFORCEMENT_POINT: &str = "audit.gatekeeper.sh";
/// The only target Gatekeeper's admission templates use.
pub const ADMISSION_TARGET: &str = "admission.k8s.gatekeeper.sh";
/// The namespace Gatekeeper runs in; its webhook exempts it.
pub const GATEKEEPER_NAMESPACE: &str = "gatekeeper-system";
/// Namespaces carrying this label (any value) are skipped by the webhook.
pub const IGNORE_LABEL: &str = "admission.gatekeeper.sh/ignore";
/// At most this many entries in a constraint's `status.violations`.
pub const AUDIT_VIOLATIONS_LIMIT: usize = 20;

#[cfg(test)]
mod tests;

//! The simulated AWS Controllers for Kubernetes (ACK): iam-controller, rds-controller and
//! secretsmanager-controller, reconciling their custom resources against AWS (in tests, the moto
//! emulator) through the platform's SDK clients.
//!
//! The shared part of the ACK runtime lives here ([`AckController`]): the finalizer
//! (`finalizers.<group>/<Kind>`), the `services.k8s.aws/deletion-policy: retain` annotation,
//! `status.ackResourceMetadata`, and the conditions with the runtime's wording
//! (`pkg/condition`, `pkg/runtime/reconciler.go` `ensureConditions`, the generated
//! `updateConditions`). The kinds are in [`iam`], [`rds`] and [`secretsmanager`]; CRDs come from
//! their Rust spec types ([`schema`]).
//!
//! Differences from the real controllers: a reconcile happens on a change, on a dependency's
//! change, or when [`resync`] is called (the real ones also resync every 10 h by default);
//! `lastTransitionTime` only moves when a condition's status changes (upstream rewrites it every
//! reconcile, which would keep the fixed point from settling). This module must not know
//! scenarios, and must not call AWS outside a reconcile.

pub mod error;
pub mod iam;
pub mod rds;
pub mod schema;
pub mod secretsmanager;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use crate::apiserver::resources::GroupResource;
use crate::aws::Clients;
use crate::platform::{check_version, Platform, PlatformError};
use crate::runtime::{Controller, Cx, Key, Outcome, ReconcileError, Watch};
pub use error::AckError;

/// iam-controller releases the simulator models (1.4.0 2025-05 to 1.8 2026-08).
pub const SUPPORTED_IAM: &[&str] = &["1.4", "1.5", "1.6", "1.7", "1.8"];
/// rds-controller releases the simulator models.
pub const SUPPORTED_RDS: &[&str] = &["1.5", "1.6", "1.7", "1.8", "1.9", "1.10", "1.11"];
/// secretsmanager-controller releases the simulator models.
pub const SUPPORTED_SECRETSMANAGER: &[&str] = &["1.0", "1.1", "1.2", "1.3", "1.4"];
/// The first release of each controller built on ACK runtime v0.53+, which added the `Ready`
/// condition (runtime commit "feat: Add Support for Ready Condition", 2025-11): iam 1.6, rds 1.7,
/// secretsmanager 1.2 (all 2025-11-28, runtime v0.56.0). Earlier releases write no `Ready`.
pub const READY_SINCE_IAM: &str = "1.6";
pub const READY_SINCE_RDS: &str = "1.7";
pub const READY_SINCE_SECRETSMANAGER: &str = "1.2";

/// `ackv1alpha1.AnnotationDeletionPolicy`.
pub const DELETION_POLICY_ANNOTATION: &str = "services.k8s.aws/deletion-policy";

/// Condition types and messages (runtime `apis/core/v1alpha1/conditions.go`, `pkg/condition`).
pub mod cond {
    pub const READY: &str = "Ready";
    pub const SYNCED: &str = "ACK.ResourceSynced";
    pub const TERMINAL: &str = "ACK.Terminal";
    pub const RECOVERABLE: &str = "ACK.Recoverable";
    pub const REFERENCES_RESOLVED: &str = "ACK.ReferencesResolved";
    pub const SYNCED_MESSAGE: &str = "Resource synced successfully";
    pub const NOT_SYNCED_MESSAGE: &str = "Resource not synced";
    pub const UNKNOWN_SYNCED_MESSAGE: &str =
        "Unable to determine if desired resource state matches latest observed state";
    pub const FAILED_REFERENCE_RESOLUTION_MESSAGE: &str = "Reference resolution failed";
}

/// The message of the `ACK.Recoverable` condition when the platform has no AWS target (the real
/// controller would not start: its STS call at start-up is fatal).
pub const NO_ENDPOINT: &str =
    "no AWS endpoint is configured for the simulated ACK controllers (the platform was started without an AWS target)";

/// One ACK kind's identity.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub group: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
}

impl Kind {
    pub fn resource(&self) -> GroupResource {
        GroupResource::new(self.group, self.plural)
    }

    /// `finalizers.<group>/<Kind>` (the generated `descriptor.go` FinalizerString).
    pub fn finalizer(&self) -> String {
        format!("finalizers.{}/{}", self.group, self.kind)
    }
}

/// What a successful sync observed.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub arn: Option<String>,
    /// Kind-specific status fields, merged into `status`.
    pub status: Value,
    /// False while the AWS resource is not ready yet (a DBInstance not `available`).
    pub synced: bool,
    /// The spec has references (`ACK.ReferencesResolved` is written).
    pub references: bool,
}

/// What a kind's reconcile gets.
pub struct Ctx<'a> {
    pub cx: &'a Cx,
    pub aws: &'a Clients,
    pub obj: &'a Value,
    kind: Kind,
}

impl Ctx<'_> {
    pub fn namespace(&self) -> &str {
        str_at(self.obj, "/metadata/namespace")
    }

    /// The typed spec.
    pub fn spec<T: serde::de::DeserializeOwned>(&self) -> Result<T, AckError> {
        serde_json::from_value(self.obj.get("spec").cloned().unwrap_or(json!({})))
            .map_err(|e| AckError::Other(format!("reading the spec: {e}")))
    }

    /// Adds the kind's finalizer (the runtime's `setResourceManaged`, before creating).
    pub async fn manage(&self) -> Result<(), AckError> {
        set_finalizer(self.cx, self.kind, self.obj, true).await.map_err(AckError::other)
    }

    /// A value from a Kubernetes Secret (`SecretKeyReference`), as the runtime's
    /// `SecretValueFromReference`: missing Secret or key → "kubernetes secret not found",
    /// another type than Opaque → "only opaque secrets can be used".
    pub fn secret_value(&self, r: &SecretKeyReference) -> Result<String, AckError> {
        let ns = r.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or(self.namespace());
        let name = r.name.as_deref().unwrap_or_default();
        let secret = self.cx.get("", "secrets", ns, name).ok_or(AckError::Secret(error::SECRET_NOT_FOUND))?;
        let type_ = secret.get("type").and_then(Value::as_str).unwrap_or("Opaque");
        if type_ != "Opaque" {
            return Err(AckError::Secret(error::SECRET_TYPE_NOT_SUPPORTED));
        }
        let data = secret.pointer(&format!("/data/{}", r.key.replace('~', "~0").replace('/', "~1")));
        let encoded = data.and_then(Value::as_str).ok_or(AckError::Secret(error::SECRET_NOT_FOUND))?;
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| AckError::Secret(error::SECRET_NOT_FOUND))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Resolves a reference to another ACK resource of `target` to the string at `pointer` in it
    /// (`target_field` names it in errors, as upstream: `Status.ACKResourceMetadata.ARN`), as
    /// the generated `getReferencedResourceState_*`.
    pub fn resolve(
        &self,
        target: Kind,
        r: &ResourceRef,
        pointer: &str,
        target_field: &str,
    ) -> Result<String, AckError> {
        let from = r.from.clone().unwrap_or_default();
        let name = from.name.unwrap_or_default();
        if name.is_empty() {
            return Err(AckError::Reference {
                text: format!("provided resource reference is nil or empty: {}Refs", target.kind),
                terminal: false,
            });
        }
        let ns = from.namespace.filter(|n| !n.is_empty()).unwrap_or_else(|| self.namespace().to_string());
        let Some(obj) = self.cx.get(target.group, target.plural, &ns, &name) else {
            return Err(AckError::Reference {
                text: format!("{}.{} \"{name}\" not found", target.plural, target.group),
                terminal: false,
            });
        };
        let what = format!("resource:{}, namespace:{ns}, name:{name}", target.kind);
        if crate::conditions::status_of(&obj, cond::TERMINAL) == Some("True") {
            return Err(AckError::Reference {
                text: format!(
                    "the referenced resource has 'ACK.Terminal' condition 'True'. Cannot be referenced. {what}"
                ),
                terminal: true,
            });
        }
        if crate::conditions::status_of(&obj, cond::SYNCED) != Some("True") {
            return Err(AckError::Reference {
                text: format!("the referenced resource is not synced yet. {what}"),
                terminal: false,
            });
        }
        match obj.pointer(pointer).and_then(Value::as_str) {
            Some(v) if !v.is_empty() => Ok(v.to_string()),
            _ => Err(AckError::Reference {
                text: format!(
                    "the referenced resource is missing the target field. {what}, targetField:{target_field}"
                ),
                terminal: false,
            }),
        }
    }
}

/// `ackv1alpha1.SecretKeyReference`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct SecretKeyReference {
    pub name: Option<String>,
    pub namespace: Option<String>,
    /// Key within the secret.
    pub key: String,
}

/// `ackv1alpha1.AWSResourceReferenceWrapper`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ResourceRef {
    pub from: Option<ResourceRefFrom>,
}

/// `ackv1alpha1.AWSResourceReference`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ResourceRefFrom {
    pub name: Option<String>,
    pub namespace: Option<String>,
}

/// A tag (`key`, `value`), as every ACK service writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Tag {
    pub key: Option<String>,
    pub value: Option<String>,
}

/// `(key, value)` pairs of spec tags, skipping keyless ones.
pub fn tag_pairs(tags: &Option<Vec<Tag>>) -> Vec<(String, String)> {
    tags.iter().flatten().filter_map(|t| t.key.clone().map(|k| (k, t.value.clone().unwrap_or_default()))).collect()
}

/// One kind's AWS side.
pub trait Handler: Send + Sync + 'static {
    fn kind(&self) -> Kind;
    /// Other resources whose changes enqueue objects of this kind.
    fn watches(&self) -> Vec<Watch> {
        Vec::new()
    }
    /// Reads the AWS resource, creates it when missing, updates it when it differs.
    fn sync<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<Observed, AckError>>;
    /// Deletes the AWS resource (gone already is success).
    fn delete<'a>(&'a self, c: &'a Ctx<'a>) -> BoxFuture<'a, Result<(), AckError>>;
}

/// The ACK runtime's reconciler for one kind.
pub struct AckController {
    name: String,
    handler: Arc<dyn Handler>,
    aws: Option<Clients>,
    /// Whether the modelled runtime writes the `Ready` condition.
    ready: bool,
}

impl AckController {
    pub fn new(handler: Arc<dyn Handler>, aws: Option<Clients>, ready: bool) -> Self {
        let k = handler.kind();
        let service = k.group.split('.').next().unwrap_or_default();
        AckController { name: format!("ack-{service}-controller/{}", k.kind), handler, aws, ready }
    }

    async fn run(&self, cx: &Cx, key: &Key) -> Result<Outcome, ReconcileError> {
        let kind = self.handler.kind();
        let Some(obj) = cx.get(kind.group, kind.plural, &key.namespace, &key.name) else { return Ok(Outcome::Done) };
        let managed = has_finalizer(&obj, &kind.finalizer());
        if is_deleting(&obj) {
            if !managed {
                return Ok(Outcome::Done);
            }
            let retain = obj
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(DELETION_POLICY_ANNOTATION))
                .and_then(Value::as_str)
                == Some("retain");
            if retain {
                cx.note("deletion policy retain: the AWS resource is kept");
                set_finalizer(cx, kind, &obj, false).await?;
                return Ok(Outcome::Done);
            }
            let Some(aws) = &self.aws else {
                self.write_status(cx, &obj, &Err(AckError::Other(NO_ENDPOINT.into()))).await?;
                return Ok(Outcome::Retry);
            };
            let c = Ctx { cx, aws, obj: &obj, kind };
            return match self.handler.delete(&c).await {
                Ok(()) => {
                    cx.note("deleted the AWS resource");
                    set_finalizer(cx, kind, &obj, false).await?;
                    Ok(Outcome::Done)
                }
                Err(e) => {
                    cx.note(format!("delete failed: {e}"));
                    self.write_status(cx, &obj, &Err(e)).await?;
                    Ok(Outcome::Retry)
                }
            };
        }
        let Some(aws) = &self.aws else {
            self.write_status(cx, &obj, &Err(AckError::Other(NO_ENDPOINT.into()))).await?;
            return Ok(Outcome::Retry);
        };
        let c = Ctx { cx, aws, obj: &obj, kind };
        let result = self.handler.sync(&c).await;
        let outcome = match &result {
            Ok(o) if o.synced => Outcome::Done,
            Ok(_) => Outcome::Retry,
            Err(e) if e.is_terminal() => Outcome::Done,
            Err(_) => Outcome::Retry,
        };
        if let Err(e) = &result {
            cx.note(format!("{}: {e}", if e.is_terminal() { "terminal" } else { "recoverable" }));
        }
        // The object may have gained the finalizer during the sync: write onto the latest.
        let latest = cx.get(kind.group, kind.plural, &key.namespace, &key.name).unwrap_or(obj);
        self.write_status(cx, &latest, &result).await?;
        Ok(outcome)
    }

    /// Writes `status.ackResourceMetadata`, the kind's fields and the conditions for `result`.
    async fn write_status(
        &self,
        cx: &Cx,
        obj: &Value,
        result: &Result<Observed, AckError>,
    ) -> Result<(), ReconcileError> {
        let kind = self.handler.kind();
        let target = self.aws.as_ref().map(|a| &a.target);
        let mut meta = json!({
            "ownerAccountID": target.and_then(|t| t.account()).unwrap_or_default(),
            "region": target.map(|t| t.region.as_str()).unwrap_or(crate::aws::DEFAULT_REGION),
        });
        let mut status = json!({});
        if let Ok(o) = result {
            if let Some(arn) = &o.arn {
                meta["arn"] = json!(arn);
            }
            if let Value::Object(extra) = &o.status {
                for (k, v) in extra {
                    status[k] = v.clone();
                }
            }
        } else if let Some(arn) = obj.pointer("/status/ackResourceMetadata/arn") {
            meta["arn"] = arn.clone();
        }
        status["ackResourceMetadata"] = meta;
        status["conditions"] = conditions_for(result, self.ready, obj.pointer("/status/conditions"));
        cx.merge_status(
            kind.group,
            kind.plural,
            str_at(obj, "/metadata/namespace"),
            str_at(obj, "/metadata/name"),
            &status,
        )
        .await?;
        Ok(())
    }
}

/// One ACK condition (`ackv1alpha1.Condition`: message and reason are optional).
fn condition(type_: &str, status: &str, message: Option<&str>, reason: Option<&str>) -> Value {
    let mut c = json!({"type": type_, "status": status});
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    c
}

/// The conditions a reconcile ending in `result` leaves, in the runtime's order (it clears them
/// at the start of every reconcile): `ACK.ReferencesResolved`, `ACK.Terminal` or
/// `ACK.Recoverable`, `ACK.ResourceSynced`, then `Ready` (runtime v0.53+). Transition times are
/// kept from `previous` while a condition's status holds.
pub fn conditions_for(result: &Result<Observed, AckError>, ready: bool, previous: Option<&Value>) -> Value {
    use cond::*;
    let mut list = Vec::new();
    let synced = match result {
        Ok(o) => {
            if o.references {
                list.push(condition(REFERENCES_RESOLVED, "True", None, None));
            }
            if o.synced {
                condition(SYNCED, "True", Some(SYNCED_MESSAGE), Some(""))
            } else {
                // rds-controller's hook: `SetSynced(False, nil, nil)` until available.
                condition(SYNCED, "False", None, None)
            }
        }
        Err(AckError::Reference { text, terminal }) => {
            let status = if *terminal { "False" } else { "Unknown" };
            list.push(condition(REFERENCES_RESOLVED, status, Some(FAILED_REFERENCE_RESOLUTION_MESSAGE), Some(text)));
            condition(SYNCED, "Unknown", Some(UNKNOWN_SYNCED_MESSAGE), Some(text))
        }
        Err(e) => {
            let type_ = if e.is_terminal() { TERMINAL } else { RECOVERABLE };
            list.push(condition(type_, "True", Some(&e.condition_message()), None));
            condition(SYNCED, "Unknown", Some(UNKNOWN_SYNCED_MESSAGE), Some(&e.to_string()))
        }
    };
    if ready {
        let mut r = synced.clone();
        r["type"] = json!(READY);
        if let Some(flag) = list.iter().find(|c| c["type"] == TERMINAL || c["type"] == RECOVERABLE) {
            r = condition(READY, "False", flag["message"].as_str(), flag["type"].as_str());
        }
        list.push(synced);
        list.push(r);
    } else {
        list.push(synced);
    }
    let now = crate::apiserver::objects::now();
    for c in &mut list {
        let kept = previous.and_then(Value::as_array).and_then(|prev| {
            prev.iter()
                .find(|p| p["type"] == c["type"] && p["status"] == c["status"])
                .and_then(|p| p.get("lastTransitionTime").cloned())
        });
        c["lastTransitionTime"] = kept.unwrap_or_else(|| json!(now));
    }
    Value::Array(list)
}

impl Controller for AckController {
    fn name(&self) -> &str {
        &self.name
    }

    fn resource(&self) -> GroupResource {
        self.handler.kind().resource()
    }

    fn watches(&self) -> Vec<Watch> {
        self.handler.watches()
    }

    /// ACK's runtime filters its own objects' events with controller-runtime's
    /// `GenerationChangedPredicate` (aws-controllers-k8s/runtime `BindControllerManager`):
    /// creations, deletions and spec changes run a reconcile; its own finalizer and status
    /// writes, labels and annotations do not. kube-apiserver also bumps the generation when it
    /// marks an object with finalizers for deletion; the deletion timestamp stands in for that.
    fn on_own_change(&self, change: &crate::apiserver::store::Change) -> bool {
        let Some(old) = &change.old else { return true };
        change.type_ == crate::apiserver::store::EventType::Deleted
            || ["/metadata/generation", "/metadata/deletionTimestamp"]
                .iter()
                .any(|p| old.pointer(p) != change.object.pointer(p))
    }

    fn reconcile<'a>(&'a self, cx: &'a Cx, key: &'a Key) -> BoxFuture<'a, Result<Outcome, ReconcileError>> {
        Box::pin(self.run(cx, key))
    }
}

/// One ACK service controller as the profile selects it.
struct Service {
    component: &'static str,
    version: Option<String>,
    supported: &'static [&'static str],
    ready_since: &'static str,
    crds: fn() -> Vec<schema::KindCrd>,
    handlers: fn() -> Vec<Arc<dyn Handler>>,
}

/// Installs the ACK controllers the profile enables: their CRDs and reconcilers.
pub fn install(platform: &Platform) -> Result<(), PlatformError> {
    let profile = platform.profile();
    let aws = platform.aws().map(|t| t.clients());
    let services = [
        Service {
            component: "ACK iam-controller",
            version: profile.ack_iam.clone(),
            supported: SUPPORTED_IAM,
            ready_since: READY_SINCE_IAM,
            crds: iam::crds,
            handlers: iam::handlers,
        },
        Service {
            component: "ACK rds-controller",
            version: profile.ack_rds.clone(),
            supported: SUPPORTED_RDS,
            ready_since: READY_SINCE_RDS,
            crds: rds::crds,
            handlers: rds::handlers,
        },
        Service {
            component: "ACK secretsmanager-controller",
            version: profile.ack_secretsmanager.clone(),
            supported: SUPPORTED_SECRETSMANAGER,
            ready_since: READY_SINCE_SECRETSMANAGER,
            crds: secretsmanager::crds,
            handlers: secretsmanager::handlers,
        },
    ];
    let server = platform.server();
    for s in services {
        let Some(v) = s.version.as_deref() else { continue };
        check_version(s.component, v, s.supported)?;
        let ready = at_least(v, s.ready_since);
        let crds =
            crate::crds::made_once(&format!("ack {}", s.component), || (s.crds)().iter().map(|c| c.crd()).collect());
        for crd in crds.iter() {
            server
                .install("apiextensions.k8s.io", "v1", "customresourcedefinitions", None, crd)
                .map_err(|e| PlatformError::Install { component: s.component, message: e.to_string() })?;
        }
        for h in (s.handlers)() {
            platform.runtime().add(Arc::new(AckController::new(h, aws.clone(), ready)));
        }
    }
    Ok(())
}

/// Every ACK resource kind the simulator serves.
pub fn kinds() -> Vec<Kind> {
    [iam::crds(), rds::crds(), secretsmanager::crds()]
        .into_iter()
        .flatten()
        .map(|c| Kind { group: c.group, kind: c.kind, plural: c.plural })
        .collect()
}

/// Reconciles every ACK resource again (the real controllers' periodic resync), so drift made
/// in AWS behind ACK's back is corrected. Follow with [`Platform::settle`].
pub fn resync(platform: &Platform) {
    for k in kinds() {
        platform.runtime().touch(&k.resource());
    }
}

/// A watch that runs every resource of the watcher again when a `target` resource changes in
/// what [`Ctx::resolve`] reads of it (its existence, its Terminal and Synced conditions, the
/// string at `pointer`): a reference that waited on it may resolve now. Other changes (a new
/// status field, a tag) are not the watcher's business, as upstream (which has no such watch
/// and retries an unresolved reference with backoff) would not look either.
pub fn on_reference_change(target: Kind, pointer: &'static str) -> Watch {
    Watch::all_when(target.group, target.plural, move |change| {
        let state = |obj: &Value| {
            (
                crate::conditions::status_of(obj, cond::TERMINAL).map(str::to_string),
                crate::conditions::status_of(obj, cond::SYNCED).map(str::to_string),
                obj.pointer(pointer).and_then(Value::as_str).map(str::to_string),
            )
        };
        match (&change.type_, &change.old) {
            (crate::apiserver::store::EventType::Modified, Some(old)) => state(old) != state(&change.object),
            _ => true,
        }
    })
}

/// `version >= since`, both `major.minor`.
fn at_least(version: &str, since: &str) -> bool {
    let parse = |s: &str| -> (u32, u32) {
        let mut it = s.trim_start_matches('v').split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    };
    parse(version) >= parse(since)
}

pub(crate) fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn has_finalizer(obj: &Value, finalizer: &str) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|v| v.as_str() == Some(finalizer)))
}

fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

async fn set_finalizer(cx: &Cx, kind: Kind, obj: &Value, present: bool) -> Result<(), ReconcileError> {
    let finalizer = kind.finalizer();
    if has_finalizer(obj, &finalizer) == present {
        return Ok(());
    }
    let mut list: Vec<Value> =
        obj.pointer("/metadata/finalizers").and_then(Value::as_array).cloned().unwrap_or_default();
    list.retain(|v| v.as_str() != Some(finalizer.as_str()));
    if present {
        list.push(json!(finalizer));
    }
    let path = cx.path(kind.group, kind.plural, str_at(obj, "/metadata/namespace"), str_at(obj, "/metadata/name"))?;
    let body = serde_json::to_vec(&json!({"metadata": {"finalizers": list}})).map_err(ReconcileError::new)?;
    let req = http::Request::patch(path)
        .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
        .body(body)
        .map_err(ReconcileError::new)?;
    match cx.client.request::<Value>(req).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A policy document as JSON, whether AWS returned it as text or URL-encoded (IAM returns
/// documents URL-encoded; moto sometimes does not). `None` if it is not JSON either way.
pub fn policy_json(document: &str) -> Option<Value> {
    serde_json::from_str(document).ok().or_else(|| serde_json::from_str(&percent_decode(document)).ok())
}

/// True when two policy documents are the same JSON (text that is not JSON compares as text).
pub fn same_policy(a: &str, b: &str) -> bool {
    match (policy_json(a), policy_json(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b || percent_decode(a) == percent_decode(b),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;

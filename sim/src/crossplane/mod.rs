//! Crossplane's provider-upjet-aws in the simulator: the family providers provider-aws-iam
//! (Policy, Role, RolePolicyAttachment) and provider-aws-organizations (Policy and
//! PolicyAttachment, i.e. SCPs), with the family's ProviderConfig, acting on the platform's AWS
//! target (moto in tests).
//!
//! One managed-resource reconciler per kind, following crossplane-runtime's managed reconciler:
//! Orphan deletion first, reference resolution (written back into `spec.forProvider`), connect
//! (the ProviderConfig), the external-name initialiser, observe, then delete, create or update,
//! with the `finalizer.managedresource.crossplane.io` finalizer, the `Ready` and `Synced`
//! conditions and the Events crossplane-runtime records. Errors carry crossplane-runtime's and
//! upjet's wrapping (`create failed: failed to create the resource: [{0 <diagnostic>  []}]`).
//!
//! The ProviderConfig's endpoint and credentials are recorded but not used: every call goes to
//! the platform's AWS target (`Platform::aws`). This module must not decide IAM semantics (AWS,
//! or the emulator, does) and must not know scenarios.

pub mod crds;
pub mod external;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use crate::apiserver::resources::GroupResource;
use crate::aws::AwsTarget;
use crate::conditions::Condition;
use crate::platform::{Platform, PlatformError};
use crate::runtime::{Controller, Cx, Key, Outcome, ReconcileError};
use crds::{Kind, Resource, AWS_GROUP, AWS_M_GROUP, KINDS};
use external::Observation;

/// provider-aws-iam major versions modelled: v1 serves only the cluster-scoped groups, v2 adds
/// the namespaced `*.aws.m.upbound.io` twins and the v2 ProviderConfig kinds.
pub const SUPPORTED_VERSIONS: &[&str] = &["1", "2"];
/// The finalizer crossplane-runtime's managed reconciler adds.
pub const FINALIZER: &str = "finalizer.managedresource.crossplane.io";
/// The annotation holding the external resource's name or id.
pub const EXTERNAL_NAME: &str = "crossplane.io/external-name";

/// crossplane-runtime's condition types and reasons.
pub const TYPE_READY: &str = "Ready";
pub const TYPE_SYNCED: &str = "Synced";
pub const REASON_AVAILABLE: &str = "Available";
pub const REASON_CREATING: &str = "Creating";
pub const REASON_DELETING: &str = "Deleting";
pub const REASON_UNAVAILABLE: &str = "Unavailable";
pub const REASON_RECONCILE_SUCCESS: &str = "ReconcileSuccess";
pub const REASON_RECONCILE_ERROR: &str = "ReconcileError";

/// Installs the CRDs and one controller per managed kind. `version` is the provider's
/// (`2`, `v2.1.0`); only its major version matters.
pub fn install(platform: &Platform, version: &str) -> Result<(), PlatformError> {
    let major = version.trim_start_matches('v').split('.').next().unwrap_or_default();
    crate::platform::check_version("crossplane provider-aws-iam", major, SUPPORTED_VERSIONS).map_err(|_| {
        PlatformError::UnsupportedVersion {
            component: "crossplane provider-aws-iam",
            version: version.to_string(),
            supported: SUPPORTED_VERSIONS.join(", "),
        }
    })?;
    let v1 = major == "1";
    let server = platform.server();
    let fail = |e: crate::apiserver::ApiError| PlatformError::Install {
        component: "crossplane provider-aws-iam",
        message: e.to_string(),
    };
    for crd in crate::crds::made_once("crossplane provider-aws-iam", crds::all).iter() {
        let group = crd.pointer("/spec/group").and_then(Value::as_str).unwrap_or_default();
        if v1 && group.contains(".m.") {
            continue;
        }
        server.install("apiextensions.k8s.io", "v1", "customresourcedefinitions", None, crd).map_err(fail)?;
    }
    for kind in KINDS.iter().filter(|k| !(v1 && k.namespaced)) {
        platform.runtime().add(Arc::new(ManagedController { kind: *kind, aws: platform.aws().cloned() }));
    }
    Ok(())
}

/// The managed reconciler of one kind.
pub struct ManagedController {
    kind: Kind,
    aws: Option<AwsTarget>,
}

impl Controller for ManagedController {
    fn name(&self) -> &str {
        match (self.kind.resource, self.kind.namespaced) {
            (Resource::IamPolicy | Resource::IamRole | Resource::IamRolePolicyAttachment, _) => "provider-aws-iam",
            _ => "provider-aws-organizations",
        }
    }

    fn resource(&self) -> GroupResource {
        GroupResource::new(self.kind.group, self.kind.plural)
    }

    fn watches(&self) -> Vec<crate::runtime::Watch> {
        // Referenced objects and ProviderConfigs: resolution and connect are retried when they
        // change (upstream watches them or polls).
        let mut w = vec![
            crate::runtime::Watch::all(AWS_GROUP, "providerconfigs"),
            crate::runtime::Watch::all(AWS_M_GROUP, "providerconfigs"),
            crate::runtime::Watch::all(AWS_M_GROUP, "clusterproviderconfigs"),
        ];
        let referenced: &[&str] = match self.kind.resource {
            Resource::IamRolePolicyAttachment => &["policies", "roles"],
            Resource::OrgPolicyAttachment => &["policies"],
            _ => &[],
        };
        let group = ref_group(&self.kind);
        for plural in referenced {
            w.push(crate::runtime::Watch::all(group, plural));
        }
        w
    }

    fn on_own_change(&self, change: &crate::apiserver::store::Change) -> bool {
        desired_state_changed(change)
    }

    fn reconcile<'a>(&'a self, cx: &'a Cx, key: &'a Key) -> BoxFuture<'a, Result<Outcome, ReconcileError>> {
        Box::pin(reconcile(self, cx, key))
    }
}

/// The group referenced kinds live in: the resource's own.
fn ref_group(k: &Kind) -> &'static str {
    k.group
}

fn text<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// The recorder name crossplane-runtime gives a managed reconciler.
fn component(k: &Kind) -> String {
    format!("managed/{}.{}", k.kind.to_lowercase(), k.group)
}

/// Whether the resource's management policies allow `action` (`Create`, `Update`, `Delete`).
fn allows(obj: &Value, action: &str) -> bool {
    match obj.pointer("/spec/managementPolicies").and_then(Value::as_array) {
        None => true,
        Some(list) => list.iter().any(|p| p.as_str() == Some("*") || p.as_str() == Some(action)),
    }
}

/// Whether deleting the object deletes the external resource.
fn deletes_external(k: &Kind, obj: &Value) -> bool {
    let policy_delete = k.namespaced || text(obj, "/spec/deletionPolicy") != "Orphan";
    policy_delete && allows(obj, "Delete")
}

/// Kinds whose external name is the object's name unless annotated (upjet's
/// `NameAsIdentifier` with the name initialiser); the others get theirs from AWS.
fn named_by_user(r: Resource) -> bool {
    matches!(r, Resource::IamPolicy | Resource::IamRole)
}

async fn merge_patch(cx: &Cx, k: &Kind, obj: &Value, patch: &Value) -> Result<(), ReconcileError> {
    let path = cx.path(k.group, k.plural, text(obj, "/metadata/namespace"), text(obj, "/metadata/name"))?;
    match crate::workloads::send(cx, http::Method::PATCH, &path, Some(patch)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn set_finalizer(cx: &Cx, k: &Kind, obj: &Value, present: bool) -> Result<(), ReconcileError> {
    let mut list: Vec<Value> =
        obj.pointer("/metadata/finalizers").and_then(Value::as_array).cloned().unwrap_or_default();
    let had = list.iter().any(|f| f.as_str() == Some(FINALIZER));
    if had == present {
        return Ok(());
    }
    list.retain(|f| f.as_str() != Some(FINALIZER));
    if present {
        list.push(json!(FINALIZER));
    }
    merge_patch(cx, k, obj, &json!({"metadata": {"finalizers": list}})).await
}

/// Sets conditions and (optionally) `atProvider` in one status write.
async fn write_status(
    cx: &Cx,
    k: &Kind,
    obj: &Value,
    conds: &[Condition<'_>],
    at_provider: Option<&Value>,
) -> Result<(), ReconcileError> {
    let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
    let mut list = obj.pointer("/status/conditions").cloned().unwrap_or(json!([]));
    for c in conds {
        crate::conditions::set(&mut list, c, generation);
    }
    // crossplane-runtime omits an empty message.
    if let Some(items) = list.as_array_mut() {
        for item in items {
            if item.get("message").and_then(Value::as_str) == Some("") {
                if let Some(o) = item.as_object_mut() {
                    o.remove("message");
                }
            }
        }
    }
    let mut status = json!({"conditions": list, "observedGeneration": generation});
    if let Some(at) = at_provider {
        status["atProvider"] = at.clone();
    }
    cx.merge_status(k.group, k.plural, text(obj, "/metadata/namespace"), text(obj, "/metadata/name"), &status).await?;
    Ok(())
}

fn synced_error(message: &str) -> Condition<'_> {
    Condition { type_: TYPE_SYNCED, status: "False", reason: REASON_RECONCILE_ERROR, message }
}

const SYNCED_OK: Condition<'static> =
    Condition { type_: TYPE_SYNCED, status: "True", reason: REASON_RECONCILE_SUCCESS, message: "" };
const READY_AVAILABLE: Condition<'static> =
    Condition { type_: TYPE_READY, status: "True", reason: REASON_AVAILABLE, message: "" };
const READY_CREATING: Condition<'static> =
    Condition { type_: TYPE_READY, status: "False", reason: REASON_CREATING, message: "" };
const READY_DELETING: Condition<'static> =
    Condition { type_: TYPE_READY, status: "False", reason: REASON_DELETING, message: "" };

/// A failed step: `Synced=False ReconcileError <message>`, a Warning event, retry later.
async fn fail(
    cx: &Cx,
    k: &Kind,
    obj: &Value,
    event_reason: &str,
    message: &str,
    extra: &[Condition<'_>],
) -> Result<Outcome, ReconcileError> {
    // A retried AWS call fails with a new request id: keep the recorded message when only the
    // id differs, so the failure settles (upstream rewrites it on each poll).
    let previous = crate::conditions::get(obj, TYPE_SYNCED).and_then(|c| c.get("message")).and_then(Value::as_str);
    let message = match previous {
        Some(p) if without_request_id(p) == without_request_id(message) => p,
        _ => message,
    };
    let mut conds = extra.to_vec();
    conds.push(synced_error(message));
    write_status(cx, k, obj, &conds, None).await?;
    cx.event(obj, "Warning", event_reason, message, &component(k));
    cx.note(message.to_string());
    Ok(Outcome::Retry)
}

/// `message` with the value after `RequestID: ` (up to the next comma) removed.
fn without_request_id(message: &str) -> String {
    match message.split_once("RequestID: ") {
        Some((head, tail)) => {
            let rest = tail.split_once(',').map(|(_, r)| r).unwrap_or_default();
            format!("{head}RequestID: ,{rest}")
        }
        None => message.to_string(),
    }
}

/// upjet's wording of a failed Terraform operation: the diagnostics printed with `%v`.
fn diag(op: &str, err: &external::ExternalError) -> String {
    format!("{op} failed: failed to {op} the resource: [{{0 {err}  []}}]")
}

/// Resolves one reference (`<field>Ref` / `<field>Selector`) of `spec.forProvider`.
/// Returns the value to write, if any.
fn resolve_one(
    cx: &Cx,
    k: &Kind,
    obj: &Value,
    field: &str,
    target_plural: &str,
    extract: fn(&Value) -> String,
) -> Result<Option<(String, Option<String>)>, String> {
    let fp = obj.pointer("/spec/forProvider").cloned().unwrap_or(json!({}));
    let reference = fp.get(format!("{field}Ref")).cloned();
    let selector = fp.get(format!("{field}Selector")).cloned();
    let current = fp.get(field).and_then(Value::as_str).unwrap_or_default();
    let policy = reference.as_ref().or(selector.as_ref()).and_then(|r| r.pointer("/policy")).cloned();
    let always = policy.as_ref().and_then(|p| p.get("resolve")).and_then(Value::as_str) == Some("Always");
    let optional = policy.as_ref().and_then(|p| p.get("resolution")).and_then(Value::as_str) == Some("Optional");
    if (reference.is_none() && selector.is_none()) || (!current.is_empty() && !always) {
        return Ok(None);
    }
    let own_ns = text(obj, "/metadata/namespace");
    let group = ref_group(k);
    let result: Result<(String, Option<String>), String> = (|| {
        if let Some(r) = &reference {
            let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
            let ns = if k.namespaced { r.get("namespace").and_then(Value::as_str).unwrap_or(own_ns) } else { "" };
            let Some(target) = cx.get(group, target_plural, ns, name) else {
                return Err(format!("cannot get referenced resource: {target_plural}.{group} {name:?} not found"));
            };
            let v = extract(&target);
            if v.is_empty() {
                return Err("referenced field was empty (referenced resource may not yet be ready)".into());
            }
            return Ok((v, None));
        }
        let sel = selector.clone().unwrap_or(json!({}));
        let labels = sel.get("matchLabels").and_then(Value::as_object).cloned().unwrap_or_default();
        let ns = if k.namespaced { Some(sel.get("namespace").and_then(Value::as_str).unwrap_or(own_ns)) } else { None };
        let mut candidates = cx.list(group, target_plural, ns);
        candidates.sort_by_key(|c| text(c, "/metadata/name").to_string());
        let found = candidates
            .iter()
            .find(|c| labels.iter().all(|(lk, lv)| c.pointer("/metadata/labels").and_then(|l| l.get(lk)) == Some(lv)));
        let Some(target) = found else { return Err("no resources matched selector".into()) };
        let v = extract(target);
        if v.is_empty() {
            return Err("referenced field was empty (referenced resource may not yet be ready)".into());
        }
        Ok((v, Some(text(target, "/metadata/name").to_string())))
    })();
    match result {
        Ok(v) => Ok(Some(v)),
        Err(_) if optional => Ok(None),
        Err(e) => Err(format!("spec.forProvider.{field}: {e}")),
    }
}

fn extract_arn(o: &Value) -> String {
    text(o, "/status/atProvider/arn").to_string()
}

fn extract_external_name(o: &Value) -> String {
    o.pointer("/metadata/annotations")
        .and_then(|a| a.get(EXTERNAL_NAME))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A referencing field: its name, the referenced resource's plural, how to read the value.
type RefField = (&'static str, &'static str, fn(&Value) -> String);

/// Resolves the kind's references and writes them into `spec.forProvider` (as
/// crossplane-runtime's APIResolver does). Returns whether it wrote.
async fn resolve_references(cx: &Cx, k: &Kind, obj: &Value) -> Result<bool, String> {
    let refs: &[RefField] = match k.resource {
        Resource::IamRolePolicyAttachment => {
            &[("policyArn", "policies", extract_arn), ("role", "roles", extract_external_name)]
        }
        Resource::OrgPolicyAttachment => &[("policyId", "policies", extract_external_name)],
        _ => &[],
    };
    let mut patch = serde_json::Map::new();
    for (field, plural, extract) in refs {
        if let Some((value, selected)) = resolve_one(cx, k, obj, field, plural, *extract)? {
            if obj.pointer(&format!("/spec/forProvider/{field}")).and_then(Value::as_str) != Some(value.as_str()) {
                patch.insert(field.to_string(), json!(value));
            }
            if let Some(name) = selected {
                let ref_path = format!("/spec/forProvider/{field}Ref/name");
                if obj.pointer(&ref_path).and_then(Value::as_str) != Some(name.as_str()) {
                    patch.insert(format!("{field}Ref"), json!({"name": name}));
                }
            }
        }
    }
    if patch.is_empty() {
        return Ok(false);
    }
    merge_patch(cx, k, obj, &json!({"spec": {"forProvider": patch}})).await.map_err(|e| e.to_string())?;
    Ok(true)
}

/// The ProviderConfig the resource uses (`connect`), or upjet's error.
fn provider_config(cx: &Cx, k: &Kind, obj: &Value) -> Result<Arc<Value>, String> {
    let name = obj.pointer("/spec/providerConfigRef/name").and_then(Value::as_str).unwrap_or("default");
    let (group, plural, kind, ns) = if !k.namespaced {
        (AWS_GROUP, "providerconfigs", "ProviderConfig", "")
    } else if text(obj, "/spec/providerConfigRef/kind") == "ProviderConfig" {
        (AWS_M_GROUP, "providerconfigs", "ProviderConfig", text(obj, "/metadata/namespace"))
    } else {
        (AWS_M_GROUP, "clusterproviderconfigs", "ClusterProviderConfig", "")
    };
    cx.get(group, plural, ns, name).ok_or_else(|| {
        format!("connect failed: cannot get terraform setup: cannot get referenced ProviderConfig: {kind}.{group} {name:?} not found")
    })
}

/// The object as stored now (after this reconcile's own write), or `obj` if it is gone.
fn reread(cx: &Cx, k: &Kind, key: &Key, obj: Value) -> Value {
    cx.get(k.group, k.plural, &key.namespace, &key.name).map(|o| o.as_ref().clone()).unwrap_or(obj)
}

/// crossplane-runtime's `DesiredStateChanged` event filter, which upjet's managed reconcilers
/// use: a new object, a deletion, or a change to the generation, labels, annotations (except
/// the `crossplane.io/external-create-*` bookkeeping) or the deletion timestamp. The
/// reconciler's own status and finalizer writes do not reconcile again.
pub fn desired_state_changed(change: &crate::apiserver::store::Change) -> bool {
    let Some(old) = &change.old else { return true };
    if change.type_ == crate::apiserver::store::EventType::Deleted {
        return true;
    }
    let new = &change.object;
    let annotations = |o: &Value| -> Vec<(String, Value)> {
        o.pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !k.starts_with("crossplane.io/external-create-"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    ["/metadata/generation", "/metadata/labels", "/metadata/deletionTimestamp"]
        .iter()
        .any(|p| old.pointer(p) != new.pointer(p))
        || annotations(old) != annotations(new)
}

async fn reconcile(c: &ManagedController, cx: &Cx, key: &Key) -> Result<Outcome, ReconcileError> {
    let k = &c.kind;
    let Some(obj) = cx.get(k.group, k.plural, &key.namespace, &key.name) else { return Ok(Outcome::Done) };
    let obj = obj.as_ref().clone();
    let deleting = obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
    let comp = component(k);

    // 1. Orphan: the external resource stays, the object goes.
    if deleting && !deletes_external(k, &obj) {
        cx.note("deletion policy Orphan: the external resource is kept");
        set_finalizer(cx, k, &obj, false).await?;
        return Ok(Outcome::Done);
    }
    // 2. References (not while deleting).
    if !deleting {
        match resolve_references(cx, k, &obj).await {
            Ok(true) => return Ok(Outcome::Done), // the spec write reruns this reconcile
            Ok(false) => {}
            Err(e) => {
                let msg = format!("cannot resolve references: {e}");
                return fail(cx, k, &obj, "CannotResolveResourceReferences", &msg, &[]).await;
            }
        }
    }
    // 3. Connect.
    let pc = match provider_config(cx, k, &obj) {
        Ok(pc) => pc,
        Err(msg) => return fail(cx, k, &obj, "CannotConnectToProvider", &msg, &[]).await,
    };
    let Some(aws) = &c.aws else {
        let msg = "connect failed: cannot get terraform setup: the simulated platform has no AWS endpoint configured";
        return fail(cx, k, &obj, "CannotConnectToProvider", msg, &[]).await;
    };
    if let Some(url) = pc.pointer("/spec/endpoint/url/static").and_then(Value::as_str) {
        cx.note(format!(
            "ProviderConfig endpoint {url} recorded; the simulator calls the platform's AWS target ({})",
            aws.endpoint.as_deref().unwrap_or("AWS")
        ));
    }
    let clients = aws.clients();
    // 4. External name (the name initialiser for user-named kinds).
    let mut external = extract_external_name(&obj);
    // crossplane-runtime's initialiser writes it and goes on in the same reconcile.
    let mut obj = obj;
    if external.is_empty() && named_by_user(k.resource) && !deleting {
        external = key.name.clone();
        merge_patch(cx, k, &obj, &json!({"metadata": {"annotations": {EXTERNAL_NAME: external}}})).await?;
        obj = reread(cx, k, key, obj);
    }
    let params = obj.pointer("/spec/forProvider").cloned().unwrap_or(json!({}));
    let at = obj.pointer("/status/atProvider").cloned().unwrap_or(json!({}));
    // 5. Observe.
    let observed = match external::observe(&clients, k.resource, &external, &params, &at).await {
        Ok(o) => o,
        Err(e) => {
            let extra: &[Condition<'_>] = if deleting { &[READY_DELETING] } else { &[] };
            return fail(cx, k, &obj, "CannotObserveExternalResource", &diag("observe", &e), extra).await;
        }
    };
    // 6. Delete.
    if deleting {
        if let Observation::Exists(at) = &observed {
            if let Err(e) = external::delete(&clients, k.resource, &external, &params, at).await {
                return fail(cx, k, &obj, "CannotDeleteExternalResource", &diag("delete", &e), &[READY_DELETING]).await;
            }
            cx.event(
                &obj,
                "Normal",
                "DeletedExternalResource",
                "Successfully requested deletion of external resource",
                &comp,
            );
            write_status(cx, k, &obj, &[READY_DELETING, SYNCED_OK], None).await?;
        }
        set_finalizer(cx, k, &obj, false).await?;
        return Ok(Outcome::Done);
    }
    // AddFinalizer, then on in the same reconcile (as upstream).
    if !obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| f.iter().any(|x| x == FINALIZER))
    {
        set_finalizer(cx, k, &obj, true).await?;
        obj = reread(cx, k, key, obj);
    }
    match observed {
        // 7. Create.
        Observation::Missing => {
            if !allows(&obj, "Create") {
                return fail(
                    cx,
                    k,
                    &obj,
                    "CannotObserveExternalResource",
                    "observe failed: external resource does not exist",
                    &[],
                )
                .await;
            }
            let name = if named_by_user(k.resource) { external.clone() } else { String::new() };
            match external::create(&clients, k.resource, &name, &params).await {
                Ok(new_name) => {
                    if new_name != external {
                        merge_patch(cx, k, &obj, &json!({"metadata": {"annotations": {EXTERNAL_NAME: new_name}}}))
                            .await?;
                    }
                    cx.event(
                        &obj,
                        "Normal",
                        "CreatedExternalResource",
                        "Successfully requested creation of external resource",
                        &comp,
                    );
                    let obj = reread(cx, k, key, obj);
                    write_status(cx, k, &obj, &[READY_CREATING, SYNCED_OK], None).await?;
                    // Upstream requeues at once to observe what it made (its own status write
                    // does not trigger a reconcile: see `desired_state_changed`).
                    Ok(Outcome::Requeue)
                }
                Err(e) => {
                    fail(cx, k, &obj, "CannotCreateExternalResource", &diag("create", &e), &[READY_CREATING]).await
                }
            }
        }
        // 8. Update, or report Available.
        Observation::Exists(at) => {
            if external::up_to_date(k.resource, &params, &at) || !allows(&obj, "Update") {
                write_status(cx, k, &obj, &[READY_AVAILABLE, SYNCED_OK], Some(&at)).await?;
                return Ok(Outcome::Done);
            }
            match external::update(&clients, k.resource, &external, &params, &at).await {
                Ok(new_name) => {
                    if new_name != external {
                        merge_patch(cx, k, &obj, &json!({"metadata": {"annotations": {EXTERNAL_NAME: new_name}}}))
                            .await?;
                    }
                    cx.event(
                        &obj,
                        "Normal",
                        "UpdatedExternalResource",
                        "Successfully requested update of external resource",
                        &comp,
                    );
                    // Observe again: the update's outcome is what the next poll would see.
                    let after = external::observe(&clients, k.resource, &new_name, &params, &json!({})).await;
                    let at = match after {
                        Ok(Observation::Exists(a)) => a,
                        _ => at,
                    };
                    let obj = reread(cx, k, key, obj);
                    write_status(cx, k, &obj, &[READY_AVAILABLE, SYNCED_OK], Some(&at)).await?;
                    Ok(Outcome::Done)
                }
                Err(e) => fail(cx, k, &obj, "CannotUpdateExternalResource", &diag("update", &e), &[]).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn management_and_deletion_policies() {
        let k = KINDS[0];
        let orphan = json!({"spec": {"deletionPolicy": "Orphan"}});
        assert!(!deletes_external(&k, &orphan));
        assert!(deletes_external(&k, &json!({"spec": {}})));
        let observe_only = json!({"spec": {"managementPolicies": ["Observe"]}});
        assert!(!allows(&observe_only, "Create"));
        assert!(!deletes_external(&k, &observe_only));
        assert!(allows(&json!({"spec": {"managementPolicies": ["*"]}}), "Update"));
    }

    #[test]
    fn only_desired_state_changes_reconcile_again() {
        use crate::apiserver::store::{Change, EventType};
        let base = json!({"metadata": {"name": "p", "generation": 1, "annotations": {"a": "1"}}, "status": {}});
        let change = |old: Option<&Value>, new: Value, type_| Change {
            type_,
            gr: crate::apiserver::resources::GroupResource::new(AWS_GROUP, "policies"),
            namespace: String::new(),
            name: "p".into(),
            rv: 2,
            object: std::sync::Arc::new(new),
            old: old.map(|o| std::sync::Arc::new(o.clone())),
        };
        let with = |pointer: &str, v: Value| {
            let mut o = base.clone();
            let (parent, leaf) = pointer.rsplit_once('/').expect("pointer");
            o.pointer_mut(parent).expect("parent").as_object_mut().expect("object").insert(leaf.replace("~1", "/"), v);
            o
        };
        let passes = |new: Value| desired_state_changed(&change(Some(&base), new, EventType::Modified));
        assert!(desired_state_changed(&change(None, base.clone(), EventType::Added)));
        assert!(desired_state_changed(&change(Some(&base), base.clone(), EventType::Deleted)));
        assert!(!passes(with("/status/conditions", json!([{"type": "Ready"}]))), "a status write");
        assert!(!passes(with("/metadata/finalizers", json!([FINALIZER]))), "a finalizer");
        assert!(!passes(with("/metadata/annotations/crossplane.io~1external-create-pending", json!("x"))));
        assert!(passes(with("/metadata/generation", json!(2))));
        assert!(passes(with("/metadata/labels", json!({"team": "a"}))));
        assert!(passes(with("/metadata/annotations/crossplane.io~1external-name", json!("p"))));
        assert!(passes(with("/metadata/deletionTimestamp", json!("2026-01-01T00:00:00Z"))));
    }

    #[test]
    fn request_ids_do_not_make_messages_differ() {
        let a = "x: StatusCode: 400, RequestID: abc, MalformedPolicyDocument: bad";
        let b = "x: StatusCode: 400, RequestID: def, MalformedPolicyDocument: bad";
        assert_eq!(without_request_id(a), without_request_id(b));
        assert_ne!(without_request_id(a), without_request_id(&b.replace("bad", "worse")));
    }

    #[test]
    fn terraform_diagnostics_are_wrapped_as_upjet_does() {
        let e = external::ExternalError("creating IAM Policy (p): boom".into());
        assert_eq!(
            diag("create", &e),
            "create failed: failed to create the resource: [{0 creating IAM Policy (p): boom  []}]"
        );
    }
}

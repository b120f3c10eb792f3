//! Object lifecycle after writes: graceful deletion with finalizers, garbage collection through
//! ownerReferences (background, foreground, orphan), namespace termination, and the cleanup of a
//! CRD's objects before the CRD goes.
//!
//! kube-apiserver leaves this to the garbage collector and namespace controller, which run
//! asynchronously; the simulator runs the same rules synchronously after each write, through a
//! work queue, so a scenario sees a deterministic fixed point. It must not do admission: like
//! the real controllers' deletes, these writes are internal.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::{json, Value};

use super::error::{ApiError, FieldError};
use super::objects::now;
use super::resources::{GroupResource, ResourceDef};
use super::server::Shared;
use super::store::{name_of, namespace_of, ObjectRef};

/// How dependents are treated when their owner is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

pub const FOREGROUND: &str = "foregroundDeletion";
pub const ORPHAN: &str = "orphan";
pub const NAMESPACE_FINALIZER: &str = "kubernetes";
pub const CRD_CLEANUP: &str = "customresourcecleanup.apiextensions.k8s.io";

/// The result of a delete request.
pub struct DeleteOutcome {
    /// True when the object is gone; false when it waits for finalizers.
    pub gone: bool,
    pub object: Arc<Value>,
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn is_namespace(gr: &GroupResource) -> bool {
    gr.group.is_empty() && gr.resource == "namespaces"
}

fn is_crd(gr: &GroupResource) -> bool {
    gr.group == "apiextensions.k8s.io" && gr.resource == "customresourcedefinitions"
}

fn ns_spec_finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Rejects new finalizers on an object that is being deleted, as kube-apiserver does.
pub fn check_finalizer_change(current: &Value, next: &Value) -> Vec<FieldError> {
    if current.pointer("/metadata/deletionTimestamp").is_none() {
        return Vec::new();
    }
    let before = finalizers(current);
    let added: Vec<String> = finalizers(next).into_iter().filter(|f| !before.contains(f)).collect();
    if added.is_empty() {
        return Vec::new();
    }
    let list = added.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>().join(", ");
    vec![FieldError::forbidden(
        "metadata.finalizers",
        &format!(
            "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{list}}}"
        ),
    )]
}

/// Deletes an object: removes it at once, or marks it with a deletionTimestamp and lets its
/// finalizers (and the system ones for propagation, namespaces and CRDs) run.
pub fn delete(
    sh: &Shared,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    propagation: Propagation,
) -> Result<DeleteOutcome, ApiError> {
    let gr = def.group_resource();
    let current = sh.store.get(&gr, ns, name).ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
    let deleting = current.pointer("/metadata/deletionTimestamp").is_some();
    let mut fins = finalizers(&current);
    let extra = match propagation {
        Propagation::Foreground => Some(FOREGROUND),
        Propagation::Orphan => Some(ORPHAN),
        Propagation::Background => None,
    };
    let needs_wait = !fins.is_empty() || extra.is_some() || is_namespace(&gr) || deleting;
    if !needs_wait {
        let removed = sh.store.remove_if(&gr, ns, name, |cur| {
            if finalizers(cur).is_empty() {
                Ok(())
            } else {
                Err(ApiError::conflict(&def.group, &def.plural, name, "finalizers changed during delete; please retry"))
            }
        })?;
        run(sh, vec![Task::Removed(gr, removed.clone())]);
        return Ok(DeleteOutcome { gone: true, object: removed });
    }
    if let Some(f) = extra {
        if !fins.iter().any(|x| x == f) {
            fins.push(f.to_string());
        }
    }
    let ts = now();
    let (marked, _) = sh.store.update_with(&gr, ns, name, |cur| {
        let mut next = cur.as_ref().clone();
        if let Some(meta) = next.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.entry("deletionTimestamp").or_insert_with(|| json!(ts));
            meta.entry("deletionGracePeriodSeconds").or_insert_with(|| json!(0));
            if !fins.is_empty() {
                meta.insert("finalizers".into(), json!(fins));
            }
        }
        if is_namespace(&gr) {
            next["status"]["phase"] = json!("Terminating");
        }
        Ok(Some(next))
    })?;
    let at = ObjectRef { gr: gr.clone(), namespace: ns.to_string(), name: name.to_string() };
    run(sh, vec![Task::Progress(at)]);
    match sh.store.get(&gr, ns, name) {
        Some(still) => Ok(DeleteOutcome { gone: false, object: still }),
        None => Ok(DeleteOutcome { gone: true, object: marked }),
    }
}

/// Called after every successful update: an object being deleted whose finalizers are now all
/// gone is removed. Returns the object as stored (or as last seen, if removed).
pub fn after_update(sh: &Shared, def: &ResourceDef, stored: Arc<Value>) -> Arc<Value> {
    if stored.pointer("/metadata/deletionTimestamp").is_none() {
        return stored;
    }
    let at = ObjectRef {
        gr: def.group_resource(),
        namespace: namespace_of(&stored).to_string(),
        name: name_of(&stored).to_string(),
    };
    run(sh, vec![Task::Progress(at)]);
    stored
}

enum Task {
    /// Move an object that is being deleted forward (system finalizers, then removal).
    Progress(ObjectRef),
    /// An object was removed: collect its dependents, wake what waited for it.
    Removed(GroupResource, Arc<Value>),
}

fn run(sh: &Shared, initial: Vec<Task>) {
    let mut queue: VecDeque<Task> = initial.into();
    let mut steps = 0usize;
    while let Some(task) = queue.pop_front() {
        steps += 1;
        if steps > 10_000_000 {
            tracing::error!("lifecycle work queue did not settle; giving up");
            return;
        }
        match task {
            Task::Progress(at) => progress(sh, &at, &mut queue),
            Task::Removed(gr, obj) => removed(sh, &gr, &obj, &mut queue),
        }
    }
}

fn enqueue_progress(queue: &mut VecDeque<Task>, at: ObjectRef) {
    let already = queue.iter().any(|t| matches!(t, Task::Progress(p) if *p == at));
    if !already {
        queue.push_back(Task::Progress(at));
    }
}

/// Marks an object deleted (no propagation finalizer) and queues its progress.
fn delete_internal(sh: &Shared, at: &ObjectRef, queue: &mut VecDeque<Task>) {
    let Some(cur) = sh.store.get(&at.gr, &at.namespace, &at.name) else { return };
    if cur.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    if finalizers(&cur).is_empty() && !is_namespace(&at.gr) {
        if let Ok(removed) = remove_unheld(sh, at) {
            queue.push_back(Task::Removed(at.gr.clone(), removed));
            return;
        }
    }
    let ts = now();
    let _ = sh.store.update_with(&at.gr, &at.namespace, &at.name, |c| {
        let mut next = c.as_ref().clone();
        if let Some(meta) = next.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.entry("deletionTimestamp").or_insert_with(|| json!(ts));
            meta.entry("deletionGracePeriodSeconds").or_insert_with(|| json!(0));
        }
        if is_namespace(&at.gr) {
            next["status"]["phase"] = json!("Terminating");
        }
        Ok(Some(next))
    });
    enqueue_progress(queue, at.clone());
}

/// Removes an object unless a finalizer appeared since it was read.
fn remove_unheld(sh: &Shared, at: &ObjectRef) -> Result<Arc<Value>, ApiError> {
    sh.store.remove_if(&at.gr, &at.namespace, &at.name, |c| {
        if finalizers(c).is_empty() {
            Ok(())
        } else {
            Err(ApiError::conflict(&at.gr.group, &at.gr.resource, &at.name, "finalizers were added during deletion"))
        }
    })
}

fn remove_finalizer(sh: &Shared, at: &ObjectRef, finalizer: &str) {
    let _ = sh.store.update_with(&at.gr, &at.namespace, &at.name, |c| {
        let fins = finalizers(c);
        if !fins.iter().any(|f| f == finalizer) {
            return Ok(None);
        }
        let mut next = c.as_ref().clone();
        let kept: Vec<String> = fins.into_iter().filter(|f| f != finalizer).collect();
        if let Some(meta) = next.get_mut("metadata").and_then(Value::as_object_mut) {
            if kept.is_empty() {
                meta.remove("finalizers");
            } else {
                meta.insert("finalizers".into(), json!(kept));
            }
        }
        Ok(Some(next))
    });
}

fn progress(sh: &Shared, at: &ObjectRef, queue: &mut VecDeque<Task>) {
    let Some(cur) = sh.store.get(&at.gr, &at.namespace, &at.name) else { return };
    if cur.pointer("/metadata/deletionTimestamp").is_none() {
        return;
    }
    let uid = cur.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("").to_string();
    let fins = finalizers(&cur);
    if fins.iter().any(|f| f == ORPHAN) {
        for dep in sh.store.dependents_of(&uid) {
            let _ = sh.store.update_with(&dep.gr, &dep.namespace, &dep.name, |c| {
                let mut next = c.as_ref().clone();
                if let Some(refs) = next.pointer_mut("/metadata/ownerReferences").and_then(Value::as_array_mut) {
                    refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()));
                    if refs.is_empty() {
                        if let Some(meta) = next.get_mut("metadata").and_then(Value::as_object_mut) {
                            meta.remove("ownerReferences");
                        }
                    }
                }
                Ok(Some(next))
            });
        }
        remove_finalizer(sh, at, ORPHAN);
    }
    if fins.iter().any(|f| f == FOREGROUND) {
        let deps = sh.store.dependents_of(&uid);
        for dep in &deps {
            delete_internal(sh, dep, queue);
        }
        let blocking = sh.store.dependents_of(&uid).into_iter().any(|d| {
            sh.store.get(&d.gr, &d.namespace, &d.name).is_some_and(|o| {
                o.pointer("/metadata/ownerReferences").and_then(Value::as_array).is_some_and(|refs| {
                    refs.iter().any(|r| {
                        r.get("uid").and_then(Value::as_str) == Some(uid.as_str())
                            && r.get("blockOwnerDeletion") == Some(&json!(true))
                    })
                })
            })
        });
        if !blocking {
            remove_finalizer(sh, at, FOREGROUND);
        }
    }
    if is_namespace(&at.gr) && ns_spec_finalizers(&cur).iter().any(|f| f == NAMESPACE_FINALIZER) {
        namespace_content(sh, at, queue);
    }
    if is_crd(&at.gr) && fins.iter().any(|f| f == CRD_CLEANUP) {
        crd_content(sh, &cur, at, queue);
    }
    // Remove when nothing holds it any more.
    let Some(cur) = sh.store.get(&at.gr, &at.namespace, &at.name) else { return };
    let held = !finalizers(&cur).is_empty() || (is_namespace(&at.gr) && !ns_spec_finalizers(&cur).is_empty());
    if !held {
        if let Ok(removed) = remove_unheld(sh, at) {
            queue.push_back(Task::Removed(at.gr.clone(), removed));
        }
    }
}

/// The namespace controller's work: delete everything in the namespace; when nothing is left,
/// drop the `kubernetes` finalizer; meanwhile say on the namespace's conditions what remains and
/// which finalizers hold it.
fn namespace_content(sh: &Shared, at: &ObjectRef, queue: &mut VecDeque<Task>) {
    let ns = at.name.as_str();
    for gr in sh.store.resources_in_namespace(ns) {
        let (objs, _) = sh.store.list(&gr, Some(ns), None);
        for o in objs.iter() {
            delete_internal(
                sh,
                &ObjectRef { gr: gr.clone(), namespace: ns.to_string(), name: name_of(o).to_string() },
                queue,
            );
        }
    }
    // Removals queued above report back through `removed`, which re-queues this namespace.
    let remaining = sh.store.resources_in_namespace(ns);
    let pending_removals = queue.iter().any(|t| matches!(t, Task::Removed(_, o) if namespace_of(o) == ns));
    if remaining.is_empty() && !pending_removals {
        let _ = sh.store.update_with(&at.gr, "", ns, |c| {
            let mut next = c.as_ref().clone();
            let kept: Vec<String> = ns_spec_finalizers(c).into_iter().filter(|f| f != NAMESPACE_FINALIZER).collect();
            next["spec"]["finalizers"] = json!(kept);
            Ok(Some(next))
        });
        return;
    }
    if remaining.is_empty() {
        return;
    }
    // Report what is left, as the namespace controller does.
    let mut counts = Vec::new();
    let mut held: std::collections::BTreeMap<String, usize> = Default::default();
    for gr in &remaining {
        let (objs, _) = sh.store.list(gr, Some(ns), None);
        counts.push(format!(
            "{}{} has {} resource instances",
            gr.resource,
            if gr.group.is_empty() { ".".to_string() } else { format!(".{}", gr.group) },
            objs.len()
        ));
        for o in objs.iter() {
            for f in finalizers(o) {
                *held.entry(f).or_default() += 1;
            }
        }
    }
    let ts = now();
    let content = format!("Some resources are remaining: {}", counts.join(", "));
    let fins = held.iter().map(|(f, n)| format!("{f} in {n} resource instances")).collect::<Vec<_>>().join(", ");
    let _ = sh.store.update_with(&at.gr, "", ns, |c| {
        let mut next = c.as_ref().clone();
        let mut conds = vec![json!({"type": "NamespaceContentRemaining", "status": "True", "lastTransitionTime": ts, "reason": "SomeResourcesRemain", "message": content})];
        if !held.is_empty() {
            conds.push(json!({"type": "NamespaceFinalizersRemaining", "status": "True", "lastTransitionTime": ts, "reason": "SomeFinalizersRemain", "message": format!("Some content in the namespace has finalizers remaining: {fins}")}));
        }
        let same = next.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|old| {
            old.len() == conds.len() && old.iter().zip(&conds).all(|(a, b)| a.get("message") == b.get("message"))
        });
        if same {
            return Ok(None);
        }
        next["status"]["conditions"] = json!(conds);
        Ok(Some(next))
    });
}

fn crd_content(sh: &Shared, crd: &Value, at: &ObjectRef, queue: &mut VecDeque<Task>) {
    let group = crd.pointer("/spec/group").and_then(Value::as_str).unwrap_or("");
    let plural = crd.pointer("/spec/names/plural").and_then(Value::as_str).unwrap_or("");
    let gr = GroupResource::new(group, plural);
    let (objs, _) = sh.store.list(&gr, None, None);
    for o in objs.iter() {
        delete_internal(
            sh,
            &ObjectRef { gr: gr.clone(), namespace: namespace_of(o).to_string(), name: name_of(o).to_string() },
            queue,
        );
    }
    let pending = queue.iter().any(|t| matches!(t, Task::Removed(g, _) if *g == gr));
    if sh.store.count(&gr, None) == 0 && !pending {
        remove_finalizer(sh, at, CRD_CLEANUP);
    }
}

fn removed(sh: &Shared, gr: &GroupResource, obj: &Value, queue: &mut VecDeque<Task>) {
    let uid = obj.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
    // Background garbage collection of dependents.
    if !uid.is_empty() {
        for dep in sh.store.dependents_of(uid) {
            let all_owners_gone = sh
                .store
                .get(&dep.gr, &dep.namespace, &dep.name)
                .map(|d| {
                    d.pointer("/metadata/ownerReferences").and_then(Value::as_array).is_none_or(|refs| {
                        refs.iter().all(|r| {
                            let ruid = r.get("uid").and_then(Value::as_str).unwrap_or("");
                            ruid == uid || !owner_exists(sh, &dep, r)
                        })
                    })
                })
                .unwrap_or(false);
            if all_owners_gone {
                delete_internal(sh, &dep, queue);
            }
        }
    }
    // Owners waiting in foreground deletion.
    if let Some(refs) = obj.pointer("/metadata/ownerReferences").and_then(Value::as_array) {
        for r in refs {
            if let Some(owner) = find_owner(sh, namespace_of(obj), r) {
                enqueue_progress(queue, owner);
            }
        }
    }
    // A terminating namespace waiting for its content.
    let ns = namespace_of(obj);
    if !ns.is_empty() {
        let ns_gr = GroupResource::new("", "namespaces");
        if sh.store.get(&ns_gr, "", ns).is_some_and(|n| n.pointer("/metadata/deletionTimestamp").is_some()) {
            enqueue_progress(queue, ObjectRef { gr: ns_gr, namespace: String::new(), name: ns.to_string() });
        }
    }
    // A CRD waiting for its objects, or a CRD that is gone.
    let crd_gr = GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions");
    if is_crd(gr) {
        super::crd::unregister(sh, obj);
    } else {
        let crd_name = format!("{}.{}", gr.resource, gr.group);
        if sh.store.get(&crd_gr, "", &crd_name).is_some_and(|c| c.pointer("/metadata/deletionTimestamp").is_some()) {
            enqueue_progress(queue, ObjectRef { gr: crd_gr, namespace: String::new(), name: crd_name });
        }
    }
}

fn owner_exists(sh: &Shared, dep: &ObjectRef, r: &Value) -> bool {
    find_owner(sh, &dep.namespace, r).is_some()
}

/// Finds the object an ownerReference points at (same namespace, or cluster-scoped).
fn find_owner(sh: &Shared, ns: &str, r: &Value) -> Option<ObjectRef> {
    let api = r.get("apiVersion").and_then(Value::as_str)?;
    let kind = r.get("kind").and_then(Value::as_str)?;
    let name = r.get("name").and_then(Value::as_str)?;
    let uid = r.get("uid").and_then(Value::as_str)?;
    let (group, version) = api.rsplit_once('/').unwrap_or(("", api));
    let def = sh.registry.by_kind(group, version, kind)?;
    let owner_ns = if def.namespaced { ns } else { "" };
    let obj = sh.store.get(&def.group_resource(), owner_ns, name)?;
    (obj.pointer("/metadata/uid").and_then(Value::as_str) == Some(uid)).then(|| ObjectRef {
        gr: def.group_resource(),
        namespace: owner_ns.to_string(),
        name: name.to_string(),
    })
}

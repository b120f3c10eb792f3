//! The object store: every object by group/resource, namespace and name, a global monotonic
//! resourceVersion, a bounded history of changes for watches, and a broadcast of new changes.
//!
//! One mutex guards the state; it is never held across an `.await` or I/O. The store checks
//! only what needs the lock to be atomic (existence, resourceVersion preconditions); validation,
//! admission and lifecycle rules live in the request handlers and `lifecycle`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::broadcast;

use super::error::ApiError;
use super::resources::GroupResource;

/// How many past changes a watch may resume from (older resourceVersions get 410 Gone).
pub const DEFAULT_HISTORY: usize = 20_000;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches see it.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub type_: EventType,
    pub gr: GroupResource,
    pub namespace: String,
    pub name: String,
    /// The object after the change (for Deleted: the last state, with the deletion's rv).
    pub object: Arc<Value>,
    /// The object before the change (None for Added).
    pub old: Option<Arc<Value>>,
}

type Key = (String, String); // (namespace, name)

#[derive(Default)]
struct State {
    rv: u64,
    objects: HashMap<GroupResource, BTreeMap<Key, Arc<Value>>>,
    history: VecDeque<Arc<Change>>,
    /// Lowest rv a watch may start after; anything older is compacted.
    compacted: u64,
    /// Owner uid → the objects whose ownerReferences name it (for garbage collection).
    dependents: HashMap<String, BTreeSet<ObjectRef>>,
}

/// Where an object lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    pub gr: GroupResource,
    pub namespace: String,
    pub name: String,
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| refs.iter().filter_map(|r| r.get("uid").and_then(Value::as_str)).map(str::to_string).collect())
        .unwrap_or_default()
}

impl State {
    /// The stored object at `key`, or NotFound.
    fn current(&self, gr: &GroupResource, key: &Key) -> Result<Arc<Value>, ApiError> {
        self.objects
            .get(gr)
            .and_then(|m| m.get(key))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&gr.group, &gr.resource, &key.1))
    }

    fn index_owners(&mut self, at: &ObjectRef, old: Option<&Value>, new: Option<&Value>) {
        let before = old.map(owner_uids).unwrap_or_default();
        let after = new.map(owner_uids).unwrap_or_default();
        for uid in before.iter().filter(|u| !after.contains(u)) {
            if let Some(set) = self.dependents.get_mut(uid) {
                set.remove(at);
                if set.is_empty() {
                    self.dependents.remove(uid);
                }
            }
        }
        for uid in after.iter().filter(|u| !before.contains(u)) {
            self.dependents.entry(uid.clone()).or_default().insert(at.clone());
        }
    }
}

/// The store. Cheap to share behind an `Arc`.
pub struct Store {
    state: Mutex<State>,
    tx: broadcast::Sender<Arc<Change>>,
    history_cap: usize,
}

impl Default for Store {
    fn default() -> Self {
        Store::new(DEFAULT_HISTORY)
    }
}

/// A precondition for a write.
#[derive(Debug, Clone, Default)]
pub struct Precondition {
    /// The resourceVersion the client last saw (`metadata.resourceVersion` on update).
    pub resource_version: Option<String>,
    /// `preconditions.uid` on delete.
    pub uid: Option<String>,
}

pub fn rv_of(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/resourceVersion").and_then(Value::as_str)
}

pub fn name_of(obj: &Value) -> &str {
    obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
}

pub fn namespace_of(obj: &Value) -> &str {
    obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("")
}

fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

/// Result of starting a watch: the backlog to send first and the live receiver.
pub struct WatchStart {
    pub backlog: Vec<Arc<Change>>,
    pub rx: broadcast::Receiver<Arc<Change>>,
    pub current_rv: u64,
}

/// A copy of a store's contents at one resourceVersion: its objects and the history watches
/// resume from. Objects are shared, not copied (stored objects are never changed in place).
#[derive(Clone)]
pub struct StoreImage {
    rv: u64,
    objects: HashMap<GroupResource, BTreeMap<Key, Arc<Value>>>,
    history: VecDeque<Arc<Change>>,
    compacted: u64,
    dependents: HashMap<String, BTreeSet<ObjectRef>>,
}

impl StoreImage {
    /// How many objects the image holds.
    pub fn len(&self) -> usize {
        self.objects.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Store {
    pub fn new(history_cap: usize) -> Self {
        let (tx, _) = broadcast::channel(65_536);
        Store { state: Mutex::new(State::default()), tx, history_cap }
    }

    /// The store's contents now.
    pub fn image(&self) -> StoreImage {
        let st = self.lock();
        StoreImage {
            rv: st.rv,
            objects: st.objects.clone(),
            history: st.history.clone(),
            compacted: st.compacted,
            dependents: st.dependents.clone(),
        }
    }

    /// A store that starts with `image`'s contents (and keeps at most `history_cap` changes).
    pub fn from_image(history_cap: usize, image: &StoreImage) -> Self {
        let store = Store::new(history_cap);
        {
            let mut st = store.lock();
            st.rv = image.rv;
            st.objects = image.objects.clone();
            st.history = image.history.clone();
            st.compacted = image.compacted;
            while st.history.len() > history_cap {
                if let Some(old) = st.history.pop_front() {
                    st.compacted = old.rv;
                }
            }
            st.dependents = image.dependents.clone();
        }
        store
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The newest resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, gr: &GroupResource, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.lock().objects.get(gr)?.get(&(namespace.to_string(), name.to_string())).cloned()
    }

    /// Objects of a resource, in (namespace, name) order, optionally in one namespace, starting
    /// after `after` (for continue tokens). Returns the objects and the rv of the snapshot.
    pub fn list(
        &self,
        gr: &GroupResource,
        namespace: Option<&str>,
        after: Option<&(String, String)>,
    ) -> (Vec<Arc<Value>>, u64) {
        let st = self.lock();
        let Some(map) = st.objects.get(gr) else { return (Vec::new(), st.rv) };
        use std::ops::Bound;
        let lower = match after {
            Some(k) => Bound::Excluded(k.clone()),
            None => match namespace {
                Some(ns) => Bound::Included((ns.to_string(), String::new())),
                None => Bound::Unbounded,
            },
        };
        let items = map
            .range((lower, Bound::Unbounded))
            .take_while(|((ns, _), _)| namespace.is_none_or(|want| ns == want))
            .map(|(_, v)| v.clone())
            .collect();
        (items, st.rv)
    }

    /// Number of objects of a resource in a namespace (or everywhere).
    pub fn count(&self, gr: &GroupResource, namespace: Option<&str>) -> usize {
        let st = self.lock();
        st.objects.get(gr).map_or(0, |m| m.keys().filter(|(ns, _)| namespace.is_none_or(|w| ns == w)).count())
    }

    /// Every group/resource that has objects in `namespace`.
    pub fn resources_in_namespace(&self, namespace: &str) -> Vec<GroupResource> {
        let st = self.lock();
        st.objects.iter().filter(|(_, m)| m.keys().any(|(ns, _)| ns == namespace)).map(|(gr, _)| gr.clone()).collect()
    }

    /// The objects whose ownerReferences name `uid`.
    pub fn dependents_of(&self, uid: &str) -> Vec<ObjectRef> {
        self.lock().dependents.get(uid).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    /// Every stored object of every resource (for garbage collection and leak checks).
    pub fn all_objects(&self) -> Vec<(GroupResource, Arc<Value>)> {
        let st = self.lock();
        st.objects.iter().flat_map(|(gr, m)| m.values().map(move |v| (gr.clone(), v.clone()))).collect()
    }

    fn record(&self, st: &mut State, change: Change) -> Arc<Change> {
        let change = Arc::new(change);
        st.history.push_back(change.clone());
        while st.history.len() > self.history_cap {
            if let Some(old) = st.history.pop_front() {
                st.compacted = old.rv;
            }
        }
        // No receivers is fine: nobody watches.
        let _ = self.tx.send(change.clone());
        change
    }

    /// Stores a new object; fails with AlreadyExists. Sets `metadata.resourceVersion`.
    pub fn create(&self, gr: &GroupResource, mut obj: Value) -> Result<Arc<Value>, ApiError> {
        let ns = namespace_of(&obj).to_string();
        let name = name_of(&obj).to_string();
        let mut st = self.lock();
        let key = (ns.clone(), name.clone());
        if st.objects.get(gr).is_some_and(|m| m.contains_key(&key)) {
            return Err(ApiError::already_exists(&gr.group, &gr.resource, &name));
        }
        st.rv += 1;
        let rv = st.rv;
        set_rv(&mut obj, rv);
        let obj = Arc::new(obj);
        st.objects.entry(gr.clone()).or_default().insert(key, obj.clone());
        st.index_owners(&ObjectRef { gr: gr.clone(), namespace: ns.clone(), name: name.clone() }, None, Some(&obj));
        self.record(
            &mut st,
            Change { rv, type_: EventType::Added, gr: gr.clone(), namespace: ns, name, object: obj.clone(), old: None },
        );
        Ok(obj)
    }

    /// Replaces an object with `f(current)`; `f` runs under the lock and must be quick and pure.
    /// A stale `metadata.resourceVersion` in the result (when the caller set one) is a Conflict.
    /// When `f` returns `None`, nothing changes and the current object is returned.
    pub fn update_with<F>(
        &self,
        gr: &GroupResource,
        namespace: &str,
        name: &str,
        f: F,
    ) -> Result<(Arc<Value>, Option<Arc<Value>>), ApiError>
    where
        F: FnOnce(&Arc<Value>) -> Result<Option<Value>, ApiError>,
    {
        let mut st = self.lock();
        let key = (namespace.to_string(), name.to_string());
        let current = st.current(gr, &key)?;
        let Some(mut next) = f(&current)? else { return Ok((current, None)) };
        if let Some(want) = rv_of(&next) {
            if !want.is_empty() && Some(want) != rv_of(&current) {
                return Err(ApiError::conflict_modified(&gr.group, &gr.resource, name));
            }
        }
        if next == *current.as_ref() {
            // A no-op write keeps the resourceVersion, as kube-apiserver does.
            return Ok((current.clone(), None));
        }
        st.rv += 1;
        let rv = st.rv;
        set_rv(&mut next, rv);
        let next = Arc::new(next);
        st.objects.entry(gr.clone()).or_default().insert(key, next.clone());
        st.index_owners(
            &ObjectRef { gr: gr.clone(), namespace: namespace.into(), name: name.into() },
            Some(&current),
            Some(&next),
        );
        self.record(
            &mut st,
            Change {
                rv,
                type_: EventType::Modified,
                gr: gr.clone(),
                namespace: namespace.into(),
                name: name.into(),
                object: next.clone(),
                old: Some(current.clone()),
            },
        );
        Ok((next, Some(current)))
    }

    /// Removes an object if `check(current)` allows it. Returns the removed object (with the rv of
    /// the deletion).
    pub fn remove_if<F>(
        &self,
        gr: &GroupResource,
        namespace: &str,
        name: &str,
        check: F,
    ) -> Result<Arc<Value>, ApiError>
    where
        F: FnOnce(&Value) -> Result<(), ApiError>,
    {
        let mut st = self.lock();
        let key = (namespace.to_string(), name.to_string());
        let current = st.current(gr, &key)?;
        check(&current)?;
        if let Some(m) = st.objects.get_mut(gr) {
            m.remove(&key);
            if m.is_empty() {
                st.objects.remove(gr);
            }
        }
        st.index_owners(
            &ObjectRef { gr: gr.clone(), namespace: namespace.into(), name: name.into() },
            Some(&current),
            None,
        );
        st.rv += 1;
        let rv = st.rv;
        let mut last = current.as_ref().clone();
        set_rv(&mut last, rv);
        let last = Arc::new(last);
        self.record(
            &mut st,
            Change {
                rv,
                type_: EventType::Deleted,
                gr: gr.clone(),
                namespace: namespace.into(),
                name: name.into(),
                object: last.clone(),
                old: Some(current),
            },
        );
        Ok(last)
    }

    /// Starts a watch from `after_rv` (exclusive): the changes since then and a live receiver,
    /// taken atomically. `None` means "from now". Fails with 410 Gone when `after_rv` is older
    /// than the kept history.
    pub fn watch_from(&self, after_rv: Option<u64>) -> Result<WatchStart, ApiError> {
        let st = self.lock();
        let rx = self.tx.subscribe();
        let backlog = match after_rv {
            None => Vec::new(),
            Some(rv) => {
                if rv < st.compacted {
                    return Err(ApiError::gone(format!("too old resource version: {rv} ({})", st.compacted + 1)));
                }
                st.history.iter().filter(|c| c.rv > rv).cloned().collect()
            }
        };
        Ok(WatchStart { backlog, rx, current_rv: st.rv })
    }

    /// A snapshot of a resource's objects and a live receiver taken atomically (for watches
    /// that start with the current state).
    pub fn snapshot_and_watch(&self, gr: &GroupResource, namespace: Option<&str>) -> (Vec<Arc<Value>>, WatchStart) {
        let st = self.lock();
        let rx = self.tx.subscribe();
        let items = st
            .objects
            .get(gr)
            .map(|m| {
                m.iter().filter(|((ns, _), _)| namespace.is_none_or(|w| ns == w)).map(|(_, v)| v.clone()).collect()
            })
            .unwrap_or_default();
        (items, WatchStart { backlog: Vec::new(), rx, current_rv: st.rv })
    }

    /// Parses a client-sent resourceVersion.
    pub fn parse_rv(s: &str) -> Result<u64, ApiError> {
        s.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("Invalid value: {s:?}: resourceVersion must be a non-negative integer"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}})
    }

    #[test]
    fn resource_versions_increase_and_conflicts_are_detected() {
        let s = Store::default();
        let gr = GroupResource::new("", "configmaps");
        let a = s.create(&gr, cm("a")).expect("create");
        assert_eq!(rv_of(&a), Some("1"));
        assert!(s.create(&gr, cm("a")).is_err_and(|e| e.code == 409 && e.reason == "AlreadyExists"));
        let mut stale = cm("a");
        stale["metadata"]["resourceVersion"] = json!("0");
        stale["data"] = json!({"k": "v"});
        let err = s.update_with(&gr, "default", "a", |_| Ok(Some(stale))).expect_err("stale rv");
        assert_eq!(err.code, 409);
        let mut fresh = cm("a");
        fresh["metadata"]["resourceVersion"] = json!("1");
        fresh["data"] = json!({"k": "v"});
        let (b, _) = s.update_with(&gr, "default", "a", |_| Ok(Some(fresh))).expect("update");
        assert_eq!(rv_of(&b), Some("2"));
    }

    #[test]
    fn watch_replays_history_and_expires_old_versions() {
        let s = Store::new(2);
        let gr = GroupResource::new("", "configmaps");
        for n in ["a", "b", "c"] {
            s.create(&gr, cm(n)).expect("create");
        }
        let w = s.watch_from(Some(1)).expect("rv 1 still in history");
        assert_eq!(w.backlog.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), vec!["b", "c"]);
        let gone = s.watch_from(Some(0)).err().expect("rv 0 compacted");
        assert_eq!((gone.code, gone.reason), (410, "Expired"));
    }

    #[test]
    fn list_pages_by_namespace_and_name() {
        let s = Store::default();
        let gr = GroupResource::new("", "configmaps");
        for n in ["c", "a", "b"] {
            s.create(&gr, cm(n)).expect("create");
        }
        let (page, _) = s.list(&gr, Some("default"), Some(&("default".into(), "a".into())));
        assert_eq!(page.iter().map(|o| name_of(o)).collect::<Vec<_>>(), vec!["b", "c"]);
        assert!(s.list(&gr, Some("other"), None).0.is_empty());
    }
}

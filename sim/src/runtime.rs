//! The controller runtime of the simulator: reconcilers over the API server's store, driven to a
//! fixed point instead of by intervals.
//!
//! Each simulated component (Flux, Gatekeeper, later the workload, CSI, ACK and Crossplane
//! controllers) implements [`Controller`]: the resources it watches and a `reconcile` for one
//! object key. One worker task consumes the store's change stream, maps every change to the keys
//! of the controllers watching that resource, and runs reconciles one at a time (so a run is
//! deterministic). Controllers write through the in-process `kube::Client` ([`Cx::client`]),
//! that is through the whole API server pipeline: validation, admission, server-side apply.
//!
//! Time does not pass in the simulator. A reconcile that failed ([`Outcome::Retry`]) is run
//! again whenever something else changed since it failed, until a pass changes nothing: the
//! fixed point. A reconcile waiting on other objects ([`Outcome::Wait`], e.g. a Flux health
//! check) is run once more with [`Cx::quiescent`] set when nothing else is left to happen, and
//! must then conclude (a real controller would time out). [`Outcome::Requeue`] runs a key again
//! at once, as controller-runtime's `Requeue: true` does. Interval requeues do not exist:
//! external changes (a new commit in a scenario repo) are announced with [`Runtime::touch`].
//!
//! This module must not know any component: it only schedules. Changes to Events do not count
//! as progress, so controllers that record an Event on each failed attempt still settle.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};

use crate::apiserver::resources::GroupResource;
use crate::apiserver::store::Change;
use crate::apiserver::ApiServer;

/// The object a reconcile is for, within the controller's own resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(namespace: &str, name: &str) -> Self {
        Key { namespace: namespace.to_string(), name: name.to_string() }
    }

    /// The key of a stored object.
    pub fn of(obj: &Value) -> Self {
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
        Key::new(s("/metadata/namespace"), s("/metadata/name"))
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

/// Maps a change to the keys to reconcile.
pub type Mapper = Arc<dyn Fn(&Change) -> Vec<Key> + Send + Sync>;

/// What a change to a watched resource enqueues.
#[derive(Clone)]
pub enum Map {
    /// The changed object itself (the controller's own resource).
    Own,
    /// Every object of the controller's own resource.
    All,
    /// Whatever the function says.
    With(Mapper),
    /// Every object of the controller's own resource, for the changes the function accepts.
    AllWhen(Arc<dyn Fn(&Change) -> bool + Send + Sync>),
}

/// A resource a controller watches.
#[derive(Clone)]
pub struct Watch {
    pub resource: GroupResource,
    pub map: Map,
}

impl Watch {
    pub fn own(group: &str, resource: &str) -> Self {
        Watch { resource: GroupResource::new(group, resource), map: Map::Own }
    }

    pub fn all(group: &str, resource: &str) -> Self {
        Watch { resource: GroupResource::new(group, resource), map: Map::All }
    }

    /// Like [`Watch::all`], for the changes `relevant` accepts.
    pub fn all_when(group: &str, resource: &str, relevant: impl Fn(&Change) -> bool + Send + Sync + 'static) -> Self {
        Watch { resource: GroupResource::new(group, resource), map: Map::AllWhen(Arc::new(relevant)) }
    }

    /// `group` or `resource` may be `*`: any.
    pub fn with(group: &str, resource: &str, f: impl Fn(&Change) -> Vec<Key> + Send + Sync + 'static) -> Self {
        Watch { resource: GroupResource::new(group, resource), map: Map::With(Arc::new(f)) }
    }

    fn covers(&self, gr: &GroupResource) -> bool {
        (self.resource.group == "*" || self.resource.group == gr.group)
            && (self.resource.resource == "*" || self.resource.resource == gr.resource)
    }
}

/// How a reconcile ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing more to do until a watched object changes.
    Done,
    /// Failed; try again once anything else has changed (a real controller would back off and
    /// retry).
    Retry,
    /// In progress and waiting for other objects; called again with [`Cx::quiescent`] when
    /// nothing else will change.
    Wait,
    /// Run again at once (controller-runtime's `Requeue: true`), e.g. to observe what a create
    /// just made. At most [`MAX_REQUEUES`] times in a row; after that it counts as a failure.
    Requeue,
}

/// A failure inside a reconcile (reported as a decision and retried).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReconcileError(pub String);

impl ReconcileError {
    pub fn new(msg: impl std::fmt::Display) -> Self {
        ReconcileError(msg.to_string())
    }
}

impl From<kube::Error> for ReconcileError {
    fn from(e: kube::Error) -> Self {
        ReconcileError(e.to_string())
    }
}

/// A simulated controller.
pub trait Controller: Send + Sync + 'static {
    /// A short name (`kustomize-controller`), used in decisions and logs.
    fn name(&self) -> &str;
    /// The controller's own resource: keys name objects of it.
    fn resource(&self) -> GroupResource;
    /// What enqueues keys. The own resource with [`Map::Own`] is implied.
    fn watches(&self) -> Vec<Watch> {
        Vec::new()
    }
    /// Whether a change to one of the controller's own objects enqueues it (default: every
    /// change). Controllers whose status writes would otherwise trigger a pointless rerun narrow
    /// this, as controller-runtime predicates do.
    fn on_own_change(&self, _change: &Change) -> bool {
        true
    }
    /// Brings one object to its desired state.
    fn reconcile<'a>(&'a self, cx: &'a Cx, key: &'a Key) -> BoxFuture<'a, Result<Outcome, ReconcileError>>;
}

/// What a reconcile gets.
pub struct Cx {
    pub server: ApiServer,
    pub client: kube::Client,
    /// Set on the last call of a waiting reconcile: nothing else is going to change.
    pub quiescent: bool,
    notes: Mutex<Vec<String>>,
}

impl Cx {
    /// Records a decision note for this reconcile (shown in evidence bundles).
    pub fn note(&self, msg: impl Into<String>) {
        lock(&self.notes).push(msg.into());
    }

    /// A stored object (served form, preferred version).
    pub fn get(&self, group: &str, plural: &str, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.server.get_object(group, plural, namespace, name)
    }

    /// Every stored object of a resource, optionally in one namespace.
    pub fn list(&self, group: &str, plural: &str, namespace: Option<&str>) -> Vec<Arc<Value>> {
        self.server.store().list(&GroupResource::new(group, plural), namespace, None).0
    }

    /// The REST path of an object at its resource's preferred version.
    pub fn path(&self, group: &str, plural: &str, namespace: &str, name: &str) -> Result<String, ReconcileError> {
        let def = self
            .server
            .registry()
            .any_version(group, plural)
            .ok_or_else(|| ReconcileError::new(format!("the server does not serve {plural}.{group}")))?;
        let base = if group.is_empty() { "/api/v1".to_string() } else { format!("/apis/{group}/{}", def.version) };
        Ok(if namespace.is_empty() {
            format!("{base}/{plural}/{name}")
        } else {
            format!("{base}/namespaces/{namespace}/{plural}/{name}")
        })
    }

    /// Records a Kubernetes Event (`v1`) about `involved`, as a controller's event recorder
    /// does: a repeat of the same reason and message on the same object bumps `count`.
    /// Events are not progress for the fixed point. Failures to record are only logged.
    pub fn event(&self, involved: &Value, type_: &str, reason: &str, message: &str, component: &str) {
        let s = |p: &str| involved.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        let (ns, name, uid) = (s("/metadata/namespace"), s("/metadata/name"), s("/metadata/uid"));
        let ns = if ns.is_empty() { "default".to_string() } else { ns };
        let gr = GroupResource::new("", "events");
        let store = self.server.store();
        let existing = store.list(&gr, Some(&ns), None).0.into_iter().find(|e| {
            e.pointer("/involvedObject/uid").and_then(Value::as_str) == Some(uid.as_str())
                && e.get("reason").and_then(Value::as_str) == Some(reason)
                && e.get("message").and_then(Value::as_str) == Some(message)
        });
        let now = crate::apiserver::objects::now();
        let result = match existing {
            Some(e) => {
                let ename = e.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
                store
                    .update_with(&gr, &ns, &ename, |cur| {
                        let mut next = cur.as_ref().clone();
                        let count = next.get("count").and_then(Value::as_i64).unwrap_or(1);
                        next["count"] = json!(count + 1);
                        next["lastTimestamp"] = json!(now);
                        Ok(Some(next))
                    })
                    .map(|_| ())
            }
            None => {
                let body = json!({
                    "apiVersion": "v1", "kind": "Event",
                    "metadata": {"name": format!("{name}.{}", &uuid::Uuid::new_v4().simple().to_string()[..16]), "namespace": ns},
                    "involvedObject": {
                        "apiVersion": involved.get("apiVersion"), "kind": involved.get("kind"),
                        "name": name, "namespace": s("/metadata/namespace"), "uid": uid,
                        "resourceVersion": s("/metadata/resourceVersion"),
                    },
                    "type": type_, "reason": reason, "message": message,
                    "source": {"component": component},
                    "reportingComponent": component,
                    "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                });
                self.server.create_internal("", "v1", "events", Some(&ns), body).map(|_| ())
            }
        };
        if let Err(e) = result {
            tracing::warn!("recording event {reason} for {ns}/{name}: {e}");
        }
    }

    /// Merge-patches `status` into the object's status subresource, unless that would change
    /// nothing (so controllers settle). Returns whether it wrote.
    pub async fn merge_status(
        &self,
        group: &str,
        plural: &str,
        namespace: &str,
        name: &str,
        status: &Value,
    ) -> Result<bool, ReconcileError> {
        let Some(current) = self.get(group, plural, namespace, name) else { return Ok(false) };
        let mut merged = current.get("status").cloned().unwrap_or(json!({}));
        json_patch::merge(&mut merged, status);
        if Some(&merged) == current.get("status") {
            return Ok(false);
        }
        let path = format!("{}/status", self.path(group, plural, namespace, name)?);
        let body = serde_json::to_vec(&json!({"status": status})).map_err(ReconcileError::new)?;
        let req = http::Request::patch(path)
            .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
            .body(body)
            .map_err(ReconcileError::new)?;
        self.client.request_text(req).await?;
        Ok(true)
    }
}

/// One reconcile, as recorded for evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Store resourceVersion when the reconcile ended.
    pub rv: u64,
    /// Milliseconds since the runtime started.
    pub at_ms: u64,
    /// The same, in microseconds (to order decisions against other records).
    pub at_us: u64,
    pub controller: String,
    pub key: Key,
    /// `done`, `retry`, `wait`, `error: ...`.
    pub outcome: String,
    pub notes: Vec<String>,
}

impl Decision {
    pub fn to_json(&self) -> Value {
        json!({
            "rv": self.rv, "atMs": self.at_ms, "atUs": self.at_us, "controller": self.controller,
            "namespace": self.key.namespace, "name": self.key.name,
            "outcome": self.outcome, "notes": self.notes,
        })
    }
}

/// Waiting for the fixed point failed.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("the simulated controllers did not settle within {timeout:?} (last: {last})")]
    Timeout { timeout: Duration, last: String },
    #[error("the simulated controllers stopped")]
    Stopped,
}

/// Decisions kept for evidence (the oldest are dropped).
const DECISIONS_KEPT: usize = 5_000;
/// A key rerun this many times without the world settling is given up on (a livelock guard).
const MAX_RERUNS: u32 = 100;
/// How many [`Outcome::Requeue`]s in a row a key gets before it is treated as failed.
pub const MAX_REQUEUES: u32 = 10;

#[derive(Default)]
struct Queue {
    items: VecDeque<(usize, Key)>,
    queued: HashSet<(usize, Key)>,
    /// Failed keys and the progress mark they failed at.
    retry: BTreeMap<(usize, Key), u64>,
    /// Waiting keys and the progress mark they waited at.
    waiting: BTreeMap<(usize, Key), u64>,
    /// Reruns since the last external change, per key.
    reruns: BTreeMap<(usize, Key), u32>,
    /// Requeues in a row, per key.
    requeues: BTreeMap<(usize, Key), u32>,
}

impl Queue {
    fn push(&mut self, c: usize, key: Key) {
        if self.queued.insert((c, key.clone())) {
            self.items.push_back((c, key));
        }
    }
}

struct Inner {
    server: ApiServer,
    client: kube::Client,
    controllers: RwLock<Vec<Arc<dyn Controller>>>,
    /// Each controller's resource and watches (as `controllers`), asked once when it is added:
    /// every change is matched against them.
    interests: RwLock<Vec<(GroupResource, Vec<Watch>)>>,
    queue: Mutex<Queue>,
    decisions: Mutex<VecDeque<Decision>>,
    started: Instant,
    /// `(idle, rv seen)`: published by the worker.
    state: watch::Sender<(bool, u64)>,
    wake: Arc<tokio::sync::Notify>,
    /// While set, changes are queued but nothing is reconciled (see [`Runtime::hold`]).
    held: std::sync::atomic::AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Lets the worker notice that every handle is gone.
        self.wake.notify_one();
    }
}

/// The runtime. Clones share one worker.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// controller-runtime's `GenerationChangedPredicate` widened to what the simulated
/// controllers act on: creation and deletion, a new generation, a changed
/// `reconcile.fluxcd.io/requestedAt` annotation, a deletion timestamp, changed finalizers.
/// Status-only writes do not pass.
pub fn generation_or_request_changed(change: &Change) -> bool {
    let Some(old) = &change.old else { return true };
    if change.type_ == crate::apiserver::store::EventType::Deleted {
        return true;
    }
    let new = &change.object;
    [
        "/metadata/generation",
        "/metadata/annotations/reconcile.fluxcd.io~1requestedAt",
        "/metadata/deletionTimestamp",
        "/metadata/finalizers",
    ]
    .iter()
    .any(|p| old.pointer(p) != new.pointer(p))
}

/// Changes that do not count as progress.
fn is_noise(gr: &GroupResource) -> bool {
    (gr.resource == "events" && (gr.group.is_empty() || gr.group == "events.k8s.io"))
        || (gr.group == "coordination.k8s.io" && gr.resource == "leases")
}

impl Runtime {
    /// A runtime over `server`; the worker starts on the current tokio runtime and stops when
    /// every clone of the returned handle is dropped.
    pub fn start(server: &ApiServer) -> Runtime {
        let (state, _) = watch::channel((true, server.store().current_rv()));
        let inner = Arc::new(Inner {
            server: server.clone(),
            client: server.client(),
            controllers: RwLock::new(Vec::new()),
            interests: RwLock::new(Vec::new()),
            queue: Mutex::new(Queue::default()),
            decisions: Mutex::new(VecDeque::new()),
            started: Instant::now(),
            state,
            wake: Arc::new(tokio::sync::Notify::new()),
            held: std::sync::atomic::AtomicBool::new(false),
        });
        let rx = match server.store().watch_from(None) {
            Ok(w) => w.rx,
            Err(e) => {
                tracing::error!("controller runtime cannot watch the store: {e}");
                return Runtime { inner };
            }
        };
        let weak = Arc::downgrade(&inner);
        tokio::spawn(worker(weak, inner.wake.clone(), rx));
        Runtime { inner }
    }

    /// Adds a controller and enqueues every existing object of its resource.
    pub fn add(&self, controller: Arc<dyn Controller>) {
        let idx = {
            let mut cs = self.inner.controllers.write().unwrap_or_else(|e| e.into_inner());
            let mut interests = self.inner.interests.write().unwrap_or_else(|e| e.into_inner());
            cs.push(controller.clone());
            interests.push((controller.resource(), controller.watches()));
            cs.len() - 1
        };
        let keys = self.keys_of(&controller.resource());
        {
            let mut q = lock(&self.inner.queue);
            for k in keys {
                q.push(idx, k);
            }
        }
        self.mark_busy();
    }

    /// Enqueues every object of `resource` for the controllers owning it (an external change,
    /// such as a new commit in a repository they read).
    pub fn touch(&self, resource: &GroupResource) {
        let cs = self.controllers();
        let keys = self.keys_of(resource);
        {
            let mut q = lock(&self.inner.queue);
            for (i, c) in cs.iter().enumerate() {
                if &c.resource() == resource {
                    for k in &keys {
                        q.reruns.remove(&(i, k.clone()));
                        q.push(i, k.clone());
                    }
                }
            }
        }
        self.mark_busy();
    }

    /// Tells `settle` callers that work was queued outside the change stream.
    fn mark_busy(&self) {
        self.inner.state.send_modify(|s| s.0 = false);
        self.inner.wake.notify_one();
    }

    /// The API server the controllers work on.
    pub fn server(&self) -> &ApiServer {
        &self.inner.server
    }

    /// The most recent decisions, oldest first.
    pub fn decisions(&self) -> Vec<Decision> {
        lock(&self.inner.decisions).iter().cloned().collect()
    }

    /// When the runtime started: [`Decision::at_ms`] counts from here.
    /// Holds reconciles back until the guard is dropped: changes made meanwhile are queued and
    /// handled together afterwards. A platform installing its components holds the runtime so
    /// controllers (audit above all) do not run once per installed object.
    pub fn hold(&self) -> HoldGuard {
        self.inner.held.store(true, std::sync::atomic::Ordering::SeqCst);
        HoldGuard { inner: self.inner.clone() }
    }

    pub fn started(&self) -> Instant {
        self.inner.started
    }

    /// Waits until every change made before this call has been handled and nothing is left to
    /// do: the fixed point.
    pub async fn settle(&self, timeout: Duration) -> Result<(), SettleError> {
        let target = self.inner.server.store().current_rv();
        let mut rx = self.inner.state.subscribe();
        self.inner.wake.notify_one();
        let wait = async {
            loop {
                let (idle, seen) = *rx.borrow_and_update();
                if idle && seen >= target {
                    return Ok(());
                }
                if rx.changed().await.is_err() {
                    return Err(SettleError::Stopped);
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(r) => r,
            Err(_) => {
                let last = self
                    .decisions()
                    .last()
                    .map(|d| format!("{} {} → {}", d.controller, d.key, d.outcome))
                    .unwrap_or_else(|| "no reconcile ran".into());
                Err(SettleError::Timeout { timeout, last })
            }
        }
    }

    fn controllers(&self) -> Vec<Arc<dyn Controller>> {
        self.inner.controllers.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn keys_of(&self, resource: &GroupResource) -> Vec<Key> {
        let store = self.inner.server.store();
        store.list(resource, None, None).0.iter().map(|o| Key::of(o)).collect()
    }
}

impl Inner {
    /// Maps one change to queue entries.
    fn enqueue_change(&self, rt: &Runtime, change: &Change) {
        let cs = rt.controllers();
        let interests = self.interests.read().unwrap_or_else(|e| e.into_inner());
        let mut q = lock(&self.queue);
        for (i, (c, (own, watches))) in cs.iter().zip(interests.iter()).enumerate() {
            if change.gr == *own && c.on_own_change(change) {
                q.push(i, Key::new(&change.namespace, &change.name));
            }
            for w in watches {
                if !w.covers(&change.gr) {
                    continue;
                }
                let keys = match &w.map {
                    Map::Own => vec![Key::new(&change.namespace, &change.name)],
                    Map::All => rt.keys_of(own),
                    Map::AllWhen(relevant) if relevant(change) => rt.keys_of(own),
                    Map::AllWhen(_) => Vec::new(),
                    Map::With(f) => f(change),
                };
                for k in keys {
                    q.push(i, k);
                }
            }
        }
    }

    fn record(&self, d: Decision) {
        let mut ds = lock(&self.decisions);
        if ds.len() >= DECISIONS_KEPT {
            ds.pop_front();
        }
        ds.push_back(d);
    }
}

/// Releases [`Runtime::hold`] when dropped.
pub struct HoldGuard {
    inner: Arc<Inner>,
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        self.inner.held.store(false, std::sync::atomic::Ordering::SeqCst);
        self.inner.wake.notify_one();
    }
}

/// Where the worker stands between reconciles.
struct Progress {
    /// Highest rv consumed from the change stream.
    seen: u64,
    /// Rv of the last change that counts as progress (not an Event).
    mark: u64,
}

async fn worker(
    weak: std::sync::Weak<Inner>,
    wake: Arc<tokio::sync::Notify>,
    mut rx: broadcast::Receiver<Arc<Change>>,
) {
    let mut p = Progress { seen: 0, mark: 0 };
    if let Some(inner) = weak.upgrade() {
        p.seen = inner.server.store().current_rv();
        p.mark = p.seen;
    }
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let rt = Runtime { inner: inner.clone() };
        // 1. Take in every change available now.
        loop {
            match rx.try_recv() {
                Ok(change) => {
                    p.seen = p.seen.max(change.rv);
                    if !is_noise(&change.gr) {
                        p.mark = p.mark.max(change.rv);
                    }
                    inner.enqueue_change(&rt, &change);
                }
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    tracing::warn!("controller runtime lagged {n} changes; resyncing every controller");
                    let cs = rt.controllers();
                    let keys: Vec<_> = cs.iter().map(|c| rt.keys_of(&c.resource())).collect();
                    let mut q = lock(&inner.queue);
                    for (i, ks) in keys.into_iter().enumerate() {
                        for k in ks {
                            q.push(i, k);
                        }
                    }
                    p.mark = inner.server.store().current_rv();
                }
                Err(broadcast::error::TryRecvError::Empty) => break,
                Err(broadcast::error::TryRecvError::Closed) => return,
            }
        }
        // 2. One reconcile, if any is queued.
        let held = inner.held.load(std::sync::atomic::Ordering::SeqCst);
        let next = if held { None } else { next_item(&inner, &p) };
        if let Some((idx, key, quiescent)) = next {
            inner.state.send_if_modified(|s| {
                let changed = s.0;
                s.0 = false;
                changed
            });
            run_one(&inner, &rt, idx, key, quiescent, &mut p).await;
            // In-process requests may never yield; let other tasks (and timers) run.
            tokio::task::yield_now().await;
            continue;
        }
        // 3. Idle: publish, then sleep until a change or a wake-up.
        if !held && p.seen >= inner.server.store().current_rv() {
            inner.state.send_if_modified(|s| {
                let changed = !s.0 || s.1 != p.seen;
                *s = (true, p.seen);
                changed
            });
        }
        drop(rt);
        drop(inner);
        tokio::select! {
            r = rx.recv() => match r {
                Ok(change) => {
                    let Some(inner) = weak.upgrade() else { return };
                    let rt = Runtime { inner: inner.clone() };
                    p.seen = p.seen.max(change.rv);
                    if !is_noise(&change.gr) {
                        p.mark = p.mark.max(change.rv);
                    }
                    inner.enqueue_change(&rt, &change);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = wake.notified() => {}
        }
    }
}

/// The next key to reconcile: queued work first; then failed keys that may now succeed; then,
/// when nothing else can happen, waiting keys for their final call.
fn next_item(inner: &Inner, p: &Progress) -> Option<(usize, Key, bool)> {
    let mut q = lock(&inner.queue);
    if let Some((c, key)) = q.items.pop_front() {
        q.queued.remove(&(c, key.clone()));
        // A change triggered this run: the livelock count starts again.
        q.reruns.remove(&(c, key.clone()));
        return Some((c, key, false));
    }
    let eligible = |q: &Queue, (entry, at): (&(usize, Key), &u64)| {
        *at < p.mark && q.reruns.get(entry).copied().unwrap_or(0) < MAX_RERUNS
    };
    let retry = q.retry.iter().find(|e| eligible(&q, *e)).map(|(e, _)| e.clone());
    if let Some(entry) = retry {
        q.retry.remove(&entry);
        *q.reruns.entry(entry.clone()).or_default() += 1;
        return Some((entry.0, entry.1, false));
    }
    let waiting = q.waiting.iter().find(|e| eligible(&q, *e)).map(|(e, _)| e.clone());
    if let Some(entry) = waiting {
        q.waiting.remove(&entry);
        *q.reruns.entry(entry.clone()).or_default() += 1;
        return Some((entry.0, entry.1, false));
    }
    // Nothing can change any more: waiting keys conclude.
    let first = q.waiting.keys().next().cloned();
    if let Some(entry) = first {
        q.waiting.remove(&entry);
        return Some((entry.0, entry.1, true));
    }
    None
}

async fn run_one(inner: &Arc<Inner>, rt: &Runtime, idx: usize, key: Key, quiescent: bool, p: &mut Progress) {
    let Some(controller) = rt.controllers().get(idx).cloned() else { return };
    let cx =
        Cx { server: inner.server.clone(), client: inner.client.clone(), quiescent, notes: Mutex::new(Vec::new()) };
    let before = inner.server.store().current_rv();
    let began = Instant::now();
    let result = controller.reconcile(&cx, &key).await;
    let took = began.elapsed();
    // The reconcile's own writes are progress too: take them in before recording the mark.
    let current = inner.server.store().current_rv();
    let outcome = match &result {
        Ok(Outcome::Done) => "done".to_string(),
        Ok(Outcome::Retry) => "retry".to_string(),
        Ok(Outcome::Wait) if quiescent => "gave up waiting".to_string(),
        Ok(Outcome::Wait) => "wait".to_string(),
        Ok(Outcome::Requeue) => "requeue".to_string(),
        Err(e) => format!("error: {e}"),
    };
    {
        let mut q = lock(&inner.queue);
        let entry = (idx, key.clone());
        q.retry.remove(&entry);
        q.waiting.remove(&entry);
        // A failure is retried after progress beyond what this reconcile itself wrote.
        let at = current.max(p.mark);
        let requeues = match &result {
            Ok(Outcome::Requeue) => q.requeues.get(&entry).copied().unwrap_or(0) + 1,
            _ => 0,
        };
        if requeues == 0 {
            q.requeues.remove(&entry);
        }
        match &result {
            Ok(Outcome::Done) => {
                q.reruns.remove(&entry);
            }
            Ok(Outcome::Requeue) if requeues <= MAX_REQUEUES => {
                q.requeues.insert(entry, requeues);
                q.push(idx, key.clone());
            }
            Ok(Outcome::Retry) | Ok(Outcome::Requeue) | Err(_) => {
                q.requeues.remove(&entry);
                q.retry.insert(entry, at);
            }
            Ok(Outcome::Wait) if quiescent => {
                q.retry.insert(entry, at);
            }
            Ok(Outcome::Wait) => {
                q.waiting.insert(entry, at);
            }
        }
    }
    let notes = std::mem::take(&mut *lock(&cx.notes));
    let at_us = inner.started.elapsed().as_micros() as u64;
    let at_ms = at_us / 1000;
    tracing::debug!(controller = controller.name(), key = %key, outcome = %outcome, took_us = took.as_micros() as u64, "reconciled");
    // A reconcile that found nothing to do, wrote nothing and said nothing is not a decision.
    let idle = matches!(result, Ok(Outcome::Done) | Ok(Outcome::Wait)) && notes.is_empty() && current == before;
    if !idle {
        inner.record(Decision {
            rv: current,
            at_ms,
            at_us,
            controller: controller.name().to_string(),
            key,
            outcome,
            notes,
        });
    }
}

#[cfg(test)]
mod tests;

//! Runtime tests with small controllers over ConfigMaps and Secrets: watch-triggered work,
//! retries after unrelated progress, waits that conclude at the fixed point, Events not counting
//! as progress, the livelock guard, `touch`, and the worker stopping with its handles.

use std::sync::atomic::{AtomicU32, Ordering};

use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret};
use kube::api::{Api, PostParams};

use super::*;

type ReconcileFn = dyn for<'a> Fn(&'a Cx, &'a Key) -> BoxFuture<'a, Result<Outcome, ReconcileError>> + Send + Sync;

/// A controller of ConfigMaps made from a closure.
struct TestController {
    name: &'static str,
    watches: Vec<Watch>,
    f: Box<ReconcileFn>,
    runs: AtomicU32,
}

impl Controller for TestController {
    fn name(&self) -> &str {
        self.name
    }
    fn resource(&self) -> GroupResource {
        GroupResource::new("", "configmaps")
    }
    fn watches(&self) -> Vec<Watch> {
        self.watches.clone()
    }
    fn reconcile<'a>(&'a self, cx: &'a Cx, key: &'a Key) -> BoxFuture<'a, Result<Outcome, ReconcileError>> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        (self.f)(cx, key)
    }
}

fn controller(name: &'static str, watches: Vec<Watch>, f: Box<ReconcileFn>) -> Arc<TestController> {
    Arc::new(TestController { name, watches, f, runs: AtomicU32::new(0) })
}

fn cm(name: &str, annotations: &[(&str, &str)]) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.name = Some(name.into());
    c.metadata.annotations = Some(annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    c
}

fn annotation(c: &ConfigMap, k: &str) -> Option<String> {
    c.metadata.annotations.as_ref().and_then(|a| a.get(k).cloned())
}

const SETTLE: Duration = Duration::from_secs(10);

/// For each ConfigMap annotated `copy-to`, creates that ConfigMap once the Secret named by
/// `needs` exists; until then it fails (and records an Event each time, as controllers do).
fn copier() -> Arc<TestController> {
    controller(
        "copier",
        vec![],
        Box::new(|cx, key| {
            Box::pin(async move {
                let cms: Api<ConfigMap> = Api::namespaced(cx.client.clone(), &key.namespace);
                let Some(c) = cms.get_opt(&key.name).await? else { return Ok(Outcome::Done) };
                let Some(to) = annotation(&c, "copy-to") else { return Ok(Outcome::Done) };
                if let Some(needs) = annotation(&c, "needs") {
                    let secrets: Api<Secret> = Api::namespaced(cx.client.clone(), &key.namespace);
                    if secrets.get_opt(&needs).await?.is_none() {
                        let events: Api<Event> = Api::namespaced(cx.client.clone(), &key.namespace);
                        let mut e = Event::default();
                        e.metadata.generate_name = Some(format!("{}.", key.name));
                        e.reason = Some("Missing".into());
                        e.involved_object.name = Some(key.name.clone());
                        events.create(&PostParams::default(), &e).await?;
                        cx.note(format!("secret {needs} is missing"));
                        return Ok(Outcome::Retry);
                    }
                }
                if cms.get_opt(&to).await?.is_none() {
                    cms.create(&PostParams::default(), &cm(&to, &[])).await?;
                }
                Ok(Outcome::Done)
            })
        }),
    )
}

async fn create_cm(server: &ApiServer, c: ConfigMap) {
    let cms: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    cms.create(&PostParams::default(), &c).await.expect("create configmap");
}

async fn get_cm(server: &ApiServer, name: &str) -> Option<ConfigMap> {
    let cms: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    cms.get_opt(name).await.expect("get configmap")
}

#[tokio::test]
async fn a_watched_change_is_reconciled_before_settle_returns() {
    let server = ApiServer::default();
    let rt = Runtime::start(&server);
    rt.add(copier());
    create_cm(&server, cm("a", &[("copy-to", "b")])).await;
    rt.settle(SETTLE).await.expect("settles");
    assert!(get_cm(&server, "b").await.is_some(), "the copier ran before settle returned");
    let d = rt.decisions();
    assert!(d.iter().any(|d| d.key == Key::new("default", "a") && d.outcome == "done"), "{d:?}");
}

#[tokio::test]
async fn objects_present_before_the_controller_are_reconciled() {
    let server = ApiServer::default();
    create_cm(&server, cm("early", &[("copy-to", "early-copy")])).await;
    let rt = Runtime::start(&server);
    rt.add(copier());
    rt.settle(SETTLE).await.expect("settles");
    assert!(get_cm(&server, "early-copy").await.is_some());
}

#[tokio::test]
async fn a_failure_is_retried_after_unrelated_progress_and_settles_when_nothing_changes() {
    let server = ApiServer::default();
    let rt = Runtime::start(&server);
    let c = copier();
    rt.add(c.clone());
    create_cm(&server, cm("a", &[("copy-to", "b"), ("needs", "s")])).await;
    rt.settle(SETTLE).await.expect("settles although the secret is missing");
    assert!(get_cm(&server, "b").await.is_none());
    let runs_at_fixed_point = c.runs.load(Ordering::SeqCst);
    // Events written on each failure are not progress: the failing key ran a bounded number of
    // times (its create, then nothing).
    assert!(runs_at_fixed_point <= 2, "ran {runs_at_fixed_point} times");
    let retry = rt.decisions().into_iter().find(|d| d.outcome == "retry").expect("a retry decision");
    assert_eq!(retry.notes, vec!["secret s is missing".to_string()]);

    // The copier does not watch Secrets; creating one is progress, so the failed key runs again.
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    let mut s = Secret::default();
    s.metadata.name = Some("s".into());
    secrets.create(&PostParams::default(), &s).await.expect("create secret");
    rt.settle(SETTLE).await.expect("settles");
    assert!(get_cm(&server, "b").await.is_some(), "the retry after progress succeeded");
}

/// Waits until ConfigMap `ready` exists; at the fixed point it marks `w` timed out instead.
fn waiter() -> Arc<TestController> {
    controller(
        "waiter",
        vec![],
        Box::new(|cx, key| {
            Box::pin(async move {
                if key.name != "w" {
                    return Ok(Outcome::Done);
                }
                let cms: Api<ConfigMap> = Api::namespaced(cx.client.clone(), &key.namespace);
                let verdict = if cms.get_opt("ready").await?.is_some() {
                    "healthy"
                } else if cx.quiescent {
                    "timed-out"
                } else {
                    return Ok(Outcome::Wait);
                };
                let patch = serde_json::json!({"metadata": {"annotations": {"verdict": verdict}}});
                cms.patch(&key.name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(patch)).await?;
                Ok(Outcome::Done)
            })
        }),
    )
}

#[tokio::test]
async fn a_wait_concludes_only_when_nothing_else_can_happen() {
    let server = ApiServer::default();
    let rt = Runtime::start(&server);
    rt.add(waiter());
    create_cm(&server, cm("w", &[])).await;
    rt.settle(SETTLE).await.expect("settles");
    let w = get_cm(&server, "w").await.expect("w");
    assert_eq!(annotation(&w, "verdict").as_deref(), Some("timed-out"));

    // With a second controller that makes `ready` (as the workload controller makes pods ready),
    // the wait ends healthy instead.
    let server = ApiServer::default();
    let rt = Runtime::start(&server);
    rt.add(copier());
    rt.add(waiter());
    create_cm(&server, cm("w", &[])).await;
    create_cm(&server, cm("maker", &[("copy-to", "ready")])).await;
    rt.settle(SETTLE).await.expect("settles");
    let w = get_cm(&server, "w").await.expect("w");
    assert_eq!(annotation(&w, "verdict").as_deref(), Some("healthy"));
}

#[tokio::test]
async fn a_livelock_fails_settle_with_the_last_decision() {
    let server = ApiServer::default();
    let rt = Runtime::start(&server);
    // Bumps a counter on its own object on every run: each write triggers the next run.
    rt.add(controller(
        "spinner",
        vec![],
        Box::new(|cx, key| {
            Box::pin(async move {
                let cms: Api<ConfigMap> = Api::namespaced(cx.client.clone(), &key.namespace);
                let Some(c) = cms.get_opt(&key.name).await? else { return Ok(Outcome::Done) };
                let n: u64 = annotation(&c, "n").and_then(|n| n.parse().ok()).unwrap_or(0);
                let patch = serde_json::json!({"metadata": {"annotations": {"n": (n + 1).to_string()}}});
                cms.patch(&key.name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(patch)).await?;
                Ok(Outcome::Done)
            })
        }),
    ));
    create_cm(&server, cm("spin", &[])).await;
    let err = rt.settle(Duration::from_millis(200)).await.expect_err("never settles");
    let text = err.to_string();
    assert!(text.contains("did not settle within 200ms") && text.contains("spinner default/spin"), "{text}");
}

#[tokio::test]
async fn touch_reruns_every_object_of_a_resource() {
    static SOURCE: AtomicU32 = AtomicU32::new(1);
    let server = ApiServer::default();
    let rt = Runtime::start(&server);
    // Copies an outside value (think: a Git repository's head) into the ConfigMap.
    rt.add(controller(
        "external",
        vec![],
        Box::new(|cx, key| {
            Box::pin(async move {
                let cms: Api<ConfigMap> = Api::namespaced(cx.client.clone(), &key.namespace);
                let v = SOURCE.load(Ordering::SeqCst).to_string();
                let patch = serde_json::json!({"data": {"v": v}});
                cms.patch(&key.name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(patch)).await?;
                Ok(Outcome::Done)
            })
        }),
    ));
    create_cm(&server, cm("x", &[])).await;
    rt.settle(SETTLE).await.expect("settles");
    let data = |c: ConfigMap| c.data.and_then(|d| d.get("v").cloned());
    assert_eq!(get_cm(&server, "x").await.and_then(data).as_deref(), Some("1"));
    SOURCE.store(2, Ordering::SeqCst);
    rt.settle(SETTLE).await.expect("settles");
    assert_eq!(get_cm(&server, "x").await.and_then(data).as_deref(), Some("1"), "no change without touch");
    rt.touch(&GroupResource::new("", "configmaps"));
    rt.settle(SETTLE).await.expect("settles");
    assert_eq!(get_cm(&server, "x").await.and_then(data).as_deref(), Some("2"));
}

#[tokio::test]
async fn custom_watch_maps_other_resources_to_own_keys() {
    let server = ApiServer::default();
    let rt = Runtime::start(&server);
    // A Secret named `s` maps to ConfigMap `a`, so the copier no longer needs a retry.
    let c = controller(
        "mapped",
        vec![Watch::with("", "secrets", |ch| vec![Key::new(&ch.namespace, "a")])],
        Box::new(|cx, key| {
            Box::pin(async move {
                let secrets: Api<Secret> = Api::namespaced(cx.client.clone(), &key.namespace);
                if secrets.get_opt("s").await?.is_none() {
                    return Ok(Outcome::Done);
                }
                let cms: Api<ConfigMap> = Api::namespaced(cx.client.clone(), &key.namespace);
                if cms.get_opt("seen").await?.is_none() {
                    cms.create(&PostParams::default(), &cm("seen", &[])).await?;
                }
                Ok(Outcome::Done)
            })
        }),
    );
    rt.add(c);
    create_cm(&server, cm("a", &[])).await;
    rt.settle(SETTLE).await.expect("settles");
    assert!(get_cm(&server, "seen").await.is_none());
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    let mut s = Secret::default();
    s.metadata.name = Some("s".into());
    secrets.create(&PostParams::default(), &s).await.expect("create secret");
    rt.settle(SETTLE).await.expect("settles");
    assert!(get_cm(&server, "seen").await.is_some());
}

#[tokio::test]
async fn the_worker_stops_when_every_handle_is_dropped() {
    let server = ApiServer::default();
    let handle = tokio::runtime::Handle::current();
    let before = handle.metrics().num_alive_tasks();
    let rt = Runtime::start(&server);
    rt.add(copier());
    rt.settle(SETTLE).await.expect("settles");
    // The worker, and the in-process client's buffer task.
    assert!(handle.metrics().num_alive_tasks() > before, "the runtime runs tasks");
    drop(rt);
    for _ in 0..100 {
        if handle.metrics().num_alive_tasks() == before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the worker task outlived its runtime handle");
}

#[tokio::test]
async fn a_held_runtime_queues_changes_and_reconciles_them_once_released() {
    let server = ApiServer::default();
    let rt = Runtime::start(&server);
    let c = copier();
    rt.add(c.clone());
    let hold = rt.hold();
    create_cm(&server, cm("held", &[("copy-to", "held-copy")])).await;
    create_cm(&server, cm("held-2", &[("copy-to", "held-copy-2")])).await;
    // Give the worker every chance to run while held.
    for _ in 0..20 {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(c.runs.load(Ordering::SeqCst), 0, "nothing is reconciled while held");
    assert!(get_cm(&server, "held-copy").await.is_none());
    drop(hold);
    rt.settle(SETTLE).await.expect("settles");
    assert!(get_cm(&server, "held-copy").await.is_some());
    assert!(get_cm(&server, "held-copy-2").await.is_some());
}

/// Requeues `times` times (counting in an annotation-free counter), then is done.
fn requeuer(times: u32) -> Arc<TestController> {
    let left = Arc::new(AtomicU32::new(times));
    controller(
        "requeuer",
        vec![],
        Box::new(move |_cx, _key| {
            let left = left.clone();
            Box::pin(async move {
                if left.load(Ordering::SeqCst) == 0 {
                    return Ok(Outcome::Done);
                }
                left.fetch_sub(1, Ordering::SeqCst);
                Ok(Outcome::Requeue)
            })
        }),
    )
}

#[tokio::test]
async fn a_requeue_runs_the_key_again_without_any_change() {
    let server = ApiServer::default();
    let rt = Runtime::start(&server);
    let c = requeuer(2);
    rt.add(c.clone());
    create_cm(&server, cm("a", &[])).await;
    rt.settle(SETTLE).await.expect("settles");
    // The create, then two requeues (the last run finds nothing left to do).
    assert_eq!(c.runs.load(Ordering::SeqCst), 3);
    let outcomes: Vec<String> = rt.decisions().into_iter().map(|d| d.outcome).collect();
    assert_eq!(outcomes, vec!["requeue", "requeue"], "the idle last run is not a decision");
}

#[tokio::test]
async fn endless_requeues_stop_and_count_as_a_failure() {
    let server = ApiServer::default();
    let rt = Runtime::start(&server);
    let c = requeuer(u32::MAX);
    rt.add(c.clone());
    create_cm(&server, cm("a", &[])).await;
    rt.settle(SETTLE).await.expect("settles: the requeues are bounded");
    let runs = c.runs.load(Ordering::SeqCst);
    assert_eq!(runs, MAX_REQUEUES + 1, "the first run and MAX_REQUEUES requeues");
    // Unrelated progress retries it like any failure.
    create_cm(&server, cm("unrelated", &[])).await;
    rt.settle(SETTLE).await.expect("settles");
    assert!(c.runs.load(Ordering::SeqCst) > runs + 1, "retried after progress");
}

//! core/v1 and events.k8s.io/v1 Events are one resource seen through two APIs, as in
//! kube-apiserver: what kube-runtime's `Recorder` writes through events.k8s.io shows up in
//! `kubectl describe` and `kubectl get events` (core v1), and core writes read, watch and delete
//! through events.k8s.io.

mod common;

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event as CoreEvent, ObjectReference, Pod};
use k8s_openapi::api::events::v1::Event as NewEvent;
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use sim::apiserver::ApiServer;

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "public.ecr.aws/nginx/nginx:1.27"}]}
    }))
    .expect("pod")
}

async fn create_pod(client: &Client, name: &str) -> ObjectReference {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let p = pods.create(&PostParams::default(), &pod(name)).await.expect("create pod");
    p.object_ref(&())
}

fn recorder(client: &Client) -> Recorder {
    Recorder::new(
        client.clone(),
        Reporter { controller: "example.com/widget-ctl".into(), instance: Some("ctl-0".into()) },
    )
}

fn synced() -> Event {
    Event {
        type_: EventType::Warning,
        reason: "SyncFailed".into(),
        note: Some("could not reach the registry".into()),
        action: "Reconcile".into(),
        secondary: None,
    }
}

fn core_event(name: &str, pod_name: &str) -> CoreEvent {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": pod_name, "namespace": "default"},
        "reason": "Pulled", "message": "image pulled", "type": "Normal",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:01:00Z", "count": 2,
        "reportingComponent": "kubelet", "reportingInstance": "node-1"
    }))
    .expect("core event")
}

#[tokio::test]
async fn recorder_events_are_listed_by_core_v1() {
    let client = ApiServer::default().client();
    let reference = create_pod(&client, "web").await;
    let rec = recorder(&client);
    rec.publish(&synced(), &reference).await.expect("publish");

    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    let items = core.list(&ListParams::default()).await.expect("list core events").items;
    assert_eq!(items.len(), 1, "{items:?}");
    let ev = &items[0];
    assert_eq!(ev.involved_object.kind.as_deref(), Some("Pod"));
    assert_eq!(ev.involved_object.name.as_deref(), Some("web"));
    assert_eq!(ev.involved_object.uid, reference.uid);
    assert_eq!(ev.message.as_deref(), Some("could not reach the registry"));
    assert_eq!(ev.reason.as_deref(), Some("SyncFailed"));
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    assert_eq!(ev.reporting_component.as_deref(), Some("example.com/widget-ctl"));
    assert_eq!(ev.reporting_instance.as_deref(), Some("ctl-0"));
    assert_eq!(ev.action.as_deref(), Some("Reconcile"));
    assert!(ev.event_time.is_some());

    // A second publish is a merge patch through events.k8s.io adding a series; core sees it.
    rec.publish(&synced(), &reference).await.expect("publish again");
    let again = core.get(&ev.name_any()).await.expect("get core event");
    assert_eq!(again.series.as_ref().and_then(|s| s.count), Some(2));
    assert_eq!(again.message.as_deref(), Some("could not reach the registry"));

    // Core field selectors find it by the involved object.
    let by_object = core
        .list(&ListParams::default().fields("involvedObject.name=web,involvedObject.kind=Pod"))
        .await
        .expect("field selector");
    assert_eq!(by_object.items.len(), 1);
}

#[tokio::test]
async fn core_events_read_through_events_k8s_io() {
    let client = ApiServer::default().client();
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    core.create(&PostParams::default(), &core_event("pulled", "web")).await.expect("create core event");

    let new: Api<NewEvent> = Api::namespaced(client.clone(), "default");
    let ev = new.get("pulled").await.expect("get through events.k8s.io");
    let regarding = ev.regarding.as_ref().expect("regarding");
    assert_eq!((regarding.kind.as_deref(), regarding.name.as_deref()), (Some("Pod"), Some("web")));
    assert_eq!(ev.note.as_deref(), Some("image pulled"));
    assert_eq!(ev.reason.as_deref(), Some("Pulled"));
    assert_eq!(ev.type_.as_deref(), Some("Normal"));
    assert_eq!(ev.reporting_controller.as_deref(), Some("kubelet"));
    assert_eq!(ev.reporting_instance.as_deref(), Some("node-1"));
    assert_eq!(ev.deprecated_count, Some(2));
    assert_eq!(ev.deprecated_source.as_ref().and_then(|s| s.host.as_deref()), Some("node-1"));
    assert!(ev.deprecated_first_timestamp.is_some() && ev.deprecated_last_timestamp.is_some());

    // The raw JSON has the events.k8s.io names only.
    let raw: serde_json::Value = serde_json::to_value(&ev).expect("json");
    for core_only in ["involvedObject", "message", "reportingComponent", "source", "count"] {
        assert!(raw.get(core_only).is_none(), "{core_only} in {raw}");
    }

    // Field selectors use the events.k8s.io names.
    let hit = new.list(&ListParams::default().fields("regarding.name=web")).await.expect("regarding.name");
    assert_eq!(hit.items.iter().map(|e| e.name_any()).collect::<Vec<_>>(), vec!["pulled"]);
    let miss = new.list(&ListParams::default().fields("regarding.name=other")).await.expect("regarding.name");
    assert!(miss.items.is_empty());
    let by_controller =
        new.list(&ListParams::default().fields("reportingController=kubelet")).await.expect("reportingController");
    assert_eq!(by_controller.items.len(), 1);

    // Same resourceVersion and uid through both APIs: one object.
    let c = core.get("pulled").await.expect("core get");
    assert_eq!(c.metadata.uid, ev.metadata.uid);
    assert_eq!(c.metadata.resource_version, ev.metadata.resource_version);
}

#[tokio::test]
async fn a_watch_on_events_k8s_io_sees_core_writes() {
    let client = ApiServer::default().client();
    let new: Api<NewEvent> = Api::namespaced(client.clone(), "default");
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    let rv = new.list(&ListParams::default()).await.expect("list").metadata.resource_version.unwrap_or_default();
    let stream = new.watch(&WatchParams::default().fields("regarding.name=web"), &rv).await.expect("watch");
    let mut stream = stream.boxed();

    core.create(&PostParams::default(), &core_event("other", "db")).await.expect("create unmatched");
    core.create(&PostParams::default(), &core_event("pulled", "web")).await.expect("create matched");
    core.delete("pulled", &DeleteParams::default()).await.expect("delete through core");

    let mut seen = Vec::new();
    while seen.len() < 2 {
        let next = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.expect("watch event in time");
        match next.expect("stream open").expect("watch event") {
            WatchEvent::Added(e) => {
                assert_eq!(e.note.as_deref(), Some("image pulled"));
                assert_eq!(e.regarding.as_ref().and_then(|r| r.name.as_deref()), Some("web"));
                seen.push(format!("ADDED {}", e.name_any()));
            }
            WatchEvent::Deleted(e) => seen.push(format!("DELETED {}", e.name_any())),
            WatchEvent::Bookmark(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["ADDED pulled", "DELETED pulled"]);
}

#[tokio::test]
async fn deleting_through_one_api_removes_from_the_other() {
    let client = ApiServer::default().client();
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    let new: Api<NewEvent> = Api::namespaced(client.clone(), "default");
    core.create(&PostParams::default(), &core_event("a", "web")).await.expect("create a");
    core.create(&PostParams::default(), &core_event("b", "web")).await.expect("create b");

    new.delete("a", &DeleteParams::default()).await.expect("delete a through events.k8s.io");
    let err = core.get("a").await.expect_err("a is gone from core");
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 404), "{err}");

    let rec_ref = create_pod(&client, "web").await;
    recorder(&client).publish(&synced(), &rec_ref).await.expect("publish");
    let recorded = new.list(&ListParams::default().fields("reason=SyncFailed")).await.expect("list").items;
    assert_eq!(recorded.len(), 1);
    core.delete(&recorded[0].name_any(), &DeleteParams::default()).await.expect("delete recorded through core");
    assert!(new.get_opt(&recorded[0].name_any()).await.expect("get_opt").is_none());

    // deletecollection through events.k8s.io empties the core list too.
    new.delete_collection(&DeleteParams::default(), &ListParams::default()).await.expect("deletecollection");
    assert!(core.list(&ListParams::default()).await.expect("list").items.is_empty());
}

#[test]
fn kubectl_describe_and_get_events_show_recorder_events() {
    let s = common::TestServer::start();
    s.block_on(async {
        let client = s.api.client();
        let reference = create_pod(&client, "web").await;
        recorder(&client).publish(&synced(), &reference).await.expect("publish");
    });

    let described = s.ok(&["describe", "pod", "web"], None);
    let events = described.split("Events:").nth(1).unwrap_or_default();
    assert!(events.contains("Warning") && events.contains("SyncFailed"), "{described}");
    assert!(events.contains("could not reach the registry"), "{described}");

    let listed = s.ok(&["get", "events"], None);
    let row = listed.lines().find(|l| l.contains("SyncFailed")).unwrap_or_else(|| panic!("no row: {listed}"));
    assert!(
        row.contains("Warning") && row.contains("pod/web") && row.contains("could not reach the registry"),
        "{row}"
    );

    // The events.k8s.io table prints the same columns.
    let listed = s.ok(&["get", "events.v1.events.k8s.io"], None);
    let row = listed.lines().find(|l| l.contains("SyncFailed")).unwrap_or_else(|| panic!("no row: {listed}"));
    assert!(row.contains("pod/web") && row.contains("could not reach the registry"), "{row}");
}

#[tokio::test]
async fn server_side_apply_through_events_k8s_io_is_stored_once_and_idempotent() {
    use kube::api::{Patch, PatchParams};
    let client = ApiServer::default().client();
    let new: Api<NewEvent> = Api::namespaced(client.clone(), "default");
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    let body = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "applied", "namespace": "default"},
        "eventTime": "2024-01-02T03:04:05.000000Z",
        "regarding": {"kind": "Pod", "name": "web", "namespace": "default"},
        "reason": "Applied", "note": "via apply", "type": "Normal", "action": "Apply",
        "reportingController": "example.com/ctl", "reportingInstance": "ctl-0"
    });
    let pp = PatchParams::apply("ssa-test");
    let first = new.patch("applied", &pp, &Patch::Apply(&body)).await.expect("apply creates");
    let managed = first.metadata.managed_fields.clone().unwrap_or_default();
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].api_version.as_deref(), Some("events.k8s.io/v1"));
    assert_eq!(first.note.as_deref(), Some("via apply"));

    // Applying the same configuration again changes nothing, not even the resourceVersion.
    let second = new.patch("applied", &pp, &Patch::Apply(&body)).await.expect("apply again");
    assert_eq!(second.metadata.resource_version, first.metadata.resource_version);

    // A changed note is visible through core as the message.
    let mut changed = body.clone();
    changed["note"] = json!("changed");
    new.patch("applied", &pp, &Patch::Apply(&changed)).await.expect("apply change");
    let c = core.get("applied").await.expect("core get");
    assert_eq!(c.message.as_deref(), Some("changed"));
    assert_eq!(c.involved_object.name.as_deref(), Some("web"));
}

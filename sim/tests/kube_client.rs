//! kube-rs against the simulator's API server: typed and dynamic APIs, a watcher, a reflector
//! and a small Controller, in-process (no socket) and over loopback HTTP.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::runtime::controller::Action;
use kube::runtime::{reflector, watcher, Controller, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::json;
use sim::apiserver::ApiServer;

fn cm(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()},
        "data": {"k": "v"}
    }))
    .expect("configmap")
}

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

#[tokio::test]
async fn typed_crud_with_conflicts_and_not_found() {
    let client = ApiServer::default().client();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = cms.create(&PostParams::default(), &cm("a", &[("app", "x")])).await.expect("create");
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    let err = cms.create(&PostParams::default(), &cm("a", &[])).await.expect_err("duplicate");
    assert_eq!(status_code(&err), Some(409));
    assert!(err.to_string().contains("configmaps \"a\" already exists"), "{err}");

    cms.create(&PostParams::default(), &cm("b", &[("app", "y")])).await.expect("create b");
    let listed = cms.list(&ListParams::default().labels("app=x")).await.expect("list");
    assert_eq!(listed.items.iter().map(|c| c.name_any()).collect::<Vec<_>>(), vec!["a"]);

    // An update from a stale resourceVersion is a 409 Conflict.
    let mut stale = created.clone();
    let mut fresh = cms.get("a").await.expect("get");
    fresh.data = Some(BTreeMap::from([("k".to_string(), "v2".to_string())]));
    cms.replace("a", &PostParams::default(), &fresh).await.expect("replace");
    stale.data = Some(BTreeMap::from([("k".to_string(), "stale".to_string())]));
    let err = cms.replace("a", &PostParams::default(), &stale).await.expect_err("stale");
    assert_eq!(status_code(&err), Some(409));
    assert!(err.to_string().contains("the object has been modified"), "{err}");

    cms.delete("a", &DeleteParams::default()).await.expect("delete");
    let err = cms.get("a").await.expect_err("gone");
    assert_eq!(status_code(&err), Some(404));
    assert!(err.to_string().contains("configmaps \"a\" not found"), "{err}");
}

#[tokio::test]
async fn strategic_merge_patch_merges_containers_by_name() {
    let client = ApiServer::default().client();
    let deploys: Api<Deployment> = Api::namespaced(client, "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1"}, {"name": "sidecar", "image": "busybox:1"}]}}}
    }))
    .expect("deployment");
    deploys.create(&PostParams::default(), &d).await.expect("create");
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:2"}]}}}});
    let got = deploys.patch("web", &PatchParams::default(), &Patch::Strategic(&patch)).await.expect("patch");
    let containers = got.spec.template.spec.map(|p| p.containers).unwrap_or_default();
    let images: Vec<(String, String)> =
        containers.iter().map(|c| (c.name.clone(), c.image.clone().unwrap_or_default())).collect();
    assert_eq!(images, vec![("nginx".into(), "nginx:2".into()), ("sidecar".into(), "busybox:1".into())]);
    assert_eq!(got.metadata.generation, Some(2));

    // A merge patch replaces the list instead.
    let got = deploys.patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("merge");
    assert_eq!(got.spec.template.spec.map(|p| p.containers.len()), Some(1));

    // A failing JSON patch `test` is a 422.
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 99}])).expect("patch");
    let err = deploys.patch("web", &PatchParams::default(), &Patch::<()>::Json(jp)).await.expect_err("test fails");
    assert_eq!(status_code(&err), Some(422));
}

fn widget_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                    "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}}]}
    }))
    .expect("crd")
}

#[tokio::test]
async fn dynamic_api_serves_a_crd_with_status_subresource() {
    let client = ApiServer::default().client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds.create(&PostParams::default(), &widget_crd()).await.expect("crd");
    let established = crd
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    assert!(established);

    let discovery = kube::Discovery::new(client.clone()).run().await.expect("discovery");
    let (ar, caps) =
        discovery.resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget")).expect("widget discovered");
    assert_eq!(ar.plural, "widgets");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);

    let widgets: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let w: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}),
    )
    .expect("w");
    let w = widgets.create(&PostParams::default(), &w).await.expect("create widget");
    assert_eq!(w.metadata.generation, Some(1));

    // Status writes do not bump the generation; spec writes do; main writes ignore status.
    let st = widgets
        .patch_status("w", &PatchParams::default(), &Patch::Merge(json!({"status": {"phase": "Ready"}})))
        .await
        .expect("status");
    assert_eq!((st.metadata.generation, st.data["status"]["phase"].as_str()), (Some(1), Some("Ready")));
    let sp = widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 2}, "status": {"phase": "Ignored"}})),
        )
        .await
        .expect("spec");
    assert_eq!((sp.metadata.generation, sp.data["status"]["phase"].as_str()), (Some(2), Some("Ready")));
}

#[tokio::test]
async fn watcher_and_reflector_follow_changes() {
    let server = ApiServer::default();
    let cms: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream =
        reflector(writer, watcher(cms.clone(), watcher::Config::default().labels("watched=yes"))).applied_objects();
    let task = tokio::spawn(async move {
        let mut stream = Box::pin(stream);
        let mut seen = Vec::new();
        while let Ok(Some(obj)) = stream.try_next().await {
            seen.push(obj.name_any());
            if seen.len() == 3 {
                break;
            }
        }
        seen
    });
    for n in ["one", "two", "three"] {
        cms.create(&PostParams::default(), &cm(n, &[("watched", "yes")])).await.expect("create");
    }
    cms.create(&PostParams::default(), &cm("ignored", &[("watched", "no")])).await.expect("create");
    let seen = tokio::time::timeout(Duration::from_secs(10), task).await.expect("watch in time").expect("task");
    assert_eq!(seen, vec!["one", "two", "three"]);
    reader.wait_until_ready().await.expect("reflector ready");
    let mut names: Vec<String> = reader.state().iter().map(|c| c.name_any()).collect();
    names.sort();
    assert_eq!(names, vec!["one", "three", "two"]);
}

struct Ctx {
    client: Client,
}

async fn reconcile(obj: Arc<ConfigMap>, ctx: Arc<Ctx>) -> Result<Action, kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let patch = json!({"metadata": {"annotations": {"example.com/reconciled": "true"}}});
    api.patch(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(Action::await_change())
}

fn error_policy(_: Arc<ConfigMap>, _: &kube::Error, _: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_millis(100))
}

#[tokio::test]
async fn a_kube_runtime_controller_reconciles_objects() {
    let server = ApiServer::default();
    let client = server.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let controller = Controller::new(cms.clone(), watcher::Config::default().labels("reconcile=me"))
        .run(reconcile, error_policy, Arc::new(Ctx { client: client.clone() }))
        .for_each(|_| async {});
    let handle = tokio::spawn(controller);
    cms.create(&PostParams::default(), &cm("target", &[("reconcile", "me")])).await.expect("create");
    let done = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let c = cms.get("target").await.expect("get");
            if c.annotations().get("example.com/reconciled").map(String::as_str) == Some("true") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    handle.abort();
    assert!(done.is_ok(), "the controller did not annotate the ConfigMap");
}

#[tokio::test]
async fn a_client_over_loopback_http_lists_namespaces() {
    let server = ApiServer::default();
    let running = server.serve("127.0.0.1:0".parse().expect("addr")).await.expect("serve");
    let config = kube::Config::new(running.url().parse().expect("uri"));
    let client = Client::try_from(config).expect("client");
    let nss: Api<Namespace> = Api::all(client);
    let mut names: Vec<String> =
        nss.list(&ListParams::default()).await.expect("list").items.iter().map(|n| n.name_any()).collect();
    names.sort();
    assert_eq!(names, vec!["default", "kube-node-lease", "kube-public", "kube-system"]);
    running.shutdown().await;
}

#[tokio::test]
async fn deletion_propagation_background_foreground_orphan() {
    let server = ApiServer::default();
    let client = server.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let owner = |name: &str| cm(name, &[]);
    let dependent = |name: &str, o: &ConfigMap, block: bool| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": o.name_any(), "uid": o.uid().unwrap_or_default(), "blockOwnerDeletion": block}]}}))
        .expect("dependent")
    };

    // Background: the owner goes at once and its dependents follow.
    let o = cms.create(&PostParams::default(), &owner("bg")).await.expect("owner");
    cms.create(&PostParams::default(), &dependent("bg-dep", &o, false)).await.expect("dep");
    cms.delete("bg", &DeleteParams::background()).await.expect("delete");
    assert_eq!(cms.get_opt("bg-dep").await.expect("get").map(|c| c.name_any()), None);

    // Foreground: the owner waits for a blocking dependent held by a finalizer.
    let o = cms.create(&PostParams::default(), &owner("fg")).await.expect("owner");
    let mut d = dependent("fg-dep", &o, true);
    d.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &d).await.expect("dep");
    cms.delete("fg", &DeleteParams::foreground()).await.expect("delete");
    let held = cms.get("fg").await.expect("owner still there");
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(held.finalizers(), &["foregroundDeletion".to_string()]);
    cms.patch("fg-dep", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}})))
        .await
        .expect("release");
    assert!(cms.get_opt("fg-dep").await.expect("get").is_none());
    assert!(cms.get_opt("fg").await.expect("get").is_none(), "owner goes once its dependent is gone");

    // Orphan: the dependent stays, without the owner reference.
    let o = cms.create(&PostParams::default(), &owner("or")).await.expect("owner");
    cms.create(&PostParams::default(), &dependent("or-dep", &o, false)).await.expect("dep");
    cms.delete("or", &DeleteParams::orphan()).await.expect("delete");
    let left = cms.get("or-dep").await.expect("dependent kept");
    assert!(left.owner_references().is_empty());
    assert!(cms.get_opt("or").await.expect("get").is_none());
}

#[tokio::test]
async fn namespace_deletion_cascades_and_names_the_stuck_finalizer() {
    let server = ApiServer::default();
    let client = server.client();
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team-a"}})).expect("ns");
    nss.create(&PostParams::default(), &ns).await.expect("ns");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team-a");
    cms.create(&PostParams::default(), &cm("plain", &[])).await.expect("cm");
    let mut held = cm("held", &[]);
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &held).await.expect("held");

    nss.delete("team-a", &DeleteParams::default()).await.expect("delete ns");
    let n = nss.get("team-a").await.expect("terminating");
    assert_eq!(n.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Terminating"));
    let conds = n.status.and_then(|s| s.conditions).unwrap_or_default();
    let fin = conds.iter().find(|c| c.type_ == "NamespaceFinalizersRemaining").expect("finalizers condition");
    assert_eq!(
        fin.message.as_deref(),
        Some("Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances")
    );
    assert!(cms.get_opt("plain").await.expect("get").is_none(), "content without finalizers is deleted");

    let err = cms.create(&PostParams::default(), &cm("late", &[])).await.expect_err("terminating");
    assert_eq!(status_code(&err), Some(403));
    assert!(
        err.to_string().contains("unable to create new content in namespace team-a because it is being terminated"),
        "{err}"
    );

    cms.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}})))
        .await
        .expect("release");
    assert!(nss.get_opt("team-a").await.expect("get").is_none(), "namespace is gone once empty");
}

#[tokio::test]
async fn a_client_over_tls_trusts_the_generated_ca_from_the_kubeconfig() {
    let server = ApiServer::new(sim::apiserver::ApiServerConfig {
        tls: true,
        token: Some("t0ken".into()),
        ..Default::default()
    });
    let running = server.serve("127.0.0.1:0".parse().expect("addr")).await.expect("serve");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeconfig");
    sim::apiserver::kubeconfig::write(&path, &running.url(), Some("t0ken"), running.ca_pem.as_deref())
        .expect("kubeconfig");
    let kc = kube::config::Kubeconfig::read_from(&path).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("config");
    let client = Client::try_from(config).expect("client");
    let ns: Api<Namespace> = Api::all(client);
    assert_eq!(ns.get("kube-system").await.expect("get over https").name_any(), "kube-system");
    running.shutdown().await;
}

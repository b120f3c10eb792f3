//! A platform started from the process's installed image is the platform installing makes:
//! the same objects, the same served resources, the same reconciles once released, and its
//! controllers and admission plugins registered.

use serde_json::{json, Value};

use super::*;

/// Every stored object without what differs between two installs (uid, times: the two may
/// straddle a second).
fn objects(p: &Platform) -> Vec<Value> {
    let mut all: Vec<Value> = p
        .server()
        .store()
        .all_objects()
        .into_iter()
        .map(|(gr, o)| {
            let mut o = (*o).clone();
            if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("uid");
                m.remove("creationTimestamp");
                if let Some(Value::Array(entries)) = m.get_mut("managedFields") {
                    entries.iter_mut().filter_map(Value::as_object_mut).for_each(|e| {
                        e.remove("time");
                    });
                }
            }
            if let Some(Value::Array(conditions)) = o.pointer_mut("/status/conditions") {
                conditions.iter_mut().filter_map(Value::as_object_mut).for_each(|c| {
                    c.retain(|k, _| !(k.starts_with("last") && k.ends_with("Time")));
                });
            }
            json!({"resource": gr.to_string(), "object": o})
        })
        .collect();
    all.sort_by_key(|v| v.to_string());
    all
}

fn served(p: &Platform) -> Vec<String> {
    let mut defs: Vec<String> = p
        .server()
        .registry()
        .all()
        .iter()
        .map(|d| format!("{}/{} {} {} {:?}", d.group, d.version, d.plural, d.kind, d.short_names))
        .collect();
    defs.sort();
    defs
}

/// The reconciles of the first settle: the installed objects, released to the controllers.
async fn first_reconciles(p: &Platform) -> Vec<String> {
    p.settle(Duration::from_secs(20)).await.expect("the installed platform settles");
    p.decisions().iter().map(|d| format!("{} {}/{} {}", d.controller, d.key.namespace, d.key.name, d.outcome)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_started_from_the_installed_image_is_the_platform_installing_makes() {
    let config = PlatformConfig::default();
    let fresh = Platform::start_from(config.clone(), false).expect("installs");
    // The first platform of the key leaves its image (or one is already there).
    let _first = Platform::start(config.clone()).expect("starts");
    let image = installed_image(&image_key(&config)).expect("an image of the default profile is kept");
    assert!(image.objects() > 20, "the image holds the installed CRDs, namespaces and nodes: {}", image.objects());
    let copied = Platform::start(config.clone()).expect("starts from the image");

    assert_eq!(objects(&fresh), objects(&copied));
    assert_eq!(served(&fresh), served(&copied));
    assert_eq!(fresh.server().store().current_rv(), copied.server().store().current_rv());
    assert_eq!(first_reconciles(&fresh).await, first_reconciles(&copied).await);

    // The replay is over: an installed object cannot be created again.
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}});
    let err = copied.server().install("", "v1", "namespaces", None, &ns).expect_err("flux-system exists");
    assert_eq!(err.code, 409, "{err}");

    // Controllers and admission plugins are registered: a Deployment whose ServiceAccount names
    // an IAM role gets a Running pod that the pod identity webhook gave the role's variables.
    for p in [&fresh, &copied] {
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "app", "namespace": "default",
                "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/app"}}});
        p.server().create_internal("", "v1", "serviceaccounts", Some("default"), sa).expect("service account");
        let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"serviceAccountName": "app", "containers": [{"name": "web", "image": "nginx:1.27"}]}}}});
        p.server().create_internal("apps", "v1", "deployments", Some("default"), deploy).expect("deployment");
        p.settle(Duration::from_secs(20)).await.expect("settles");
        let (pods, _) = p.server().store().list(
            &crate::apiserver::resources::GroupResource::new("", "pods"),
            Some("default"),
            None,
        );
        assert_eq!(pods.len(), 1, "one pod");
        let pod = &pods[0];
        assert_eq!(pod["status"]["phase"], "Running", "{pod}");
        let env = pod["spec"]["containers"][0]["env"].as_array().cloned().unwrap_or_default();
        assert!(
            env.iter().any(|e| e["name"] == "AWS_ROLE_ARN" && e["value"] == "arn:aws:iam::111122223333:role/app"),
            "the pod identity webhook ran: {env:?}"
        );
    }
}

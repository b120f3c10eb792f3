//! Wire-level behaviour of the API server, through its own HTTP handler: status codes, Status
//! bodies, headers, watch streams, paging, size limits, admission, dry runs.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use sim::apiserver::admission::{AdmissionRequest, Operation, ValidatingPlugin, Verdict};
use sim::apiserver::{ApiServer, ApiServerConfig};

struct Resp {
    code: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn message(&self) -> String {
        self.json()["message"].as_str().unwrap_or_default().to_string()
    }
}

async fn call(s: &ApiServer, method: Method, uri: &str, ctype: &str, body: impl Into<Bytes>) -> Resp {
    call_with(s, method, uri, &[("content-type", ctype)], body).await
}

async fn call_with(s: &ApiServer, method: Method, uri: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Resp {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(Full::new(body.into())).expect("request");
    let resp = s.handle(req).await;
    let code = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    Resp { code, headers, body }
}

async fn get(s: &ApiServer, uri: &str) -> Resp {
    call(s, Method::GET, uri, "application/json", Bytes::new()).await
}

async fn post(s: &ApiServer, uri: &str, v: Value) -> Resp {
    call(s, Method::POST, uri, "application/json", v.to_string()).await
}

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"n": name}}, "data": {"k": "v"}})
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test]
async fn malformed_and_oversized_bodies() {
    let s = ApiServer::default();
    let r = call(&s, Method::POST, CMS, "application/json", "{\"apiVersion\": ").await;
    assert_eq!((r.code, r.json()["reason"].as_str()), (400, Some("BadRequest")));
    let r = call(&s, Method::POST, CMS, "application/yaml", "metadata: [").await;
    assert_eq!(r.code, 400);
    let big = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"k": "x".repeat(3 * 1024 * 1024 + 10)}});
    let r = post(&s, CMS, big).await;
    assert_eq!((r.code, r.json()["reason"].as_str()), (413, Some("RequestEntityTooLarge")));
    let r = call(&s, Method::PATCH, &format!("{CMS}/x"), "text/plain", "{}").await;
    assert_eq!(r.code, 415);
    let r = post(&s, CMS, json!({"apiVersion": "v1", "metadata": {"name": "nokind"}})).await;
    assert_eq!(r.code, 400);
    assert!(r.message().starts_with("Object 'Kind' is missing in"), "{}", r.message());
}

#[tokio::test]
async fn unknown_paths_and_resources_are_404() {
    let s = ApiServer::default();
    let r = get(&s, "/apis/example.com/v1/widgets").await;
    assert_eq!(r.code, 404);
    let r = get(&s, "/apis/apps/v1/foos").await;
    assert_eq!((r.code, r.message().as_str()), (404, "the server could not find the requested resource"));
    let r = get(&s, "/api/v1/namespaces/default/nodes/n1").await;
    assert_eq!(r.code, 404, "cluster-scoped resources have no namespaced path");
}

#[tokio::test]
async fn list_pages_with_limit_and_continue() {
    let s = ApiServer::default();
    for i in 0..5 {
        assert_eq!(post(&s, CMS, cm(&format!("c{i}"))).await.code, 201);
    }
    let page1 = get(&s, &format!("{CMS}?limit=2")).await.json();
    assert_eq!(page1["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(page1["metadata"]["remainingItemCount"], 3);
    let token = page1["metadata"]["continue"].as_str().expect("continue token").to_string();
    let page2 = get(&s, &format!("{CMS}?limit=2&continue={token}")).await.json();
    let names: Vec<&str> =
        page2["items"].as_array().into_iter().flatten().filter_map(|i| i["metadata"]["name"].as_str()).collect();
    assert_eq!(names, vec!["c2", "c3"]);
    let r = get(&s, &format!("{CMS}?limit=2&continue=not-a-token")).await;
    assert_eq!(r.code, 400);
}

#[tokio::test]
async fn selectors_filter_and_unsupported_fields_are_rejected() {
    let s = ApiServer::default();
    for n in ["a", "b", "c"] {
        post(&s, CMS, cm(n)).await;
    }
    let r = get(&s, &format!("{CMS}?labelSelector=n%20in%20(a,c)")).await.json();
    assert_eq!(r["items"].as_array().map(Vec::len), Some(2));
    let r = get(&s, &format!("{CMS}?fieldSelector=metadata.name%3Db")).await.json();
    assert_eq!(r["items"][0]["metadata"]["name"], "b");
    let r = get(&s, &format!("{CMS}?fieldSelector=spec.foo%3Db")).await;
    assert_eq!(r.code, 400);
    assert!(r.message().contains("spec.foo"), "{}", r.message());
    let r = get(&s, &format!("{CMS}?labelSelector=a%20in%20b")).await;
    assert_eq!(r.code, 400);
}

/// Reads watch lines until `n` events or the stream ends.
async fn watch_lines(s: &ApiServer, uri: &str, n: usize) -> Vec<Value> {
    let req = Request::builder().uri(uri).body(Full::new(Bytes::new())).expect("req");
    let resp = s.handle(req).await;
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while out.len() < n {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(f))) => f,
            _ => break,
        };
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                out.push(serde_json::from_slice(&line).expect("watch line"));
            }
        }
    }
    out
}

#[tokio::test]
async fn watch_resumes_from_a_resource_version_and_expires_old_ones() {
    let s = ApiServer::new(ApiServerConfig { history: 4, ..Default::default() });
    let first = post(&s, CMS, cm("w0")).await.json();
    let rv0 = first["metadata"]["resourceVersion"].as_str().expect("rv").to_string();
    post(&s, CMS, cm("w1")).await;
    post(&s, CMS, cm("w2")).await;
    let events = watch_lines(&s, &format!("{CMS}?watch=1&resourceVersion={rv0}"), 2).await;
    let names: Vec<&str> = events.iter().filter_map(|e| e["object"]["metadata"]["name"].as_str()).collect();
    assert_eq!(names, vec!["w1", "w2"]);
    assert!(events.iter().all(|e| e["type"] == "ADDED"));

    // Push the first version out of the kept history.
    for i in 3..10 {
        post(&s, CMS, cm(&format!("w{i}"))).await;
    }
    let events = watch_lines(&s, &format!("{CMS}?watch=1&resourceVersion={rv0}"), 1).await;
    assert_eq!(events[0]["type"], "ERROR");
    assert_eq!(events[0]["object"]["code"], 410);
    assert_eq!(events[0]["object"]["reason"], "Expired");
}

#[tokio::test]
async fn watch_with_streaming_list_ends_initial_events_with_a_bookmark() {
    let s = ApiServer::default();
    post(&s, CMS, cm("x")).await;
    let events = watch_lines(
        &s,
        &format!("{CMS}?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan"),
        2,
    )
    .await;
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[1]["type"], "BOOKMARK");
    assert_eq!(events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
}

#[tokio::test]
async fn label_changes_move_objects_in_and_out_of_a_watch() {
    let s = ApiServer::default();
    let s2 = s.clone();
    let watcher =
        tokio::spawn(async move { watch_lines(&s2, &format!("{CMS}?watch=1&labelSelector=team%3Da"), 2).await });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    post(&s, CMS, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m", "labels": {"team": "b"}}}))
        .await;
    let patch = |team: &str| json!({"metadata": {"labels": {"team": team}}}).to_string();
    call(&s, Method::PATCH, &format!("{CMS}/m"), "application/merge-patch+json", patch("a")).await;
    call(&s, Method::PATCH, &format!("{CMS}/m"), "application/merge-patch+json", patch("c")).await;
    let events = watcher.await.expect("watcher");
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, vec!["ADDED", "DELETED"]);
}

struct DenyImages;

impl ValidatingPlugin for DenyImages {
    fn name(&self) -> &str {
        "validation.example.com"
    }
    fn validate(&self, req: &AdmissionRequest<'_>) -> Verdict {
        if req.operation != Operation::Create || req.resource.kind != "ConfigMap" {
            return Verdict::allow();
        }
        match req.object.and_then(|o| o.pointer("/data/image")).and_then(Value::as_str) {
            Some(img) if img.starts_with("docker.io/") => {
                Verdict::deny_webhook("validation.example.com", "[only-ecr] image from docker.io")
            }
            Some(_) => Verdict { warnings: vec!["[audit] image checked".into()], denial: None },
            None => Verdict::allow(),
        }
    }
}

#[tokio::test]
async fn admission_denials_and_warnings_read_like_webhooks() {
    let s = ApiServer::default();
    s.admission().add_validating(Arc::new(DenyImages));
    let denied = post(&s, CMS, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}, "data": {"image": "docker.io/nginx"}})).await;
    assert_eq!(denied.code, 403);
    assert_eq!(
        denied.message(),
        "admission webhook \"validation.example.com\" denied the request: [only-ecr] image from docker.io"
    );
    // Denied on a dry run too, and nothing stored either way.
    let dry = call(&s, Method::POST, &format!("{CMS}?dryRun=All"), "application/json", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}, "data": {"image": "docker.io/nginx"}}).to_string()).await;
    assert_eq!(dry.code, 403);
    assert_eq!(get(&s, &format!("{CMS}/d")).await.code, 404);

    let warned = post(&s, CMS, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w"}, "data": {"image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app"}})).await;
    assert_eq!(warned.code, 201);
    let warning = warned.headers.get("warning").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert_eq!(warning, "299 - \"[audit] image checked\"");
}

#[tokio::test]
async fn dry_run_delete_and_deletecollection() {
    let s = ApiServer::default();
    for n in ["a", "b", "c"] {
        post(&s, CMS, cm(n)).await;
    }
    let r = call(&s, Method::DELETE, &format!("{CMS}/a?dryRun=All"), "application/json", Bytes::new()).await;
    assert_eq!(r.code, 200);
    assert_eq!(get(&s, &format!("{CMS}/a")).await.code, 200, "dry-run delete keeps the object");
    let r = call(&s, Method::DELETE, &format!("{CMS}?labelSelector=n%20in%20(a,b)"), "application/json", Bytes::new())
        .await;
    assert_eq!(r.code, 200);
    let left = get(&s, CMS).await.json();
    let names: Vec<&str> =
        left["items"].as_array().into_iter().flatten().filter_map(|i| i["metadata"]["name"].as_str()).collect();
    assert_eq!(names, vec!["c"]);
}

#[tokio::test]
async fn discovery_legacy_and_aggregated() {
    let s = ApiServer::default();
    let v = get(&s, "/version").await.json();
    assert_eq!((v["major"].as_str(), v["minor"].as_str()), (Some("1"), Some("37")));
    let apps = get(&s, "/apis/apps/v1").await.json();
    let deploy = apps["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == "deployments")
        .cloned()
        .expect("deployments");
    assert_eq!(deploy["shortNames"], json!(["deploy"]));
    assert_eq!(deploy["categories"], json!(["all"]));
    assert!(apps["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["name"] == "deployments/scale" && r["kind"] == "Scale"));

    let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    let r = call_with(&s, Method::GET, "/apis", &[("accept", accept)], Bytes::new()).await;
    assert_eq!(
        r.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
    );
    let list = r.json();
    let apps = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["metadata"]["name"] == "apps")
        .cloned()
        .expect("apps group");
    let res = &apps["versions"][0]["resources"];
    assert!(res.as_array().into_iter().flatten().any(|r| r["resource"] == "deployments" && r["scope"] == "Namespaced"));
}

#[tokio::test]
async fn bearer_token_is_required_when_configured() {
    let s = ApiServer::new(ApiServerConfig { token: Some("s3cret".into()), ..Default::default() });
    assert_eq!(get(&s, "/api/v1/namespaces").await.code, 401);
    let r = call_with(&s, Method::GET, "/api/v1/namespaces", &[("authorization", "Bearer s3cret")], Bytes::new()).await;
    assert_eq!(r.code, 200);
}

#[tokio::test]
async fn scale_subresource_reads_and_writes_replicas() {
    let s = ApiServer::default();
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2,
        "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}});
    assert_eq!(post(&s, "/apis/apps/v1/namespaces/default/deployments", d).await.code, 201);
    let scale = get(&s, "/apis/apps/v1/namespaces/default/deployments/web/scale").await.json();
    assert_eq!((scale["kind"].as_str(), scale["spec"]["replicas"].as_i64()), (Some("Scale"), Some(2)));
    let r = call(
        &s,
        Method::PATCH,
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        "application/merge-patch+json",
        r#"{"spec":{"replicas":4}}"#,
    )
    .await;
    assert_eq!(r.code, 200, "{}", String::from_utf8_lossy(&r.body));
    let d = get(&s, "/apis/apps/v1/namespaces/default/deployments/web").await.json();
    assert_eq!(d["spec"]["replicas"], 4);
}

#[tokio::test]
async fn workload_validation_names_the_fields() {
    let s = ApiServer::default();
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "other"}}, "spec": {"containers": [{"name": "c"}]}}}});
    let r = post(&s, "/apis/apps/v1/namespaces/default/deployments", d).await;
    assert_eq!(r.code, 422);
    assert_eq!(
        r.message(),
        "Deployment.apps \"web\" is invalid: [spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`, spec.template.spec.containers[0].image: Required value]"
    );
    let causes = r.json()["details"]["causes"].as_array().map(Vec::len);
    assert_eq!(causes, Some(2));
}

#[tokio::test]
async fn server_side_apply_needs_a_field_manager_and_reports_conflicts() {
    let s = ApiServer::default();
    let body =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"k": "v"}}).to_string();
    let r = call(&s, Method::PATCH, &format!("{CMS}/ssa"), "application/apply-patch+yaml", body.clone()).await;
    assert_eq!((r.code, r.message().as_str()), (400, "fieldManager is required for apply requests"));
    let r =
        call(&s, Method::PATCH, &format!("{CMS}/ssa?fieldManager=alice"), "application/apply-patch+yaml", body).await;
    assert_eq!(r.code, 201, "{}", String::from_utf8_lossy(&r.body));
    let other =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"k": "w"}}).to_string();
    let r =
        call(&s, Method::PATCH, &format!("{CMS}/ssa?fieldManager=bob"), "application/apply-patch+yaml", other.clone())
            .await;
    assert_eq!(r.code, 409);
    assert_eq!(r.message(), "Apply failed with 1 conflict: conflict with \"alice\": .data.k");
    let r = call(
        &s,
        Method::PATCH,
        &format!("{CMS}/ssa?fieldManager=bob&force=true"),
        "application/apply-patch+yaml",
        other,
    )
    .await;
    assert_eq!(r.code, 200);
    assert_eq!(r.json()["data"]["k"], "w");
}

//! Property tests (the kept fuzz targets for request handling): arbitrary methods, paths,
//! content types and bodies through the server's HTTP handler never panic, and every error is
//! a well-formed `Status`. Patching and schema validation have their own properties in
//! `patch`, `apply` and `schema::structural`.

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use serde_json::{json, Value};
use sim::apiserver::ApiServer;

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![Just(Method::GET), Just(Method::POST), Just(Method::PUT), Just(Method::PATCH), Just(Method::DELETE)]
}

fn path() -> impl Strategy<Value = String> {
    let seg = prop_oneof![
        Just("configmaps".to_string()),
        Just("namespaces".to_string()),
        Just("default".to_string()),
        Just("deployments".to_string()),
        Just("status".to_string()),
        Just("scale".to_string()),
        "[a-z0-9%.\\-]{0,12}",
    ];
    let base = prop_oneof![
        Just("/api/v1".to_string()),
        Just("/apis/apps/v1".to_string()),
        Just("/apis/apiextensions.k8s.io/v1".to_string()),
        Just("/apis".to_string()),
        Just("/openapi/v3".to_string()),
    ];
    (base, prop::collection::vec(seg, 0..5), "[a-zA-Z=&%0-9]{0,20}")
        .prop_map(|(b, segs, q)| format!("{b}/{}?{q}", segs.join("/")))
}

fn ctype() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("application/json".to_string()),
        Just("application/yaml".to_string()),
        Just("application/merge-patch+json".to_string()),
        Just("application/json-patch+json".to_string()),
        Just("application/strategic-merge-patch+json".to_string()),
        Just("application/apply-patch+yaml".to_string()),
        ".{0,20}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-zA-Z0-9:/._-]{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z$/]{0,8}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Realistic objects with arbitrary parts replaced: closer to what a confused client sends.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (json_value(), json_value()).prop_map(|(spec, meta)| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec})
                .to_string()
                .into_bytes()
        }),
        json_value().prop_map(|data| {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data})
                .to_string()
                .into_bytes()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_requests_get_well_formed_answers(reqs in prop::collection::vec((method(), path(), ctype(), body()), 1..6)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let server = ApiServer::default();
        // Something to patch and delete.
        server
            .create_internal("", "v1", "configmaps", Some("default"), json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}))
            .expect("seed");
        for (m, p, ct, b) in reqs {
            let is_watch = p.contains("watch");
            let req = Request::builder().method(m).uri(&p).header("content-type", ct.as_str()).body(Full::new(Bytes::from(b)));
            let Ok(req) = req else { continue };
            let resp = rt.block_on(server.handle(req));
            let code = resp.status().as_u16();
            prop_assert!((200..600).contains(&code));
            if is_watch {
                continue;
            }
            let bytes = rt.block_on(resp.into_body().collect()).map(|c| c.to_bytes()).unwrap_or_default();
            if code >= 400 && !bytes.starts_with(b"404 page not found") {
                let status: Value = serde_json::from_slice(&bytes).map_err(|e| TestCaseError::fail(format!("error body is not JSON: {e}")))?;
                prop_assert_eq!(status["kind"].as_str(), Some("Status"));
                prop_assert_eq!(status["code"].as_u64(), Some(code as u64));
            }
        }
    }
}

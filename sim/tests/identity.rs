//! Service-account tokens and IRSA through the real kubectl and kube-rs: OIDC discovery and
//! JWKS over HTTP, `kubectl create token` (the TokenRequest subresource), and the EKS pod
//! identity webhook mutating pods whose ServiceAccount names an IAM role.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::TestServer;
use serde_json::{json, Value};
use sim::identity::default_issuer_url;
use sim::platform::Profile;

/// The claims of a compact JWS, decoded without verification.
fn payload(token: &str) -> Value {
    let part = token.trim().split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON claims")
}

/// Verifies `token`'s ES256 signature with the JWK whose `kid` its header names.
fn verify_with_jwks(token: &str, jwks: &Value) {
    let token = token.trim();
    let (signing_input, sig) = token.rsplit_once('.').expect("three parts");
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD.decode(signing_input.split('.').next().expect("header")).expect("base64url header"),
    )
    .expect("JSON header");
    assert_eq!(header["alg"], "ES256");
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap_or_else(|| panic!("no JWK with kid {} in {jwks}", header["kid"]));
    assert_eq!((key["kty"].as_str(), key["crv"].as_str()), (Some("EC"), Some("P-256")));
    let mut point = vec![4u8];
    point.extend(URL_SAFE_NO_PAD.decode(key["x"].as_str().expect("x")).expect("x base64url"));
    point.extend(URL_SAFE_NO_PAD.decode(key["y"].as_str().expect("y")).expect("y base64url"));
    let sig = URL_SAFE_NO_PAD.decode(sig).expect("signature base64url");
    let public = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &point);
    public.verify(signing_input.as_bytes(), &sig).expect("signature verifies with the published key");
}

fn raw(s: &TestServer, path: &str) -> Value {
    serde_json::from_str(&s.ok(&["get", "--raw", path], None)).expect("JSON")
}

#[test]
fn discovery_document_and_jwks_verify_tokens() {
    let s = TestServer::start();
    let doc = raw(&s, "/.well-known/openid-configuration");
    assert_eq!(
        doc,
        json!({
            "issuer": default_issuer_url(),
            "jwks_uri": format!("{}/openid/v1/jwks", s.url),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        })
    );
    let jwks = raw(&s, "/openid/v1/jwks");
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1));
    // A token minted in-process (as the CSI driver will) and one from kubectl both verify
    // against the published key.
    let spec = sim::identity::TokenSpec {
        namespace: "default".into(),
        service_account: "default".into(),
        sa_uid: "u".into(),
        audiences: vec!["sts.amazonaws.com".into()],
        expiration_seconds: 3600,
        pod: None,
        node: None,
        secret: None,
    };
    verify_with_jwks(&s.api.issuer().mint(&spec).expect("mint"), &jwks);
    verify_with_jwks(&s.ok(&["create", "token", "default"], None), &jwks);
    // The issuer URL is EKS-shaped and the same in every run.
    assert!(default_issuer_url().starts_with("https://oidc.eks.us-east-1.amazonaws.com/id/"));
}

#[test]
fn issuer_url_is_configurable() {
    let s = TestServer::start_with(sim::apiserver::ApiServerConfig {
        service_account_issuer: Some("https://kubernetes.default.svc".into()),
        ..Default::default()
    });
    assert_eq!(raw(&s, "/.well-known/openid-configuration")["issuer"], "https://kubernetes.default.svc");
    let token = s.ok(&["create", "token", "default"], None);
    assert_eq!(payload(&token)["iss"], "https://kubernetes.default.svc");
}

#[test]
fn kubectl_create_token_with_audience_and_duration() {
    let s = TestServer::start();
    s.ok(&["apply", "-f", "-"], Some("apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n"));
    s.ok(
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: app, namespace: team-a}\n"),
    );
    let sa_uid = s.ok(&["get", "sa", "app", "-n", "team-a", "-o", "jsonpath={.metadata.uid}"], None);
    let issuer = s.api.issuer();

    let token = s.ok(&["create", "token", "app", "-n", "team-a", "--audience", "sts.amazonaws.com"], None);
    let claims = issuer.verify(&token, "sts.amazonaws.com").expect("token verifies for sts.amazonaws.com");
    assert_eq!(claims.sub, "system:serviceaccount:team-a:app");
    assert_eq!(claims.aud, vec!["sts.amazonaws.com".to_string()]);
    assert_eq!(claims.exp - claims.iat, 3600, "default expirationSeconds");
    assert_eq!(claims.iss, default_issuer_url());
    let p = payload(&token);
    assert_eq!(
        p["kubernetes.io"],
        json!({"namespace": "team-a", "serviceaccount": {"name": "app", "uid": sa_uid}}),
        "an unbound token names only the namespace and the ServiceAccount"
    );
    assert!(p["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(
        issuer.verify(&token, "vault").expect_err("other audience").to_string(),
        r#"oidc: expected audience "vault" got ["sts.amazonaws.com"]"#
    );

    // No audience: the API server's own (the issuer).
    let token = s.ok(&["create", "token", "app", "-n", "team-a"], None);
    assert_eq!(payload(&token)["aud"], json!([default_issuer_url()]));
    issuer.verify(&token, &default_issuer_url()).expect("verifies for the issuer audience");

    // Several audiences and a duration.
    let token = s.ok(
        &["create", "token", "app", "-n", "team-a", "--audience", "a", "--audience", "b", "--duration", "20m"],
        None,
    );
    let p = payload(&token);
    assert_eq!(p["aud"], json!(["a", "b"]));
    assert_eq!(p["exp"].as_i64().zip(p["iat"].as_i64()).map(|(e, i)| e - i), Some(1200));
}

#[test]
fn kubectl_create_token_errors() {
    let s = TestServer::start();
    let err = s.fails(&["create", "token", "missing", "-n", "default"], None);
    assert_eq!(err, "error: failed to create token: serviceaccounts \"missing\" not found\n");
    let err = s.fails(&["create", "token", "default", "--duration", "5m"], None);
    assert_eq!(
        err,
        "error: failed to create token: TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes\n"
    );
    // The floor itself is accepted.
    let token = s.ok(&["create", "token", "default", "--duration", "10m"], None);
    assert_eq!(payload(&token)["exp"].as_i64().zip(payload(&token)["iat"].as_i64()).map(|(e, i)| e - i), Some(600));
}

const POD_AS_DEFAULT: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default}
spec:
  containers: [{name: app, image: public.ecr.aws/nginx/nginx:1.27}]
"#;

#[test]
fn kubectl_create_token_bound_to_a_pod() {
    let s = TestServer::start();
    s.ok(&["apply", "-f", "-"], Some(POD_AS_DEFAULT));
    let pod_uid = s.ok(&["get", "pod", "web", "-o", "jsonpath={.metadata.uid}"], None);
    let token = s.ok(&["create", "token", "default", "--bound-object-kind", "Pod", "--bound-object-name", "web"], None);
    let claims = s.api.issuer().verify(&token, &default_issuer_url()).expect("verifies");
    assert_eq!(claims.kubernetes.pod, Some(sim::identity::ObjectRef { name: "web".into(), uid: pod_uid }));
    let err =
        s.fails(&["create", "token", "default", "--bound-object-kind", "Pod", "--bound-object-name", "nope"], None);
    assert_eq!(err, "error: failed to create token: pods \"nope\" not found\n");
    s.ok(
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: other, namespace: default}\n"),
    );
    let err = s.fails(&["create", "token", "other", "--bound-object-kind", "Pod", "--bound-object-name", "web"], None);
    assert_eq!(
        err,
        "error: failed to create token: cannot bind token for serviceaccount \"other\" to pod running with different serviceaccount name.\n"
    );
}

#[test]
fn kube_rs_token_request_and_discovery() {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    let s = TestServer::start();
    let (tr, api_resources) = s.block_on(async {
        let client = s.api.client();
        let sas: kube::Api<ServiceAccount> = kube::Api::namespaced(client.clone(), "default");
        let req = TokenRequest {
            spec: Some(TokenRequestSpec {
                audiences: Some(vec!["sts.amazonaws.com".into()]),
                expiration_seconds: Some(7200),
                ..Default::default()
            }),
            ..Default::default()
        };
        let tr = sas.create_token_request("default", &Default::default(), &req).await.expect("token request");
        let core = client.list_core_api_resources("v1").await.expect("core v1 resources");
        (tr, core)
    });
    let status = tr.status.expect("status");
    let token = status.token.expect("status.token");
    let claims = s.api.issuer().verify(&token, "sts.amazonaws.com").expect("verifies");
    assert_eq!(claims.exp - claims.iat, 7200);
    assert_eq!(status.expiration_timestamp.map(|t| t.0.as_second()), Some(claims.exp));
    assert_eq!(tr.spec.and_then(|s| s.expiration_seconds), Some(7200));
    let token_sub = api_resources.resources.iter().find(|r| r.name == "serviceaccounts/token").expect("listed");
    assert_eq!((token_sub.kind.as_str(), token_sub.verbs.clone()), ("TokenRequest", vec!["create".to_string()]));
    assert_eq!(token_sub.group.as_deref(), Some("authentication.k8s.io"));
    // kubectl's (aggregated) discovery still works and lists service accounts.
    let out = s.ok(&["api-resources", "--api-group="], None);
    assert!(out.lines().any(|l| l.starts_with("serviceaccounts ")), "{out}");
    // Aggregated discovery (what kubectl reads first) names the subresource as kube does.
    let agg = s.block_on(async {
        let req = http::Request::get("/api")
            .header("accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .expect("request");
        let resp = s.api.handle(req).await;
        let body = http_body_util::BodyExt::collect(resp.into_body()).await.expect("body").to_bytes();
        serde_json::from_slice::<Value>(&body).expect("JSON")
    });
    let sa = agg["items"][0]["versions"][0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["resource"] == "serviceaccounts")
        .expect("serviceaccounts");
    assert_eq!(
        sa["subresources"],
        json!([{"subresource": "token", "responseKind": {"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"}, "verbs": ["create"]}])
    );
}

const IRSA: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app
  namespace: team-a
  annotations:
    eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/app-irsa
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: plain, namespace: team-a}
"#;

fn pod(name: &str, sa: &str, containers: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: team-a}}\nspec:\n  serviceAccountName: {sa}\n  containers: {containers}\n"
    )
}

fn env_of(c: &Value) -> Vec<(String, String)> {
    c["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["name"].as_str().unwrap_or("").to_string(), e["value"].as_str().unwrap_or("").to_string()))
        .collect()
}

#[test]
fn pod_identity_webhook_injects_irsa() {
    let s = TestServer::platform(Profile::bare());
    s.ok(&["apply", "-f", "-"], Some(IRSA));
    s.ok(
        &["apply", "-f", "-"],
        Some(&pod(
            "with-role",
            "app",
            "[{name: app, image: public.ecr.aws/nginx/nginx:1.27, env: [{name: KEEP, value: me}]}, {name: side, image: busybox}]",
        )),
    );
    let p: Value = serde_json::from_str(&s.ok(&["get", "pod", "with-role", "-n", "team-a", "-o", "json"], None))
        .expect("pod JSON");
    let token_file = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token".to_string();
    let want = |first: Option<(&str, &str)>| {
        let mut v: Vec<(String, String)> = first.into_iter().map(|(a, b)| (a.into(), b.into())).collect();
        v.extend([
            ("AWS_STS_REGIONAL_ENDPOINTS".into(), "regional".into()),
            ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ROLE_ARN".into(), "arn:aws:iam::111122223333:role/app-irsa".into()),
            ("AWS_WEB_IDENTITY_TOKEN_FILE".into(), token_file.clone()),
        ]);
        v
    };
    let containers = p["spec"]["containers"].as_array().expect("containers");
    assert_eq!(env_of(&containers[0]), want(Some(("KEEP", "me"))));
    assert_eq!(env_of(&containers[1]), want(None));
    for c in containers {
        let mount = c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["name"] == "aws-iam-token")
            .unwrap_or_else(|| panic!("no aws-iam-token mount in {c}"));
        assert_eq!(mount["mountPath"], "/var/run/secrets/eks.amazonaws.com/serviceaccount");
        assert_eq!(mount["readOnly"], true);
    }
    let volume = &p["spec"]["volumes"][0];
    assert_eq!(volume["name"], "aws-iam-token");
    assert_eq!(
        volume["projected"]["sources"],
        json!([{"serviceAccountToken": {"audience": "sts.amazonaws.com", "expirationSeconds": 86400, "path": "token"}}])
    );

    // A pod whose ServiceAccount has no role is untouched.
    s.ok(&["apply", "-f", "-"], Some(&pod("plain", "plain", "[{name: app, image: busybox}]")));
    let p: Value =
        serde_json::from_str(&s.ok(&["get", "pod", "plain", "-n", "team-a", "-o", "json"], None)).expect("pod JSON");
    assert_eq!(env_of(&p["spec"]["containers"][0]), vec![]);
    assert!(
        !p["spec"]["volumes"].as_array().into_iter().flatten().any(|v| v["name"] == "aws-iam-token"),
        "{}",
        p["spec"]
    );

    // Pods made by controllers go through admission too: a Deployment's pods get IRSA.
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: team-a}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      serviceAccountName: app\n      containers: [{name: app, image: busybox}]\n";
    s.ok(&["apply", "-f", "-"], Some(deploy));
    s.settle();
    let pods: Value =
        serde_json::from_str(&s.ok(&["get", "pods", "-n", "team-a", "-l", "app=web", "-o", "json"], None))
            .expect("JSON");
    let items = pods["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(env_of(&items[0]["spec"]["containers"][0]), want(None));
}

#[test]
fn pod_identity_webhook_respects_what_pods_set() {
    let s = TestServer::platform(Profile::bare());
    s.ok(&["apply", "-f", "-"], Some(IRSA));
    s.ok(
        &["apply", "-f", "-"],
        Some(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: custom\n  namespace: team-a\n  annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/custom\n    eks.amazonaws.com/audience: vault\n    eks.amazonaws.com/token-expiration: \"600\"\n    eks.amazonaws.com/sts-regional-endpoints: \"false\"\n",
        ),
    );
    // A container that sets AWS_ROLE_ARN keeps it (and gets no second token file variable).
    s.ok(
        &["apply", "-f", "-"],
        Some(&pod(
            "own-role",
            "app",
            "[{name: app, image: busybox, env: [{name: AWS_ROLE_ARN, value: 'arn:aws:iam::999999999999:role/mine'}]}]",
        )),
    );
    let p: Value =
        serde_json::from_str(&s.ok(&["get", "pod", "own-role", "-n", "team-a", "-o", "json"], None)).expect("JSON");
    let env = env_of(&p["spec"]["containers"][0]);
    assert_eq!(
        env,
        vec![
            ("AWS_ROLE_ARN".to_string(), "arn:aws:iam::999999999999:role/mine".to_string()),
            ("AWS_STS_REGIONAL_ENDPOINTS".to_string(), "regional".to_string()),
            ("AWS_DEFAULT_REGION".to_string(), "us-east-1".to_string()),
            ("AWS_REGION".to_string(), "us-east-1".to_string()),
        ]
    );

    // ServiceAccount overrides: audience, expiration (raised to the webhook's 3600 floor),
    // no regional STS; and a skipped container.
    let skipped = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: custom\n  namespace: team-a\n  annotations: {eks.amazonaws.com/skip-containers: 'side'}\nspec:\n  serviceAccountName: custom\n  initContainers: [{name: init, image: busybox}]\n  containers: [{name: app, image: busybox}, {name: side, image: busybox}]\n";
    s.ok(&["apply", "-f", "-"], Some(skipped));
    let p: Value =
        serde_json::from_str(&s.ok(&["get", "pod", "custom", "-n", "team-a", "-o", "json"], None)).expect("JSON");
    assert_eq!(
        p["spec"]["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"],
        json!({"audience": "vault", "expirationSeconds": 3600, "path": "token"})
    );
    let names = |c: &Value| env_of(c).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
    let expected = ["AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"];
    assert_eq!(names(&p["spec"]["initContainers"][0]), expected);
    assert_eq!(names(&p["spec"]["containers"][0]), expected);
    assert_eq!(names(&p["spec"]["containers"][1]), Vec::<String>::new(), "skipped container");
    assert!(p["spec"]["containers"][1]["volumeMounts"].is_null(), "{}", p["spec"]["containers"][1]);

    // EKS's object selector: a pod labelled skip-pod-identity-webhook never reaches the webhook.
    let labelled = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: opted-out\n  namespace: team-a\n  labels: {eks.amazonaws.com/skip-pod-identity-webhook: 'true'}\nspec:\n  serviceAccountName: app\n  containers: [{name: app, image: busybox}]\n";
    s.ok(&["apply", "-f", "-"], Some(labelled));
    let p: Value =
        serde_json::from_str(&s.ok(&["get", "pod", "opted-out", "-n", "team-a", "-o", "json"], None)).expect("JSON");
    assert_eq!(env_of(&p["spec"]["containers"][0]), vec![]);
    assert!(p["spec"]["volumes"].as_array().into_iter().flatten().all(|v| v["name"] != "aws-iam-token"));
}

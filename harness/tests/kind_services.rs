//! The kind backend's host-side services, exercised on this machine without Docker: the
//! interception front serving scenario repositories to the real git CLI (plain HTTP and TLS
//! with the harness's CA and SNI), and STS interception checking AssumeRoleWithWebIdentity
//! against the simulator's API server (its JWKS) and moto (IAM, STS), as the AWS provider in a
//! kind cluster would call it.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use idp_harness::backend::kind::interception::{Front, FrontConfig};
use idp_harness::backend::kind::jwt::Jwks;
use idp_harness::backend::kind::sts::StsInterceptor;
use idp_harness::backend::kind::tls::{client_config, CertAuthority};
use sim::apiserver::{ApiServer, ApiServerConfig};
use sim::git::{Change, RepoSpec, Repos};
use sim::identity::TokenSpec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REPO_URL: &str = "https://github.com/your-org/platform-repo.git";

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn git(dir: Option<&Path>, args: &[&str]) -> std::process::Output {
    let mut c = Command::new("git");
    if let Some(d) = dir {
        c.current_dir(d);
    }
    c.args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("git runs")
}

fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "git failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository with a file and enough branches, each at its own commit, that git's
/// upload-pack request (one `want` line per tip) passes 1 KiB and is sent gzip-compressed.
fn repos(root: &Path) -> Repos {
    let from = root.join("from");
    std::fs::create_dir_all(from.join("apps")).expect("mkdir");
    std::fs::write(from.join("apps/app.yaml"), "kind: ConfigMap\n").expect("write");
    let repos = Repos::new(root.join("repos"));
    let mut spec = RepoSpec::new(REPO_URL, &from);
    for i in 0..40 {
        spec = spec.with_branch(format!("feature/branch-number-{i:03}"), None);
    }
    let handle = repos.add(spec).expect("repo");
    for i in 0..40 {
        let branch = format!("feature/branch-number-{i:03}");
        handle.commit(&branch, &[Change::write(format!("apps/{i}.yaml"), "x")], "tip").expect("commit");
    }
    repos
}

/// One HTTP/1.1 request over TLS to `name` (SNI and Host) at `addr`; (status, body).
async fn https(addr: SocketAddr, ca_pem: &str, name: &str, request: &str) -> std::io::Result<(u16, String)> {
    let config = client_config(ca_pem).expect("client config");
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let server_name = tokio_rustls::rustls::pki_types::ServerName::try_from(name.to_string()).expect("name");
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(server_name, tcp).await?;
    tls.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tls.read_to_end(&mut raw).await.or_else(|e| if raw.is_empty() { Err(e) } else { Ok(0) })?;
    Ok(parse_response(&raw))
}

async fn plain(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.expect("read");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(raw);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_clones_and_fetches_over_plain_http_and_pushes_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repos = repos(tmp.path());
    let front = Front::start_plain_git(loopback(), repos.clone()).await.expect("front");
    assert_eq!(front.hosts(), ["github.com"]);
    let url = format!("http://{}/your-org/platform-repo.git", front.addr());
    let dest = tmp.path().join("clone");
    let dest_s = dest.to_str().expect("utf-8 path");
    let mut clone = Command::new("git");
    clone
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CURL_VERBOSE", "1")
        .args(["clone", "-q", &url, dest_s]);
    let out = clone.output().expect("git runs");
    let trace = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{trace}");
    assert!(trace.contains("Content-Encoding: gzip"), "the clone's request was not gzipped, so that path is untested");
    assert_eq!(std::fs::read_to_string(dest.join("apps/app.yaml")).expect("cloned file"), "kind: ConfigMap\n");
    let branches = ok(&git(Some(&dest), &["branch", "-r"]));
    assert!(branches.contains("origin/feature/branch-number-039"), "{branches}");

    // A commit made through the scenario's handle is seen by the next fetch.
    let handle = repos.get(REPO_URL).expect("handle");
    let sha = handle.commit("main", &[Change::write("apps/new.yaml", "kind: Secret\n")], "add new").expect("commit");
    ok(&git(Some(&dest), &["fetch", "-q", "origin"]));
    assert_eq!(ok(&git(Some(&dest), &["rev-parse", "origin/main"])), sha.as_str());

    // Pushes are refused with a clear text.
    let (status, body) = plain(
        front.addr(),
        "GET /your-org/platform-repo.git/info/refs?service=git-receive-pack HTTP/1.1\r\nHost: github.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 403);
    assert!(body.contains("pushing is not allowed"), "{body}");
    let push = git(Some(&dest), &["push", "origin", "HEAD:refs/heads/main"]);
    assert!(!push.status.success());
    assert!(String::from_utf8_lossy(&push.stderr).contains("403"), "{}", String::from_utf8_lossy(&push.stderr));

    // An unknown repository is a 404 naming the served URLs.
    let (status, body) = plain(
        front.addr(),
        "GET /your-org/other.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 404);
    assert!(body.contains(REPO_URL), "{body}");

    // The advertisement has the service header and the content type.
    let (status, body) = plain(
        front.addr(),
        "GET /your-org/platform-repo/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.starts_with("001e# service=git-upload-pack\n0000"), "{body}");
    let addr = front.addr();
    front.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the port is released once stopped");

    // Dropping a front stops it too.
    let dropped = Front::start_plain_git(loopback(), repos.clone()).await.expect("front");
    let addr = dropped.addr();
    drop(dropped);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the port is released once dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_clones_over_tls_with_the_harness_ca_and_the_real_host_name() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repos = repos(tmp.path());
    let state = tmp.path().join("state");
    let ca = Arc::new(CertAuthority::load_or_create(&state).expect("ca"));
    let ca_file = ca.ca_file().expect("ca file");
    let front = Front::start(FrontConfig {
        bind: loopback(),
        ca: ca.clone(),
        git: Some(repos.clone()),
        // A host whose repository a later scenario adds.
        git_hosts: vec!["git.example.test".to_string()],
        sts: None,
    })
    .await
    .expect("front");
    assert!(front.hosts().iter().any(|h| h == "git.example.test"), "{:?}", front.hosts());
    let port = front.addr().port();
    // git's libcurl here is built on GnuTLS, which takes the CA from GIT_SSL_CAINFO (as
    // source-controller takes it from SSL_CERT_FILE); the name resolves to the front through
    // curl's resolve list, so SNI and Host are the real host name.
    let clone_tls = |host: &str, path: &str, dest: &Path| {
        let resolve = format!("http.curloptResolve={host}:{port}:127.0.0.1");
        let url = format!("https://{host}:{port}/{path}");
        let mut clone = Command::new("git");
        clone.env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null").env("GIT_SSL_CAINFO", &ca_file);
        clone.args(["-c", &resolve, "clone", "-q", &url, dest.to_str().expect("utf-8")]);
        ok(&clone.output().expect("git runs"));
        assert!(dest.join("apps/app.yaml").is_file());
    };
    clone_tls("github.com", "your-org/platform-repo.git", &tmp.path().join("clone"));
    // A repository added after the front started, on a host it was told about.
    repos.add(RepoSpec::new("https://git.example.test/team/late.git", tmp.path().join("from"))).expect("late repo");
    clone_tls("git.example.test", "team/late.git", &tmp.path().join("late"));
    let url = format!("https://github.com:{port}/your-org/platform-repo.git");
    let resolve = format!("http.curloptResolve=github.com:{port}:127.0.0.1");

    // Without the CA, git refuses the certificate.
    let out = git(None, &["-c", &resolve, "ls-remote", &url]);
    assert!(!out.status.success(), "a certificate from an untrusted CA was accepted");

    // A name the front does not serve gets no certificate.
    let refused = https(front.addr(), ca.ca_pem(), "example.com", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n").await;
    assert!(refused.is_err(), "{refused:?}");

    // The CA survives a restart of the harness (a reused cluster keeps trusting it).
    front.stop().await;
    let again = CertAuthority::load_or_create(&state).expect("reload");
    assert_eq!(again.ca_pem(), ca.ca_pem());
}

/// moto, the simulator's API server (its issuer and JWKS) and the front with STS interception.
struct StsWorld {
    _moto: sim::aws::emulator::Moto,
    server: ApiServer,
    front: Front,
    ca_pem: String,
}

const ACCOUNT: &str = "111122223333";

fn trust(issuer: &str, subject: &str) -> String {
    let provider = issuer.trim_start_matches("https://");
    serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{provider}")},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            format!("{provider}:sub"): subject,
            format!("{provider}:aud"): "sts.amazonaws.com",
        }}
    }]})
    .to_string()
}

async fn sts_world() -> Option<StsWorld> {
    let Some(python) = idp_harness::backend::find_python() else {
        eprintln!("skipped: the set-up's Python (.venv/bin/python with moto) was not found");
        return None;
    };
    let moto = sim::aws::emulator::Moto::start(&sim::aws::emulator::MotoOptions { python, port: 0, log: None })
        .expect("moto starts");
    let server = ApiServer::new(ApiServerConfig::default());
    let issuer = server.issuer().url().to_string();
    let target = sim::aws::AwsTarget::emulator(moto.url(), ACCOUNT, "us-east-1");
    let clients = target.clients();
    sim::aws::roles::register_oidc_provider(&clients, &issuer).await.expect("oidc provider");
    for (role, subject) in
        [("orders-irsa", "system:serviceaccount:orders:api"), ("worker-irsa", "system:serviceaccount:orders:worker")]
    {
        clients
            .iam
            .create_role()
            .role_name(role)
            .assume_role_policy_document(trust(&issuer, subject))
            .send()
            .await
            .expect("create role");
    }
    let sts = StsInterceptor::new(Jwks::from_client(server.client()), target);
    let ca = Arc::new(CertAuthority::ephemeral().expect("ca"));
    let ca_pem = ca.ca_pem().to_string();
    let front = Front::start(FrontConfig {
        bind: loopback(),
        ca,
        git: None,
        git_hosts: Vec::new(),
        sts: Some((Arc::new(sts), vec!["us-east-1".to_string()])),
    })
    .await
    .expect("front");
    Some(StsWorld { _moto: moto, server, front, ca_pem })
}

fn spec(sa: &str, audience: &str) -> TokenSpec {
    TokenSpec {
        namespace: "orders".into(),
        service_account: sa.into(),
        sa_uid: "0b5cd5c2-7d0e-4b59-9a43-000000000001".into(),
        audiences: vec![audience.into()],
        expiration_seconds: 3600,
        pod: None,
        node: None,
        secret: None,
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

impl StsWorld {
    async fn assume(&self, role: &str, token: &str) -> (u16, roxmltree_doc::Doc) {
        let arn = format!("arn:aws:iam::{ACCOUNT}:role/{role}");
        let body = form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", &arn),
            ("RoleSessionName", "1732457000000000000"),
            ("WebIdentityToken", token),
        ]);
        self.post(&body).await
    }

    async fn post(&self, body: &str) -> (u16, roxmltree_doc::Doc) {
        let host = "sts.us-east-1.amazonaws.com";
        let req = format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (status, text) = https(self.front.addr(), &self.ca_pem, host, &req).await.expect("https");
        (status, roxmltree_doc::Doc(text))
    }
}

/// A tiny accessor over roxmltree for the tests' XML answers.
mod roxmltree_doc {
    pub struct Doc(pub String);
    impl Doc {
        pub fn get(&self, tag: &str) -> Option<String> {
            let doc = roxmltree::Document::parse(&self.0).unwrap_or_else(|e| panic!("not XML ({e}): {}", self.0));
            doc.descendants().find(|n| n.tag_name().name() == tag).and_then(|n| n.text()).map(str::to_string)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sts_interception_checks_tokens_and_trust_as_sts_does() {
    let Some(w) = sts_world().await else { return };
    let issuer = w.server.issuer();

    // A good token: credentials from the emulator, in STS's format.
    let token = issuer.mint(&spec("api", "sts.amazonaws.com")).expect("token");
    let (status, doc) = w.assume("orders-irsa", &token).await;
    assert_eq!(status, 200, "{}", doc.0);
    assert!(doc.get("AccessKeyId").is_some_and(|k| !k.is_empty()), "{}", doc.0);
    assert!(doc.get("SessionToken").is_some_and(|k| !k.is_empty()));
    assert_eq!(doc.get("SubjectFromWebIdentityToken").as_deref(), Some("system:serviceaccount:orders:api"));
    assert_eq!(doc.get("Audience").as_deref(), Some("sts.amazonaws.com"));
    assert!(doc.get("Arn").is_some_and(|a| a.contains("assumed-role/orders-irsa/")), "{}", doc.0);

    // The wrong audience.
    let token = issuer.mint(&spec("api", "vault")).expect("token");
    let (status, doc) = w.assume("orders-irsa", &token).await;
    assert_eq!(status, 400);
    assert_eq!(doc.get("Code").as_deref(), Some("InvalidIdentityToken"));
    assert_eq!(doc.get("Message").as_deref(), Some("Incorrect token audience"));

    // An expired token.
    let token =
        issuer.mint_at(&spec("api", "sts.amazonaws.com"), jiff::Timestamp::now().as_second() - 7200).expect("token");
    let (status, doc) = w.assume("orders-irsa", &token).await;
    assert_eq!(status, 400);
    assert_eq!(doc.get("Code").as_deref(), Some("ExpiredTokenException"));
    assert!(doc.get("Message").is_some_and(|m| m.starts_with("Token expired: current date/time ")), "{}", doc.0);

    // A token signed by another key (another cluster with the same issuer URL).
    let other = ApiServer::new(ApiServerConfig::default());
    assert_eq!(other.issuer().url(), issuer.url());
    let token = other.issuer().mint(&spec("api", "sts.amazonaws.com")).expect("token");
    let (status, doc) = w.assume("orders-irsa", &token).await;
    assert_eq!(status, 400);
    assert_eq!(doc.get("Code").as_deref(), Some("InvalidIdentityToken"));
    assert!(doc.get("Message").is_some_and(|m| m.starts_with("Couldn't retrieve verification key")), "{}", doc.0);

    // A role whose trust names another service account.
    let token = issuer.mint(&spec("api", "sts.amazonaws.com")).expect("token");
    let (status, doc) = w.assume("worker-irsa", &token).await;
    assert_eq!(status, 403);
    assert_eq!(doc.get("Code").as_deref(), Some("AccessDenied"));
    assert_eq!(doc.get("Message").as_deref(), Some("Not authorized to perform sts:AssumeRoleWithWebIdentity"));
    // A role that does not exist is worded the same way.
    let (status, doc) = w.assume("no-such-role", &token).await;
    assert_eq!((status, doc.get("Code").as_deref()), (403, Some("AccessDenied")));

    // A session longer than the role allows (one hour by default).
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/orders-irsa");
    let long = form(&[
        ("Action", "AssumeRoleWithWebIdentity"),
        ("RoleArn", &arn),
        ("RoleSessionName", "long"),
        ("WebIdentityToken", &token),
        ("DurationSeconds", "7200"),
    ]);
    let (status, doc) = w.post(&long).await;
    assert_eq!((status, doc.get("Code").as_deref()), (400, Some("ValidationError")), "{}", doc.0);
    assert!(doc.get("Message").is_some_and(|m| m.contains("exceeds the MaxSessionDuration")));

    // Other actions are refused, naming what is unsupported.
    let (status, doc) = w.post(&form(&[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")])).await;
    assert_eq!(status, 400);
    assert_eq!(doc.get("Code").as_deref(), Some("InvalidAction"));
    assert!(doc.get("Message").is_some_and(|m| m.contains("GetCallerIdentity")));

    // The global endpoint is intercepted too; other hosts are not.
    assert!(w.front.hosts().contains(&"sts.amazonaws.com".to_string()));
    assert!(https(w.front.addr(), &w.ca_pem, "sts.eu-west-1.amazonaws.com", "GET / HTTP/1.1\r\n\r\n").await.is_err());
    w.front.stop().await;
}

// ---- Readiness and the cluster backend's preconditions, on the simulator's API server (no
// controllers: the test writes the objects and statuses a real install produces). ----

mod readiness_checks {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use idp_harness::backend::cluster_checks::check_preconditions;
    use idp_harness::backend::kind::readiness::{evaluate, wait, wait_with, Check, Component, WaitOptions};
    use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
    use kube::core::{ApiResource, GroupVersionKind};
    use serde_json::{json, Value};
    use sim::apiserver::{ApiServer, ApiServerConfig};

    fn ar(api_version: &str, kind: &str, plural: &str) -> ApiResource {
        let (g, v) = api_version.split_once('/').unwrap_or(("", api_version));
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(g, v, kind), plural)
    }

    async fn create(client: &kube::Client, ar: &ApiResource, ns: Option<&str>, body: Value) {
        let obj: DynamicObject = serde_json::from_value(body).expect("object");
        let api = match ns {
            Some(n) => Api::<DynamicObject>::namespaced_with(client.clone(), n, ar),
            None => Api::<DynamicObject>::all_with(client.clone(), ar),
        };
        api.create(&PostParams::default(), &obj).await.unwrap_or_else(|e| panic!("create {}: {e}", ar.kind));
    }

    async fn set_status(client: &kube::Client, ar: &ApiResource, ns: Option<&str>, name: &str, status: Value) {
        let api = match ns {
            Some(n) => Api::<DynamicObject>::namespaced_with(client.clone(), n, ar),
            None => Api::<DynamicObject>::all_with(client.clone(), ar),
        };
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(json!({"status": status})))
            .await
            .unwrap_or_else(|e| panic!("status of {name}: {e}"));
    }

    async fn namespace(client: &kube::Client, name: &str) {
        create(
            client,
            &ar("v1", "Namespace", "namespaces"),
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        )
        .await;
    }

    /// A CRD as its chart installs it (an open schema is enough here).
    async fn crd(client: &kube::Client, group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) {
        let body = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.{group}")},
            "spec": {
                "group": group,
                "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")},
                "scope": if namespaced { "Namespaced" } else { "Cluster" },
                "versions": [{"name": version, "served": true, "storage": true,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
            }
        });
        create(
            client,
            &ar("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions"),
            None,
            body,
        )
        .await;
    }

    async fn deployment(client: &kube::Client, ns: &str, name: &str) {
        let labels = json!({"app": name});
        create(client, &ar("apps/v1", "Deployment", "deployments"), Some(ns), json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "manager", "image": "example/manager:v1"}]}}}
        })).await;
    }

    fn deployment_status(available: bool) -> Value {
        let cond = if available {
            json!({"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."})
        } else {
            json!({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."})
        };
        json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
               "readyReplicas": if available { 1 } else { 0 }, "availableReplicas": if available { 1 } else { 0 },
               "unavailableReplicas": if available { 0 } else { 1 }, "conditions": [cond]})
    }

    /// Flux installed: its CRDs and its three controllers available.
    async fn install_flux(client: &kube::Client) {
        namespace(client, "flux-system").await;
        crd(client, "source.toolkit.fluxcd.io", "v1", "GitRepository", "gitrepositories", true).await;
        crd(client, "kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations", true).await;
        crd(client, "helm.toolkit.fluxcd.io", "v2", "HelmRelease", "helmreleases", true).await;
        for name in ["source-controller", "kustomize-controller", "helm-controller"] {
            deployment(client, "flux-system", name).await;
            set_status(
                client,
                &ar("apps/v1", "Deployment", "deployments"),
                Some("flux-system"),
                name,
                deployment_status(true),
            )
            .await;
        }
    }

    fn reasons(unmet: &[idp_harness::backend::kind::readiness::Unmet]) -> Vec<String> {
        unmet.iter().map(|u| u.reason.clone()).collect()
    }

    #[tokio::test]
    async fn checks_report_what_is_missing_from_the_objects_status() {
        let server = ApiServer::new(ApiServerConfig::default());
        let client = server.client();

        // Nothing installed.
        let unmet = evaluate(&client, &Component::Flux.checks()).await;
        assert_eq!(unmet.len(), 6);
        let r = reasons(&unmet);
        assert!(r.contains(&"CRD kustomizations.kustomize.toolkit.fluxcd.io not found".to_string()), "{r:?}");
        assert!(r.contains(&"Deployment flux-system/source-controller not found".to_string()), "{r:?}");

        // A controller that is not available yet.
        namespace(&client, "flux-system").await;
        crd(&client, "kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations", true).await;
        deployment(&client, "flux-system", "source-controller").await;
        let deploy = Check::DeploymentAvailable { namespace: "flux-system".into(), name: "source-controller".into() };
        let crd_check = Check::CrdEstablished { name: "kustomizations.kustomize.toolkit.fluxcd.io".into() };
        let unmet = evaluate(&client, &[crd_check.clone(), deploy.clone()]).await;
        assert_eq!(reasons(&unmet), ["Deployment flux-system/source-controller: status not reported yet; 0/1 replicas updated; 0/1 replicas available; Available condition not reported yet"]);
        set_status(
            &client,
            &ar("apps/v1", "Deployment", "deployments"),
            Some("flux-system"),
            "source-controller",
            deployment_status(false),
        )
        .await;
        let unmet = evaluate(&client, std::slice::from_ref(&deploy)).await;
        assert_eq!(reasons(&unmet), ["Deployment flux-system/source-controller: 0/1 replicas available; Available=False (MinimumReplicasUnavailable: Deployment does not have minimum availability.)"]);
        set_status(
            &client,
            &ar("apps/v1", "Deployment", "deployments"),
            Some("flux-system"),
            "source-controller",
            deployment_status(true),
        )
        .await;
        assert!(evaluate(&client, &[deploy]).await.is_empty());

        // A DaemonSet with a pod not ready.
        let ds_ar = ar("apps/v1", "DaemonSet", "daemonsets");
        let labels = json!({"app": "csi"});
        create(
            &client,
            &ds_ar,
            Some("kube-system"),
            json!({
                "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "csi", "namespace": "kube-system"},
                "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "driver", "image": "example/driver:v1"}]}}}
            }),
        )
        .await;
        let ds = Check::DaemonSetReady { namespace: "kube-system".into(), name: "csi".into() };
        set_status(
            &client,
            &ds_ar,
            Some("kube-system"),
            "csi",
            json!({"observedGeneration": 1, "currentNumberScheduled": 1,
            "desiredNumberScheduled": 1, "numberMisscheduled": 0, "numberReady": 0, "updatedNumberScheduled": 1}),
        )
        .await;
        assert_eq!(
            reasons(&evaluate(&client, std::slice::from_ref(&ds)).await),
            ["DaemonSet kube-system/csi: 0/1 pods ready"]
        );
        set_status(&client, &ds_ar, Some("kube-system"), "csi", json!({"numberReady": 1, "numberAvailable": 1})).await;
        assert!(evaluate(&client, &[ds]).await.is_empty());

        // A Crossplane Provider installed but unhealthy, and a ProviderConfig.
        let provider = Check::CrossplaneProviderHealthy { name: "provider-aws-iam".into() };
        let pc = Check::Exists {
            api_version: "aws.upbound.io/v1beta1".into(),
            kind: "ProviderConfig".into(),
            namespace: None,
            name: "default".into(),
        };
        let r = reasons(&evaluate(&client, &[provider.clone(), pc.clone()]).await);
        assert_eq!(r[0], "Crossplane Provider provider-aws-iam not found");
        assert_eq!(
            r[1],
            "ProviderConfig default not found: the API server does not serve aws.upbound.io/v1beta1 ProviderConfig"
        );
        crd(&client, "pkg.crossplane.io", "v1", "Provider", "providers", false).await;
        crd(&client, "aws.upbound.io", "v1beta1", "ProviderConfig", "providerconfigs", false).await;
        let p_ar = ar("pkg.crossplane.io/v1", "Provider", "providers");
        create(&client, &p_ar, None, json!({"apiVersion": "pkg.crossplane.io/v1", "kind": "Provider",
            "metadata": {"name": "provider-aws-iam"}, "spec": {"package": "xpkg.upbound.io/upbound/provider-aws-iam:v2.0.0"}})).await;
        set_status(&client, &p_ar, None, "provider-aws-iam", json!({"conditions": [
            {"type": "Installed", "status": "True", "reason": "ActivePackageRevision"},
            {"type": "Healthy", "status": "False", "reason": "UnhealthyPackageRevision", "message": "cannot resolve package dependencies"}]})).await;
        let r = reasons(&evaluate(&client, &[provider.clone(), pc.clone()]).await);
        assert_eq!(r, [
            "Crossplane Provider provider-aws-iam: Installed=True (ActivePackageRevision), Healthy=False (UnhealthyPackageRevision: cannot resolve package dependencies)",
            "ProviderConfig default not found",
        ]);
        create(&client, &ar("aws.upbound.io/v1beta1", "ProviderConfig", "providerconfigs"), None, json!({
            "apiVersion": "aws.upbound.io/v1beta1", "kind": "ProviderConfig", "metadata": {"name": "default"}, "spec": {}})).await;
        set_status(
            &client,
            &p_ar,
            None,
            "provider-aws-iam",
            json!({"conditions": [
            {"type": "Installed", "status": "True", "reason": "ActivePackageRevision"},
            {"type": "Healthy", "status": "True", "reason": "HealthyPackageRevision"}]}),
        )
        .await;
        assert!(evaluate(&client, &[provider, pc]).await.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_ends_when_a_status_is_updated_and_times_out_with_every_reason() {
        let server = ApiServer::new(ApiServerConfig::default());
        let client = server.client();
        namespace(&client, "flux-system").await;
        deployment(&client, "flux-system", "source-controller").await;
        let deploy_ar = ar("apps/v1", "Deployment", "deployments");
        set_status(&client, &deploy_ar, Some("flux-system"), "source-controller", deployment_status(false)).await;
        let checks = [Check::DeploymentAvailable { namespace: "flux-system".into(), name: "source-controller".into() }];

        let later = client.clone();
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            set_status(
                &later,
                &ar("apps/v1", "Deployment", "deployments"),
                Some("flux-system"),
                "source-controller",
                deployment_status(true),
            )
            .await;
        });
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let opts = WaitOptions { timeout: Duration::from_secs(20), interval: Duration::from_millis(100) };
        wait_with(&client, &checks, opts, |p| log.lock().expect("lock").push((p.met, p.total, p.to_string())))
            .await
            .expect("ready once the status says so");
        writer.await.expect("writer");
        let seen = seen.lock().expect("lock").clone();
        assert!(seen.len() >= 2, "{seen:?}");
        assert_eq!((seen[0].0, seen[0].1), (0, 1));
        assert!(seen[0].2.contains("waiting for Deployment flux-system/source-controller"), "{seen:?}");
        assert_eq!(seen.last().map(|s| (s.0, s.1)), Some((1, 1)));

        // A timeout lists every unmet check with its reason.
        let more = [
            checks[0].clone(),
            Check::CrdEstablished { name: "helmreleases.helm.toolkit.fluxcd.io".into() },
            Check::DeploymentAvailable { namespace: "flux-system".into(), name: "helm-controller".into() },
        ];
        let started = std::time::Instant::now();
        let err = wait(&client, &more, Duration::from_millis(300), |_| {}).await.expect_err("times out");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(err.unmet.len(), 2);
        let text = err.to_string();
        assert!(text.contains("2 of 3 checks unmet"), "{text}");
        assert!(text.contains("  - CRD helmreleases.helm.toolkit.fluxcd.io not found\n  - Deployment flux-system/helm-controller not found"), "{text}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cluster_preconditions_say_what_is_missing_and_who_acts_on_aws() {
        let server = ApiServer::new(ApiServerConfig::default());
        let client = server.client();
        install_flux(&client).await;

        let report =
            check_preconditions(&client, &[Component::Flux, Component::Gatekeeper, Component::Flux], None).await;
        assert_eq!(report.components.len(), 2, "each component once");
        assert!(!report.is_ready());
        assert_eq!(
            report.summary(),
            "cluster is missing: Gatekeeper (CRD constrainttemplates.templates.gatekeeper.sh not found; Deployment gatekeeper-system/gatekeeper-controller-manager not found; Deployment gatekeeper-system/gatekeeper-audit not found)"
        );
        let flux_only = check_preconditions(&client, &[Component::Flux], None).await;
        assert!(flux_only.is_ready(), "{flux_only}");
        assert_eq!(flux_only.summary(), "cluster has everything needed: Flux");

        // An AWS endpoint that does not answer makes the report not ready, and says why.
        let dead = sim::aws::AwsTarget::emulator("http://127.0.0.1:9", "111122223333", "us-east-1");
        let report = check_preconditions(&client, &[Component::Flux], Some(&dead)).await;
        assert!(!report.is_ready());
        assert!(
            report.summary().contains("AWS identity cannot be confirmed: STS GetCallerIdentity at http://127.0.0.1:9"),
            "{report}"
        );

        let Some(python) = idp_harness::backend::find_python() else {
            eprintln!("skipped the AWS identity part: the set-up's Python (moto) was not found");
            return;
        };
        let moto = sim::aws::emulator::Moto::start(&sim::aws::emulator::MotoOptions { python, port: 0, log: None })
            .expect("moto");
        let target = sim::aws::AwsTarget::emulator(moto.url(), "111122223333", "us-east-1");
        let report = check_preconditions(&client, &[Component::Flux], Some(&target)).await;
        assert!(report.is_ready(), "{report}");
        let id = report.aws.clone().expect("asked").expect("identity");
        assert_eq!(id.account, "111122223333");
        assert!(report.summary().ends_with(&format!("AWS identity: {} (account 111122223333)", id.arn)), "{report}");
    }
}

/// The key set can also come from an issuer URL (OIDC discovery, then `jwks_uri`), over plain
/// HTTP or over TLS trusting a given CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_come_from_an_issuer_url_too() {
    use idp_harness::backend::kind::jwt::verify;
    let aud = vec!["sts.amazonaws.com".to_string()];
    for tls in [false, true] {
        let server = ApiServer::new(ApiServerConfig { tls, ..ApiServerConfig::default() });
        let running = server.serve(loopback()).await.expect("serves");
        let jwks = Jwks::from_url(running.url(), running.ca_pem.clone());
        let token = server.issuer().mint(&spec("api", "sts.amazonaws.com")).expect("token");
        let now = jiff::Timestamp::now().as_second();
        let ok = verify(&jwks, &token, &aud, now).await.unwrap_or_else(|e| panic!("tls={tls}: {e}"));
        assert_eq!(ok.subject, "system:serviceaccount:orders:api");
        assert_eq!(ok.issuer, server.issuer().url());
        if tls {
            // Without the CA, the keys cannot be fetched, so the token cannot be verified.
            let blind = Jwks::from_url(running.url(), None);
            let err = verify(&blind, &token, &aud, now).await.expect_err("no CA");
            assert!(err.message.starts_with("Couldn't retrieve verification key"), "{err}");
        }
        running.shutdown().await;
    }
}

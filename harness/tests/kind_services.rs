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
    front.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_clones_over_tls_with_the_harness_ca_and_the_real_host_name() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repos = repos(tmp.path());
    let state = tmp.path().join("state");
    let ca = Arc::new(CertAuthority::load_or_create(&state).expect("ca"));
    let ca_file = ca.ca_file().expect("ca file");
    let front = Front::start(FrontConfig { bind: loopback(), ca: ca.clone(), git: Some(repos.clone()), sts: None })
        .await
        .expect("front");
    let port = front.addr().port();
    let dest = tmp.path().join("clone");
    let url = format!("https://github.com:{port}/your-org/platform-repo.git");
    let resolve = format!("http.curloptResolve=github.com:{port}:127.0.0.1");
    // git's libcurl here is built on GnuTLS, which takes the CA from GIT_SSL_CAINFO (as
    // source-controller takes it from SSL_CERT_FILE); the name resolves to the front through
    // curl's resolve list, so SNI and Host are the real `github.com`.
    let mut clone = Command::new("git");
    clone.env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null").env("GIT_SSL_CAINFO", &ca_file).args([
        "-c",
        &resolve,
        "clone",
        "-q",
        &url,
        dest.to_str().expect("utf-8"),
    ]);
    ok(&clone.output().expect("git runs"));
    assert!(dest.join("apps/app.yaml").is_file());

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

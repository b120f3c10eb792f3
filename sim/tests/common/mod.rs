//! Test support: a simulator API server on a loopback port, and the real kubectl from the
//! set-up's venv pointed at it. No mocks: every test talks to the server over HTTP.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use sim::apiserver::{kubeconfig, ApiServer, ApiServerConfig, RunningServer};
use sim::platform::{Platform, PlatformConfig, Profile, Tools};

/// A server running on its own runtime, with a kubeconfig in a temp dir.
pub struct TestServer {
    pub api: ApiServer,
    pub url: String,
    pub dir: tempfile::TempDir,
    /// The simulated platform, when started with [`TestServer::platform`].
    pub platform: Option<Platform>,
    running: Option<RunningServer>,
    rt: tokio::runtime::Runtime,
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with(ApiServerConfig::default())
    }

    pub fn start_with(config: ApiServerConfig) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let api = ApiServer::new(config.clone());
        let running = rt.block_on(api.serve("127.0.0.1:0".parse().expect("addr"))).expect("serve");
        let url = running.url();
        let dir = tempfile::tempdir().expect("tempdir");
        kubeconfig::write(&dir.path().join("kubeconfig"), &url, config.token.as_deref(), running.ca_pem.as_deref())
            .expect("kubeconfig");
        TestServer { api, url, dir, platform: None, running: Some(running), rt }
    }

    /// A simulated platform with `profile`'s components, served on a loopback port.
    pub fn platform(profile: Profile) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let config = PlatformConfig {
            profile,
            tools: Tools { kubectl: Some(kubectl_path()), build_cache: None },
            ..Default::default()
        };
        let platform = rt.block_on(async { Platform::start(config) }).expect("platform starts");
        let api = platform.server().clone();
        let running = rt.block_on(api.serve("127.0.0.1:0".parse().expect("addr"))).expect("serve");
        let url = running.url();
        let dir = tempfile::tempdir().expect("tempdir");
        kubeconfig::write(&dir.path().join("kubeconfig"), &url, None, None).expect("kubeconfig");
        TestServer { api, url, dir, platform: Some(platform), running: Some(running), rt }
    }

    /// A simulated platform acting in `account` on this test binary's moto server.
    pub fn platform_with_aws(profile: Profile, account: &str) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let aws = sim::aws::AwsTarget::emulator(moto().url(), account, sim::aws::DEFAULT_REGION);
        let config = PlatformConfig {
            profile,
            tools: Tools { kubectl: Some(kubectl_path()), build_cache: None },
            aws: Some(aws),
            ..Default::default()
        };
        let platform = rt.block_on(async { Platform::start(config) }).expect("platform starts");
        let api = platform.server().clone();
        let running = rt.block_on(api.serve("127.0.0.1:0".parse().expect("addr"))).expect("serve");
        let url = running.url();
        let dir = tempfile::tempdir().expect("tempdir");
        kubeconfig::write(&dir.path().join("kubeconfig"), &url, None, None).expect("kubeconfig");
        TestServer { api, url, dir, platform: Some(platform), running: Some(running), rt }
    }

    /// SDK clients for the platform's AWS account.
    pub fn aws(&self) -> sim::aws::Clients {
        self.platform.as_ref().and_then(|p| p.aws()).expect("started with TestServer::platform_with_aws").clients()
    }

    /// Waits for the platform's controllers to reach their fixed point.
    pub fn settle(&self) {
        let platform = self.platform.as_ref().expect("started with TestServer::platform");
        self.rt.block_on(platform.settle(std::time::Duration::from_secs(30))).expect("controllers settle");
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Runs kubectl with `args`, optional stdin, against this server.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let mut cmd = Command::new(kubectl_path());
        cmd.args(args)
            .arg(format!("--cache-dir={}", self.dir.path().join("cache").display()))
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .env("HOME", self.dir.path())
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn kubectl");
        if let Some(input) = stdin {
            child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
        }
        Out(child.wait_with_output().expect("kubectl output"))
    }

    /// kubectl that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl(args, stdin);
        assert!(out.0.status.success(), "kubectl {args:?} failed:\n{}{}", out.stdout(), out.stderr());
        out.stdout()
    }

    /// kubectl that must fail; returns stderr.
    pub fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl(args, stdin);
        assert!(!out.0.status.success(), "kubectl {args:?} unexpectedly succeeded:\n{}", out.stdout());
        out.stderr()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            self.rt.block_on(r.shutdown());
        }
    }
}

pub struct Out(pub Output);

impl Out {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
}

/// The kubectl the set-up installed (`.venv/bin/kubectl`), or `IDP_HARNESS_KUBECTL`.
pub fn kubectl_path() -> PathBuf {
    if let Ok(p) = std::env::var("IDP_HARNESS_KUBECTL") {
        return PathBuf::from(p);
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/kubectl");
    assert!(p.exists(), "kubectl not found at {}: run `make setup` first", p.display());
    p
}

/// A Deployment most kubectl tests apply.
pub const DEPLOY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: public.ecr.aws/nginx/nginx:1.27
        ports: [{containerPort: 80}]
"#;

/// The allowed-repos ConstraintTemplate the Gatekeeper scenarios use (`fixtures/gatekeeper/`).
pub const ALLOWED_REPOS_TEMPLATE: &str = include_str!("../../../fixtures/gatekeeper/allowed-repos-template.yaml");

/// One moto server per test binary (started on first use; it ends with the process, through
/// the emulator wrapper's stdin watchdog). Tests isolate themselves by account.
pub fn moto() -> &'static sim::aws::emulator::Moto {
    static MOTO: std::sync::OnceLock<sim::aws::emulator::Moto> = std::sync::OnceLock::new();
    MOTO.get_or_init(|| {
        let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
        sim::aws::emulator::Moto::start(&sim::aws::emulator::MotoOptions { python, port: 0, log: None })
            .expect("moto starts (run `make setup`)")
    })
}

/// A fresh 12-digit account id for one test.
pub fn fresh_account() -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 900_000_000_000;
    format!("{:012}", 100_000_000_000 + n)
}

/// True while the process runs (a zombie is not alive; /proc/<pid>/stat's third field is the
/// state).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit(')').next().and_then(|r| r.split_whitespace().next()) != Some("Z"))
        .unwrap_or(false)
}

/// What every emulator must do for the harness's account isolation: two 12-digit accounts at
/// `url` see their own STS identity, secrets and roles, and not each other's.
pub async fn check_accounts_are_separate(url: &str) {
    use sim::aws::{error_code, error_text, AwsTarget};
    let a = AwsTarget::emulator(url, "111111111111", "us-east-1").clients();
    let b = AwsTarget::emulator(url, "222222222222", "us-east-1").clients();
    let who = a.sts.get_caller_identity().send().await.expect("sts");
    assert_eq!(who.account(), Some("111111111111"));
    let created = a.secretsmanager.create_secret().name("db-password").secret_string("s3cr3t").send().await.unwrap();
    assert!(created.arn().unwrap_or_default().contains(":111111111111:secret:db-password-"), "{created:?}");
    let got = a.secretsmanager.get_secret_value().secret_id("db-password").send().await.unwrap();
    assert_eq!(got.secret_string(), Some("s3cr3t"));
    let err = b.secretsmanager.get_secret_value().secret_id("db-password").send().await.unwrap_err();
    assert_eq!(error_code(&err), Some("ResourceNotFoundException"));
    assert!(error_text(&err).starts_with("ResourceNotFoundException: "), "{}", error_text(&err));
    let role = a
        .iam
        .create_role()
        .role_name("app")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(role.role().map(|r| r.arn()), Some("arn:aws:iam::111111111111:role/app"));
    let err = b.iam.get_role().role_name("app").send().await.unwrap_err();
    assert_eq!(error_code(&err), Some("NoSuchEntity"));
}

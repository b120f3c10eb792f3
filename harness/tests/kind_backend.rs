//! `--backend kind` assembled, on this machine: everything but Docker and kind is real. The
//! "kind cluster" is the simulator's API server (with its workload controllers, so Deployments
//! and DaemonSets become ready), reached by the real kubectl; the emulator is a real moto;
//! `kind get kubeconfig` and `docker network inspect kind` are the only stand-ins (two shell
//! scripts on PATH, because no Docker engine or kind can run here). The test checks that the
//! backend wires the cluster to its interception front (CoreDNS rewrites, the Service's
//! EndpointSlice at the front's port, the CA bundle, the trust patches and the AWS provider's
//! Secrets Manager endpoint), that a scenario runs on it, and that the scenario's repo is served
//! over TLS at its real URL while the run lasts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use idp_harness::backend::kind::sweep::{self, ClusterState, Owner, Phase};
use idp_harness::backend::{Backend, BackendKind};
use idp_harness::run::events::{Reporter, RunEvent};
use idp_harness::run::{run_all, RunOptions};
use serde_json::{json, Value};

struct Quiet;
impl Reporter for Quiet {
    fn event(&mut self, _: &RunEvent) {}
}

const NAME: &str = "fake";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn script(dir: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new(root().join(".venv/bin/kubectl"))
        .env("KUBECONFIG", kubeconfig)
        .args(["--context", &format!("kind-{NAME}")])
        .args(args)
        .output()
        .expect("kubectl runs");
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn workload(kind: &str, ns: &str, name: &str, container: &str) -> Value {
    let spec = json!({
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": container, "image": "example.test/x:1"}]}
        }
    });
    json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kind_backend_wires_the_cluster_to_its_front_and_runs_a_scenario() {
    let Some(python) = idp_harness::backend::find_python() else {
        eprintln!("skipped: the set-up's Python (.venv/bin/python with moto) was not found");
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");

    // The "cluster": the simulator with only its workload controllers, on a port.
    let profile = sim::platform::Profile::bare();
    let platform = sim::platform::Platform::start(sim::platform::PlatformConfig { profile, ..Default::default() })
        .expect("platform");
    let running = platform.server().serve("127.0.0.1:0".parse().expect("addr")).await.expect("serve");
    let kubeconfig = tmp.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kind-{NAME}\n  cluster: {{server: \"{}\"}}\ncontexts:\n- name: kind-{NAME}\n  context: {{cluster: kind-{NAME}, user: kind-{NAME}}}\ncurrent-context: kind-{NAME}\nusers:\n- name: kind-{NAME}\n  user: {{}}\n",
            running.url()
        ),
    )
    .expect("kubeconfig");
    // What a kind cluster has: CoreDNS and its Corefile; and what the platform install made:
    // source-controller and the AWS provider's DaemonSet.
    let manifests = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
               "data": {"Corefile": ".:53 {\n    errors\n    health {\n       lameduck 5s\n    }\n    ready\n    kubernetes cluster.local in-addr.arpa ip6.arpa {\n       pods insecure\n       fallthrough in-addr.arpa ip6.arpa\n       ttl 30\n    }\n    forward . /etc/resolv.conf\n    cache 30\n    loop\n    reload\n    loadbalance\n}\n"}}),
        workload("Deployment", "kube-system", "coredns", "coredns"),
        workload("Deployment", "flux-system", "source-controller", "manager"),
        workload(
            "DaemonSet",
            "kube-system",
            "secrets-provider-aws-secrets-store-csi-driver-provider-aws",
            "provider-aws-installer",
        ),
    ];
    let file = tmp.path().join("installed.json");
    std::fs::write(&file, json!({"apiVersion": "v1", "kind": "List", "items": manifests}).to_string()).expect("write");
    kubectl(&kubeconfig, &["apply", "-f", file.to_str().expect("utf-8")]);
    platform.settle(std::time::Duration::from_secs(10)).await.expect("settles");

    // The emulator `kind up` would have started, and the record it would have written.
    let moto =
        sim::aws::emulator::Moto::start(&sim::aws::emulator::MotoOptions { python, port: 0, log: None }).expect("moto");
    let cache_home = tmp.path().join("cache");
    let cache = cache_home.join("idp-harness");
    sweep::write_state(
        &cache,
        &ClusterState {
            name: NAME.into(),
            owner: Owner::this_process(NAME),
            phase: Phase::Ready,
            config_hash: "h".into(),
            aws_endpoint: Some(moto.url().to_string()),
            aws_cluster_endpoint: Some("http://fake-aws:5000".into()),
            plan_hash: None,
            components: Vec::new(),
        },
    )
    .expect("record");

    // The stand-ins for kind and docker.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    script(
        &bin,
        "kind",
        &format!(
            "[ \"$1 $2 $3 $4\" = \"get kubeconfig --name {NAME}\" ] && exec cat '{}'\nexit 1",
            kubeconfig.display()
        ),
    );
    script(
        &bin,
        "docker",
        "[ \"$1 $2 $3\" = \"network inspect kind\" ] && echo '[{\"Name\": \"kind\", \"IPAM\": {\"Config\": [{\"Subnet\": \"fc00:f853:ccd:e793::/64\"}, {\"Subnet\": \"127.0.0.0/8\", \"Gateway\": \"127.0.0.1\"}]}}]' && exit 0\nexit 1",
    );
    let path = format!(
        "{}:{}:{}",
        bin.display(),
        root().join(".venv/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // SAFETY: this test is alone in its process (nextest), and sets them before anything reads them.
    unsafe {
        std::env::set_var("PATH", path);
        std::env::set_var("XDG_CACHE_HOME", &cache_home);
        std::env::set_var("KUBECONFIG", &kubeconfig);
    }

    // A scenario with a repo on github.com.
    let scen_dir = tmp.path().join("scenario");
    std::fs::create_dir_all(scen_dir.join("repo/apps")).expect("mkdir");
    std::fs::write(
        scen_dir.join("repo/apps/app.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-git}\n",
    )
    .expect("write");
    let scenario = scen_dir.join("s.yaml");
    std::fs::write(
        &scenario,
        "apiVersion: idp-harness.dev/v1alpha1\nkind: Scenario\nmetadata: {name: on-kind}\nspec:\n  repos:\n    - {url: https://github.com/your-org/platform-repo.git, from: repo}\n  steps:\n    - apply:\n        objects: [{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {k: v}}]\n    - expect:\n        object: {apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {k: v}}\n",
    )
    .expect("write scenario");
    let loaded = idp_harness::scenario::load_file(&scenario).expect("valid scenario");

    let backend = Backend::start(BackendKind::Kind, None, Some(NAME.into()), None, std::slice::from_ref(&loaded))
        .await
        .expect("the kind backend starts");
    assert_eq!(backend.name, "kind");
    assert_eq!(backend.default_parallel(), 1);
    assert_eq!(
        backend.fixed_account().await.as_deref(),
        Some("123456789012"),
        "moto's account for the controllers' keys"
    );

    // The cluster side of the interception.
    let corefile =
        kubectl(&kubeconfig, &["-n", "kube-system", "get", "configmap", "coredns", "-o", "jsonpath={.data.Corefile}"]);
    for host in ["github.com", "sts.us-east-1.amazonaws.com", "sts.amazonaws.com"] {
        assert!(corefile.contains(&format!("rewrite name exact {host} ")), "no rewrite for {host}:\n{corefile}");
    }
    let slices: Value = serde_json::from_str(&kubectl(
        &kubeconfig,
        &["-n", "idp-harness", "get", "endpointslices.discovery.k8s.io", "-o", "json"],
    ))
    .expect("json");
    let slice = &slices["items"][0];
    assert_eq!(slice["endpoints"][0]["addresses"][0], "127.0.0.1", "{slice}");
    let port = slice["ports"][0]["port"].as_u64().expect("a port") as u16;
    let ca = kubectl(
        &kubeconfig,
        &["-n", "flux-system", "get", "configmap", "idp-harness-ca", "-o", "jsonpath={.data.ca\\.crt}"],
    );
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    let sc: Value = serde_json::from_str(&kubectl(
        &kubeconfig,
        &["-n", "flux-system", "get", "deployment", "source-controller", "-o", "json"],
    ))
    .expect("json");
    let env = &sc["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(env.as_array().is_some_and(|e| e.iter().any(|v| v["name"] == "SSL_CERT_FILE")), "{env}");
    let ds: Value = serde_json::from_str(&kubectl(
        &kubeconfig,
        &[
            "-n",
            "kube-system",
            "get",
            "daemonset",
            "secrets-provider-aws-secrets-store-csi-driver-provider-aws",
            "-o",
            "json",
        ],
    ))
    .expect("json");
    let env = &ds["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(
        env.as_array().is_some_and(|e| e
            .iter()
            .any(|v| v["name"] == "AWS_ENDPOINT_URL_SECRETS_MANAGER" && v["value"] == "http://fake-aws:5000")),
        "{env}"
    );

    // The scenario runs, and its repo is served at its real URL through the front.
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let totals =
        run_all(vec![loaded], &backend, &RunOptions { parallel: 1, ..Default::default() }, &mut Quiet, rx).await;
    let report = &totals.reports[0];
    assert_eq!(totals.passed, 1, "{}", report.explain());
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, &ca).expect("write ca");
    let dest = tmp.path().join("clone");
    let out = Command::new("git")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_SSL_CAINFO", &ca_file)
        .args(["-c", &format!("http.curloptResolve=github.com:{port}:127.0.0.1"), "clone", "-q"])
        .arg(format!("https://github.com:{port}/your-org/platform-repo.git"))
        .arg(&dest)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read_to_string(dest.join("apps/app.yaml")).expect("cloned file").contains("from-git"));

    backend.shutdown().await;
    let closed = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert!(closed.is_err(), "the front still listens after shutdown");
    drop(Arc::new(moto));
}

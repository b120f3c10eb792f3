//! The simulated source-controller and helm-controller on a platform with Flux 2.8 (and 2.7
//! for `v1beta2`), against real scenario Git repositories, through kube-rs and the real kubectl.
//! Expected wordings are source-controller v1.8's and helm-controller v1.5's; each assertion
//! names the upstream file the text comes from.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{json, Value};
use sim::flux::source::git_repositories;
use sim::git::{artifact_digest, Change, RepoSpec, INITIAL_COMMIT_MESSAGE};
use sim::platform::{Platform, PlatformConfig, Profile};

const URL: &str = "https://github.com/acme/fleet";
const SETTLE: Duration = Duration::from_secs(20);

fn write(dir: &Path, rel: &str, contents: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, contents).expect("write");
}

/// A platform with Flux `version` and one repository at [`URL`] (branch `main`, tag `v1.0.0`).
fn platform(version: &str) -> (Platform, tempfile::TempDir) {
    let src = tempfile::tempdir().expect("tempdir");
    write(src.path(), "apps/web.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n");
    write(src.path(), "docs/guide.md", "# guide\n");
    write(src.path(), "README.md", "fleet\n");
    let profile = Profile { flux: Some(version.into()), ..Profile::bare() };
    let p = Platform::start(PlatformConfig { profile, ..Default::default() }).expect("platform");
    p.repos().add(RepoSpec::new(URL, src.path()).with_tag("v1.0.0", None)).expect("repo");
    (p, src)
}

fn gvk(kind: &str) -> (ApiResource, &'static str) {
    match kind {
        "HelmRelease" => (
            ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", kind),
                "helmreleases",
            ),
            "helmreleases",
        ),
        _ => {
            let plural = match kind {
                "GitRepository" => "gitrepositories",
                "HelmRepository" => "helmrepositories",
                "OCIRepository" => "ocirepositories",
                "Bucket" => "buckets",
                _ => "helmcharts",
            };
            (
                ApiResource::from_gvk_with_plural(
                    &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", kind),
                    plural,
                ),
                plural,
            )
        }
    }
}

fn api(p: &Platform, kind: &str) -> Api<DynamicObject> {
    Api::namespaced_with(p.server().client(), "flux-system", &gvk(kind).0)
}

async fn create(p: &Platform, kind: &str, name: &str, spec: Value) {
    let (ar, _) = gvk(kind);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": ar.api_version, "kind": kind,
        "metadata": {"name": name, "namespace": "flux-system"}, "spec": spec,
    }))
    .expect("object");
    api(p, kind).create(&PostParams::default(), &obj).await.expect("create");
}

async fn get(p: &Platform, kind: &str, name: &str) -> Value {
    let o = api(p, kind).get(name).await.expect("get");
    serde_json::to_value(o).expect("json")
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    sim::conditions::get(obj, type_)
}

/// `(status, reason, message)` of a condition.
fn cond(obj: &Value, type_: &str) -> (String, String, String) {
    let c = condition(obj, type_).unwrap_or_else(|| panic!("no {type_} condition in {obj:#}"));
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    (s("status"), s("reason"), s("message"))
}

async fn git_repo(p: &Platform, name: &str, reference: Value) -> Value {
    let mut spec = json!({"url": URL, "interval": "1m"});
    if !reference.is_null() {
        spec["ref"] = reference;
    }
    create(p, "GitRepository", name, spec).await;
    p.settle(SETTLE).await.expect("settle");
    get(p, "GitRepository", name).await
}

fn events(p: &Platform, name: &str) -> Vec<(String, String, String)> {
    let store = p.server().store();
    let gr = sim::apiserver::resources::GroupResource::new("", "events");
    store
        .list(&gr, Some("flux-system"), None)
        .0
        .iter()
        .filter(|e| e.pointer("/involvedObject/name").and_then(Value::as_str) == Some(name))
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            (s("type"), s("reason"), s("message"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_becomes_ready_with_the_exact_message_and_a_stored_artifact() {
    let (p, _src) = platform("2.8");
    let sha = p.repos().get(URL).expect("repo").head("main").expect("head");
    let started = Instant::now();
    let obj = git_repo(&p, "fleet", json!({"branch": "main"})).await;
    eprintln!("timing: create + reconcile of one GitRepository to Ready: {:?}", started.elapsed());
    for d in p.runtime().decisions().iter().filter(|d| d.controller == "source-controller") {
        for n in d.notes.iter().filter(|n| n.starts_with("exported")) {
            eprintln!("timing: {n}");
        }
    }
    let rev = format!("main@sha1:{sha}");
    // source-controller v1.8 internal/controller/gitrepository_controller.go reconcileArtifact.
    let msg = format!("stored artifact for revision '{rev}'");
    assert_eq!(cond(&obj, "Ready"), ("True".into(), "Succeeded".into(), msg.clone()));
    assert_eq!(cond(&obj, "ArtifactInStorage"), ("True".into(), "Succeeded".into(), msg));
    assert!(condition(&obj, "Reconciling").is_none() && condition(&obj, "FetchFailed").is_none(), "{obj:#}");
    assert_eq!(obj["status"]["observedGeneration"], 1);
    assert_eq!(obj["metadata"]["finalizers"], json!(["finalizers.fluxcd.io"]));
    let a = &obj["status"]["artifact"];
    assert_eq!(a["revision"], json!(rev));
    assert_eq!(a["path"], json!(format!("gitrepository/flux-system/fleet/{sha}.tar.gz")));
    assert_eq!(
        a["url"],
        json!(format!(
            "http://source-controller.flux-system.svc.cluster.local./gitrepository/flux-system/fleet/{sha}.tar.gz"
        ))
    );
    let stored = p.flux().expect("flux").artifacts.get("GitRepository", "flux-system", "fleet").expect("artifact");
    assert_eq!(stored.revision, rev);
    assert!(stored.dir.join("apps/web.yaml").is_file());
    assert_eq!(a["digest"], json!(artifact_digest(&stored.dir).expect("digest")));
    assert_eq!(stored.digest, a["digest"].as_str().unwrap_or_default());
    // gitrepository_controller.go notify: "stored artifact for commit '%s'" with the subject.
    let ev = events(&p, "fleet");
    assert!(
        ev.contains(&(
            "Normal".into(),
            "NewArtifact".into(),
            format!("stored artifact for commit '{INITIAL_COMMIT_MESSAGE}'")
        )),
        "{ev:?}"
    );
    // The fixed point: another pass writes nothing.
    let rv = obj["metadata"]["resourceVersion"].clone();
    p.runtime().touch(&git_repositories());
    p.settle(SETTLE).await.expect("settle");
    assert_eq!(get(&p, "GitRepository", "fleet").await["metadata"]["resourceVersion"], rv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_semver_commits_and_ref_names_resolve_with_flux_revisions() {
    let (p, _src) = platform("2.8");
    let repo = p.repos().get(URL).expect("repo");
    let first = repo.head("main").expect("head");
    let second =
        repo.commit("main", &[Change::write("apps/api.yaml", "kind: ConfigMap\n")], "add api").expect("commit");
    repo.create_tag("v1.1.0", "main").expect("tag");
    let tag = git_repo(&p, "tag", json!({"tag": "v1.0.0"})).await;
    assert_eq!(tag["status"]["artifact"]["revision"], json!(format!("v1.0.0@sha1:{first}")));
    let semver = git_repo(&p, "semver", json!({"semver": ">=1.0.0"})).await;
    assert_eq!(semver["status"]["artifact"]["revision"], json!(format!("v1.1.0@sha1:{second}")));
    let commit = git_repo(&p, "commit", json!({"commit": first.as_str()})).await;
    assert_eq!(commit["status"]["artifact"]["revision"], json!(format!("sha1:{first}")));
    let name = git_repo(&p, "name", json!({"name": "refs/heads/main"})).await;
    assert_eq!(name["status"]["artifact"]["revision"], json!(format!("refs/heads/main@sha1:{second}")));
    for o in [&tag, &semver, &commit, &name] {
        assert_eq!(cond(o, "Ready").0, "True", "{o:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_failures_read_as_upstream_and_keep_reconciling() {
    let (p, _src) = platform("2.8");
    // No ref: branch master (fluxcd/pkg git.DefaultBranch), which this repository lacks.
    let obj = git_repo(&p, "default", Value::Null).await;
    // fluxcd/pkg git/gogit/clone.go via gitrepository_controller.go reconcileSource.
    let msg = format!(
        "failed to checkout and determine revision: unable to clone '{URL}': couldn't find remote ref \"refs/heads/master\""
    );
    assert_eq!(cond(&obj, "Ready"), ("False".into(), "GitOperationFailed".into(), msg.clone()));
    assert_eq!(cond(&obj, "FetchFailed"), ("True".into(), "GitOperationFailed".into(), msg.clone()));
    // fluxcd/pkg runtime/reconcile ProgressiveStatus, source-controller internal/reconcile
    // ComputeReconcileResult (ProgressingWithRetry); observedGeneration defaults to -1.
    assert_eq!(
        cond(&obj, "Reconciling"),
        ("True".into(), "ProgressingWithRetry".into(), "processing object: new generation -1 -> 1".into())
    );
    assert!(condition(&obj, "Stalled").is_none());
    assert!(obj["status"].get("artifact").is_none());
    assert!(events(&p, "default").contains(&("Warning".into(), "GitOperationFailed".into(), msg)));

    let missing = git_repo(&p, "missing", json!({"branch": "nope"})).await;
    assert!(cond(&missing, "Ready").2.ends_with("couldn't find remote ref \"refs/heads/nope\""), "{missing:#}");

    create(&p, "GitRepository", "unknown", json!({"url": "https://example.com/other", "interval": "1m"})).await;
    p.settle(SETTLE).await.expect("settle");
    let unknown = get(&p, "GitRepository", "unknown").await;
    let (status, reason, message) = cond(&unknown, "Ready");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "GitOperationFailed"));
    assert!(
        message.starts_with(
            "failed to checkout and determine revision: unable to clone 'https://example.com/other': \
             no scenario Git repository has the URL 'https://example.com/other'"
        ),
        "{message}"
    );
    assert!(message.contains(&format!("known URLs: {URL}")), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_commit_after_touch_gives_a_new_revision_and_a_new_artifact_event() {
    let (p, _src) = platform("2.8");
    let obj = git_repo(&p, "fleet", json!({"branch": "main"})).await;
    let old = p.flux().expect("flux").artifacts.get("GitRepository", "flux-system", "fleet").expect("artifact");
    let repo = p.repos().get(URL).expect("repo");
    let subject = "scale web to three replicas, and a subject that is longer than fifty characters";
    let sha = repo.commit("main", &[Change::write("apps/web.yaml", "kind: ConfigMap\n")], subject).expect("commit");
    p.settle(SETTLE).await.expect("settle");
    assert_eq!(
        get(&p, "GitRepository", "fleet").await["status"]["artifact"],
        obj["status"]["artifact"],
        "no touch, no fetch"
    );
    let started = Instant::now();
    p.runtime().touch(&git_repositories());
    p.settle(SETTLE).await.expect("settle");
    eprintln!("timing: touch + re-fetch + export of a new commit: {:?}", started.elapsed());
    let obj = get(&p, "GitRepository", "fleet").await;
    let rev = format!("main@sha1:{sha}");
    assert_eq!(cond(&obj, "Ready").2, format!("stored artifact for revision '{rev}'"));
    // fluxcd/pkg git/git.go Commit.ShortMessage: the first 50 characters and "...".
    let short: String = subject.chars().take(50).collect();
    assert!(events(&p, "fleet").contains(&(
        "Normal".into(),
        "NewArtifact".into(),
        format!("stored artifact for commit '{short}...'")
    )));
    assert!(!old.dir.exists(), "the old artifact was garbage-collected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_rules_shape_the_artifact_and_a_change_of_them_re_exports() {
    let (p, _src) = platform("2.8");
    create(
        &p,
        "GitRepository",
        "fleet",
        json!({"url": URL, "interval": "1m", "ref": {"branch": "main"}, "ignore": "docs/\n"}),
    )
    .await;
    p.settle(SETTLE).await.expect("settle");
    let obj = get(&p, "GitRepository", "fleet").await;
    let store = p.flux().expect("flux").artifacts.clone();
    let a = store.get("GitRepository", "flux-system", "fleet").expect("artifact");
    assert!(a.dir.join("apps/web.yaml").is_file() && a.dir.join("README.md").is_file());
    assert!(!a.dir.join("docs").exists(), "spec.ignore left docs/ out");
    assert_eq!(obj["status"]["observedIgnore"], "docs/\n");
    let patch = json!({"spec": {"ignore": "*.md\n"}});
    api(&p, "GitRepository").patch("fleet", &PatchParams::default(), &Patch::Merge(patch)).await.expect("patch");
    p.settle(SETTLE).await.expect("settle");
    let obj2 = get(&p, "GitRepository", "fleet").await;
    let b = store.get("GitRepository", "flux-system", "fleet").expect("artifact");
    assert!(b.dir.join("docs").exists() && !b.dir.join("README.md").exists() && !b.dir.join("docs/guide.md").exists());
    assert_ne!(obj2["status"]["artifact"]["digest"], obj["status"]["artifact"]["digest"]);
    assert_eq!(obj2["status"]["observedGeneration"], 2);
    assert_eq!(obj2["status"]["observedIgnore"], "*.md\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspended_repositories_keep_their_status_and_deletion_removes_the_artifact() {
    let (p, _src) = platform("2.8");
    let obj = git_repo(&p, "fleet", json!({"branch": "main"})).await;
    let patch = json!({"spec": {"suspend": true}});
    api(&p, "GitRepository").patch("fleet", &PatchParams::default(), &Patch::Merge(patch)).await.expect("patch");
    let repo = p.repos().get(URL).expect("repo");
    repo.commit("main", &[Change::write("x.yaml", "a: 1\n")], "more").expect("commit");
    p.runtime().touch(&git_repositories());
    p.settle(SETTLE).await.expect("settle");
    let suspended = get(&p, "GitRepository", "fleet").await;
    assert_eq!(suspended["status"], obj["status"], "nothing changes while suspended");

    let store = p.flux().expect("flux").artifacts.clone();
    let dir = store.get("GitRepository", "flux-system", "fleet").expect("artifact").dir;
    api(&p, "GitRepository").delete("fleet", &DeleteParams::default()).await.expect("delete");
    p.settle(SETTLE).await.expect("settle");
    assert!(api(&p, "GitRepository").get_opt("fleet").await.expect("get").is_none(), "the finalizer was removed");
    assert!(store.get("GitRepository", "flux-system", "fleet").is_none());
    assert!(!dir.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_repositories_are_offline_except_the_platform_components() {
    let (p, _src) = platform("2.8");
    create(&p, "HelmRepository", "podinfo", json!({"url": "https://stefanprodan.github.io/podinfo", "interval": "1h"}))
        .await;
    create(
        &p,
        "HelmRepository",
        "gatekeeper",
        json!({"url": "https://open-policy-agent.github.io/gatekeeper/charts", "interval": "1h"}),
    )
    .await;
    create(
        &p,
        "HelmRepository",
        "ack",
        json!({"url": "oci://public.ecr.aws/aws-controllers-k8s", "type": "oci", "interval": "1h"}),
    )
    .await;
    create(&p, "OCIRepository", "manifests", json!({"url": "oci://ghcr.io/acme/manifests", "interval": "1h"})).await;
    p.settle(SETTLE).await.expect("settle");
    let podinfo = get(&p, "HelmRepository", "podinfo").await;
    let (s, r, m) = cond(&podinfo, "Ready");
    assert_eq!((s.as_str(), r.as_str()), ("False", "Failed"));
    assert!(
        m.starts_with("failed to fetch Helm repository index: the simulator cannot fetch 'https://stefanprodan.github.io/podinfo' offline"),
        "{m}"
    );
    assert_eq!(cond(&podinfo, "FetchFailed").1, "Failed");
    assert_eq!(cond(&get(&p, "HelmRepository", "gatekeeper").await, "Ready").0, "True");
    let ack = get(&p, "HelmRepository", "ack").await;
    assert!(condition(&ack, "Ready").is_none(), "OCI HelmRepositories are static: {ack:#}");
    let oci = get(&p, "OCIRepository", "manifests").await;
    assert_eq!(cond(&oci, "Ready").1, "OCIPullFailed");
}

/// The real kubectl against a served platform.
struct Served {
    _running: sim::apiserver::RunningServer,
    dir: tempfile::TempDir,
}

impl Served {
    async fn start(p: &Platform) -> Served {
        let running = p.server().serve("127.0.0.1:0".parse().expect("addr")).await.expect("serve");
        let dir = tempfile::tempdir().expect("tempdir");
        sim::apiserver::kubeconfig::write(&dir.path().join("kubeconfig"), &running.url(), None, None)
            .expect("kubeconfig");
        Served { _running: running, dir }
    }

    async fn kubectl(&self, args: &[&str], stdin: &str) -> (bool, String, String) {
        let (args, stdin): (Vec<String>, String) = (args.iter().map(|s| s.to_string()).collect(), stdin.to_string());
        let dir = self.dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut child = std::process::Command::new(common::kubectl_path())
                .args(&args)
                .arg(format!("--cache-dir={}", dir.join("cache").display()))
                .env("KUBECONFIG", dir.join("kubeconfig"))
                .env("HOME", &dir)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("kubectl");
            child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("stdin");
            let out = child.wait_with_output().expect("output");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .await
        .expect("join")
    }
}

const V1BETA2: &str = r#"
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: GitRepository
metadata: {name: fleet, namespace: flux-system}
spec: {url: "https://github.com/acme/fleet", interval: 1m, ref: {branch: main}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sees_v1_only_on_flux_2_8_and_the_columns_flux_prints() {
    let (p, _src) = platform("2.8");
    let s = Served::start(&p).await;
    let (ok, _, err) = s.kubectl(&["apply", "-f", "-"], V1BETA2).await;
    assert!(!ok);
    assert!(
        err.contains(r#"no matches for kind "GitRepository" in version "source.toolkit.fluxcd.io/v1beta2""#),
        "{err}"
    );
    let v1 = V1BETA2.replace("v1beta2", "v1");
    let (ok, out, err) = s.kubectl(&["apply", "-f", "-"], &v1).await;
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), "gitrepository.source.toolkit.fluxcd.io/fleet created");
    p.settle(SETTLE).await.expect("settle");
    let (ok, out, err) = s.kubectl(&["get", "gitrepo", "-n", "flux-system"], "").await;
    assert!(ok, "{err}");
    let sha = p.repos().get(URL).expect("repo").head("main").expect("head");
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["NAME", "URL", "AGE", "READY", "STATUS"]);
    let row = lines.next().unwrap_or_default();
    assert!(row.starts_with("fleet") && row.contains(URL), "{row}");
    assert!(row.contains(&format!("True    stored artifact for revision 'main@sha1:{sha}'")), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flux_2_7_serves_v1beta2_with_the_deprecation_warning() {
    let (p, _src) = platform("2.7");
    let s = Served::start(&p).await;
    let (ok, out, err) = s.kubectl(&["apply", "-f", "-"], V1BETA2).await;
    assert!(ok, "{out}{err}");
    // source-controller v1.7 api/v1beta2/gitrepository_types.go +kubebuilder:deprecatedversion.
    assert!(err.contains("Warning: v1beta2 GitRepository is deprecated, upgrade to v1"), "{err}");
    p.settle(SETTLE).await.expect("settle");
    assert_eq!(cond(&get(&p, "GitRepository", "fleet").await, "Ready").0, "True");
}

const CSI_REPO: &str = "https://kubernetes-sigs.github.io/secrets-store-csi-driver/charts";

fn chart_spec(chart: &str, version: &str, kind: &str, source: &str) -> Value {
    json!({"spec": {"chart": chart, "version": version, "sourceRef": {"kind": kind, "name": source}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_releases_of_platform_components_install_and_others_say_why_not() {
    let (p, _src) = platform("2.8");
    create(&p, "HelmRepository", "csi", json!({"url": CSI_REPO, "interval": "1h"})).await;
    create(&p, "HelmRepository", "podinfo", json!({"url": "https://stefanprodan.github.io/podinfo", "interval": "1h"}))
        .await;
    create(
        &p,
        "HelmRelease",
        "csi-driver",
        json!({
            "interval": "10m", "targetNamespace": "csi", "install": {"createNamespace": true},
            "chart": chart_spec("secrets-store-csi-driver", "1.5.0", "HelmRepository", "csi"),
            "values": {"syncSecret": {"enabled": true}},
        }),
    )
    .await;
    create(
        &p,
        "HelmRelease",
        "podinfo",
        json!({"interval": "10m", "chart": chart_spec("podinfo", "6.x", "HelmRepository", "podinfo")}),
    )
    .await;
    create(
        &p,
        "HelmRelease",
        "app",
        json!({"interval": "10m", "dependsOn": [{"name": "podinfo"}], "chart": chart_spec("secrets-store-csi-driver", "*", "HelmRepository", "csi")}),
    )
    .await;
    create(
        &p,
        "HelmRelease",
        "after-csi",
        json!({"interval": "10m", "dependsOn": [{"name": "csi-driver"}], "targetNamespace": "csi",
               "chart": chart_spec("secrets-store-csi-driver", "*", "HelmRepository", "csi")}),
    )
    .await;
    create(
        &p,
        "HelmRelease",
        "gatekeeper",
        json!({"interval": "10m", "chart": chart_spec("gatekeeper", "3.20.x", "HelmRepository", "gatekeeper")}),
    )
    .await;
    let gk_repo = json!({"url": "https://open-policy-agent.github.io/gatekeeper/charts", "interval": "1h"});
    create(&p, "HelmRepository", "gatekeeper", gk_repo).await;
    create(&p, "GitRepository", "fleet", json!({"url": URL, "interval": "1m", "ref": {"branch": "main"}})).await;
    create(
        &p,
        "HelmRelease",
        "from-git",
        json!({"interval": "10m", "chart": chart_spec("./charts/web", "*", "GitRepository", "fleet")}),
    )
    .await;
    p.settle(SETTLE).await.expect("settle");

    let csi = get(&p, "HelmRelease", "csi-driver").await;
    // helm-controller v1.5 internal/reconcile/install.go fmtInstallSuccess with
    // api/v2/snapshot_types.go FullReleaseName and VersionedChartName.
    let msg = "Helm install succeeded for release csi/csi-csi-driver.v1 with chart secrets-store-csi-driver@1.5.0";
    assert_eq!(cond(&csi, "Ready"), ("True".into(), "InstallSucceeded".into(), msg.into()));
    assert_eq!(cond(&csi, "Released"), ("True".into(), "InstallSucceeded".into(), msg.into()));
    assert_eq!(csi["status"]["helmChart"], "flux-system/flux-system-csi-driver");
    assert_eq!(csi["status"]["history"][0]["chartVersion"], "1.5.0");
    assert!(p.server().get_object("", "namespaces", "", "csi").is_some(), "install.createNamespace");
    let hc = get(&p, "HelmChart", "flux-system-csi-driver").await;
    assert_eq!(cond(&hc, "Ready").0, "True");
    assert!(events(&p, "csi-driver").contains(&("Normal".into(), "InstallSucceeded".into(), msg.into())));

    // The `*` range reports the chart version the simulator models.
    let after = get(&p, "HelmRelease", "after-csi").await;
    assert_eq!(
        cond(&after, "Ready").2,
        "Helm install succeeded for release csi/csi-after-csi.v1 with chart secrets-store-csi-driver@1.5.0"
    );

    let podinfo = get(&p, "HelmRelease", "podinfo").await;
    let (s, r, m) = cond(&podinfo, "Ready");
    assert_eq!((s.as_str(), r.as_str()), ("False", "SourceNotReady"));
    // helm-controller helmrelease_controller.go isReady: "%s '%s/%s' is not ready: %s".
    assert!(
        m.starts_with(
            "HelmChart 'flux-system/flux-system-podinfo' is not ready: chart pull error: the simulator cannot fetch chart 'podinfo' from 'https://stefanprodan.github.io/podinfo' offline"
        ),
        "{m}"
    );

    // helmrelease_controller.go checkDependencies: "dependency '%s' is not ready".
    let app = get(&p, "HelmRelease", "app").await;
    assert_eq!(
        cond(&app, "Ready"),
        ("False".into(), "DependencyNotReady".into(), "dependency 'flux-system/podinfo' is not ready".into())
    );

    let gk = get(&p, "HelmRelease", "gatekeeper").await;
    let (s, r, m) = cond(&gk, "Ready");
    assert_eq!((s.as_str(), r.as_str()), ("False", "InstallFailed"));
    assert!(m.contains("does not enable"), "{m}");

    let git = get(&p, "HelmRelease", "from-git").await;
    let (s, r, m) = cond(&git, "Ready");
    assert_eq!((s.as_str(), r.as_str()), ("False", "SourceNotReady"));
    assert!(m.contains("does not package charts from GitRepository sources yet"), "{m}");

    // New values: an upgrade to v2; the same spec again changes nothing.
    let patch = json!({"spec": {"values": {"syncSecret": {"enabled": false}}}});
    api(&p, "HelmRelease").patch("csi-driver", &PatchParams::default(), &Patch::Merge(patch)).await.expect("patch");
    p.settle(SETTLE).await.expect("settle");
    let csi = get(&p, "HelmRelease", "csi-driver").await;
    // internal/reconcile/upgrade.go fmtUpgradeSuccess.
    assert_eq!(
        cond(&csi, "Ready"),
        (
            "True".into(),
            "UpgradeSucceeded".into(),
            "Helm upgrade succeeded for release csi/csi-csi-driver.v2 with chart secrets-store-csi-driver@1.5.0".into()
        )
    );
    let rv = csi["metadata"]["resourceVersion"].clone();
    p.runtime().touch(&sim::apiserver::resources::GroupResource::new("helm.toolkit.fluxcd.io", "helmreleases"));
    p.settle(SETTLE).await.expect("settle");
    assert_eq!(get(&p, "HelmRelease", "csi-driver").await["metadata"]["resourceVersion"], rv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_release_values_namespaces_suspend_and_deletion() {
    let (p, _src) = platform("2.8");
    create(&p, "HelmRepository", "csi", json!({"url": CSI_REPO, "interval": "1h"})).await;
    let chart = chart_spec("secrets-store-csi-driver", "1.5.0", "HelmRepository", "csi");
    create(
        &p,
        "HelmRelease",
        "values",
        json!({"interval": "10m", "chart": chart, "valuesFrom": [{"kind": "ConfigMap", "name": "csi-values"}]}),
    )
    .await;
    create(&p, "HelmRelease", "nons", json!({"interval": "10m", "chart": chart, "targetNamespace": "absent"})).await;
    p.settle(SETTLE).await.expect("settle");
    // fluxcd/pkg chartutil values.go ChartValuesFromReferences: "could not find %s '%s'".
    let v = get(&p, "HelmRelease", "values").await;
    assert_eq!(
        cond(&v, "Ready"),
        ("False".into(), "ValuesError".into(), "could not find ConfigMap 'flux-system/csi-values'".into())
    );
    // helm-controller helmrelease_controller.go: Reconciling stays from "Fulfilling prerequisites".
    assert_eq!(cond(&v, "Reconciling"), ("True".into(), "Progressing".into(), "Fulfilling prerequisites".into()));
    assert!(v["status"].get("observedGeneration").is_none());
    let n = get(&p, "HelmRelease", "nons").await;
    // internal/reconcile/install.go fmtInstallFailure: "Helm install failed for release %s/%s with chart %s@%s: %s".
    assert_eq!(
        cond(&n, "Ready"),
        (
            "False".into(),
            "InstallFailed".into(),
            "Helm install failed for release absent/absent-nons with chart secrets-store-csi-driver@1.5.0: namespaces \"absent\" not found"
                .into()
        )
    );

    // A ConfigMap without the default key, then with it.
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(p.server().client(), "flux-system");
    let cm = |data: Value| -> k8s_openapi::api::core::v1::ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": "csi-values"}, "data": data})).expect("cm")
    };
    cms.create(&PostParams::default(), &cm(json!({"other.yaml": "a: 1"}))).await.expect("create cm");
    p.settle(SETTLE).await.expect("settle");
    assert_eq!(
        cond(&get(&p, "HelmRelease", "values").await, "Ready").2,
        "missing key 'values.yaml' in ConfigMap 'flux-system/csi-values'"
    );
    cms.replace("csi-values", &PostParams::default(), &cm(json!({"values.yaml": "a: 1"}))).await.expect("replace cm");
    p.settle(SETTLE).await.expect("settle");
    let v = get(&p, "HelmRelease", "values").await;
    assert_eq!(cond(&v, "Ready").1, "InstallSucceeded");
    assert!(condition(&v, "Reconciling").is_none());

    // Suspended: nothing changes; deleted: the finalizer goes and the object with it.
    let patch = json!({"spec": {"suspend": true, "values": {"x": 1}}});
    api(&p, "HelmRelease").patch("values", &PatchParams::default(), &Patch::Merge(patch)).await.expect("patch");
    p.settle(SETTLE).await.expect("settle");
    assert_eq!(get(&p, "HelmRelease", "values").await["status"], v["status"]);
    api(&p, "HelmRelease").delete("values", &DeleteParams::default()).await.expect("delete");
    p.settle(SETTLE).await.expect("settle");
    assert!(api(&p, "HelmRelease").get_opt("values").await.expect("get").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_lists_helm_releases_and_flux_2_7_warns_on_v2beta2() {
    let (p, _src) = platform("2.7");
    let s = Served::start(&p).await;
    let hr = r#"
apiVersion: helm.toolkit.fluxcd.io/v2beta2
kind: HelmRelease
metadata: {name: csi, namespace: flux-system}
spec:
  interval: 10m
  chart: {spec: {chart: secrets-store-csi-driver, version: 1.5.0, sourceRef: {kind: HelmRepository, name: csi}}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: csi, namespace: flux-system}
spec: {url: "https://kubernetes-sigs.github.io/secrets-store-csi-driver/charts", interval: 1h}
"#;
    let (ok, out, err) = s.kubectl(&["apply", "-f", "-"], hr).await;
    assert!(ok, "{out}{err}");
    // helm-controller v1.4 api/v2beta2/helmrelease_types.go +kubebuilder:deprecatedversion.
    assert!(err.contains("Warning: v2beta2 HelmRelease is deprecated, upgrade to v2"), "{err}");
    p.settle(SETTLE).await.expect("settle");
    let (ok, out, err) = s.kubectl(&["get", "hr", "-n", "flux-system"], "").await;
    assert!(ok, "{err}");
    let header: Vec<&str> = out.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["NAME", "AGE", "READY", "STATUS"]);
    assert!(
        out.contains(
            "True    Helm install succeeded for release flux-system/csi.v1 with chart secrets-store-csi-driver@1.5.0"
        ),
        "{out}"
    );
}

//! The runner's failure modes, on the simulator: a mismatch fails with the path and a diff; a
//! leak is named with its finalizer; a scenario timeout stops it and cleanup still runs; catch
//! steps run after a failure; Ctrl-C interrupts and cleans up; a failed scenario leaves an
//! evidence bundle (Secret values never in it); the CLI's exit codes and reports.

use std::path::{Path, PathBuf};
use std::time::Duration;

use idp_harness::backend::Backend;
use idp_harness::run::events::{Reporter, RunEvent, ScenarioReport, Verdict};
use idp_harness::run::{run_all, RunOptions};
use idp_harness::scenario::load_file;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

struct Quiet;
impl Reporter for Quiet {
    fn event(&mut self, _: &RunEvent) {}
}

/// A simulator API server on a loopback port, run as an existing cluster: its state outlives
/// the scenario, so tests can look at what cleanup left.
struct Served {
    api: sim::apiserver::ApiServer,
    _running: sim::apiserver::RunningServer,
    dir: tempfile::TempDir,
}

impl Served {
    async fn start() -> Served {
        let api = sim::apiserver::ApiServer::default();
        let running = api.serve("127.0.0.1:0".parse().expect("addr")).await.expect("serve");
        let dir = tempfile::tempdir().expect("tempdir");
        sim::apiserver::kubeconfig::write(&dir.path().join("kubeconfig"), &running.url(), None, None)
            .expect("kubeconfig");
        Served { api, _running: running, dir }
    }

    async fn backend(&self) -> Backend {
        Backend::cluster(Some(self.dir.path().join("kubeconfig")), None).await.expect("cluster backend")
    }
}

async fn run_fixture(name: &str, cancel_after: Option<Duration>) -> (ScenarioReport, Served) {
    run_fixture_with(name, cancel_after, RunOptions::default()).await
}

async fn run_fixture_with(name: &str, cancel_after: Option<Duration>, opts: RunOptions) -> (ScenarioReport, Served) {
    let loaded = load_file(&fixture(name)).expect("fixture loads");
    let served = Served::start().await;
    let backend = served.backend().await;
    let (tx, rx) = tokio::sync::watch::channel(false);
    if let Some(d) = cancel_after {
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            let _ = tx.send(true);
        });
    } else {
        std::mem::forget(tx);
    }
    let totals = run_all(vec![loaded], &backend, &opts, &mut Quiet, rx).await;
    (totals.reports.into_iter().next().expect("one report"), served)
}

async fn namespaces(served: &Served) -> Vec<String> {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(served.api.client());
    api.list(&Default::default()).await.expect("list").items.into_iter().filter_map(|n| n.metadata.name).collect()
}

#[tokio::test]
async fn a_mismatch_fails_with_the_path_and_a_diff_and_skips_the_rest() {
    let (r, _b) = run_fixture("mismatch.yaml", None).await;
    assert_eq!(r.verdict, Verdict::Failed);
    let f = r.failure.expect("failure");
    assert!(f.message.starts_with("not met within 200ms: object v1/ConfigMap mismatch-"), "{}", f.message);
    assert!(f.message.ends_with("/c: data.k: expected \"wanted\", got \"actual\""), "{}", f.message);
    let diff = f.diff.expect("diff");
    assert!(diff.contains("-  k: wanted") && diff.contains("+  k: actual"), "{diff}");
    assert_eq!(
        r.steps.iter().map(|s| s.verdict).collect::<Vec<_>>(),
        vec![Verdict::Passed, Verdict::Failed, Verdict::Skipped]
    );
}

#[tokio::test]
async fn a_leak_is_named_with_the_finalizer_that_holds_it() {
    let (r, b) = run_fixture("leak.yaml", None).await;
    assert_eq!(r.verdict, Verdict::Failed);
    assert_eq!(r.leaks.len(), 1, "{:?}", r.leaks);
    assert!(r.leaks[0].starts_with("v1/Namespace leak-"), "{}", r.leaks[0]);
    assert!(
        r.leaks[0].contains(
            "Some content in the namespace has finalizers remaining: example.com/never in 1 resource instances"
        ),
        "{}",
        r.leaks[0]
    );
    assert!(r.failure.expect("failure").message.starts_with("left behind after cleanup"));
    assert!(namespaces(&b).await.iter().any(|n| n.starts_with("leak-")));
}

#[tokio::test]
async fn a_scenario_timeout_stops_it_and_cleanup_still_runs() {
    let started = std::time::Instant::now();
    let (r, b) = run_fixture("timeout.yaml", None).await;
    assert!(started.elapsed() < Duration::from_secs(5), "the 10s sleep was interrupted");
    assert_eq!(r.verdict, Verdict::Failed);
    assert!(r.failure.expect("failure").message.starts_with("scenario timed out after 300ms"));
    assert!(!namespaces(&b).await.iter().any(|n| n.starts_with("slow-")), "the namespace was removed");
}

#[tokio::test]
async fn catch_runs_after_a_failure_and_finally_always() {
    let (r, _b) = run_fixture("catch.yaml", None).await;
    assert_eq!(r.verdict, Verdict::Failed);
    let names: Vec<(&str, Verdict)> = r.steps.iter().map(|s| (s.name.as_str(), s.verdict)).collect();
    assert!(names.contains(&("collect evidence", Verdict::Passed)), "{names:?}");
    assert!(names.contains(&("always", Verdict::Passed)), "{names:?}");
    assert!(r.failure.expect("failure").message.starts_with("try block failed: not met within 100ms"));
}

#[tokio::test]
async fn ctrl_c_interrupts_and_cleans_up() {
    let (r, b) = run_fixture("timeout.yaml", Some(Duration::from_millis(100))).await;
    assert_eq!(r.verdict, Verdict::Failed);
    assert_eq!(r.failure.expect("failure").message, "interrupted");
    assert!(!namespaces(&b).await.iter().any(|n| n.starts_with("slow-")));
}

fn with_evidence(dir: &Path) -> RunOptions {
    RunOptions { evidence_dir: Some(dir.to_path_buf()), ..RunOptions::default() }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[tokio::test]
async fn a_failed_scenario_leaves_an_evidence_bundle_without_secret_values() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (r, _b) = run_fixture_with("evidence.yaml", None, with_evidence(tmp.path())).await;
    assert_eq!(r.verdict, Verdict::Failed);
    let bundle = r.evidence.clone().expect("the report names the bundle");
    assert_eq!(bundle, tmp.path().join("evidence"));
    for file in idp_harness::run::evidence::BUNDLE_FILES {
        assert!(bundle.join(file).is_file(), "{file} written");
    }
    assert!(!bundle.join("capture-errors.txt").exists(), "{}", read(&bundle, "capture-errors.txt"));

    // The mismatched ConfigMap as it was before cleanup, the Secret redacted, the ClusterRole
    // applied outside the namespace, the namespace itself.
    let objects = read(&bundle, "objects.yaml");
    let docs: Vec<serde_json::Value> = objects
        .split("\n---\n")
        .skip(1)
        .map(|d| serde_saphyr::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect();
    let find = |kind: &str| docs.iter().find(|d| d["kind"] == kind).unwrap_or_else(|| panic!("no {kind}: {objects}"));
    assert_eq!(find("ConfigMap")["data"]["k"], "actual");
    assert_eq!(find("Secret")["data"]["password"], "<redacted>");
    assert!(find("ClusterRole")["metadata"]["name"].as_str().is_some_and(|n| n.starts_with("evidence-")));
    assert!(find("Namespace")["metadata"]["name"].as_str().is_some_and(|n| n.starts_with("evidence-")));
    assert!(!docs.iter().any(|d| d["kind"] == "Event"), "Events go to events.txt");
    assert!(!objects.contains("managedFields:"), "{objects}");

    // The Secret's value, plain or base64, is in no file of the bundle.
    for e in std::fs::read_dir(&bundle).expect("bundle").flatten() {
        let text = std::fs::read_to_string(e.path()).expect("text");
        for value in ["s3cr3t-value-4711", "czNjcjN0LXZhbHVlLTQ3MTE"] {
            assert!(!text.contains(value), "{value} in {}:\n{text}", e.path().display());
        }
    }

    let failure = read(&bundle, "failure.txt");
    let f = r.failure.expect("failure");
    assert!(failure.contains(&f.message), "{failure}");
    assert!(failure.contains("captured: when it failed, before cleanup"), "{failure}");
    assert!(failure.contains("step: spec.steps[1] expect object (line "), "{failure}");
    assert!(failure.contains("-  k: wanted") && failure.contains("+  k: actual"), "the diff: {failure}");

    let timeline = read(&bundle, "timeline.txt");
    let lines: Vec<&str> = timeline.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three steps: {timeline}");
    assert!(lines[1].starts_with("PASS") && lines[1].contains("spec.steps[0]") && lines[1].ends_with("(line 6)"));
    assert!(lines[2].starts_with("FAIL") && lines[2].contains("spec.steps[1]  expect object"), "{timeline}");
    assert!(lines[3].starts_with("SKIP") && lines[3].contains("spec.steps[2]  sleep 1ms"), "{timeline}");

    let events = read(&bundle, "events.txt");
    assert!(
        events.lines().any(|l| l.starts_with("2025-06-01T10:00:00Z")
            && l.contains("Warning")
            && l.contains("FixtureSaid")
            && l.contains("ConfigMap/c")
            && l.ends_with("hello from the fixture")),
        "{events}"
    );
}

#[tokio::test]
async fn a_passing_scenario_writes_no_bundle() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let loaded =
        load_file(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/core/configmap-roundtrip.yaml"))
            .expect("loads");
    let backend = Backend::sim().await.expect("sim");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let totals = run_all(vec![loaded], &backend, &with_evidence(tmp.path()), &mut Quiet, rx).await;
    assert_eq!(totals.passed, 1);
    assert!(totals.reports.iter().all(|r| r.evidence.is_none()));
    assert_eq!(std::fs::read_dir(tmp.path()).expect("dir").count(), 0, "nothing written");
}

#[tokio::test]
async fn a_timed_out_scenario_and_a_leak_leave_bundles_too() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (r, _b) = run_fixture_with("timeout.yaml", None, with_evidence(tmp.path())).await;
    let bundle = r.evidence.expect("a bundle for a timeout");
    assert!(read(&bundle, "failure.txt").contains("scenario timed out after 300ms"));
    assert!(read(&bundle, "timeline.txt").contains("FAIL"), "{}", read(&bundle, "timeline.txt"));

    // Only the cleanup failed: the bundle is taken after it and shows what holds the namespace.
    let (r, _b) = run_fixture_with("leak.yaml", None, with_evidence(tmp.path())).await;
    let bundle = r.evidence.expect("a bundle for a leak");
    assert!(read(&bundle, "failure.txt").contains("captured: after cleanup"));
    let objects = read(&bundle, "objects.yaml");
    assert!(objects.contains("example.com/never") && objects.contains("deletionTimestamp"), "{objects}");
    let conditions = read(&bundle, "conditions.txt");
    assert!(conditions.contains("NamespaceFinalizersRemaining"), "{conditions}");
}

fn cli(args: &[&str], dir: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_idp-harness"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run the CLI")
}

#[test]
fn the_cli_exit_codes_and_reports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = cli(&["validate", fixture("invalid.yaml").to_str().unwrap_or_default()], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid.yaml:6:")
            && err.contains("unknown field `aply`")
            && err.contains("hint: did you mean `apply`?"),
        "{err}"
    );

    let out =
        cli(&["run", fixture("mismatch.yaml").to_str().unwrap_or_default(), "--report-dir", "reports"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l == "0 passed, 1 failed"), "{text}");
    let junit = walk(&dir.path().join("reports"), "junit.xml").expect("junit written");
    let xml = std::fs::read_to_string(&junit).expect("read junit");
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");
    let failure = doc.descendants().find(|n| n.has_tag_name("failure")).expect("a failure element");
    assert!(failure.attribute("message").unwrap_or_default().contains("expected \"wanted\", got \"actual\""));
    // The evidence bundle sits next to the reports, and every report points at it.
    let run_dir = junit.parent().expect("run folder");
    let bundle = run_dir.strip_prefix(dir.path()).expect("relative").join("mismatch");
    assert!(dir.path().join(&bundle).join("objects.yaml").is_file());
    assert!(text.lines().any(|l| l == format!("    evidence: {}", bundle.display())), "{text}");
    assert!(failure.text().unwrap_or_default().contains(&format!("evidence: {}", bundle.display())));
    let json = std::fs::read_to_string(run_dir.join("report.json")).expect("read json");
    assert!(json.contains(&format!("\"evidence\": \"{}\"", bundle.display())), "{json}");

    let out = cli(
        &[
            "run",
            fixture("catch.yaml").parent().map(|p| p.join("nope")).unwrap_or_default().to_str().unwrap_or_default(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
}

fn walk(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = walk(&p, name) {
                return Some(f);
            }
        } else if p.file_name().and_then(|n| n.to_str()) == Some(name) {
            return Some(p);
        }
    }
    None
}

#[tokio::test]
async fn the_cluster_backend_runs_a_scenario_from_a_kubeconfig() {
    // Any cluster reachable through a kubeconfig: here the simulator's own loopback port.
    let served = Served::start().await;
    let cluster = served.backend().await;
    assert_eq!(cluster.name, "cluster");
    let loaded =
        load_file(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/core/configmap-roundtrip.yaml"))
            .expect("loads");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let totals = run_all(vec![loaded], &cluster, &RunOptions::default(), &mut Quiet, rx).await;
    assert_eq!((totals.passed, totals.failed), (1, 0), "{:?}", totals.reports.first().and_then(|r| r.failure.clone()));
    let missing =
        Backend::cluster(Some(PathBuf::from("/nonexistent/kubeconfig")), None).await.err().expect("missing kubeconfig");
    assert!(missing.to_string().contains("/nonexistent/kubeconfig"), "{missing}");
}

#[tokio::test]
async fn repeat_partition_and_fail_fast() {
    let backend = Backend::sim().await.expect("sim");
    let ok = load_file(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/core/configmap-roundtrip.yaml"))
        .expect("loads");
    let bad = load_file(&fixture("mismatch.yaml")).expect("loads");
    let (_tx, rx) = tokio::sync::watch::channel(false);

    let totals =
        run_all(vec![ok.clone()], &backend, &RunOptions { repeat: 3, ..Default::default() }, &mut Quiet, rx.clone())
            .await;
    assert_eq!((totals.passed, totals.reports.len()), (3, 3), "each repetition is its own run, in its own namespace");

    let four = vec![ok.clone(), bad.clone(), ok.clone(), bad.clone()];
    let shard = idp_harness::run::select(four.clone(), Some("count:2/2".parse().expect("partition")));
    assert_eq!(
        shard.iter().map(|l| l.scenario.metadata.name.as_str()).collect::<Vec<_>>(),
        vec!["mismatch", "mismatch"]
    );
    assert!("count:3/2".parse::<idp_harness::run::Partition>().is_err());

    // One at a time, the first failure stops the rest.
    let opts = RunOptions { parallel: 1, fail_fast: true, ..Default::default() };
    let totals = run_all(vec![bad, ok.clone(), ok], &backend, &opts, &mut Quiet, rx).await;
    assert_eq!((totals.failed, totals.skipped, totals.passed), (1, 2, 0));
}

#[cfg(unix)]
#[test]
fn ctrl_c_on_the_cli_stops_cleans_up_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_idp-harness"))
        .args(["run", fixture("long.yaml").to_str().unwrap_or_default(), "--report-dir", "reports"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the CLI");
    // Interrupt once the scenario is in its long step (the run may first start its emulator).
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().expect("stdout")));
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.expect("read stdout");
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("step spec.steps[1]") {
            break;
        }
    }
    assert!(seen.contains("step spec.steps[1]"), "the scenario never reached its sleep:\n{seen}");
    let killed = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = child.wait_with_output().expect("wait");
    let stdout = format!("{seen}{}", rest.join("\n"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("interrupted: stopping scenarios and cleaning up"), "{stderr}");
    assert!(stdout.contains("interrupted"), "{stdout}");
    let json = walk(&dir.path().join("reports"), "report.json").expect("JSON report written");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(json).expect("read")).expect("JSON");
    let cleanup = &doc["scenarios"][0]["cleanup"][0];
    assert!(cleanup["name"].as_str().unwrap_or_default().starts_with("remove namespace long-"), "{cleanup}");
    assert_eq!(cleanup["verdict"], "passed", "the namespace and the applied ConfigMap were removed");
}

#[tokio::test]
async fn reconcile_on_a_real_cluster_requests_a_reconcile_and_waits_for_it() {
    // A real-cluster stand-in: the simulated platform served on a port, used as `cluster`, where
    // settling is not the reconcile, so the step annotates and waits for lastHandledReconcileAt.
    let platform = sim::platform::Platform::start(sim::platform::PlatformConfig {
        tools: sim::platform::Tools { kubectl: idp_harness::backend::find_kubectl(), build_cache: None },
        ..Default::default()
    })
    .expect("platform");
    let running = platform.server().serve("127.0.0.1:0".parse().expect("addr")).await.expect("serve");
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = dir.path().join("kubeconfig");
    sim::apiserver::kubeconfig::write(&kc, &running.url(), None, None).expect("kubeconfig");
    let backend = Backend::cluster(Some(kc), None).await.expect("cluster backend");
    let loaded = load_file(&fixture("reconcile-requested.yaml")).expect("loads");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let totals = run_all(vec![loaded], &backend, &RunOptions::default(), &mut Quiet, rx).await;
    assert_eq!((totals.passed, totals.failed), (1, 0), "{:?}", totals.reports.first().and_then(|r| r.failure.clone()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_checks_a_clusters_preconditions_before_running() {
    let served = Served::start().await;
    let kc = served.dir.path().join("kubeconfig");
    let scenario = served.dir.path().join("needs-flux.yaml");
    std::fs::write(
        &scenario,
        "apiVersion: idp-harness.dev/v1alpha1\nkind: Scenario\nmetadata: {name: needs-flux}\nspec:\n  profile: {flux: \"2.8\", gatekeeper: none, csi: none, ackIam: none, ackRds: none, ackSecretsmanager: none, crossplaneAws: none}\n  steps:\n    - apply:\n        objects: [{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {k: v}}]\n",
    )
    .expect("write");
    let (kc_arg, sc_arg) = (kc.display().to_string(), scenario.display().to_string());
    let dir = served.dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        cli(&["run", "--backend", "cluster", "--kubeconfig", &kc_arg, "-q", "--report-dir", "r", &sc_arg], &dir)
    })
    .await
    .expect("join");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cluster is missing: Flux (CRD gitrepositories.source.toolkit.fluxcd.io not found"), "{err}");
    assert!(!err.contains("Gatekeeper"), "only what the profile names is required: {err}");
    assert!(err.contains("--no-preflight runs them anyway"), "{err}");
    // Nothing ran: the ConfigMap is not there.
    assert!(served.api.store().all_objects().iter().all(
        |(gr, o)| gr.resource != "configmaps" || o.pointer("/metadata/name").and_then(|v| v.as_str()) != Some("c")
    ));
    let (kc_arg, sc_arg) = (kc.display().to_string(), scenario.display().to_string());
    let dir = served.dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        cli(
            &[
                "run",
                "--backend",
                "cluster",
                "--kubeconfig",
                &kc_arg,
                "--no-preflight",
                "-q",
                "--report-dir",
                "r",
                &sc_arg,
            ],
            &dir,
        )
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
}

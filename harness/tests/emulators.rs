//! Choosing the AWS emulator (`--aws`, `IDP_HARNESS_AWS`): wrong choices fail the run at once
//! with what to do, a scenario needing a service the emulator lacks fails before it runs, and
//! (when `localstack/.venv` exists) an AWS scenario passes on LocalStack for real.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use idp_harness::backend::aws::AwsChoice;
use idp_harness::backend::Backend;
use idp_harness::run::events::{Reporter, RunEvent, Verdict};
use idp_harness::run::{run_all, RunOptions};
use idp_harness::scenario::load_file;

struct Quiet;
impl Reporter for Quiet {
    fn event(&mut self, _: &RunEvent) {}
}

const NEEDS_RDS: &str = r#"apiVersion: idp-harness.dev/v1alpha1
kind: Scenario
metadata: {name: needs-rds}
spec:
  profile: {flux: none, gatekeeper: none, ackRds: none}
  steps:
    - expect: {aws: {dbInstance: {identifier: orders, exists: false}}}
"#;

/// Runs `idp-harness run <args> <scenario dir>` with `env`, reports under a temporary folder.
fn harness(args: &[&str], env: &[(&str, &str)], scenario: &str) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("case.yaml"), scenario).expect("write");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_idp-harness"));
    cmd.arg("run")
        .args(args)
        .arg(dir.path())
        .arg("--report-dir")
        .arg(dir.path().join("reports"))
        .env_remove("IDP_HARNESS_AWS")
        .env_remove("LOCALSTACK_AUTH_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("runs idp-harness")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn localstack_without_its_venv_says_how_to_make_it() {
    let o = harness(&["--aws", "localstack"], &[("IDP_HARNESS_LOCALSTACK_PYTHON", "/nonexistent/python")], NEEDS_RDS);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o)
            .contains("error: LocalStack's Python was not found at /nonexistent/python: run `make localstack-setup`"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_container_without_docker_says_what_to_use_instead() {
    // A PATH without a docker CLI, and the choice through the environment variable.
    let empty = tempfile::tempdir().expect("tempdir");
    let path = empty.path().display().to_string();
    let o = harness(&[], &[("IDP_HARNESS_AWS", "localstack-container"), ("PATH", &path)], NEEDS_RDS);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "error: no Docker CLI: docker was not found; --aws localstack-container needs Docker: install it, or use --aws moto or localstack"
        ),
        "{}",
        text(&o)
    );
}

#[test]
fn a_scenario_needing_rds_fails_on_localstack_before_it_runs() {
    // Any existing file passes the venv check; the service check comes before LocalStack starts,
    // so nothing is started here.
    let o = harness(&["--aws", "localstack"], &[("IDP_HARNESS_LOCALSTACK_PYTHON", "/bin/sh")], NEEDS_RDS);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("set-up failed: the scenario needs RDS (an aws dbInstance expectation), which LocalStack's free tier (localstack-core 4.9.2 on the host) does not provide; use --aws moto, or --aws localstack-container with LOCALSTACK_AUTH_TOKEN set"),
        "{}",
        text(&o)
    );
}

#[test]
fn an_unknown_choice_is_refused() {
    let o = harness(&[], &[("IDP_HARNESS_AWS", "kinesis")], NEEDS_RDS);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("[possible values: moto, localstack, localstack-container, external]"), "{}", text(&o));
}

#[tokio::test]
async fn a_cluster_cannot_reach_a_loopback_emulator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\nusers: [{name: u, user: {}}]\n",
    )
    .expect("write");
    let err =
        Backend::start(idp_harness::backend::BackendKind::Cluster, Some(kc), None, Some(AwsChoice::Localstack), &[])
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
    assert!(
        err.starts_with("--aws localstack runs the emulator on this machine's loopback, which the cluster's controllers cannot reach"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_scenario_passes_on_localstack() {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../localstack/.venv/bin/python");
    if !venv.is_file() {
        eprintln!("skipped: {} is missing (run `make localstack-setup` to test LocalStack)", venv.display());
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/aws/irsa-role.yaml");
    let loaded = load_file(&path).unwrap_or_else(|e| panic!("loads: {e:?}"));
    let backend =
        Backend::sim().await.expect("sim backend").with_aws(AwsChoice::Localstack).expect("LocalStack's venv is found");
    assert!(backend.fidelity_notes.iter().any(|n| n.starts_with("AWS: LocalStack")), "{:?}", backend.fidelity_notes);
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let totals = run_all(vec![loaded], &backend, &RunOptions::default(), &mut Quiet, rx).await;
    let r = totals.reports.into_iter().next().expect("one report");
    assert_eq!(r.verdict, Verdict::Passed, "{:?}", r.failure);
    assert!(r.leaks.is_empty(), "{:?}", r.leaks);
}

#[test]
fn the_profiles_rds_controller_needs_rds_too() {
    let scenario = NEEDS_RDS
        .replace(", ackRds: none", "")
        .replace("dbInstance: {identifier: orders, exists: false}", "secret: {name: x, exists: false}");
    let o = harness(&["--aws", "localstack"], &[("IDP_HARNESS_LOCALSTACK_PYTHON", "/bin/sh")], &scenario);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("set-up failed: the scenario needs RDS ("), "{}", text(&o));
    assert!(text(&o).contains("rds"), "{}", text(&o));
}

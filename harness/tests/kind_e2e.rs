//! End to end on a real kind cluster: `idp-harness kind up` brings the cluster, the AWS
//! emulator and the platform up; every readiness check of every component must then hold;
//! `kind status` must call the cluster up to date; `kind down` must remove it and its
//! emulator. Runs only where `docker info` and `kind version` succeed; elsewhere it prints
//! `skipped: <reason>` to stderr and returns.

use std::process::Command;
use std::time::Duration;

use idp_harness::backend::kind::config;
use idp_harness::backend::kind::docker::{self, CommandLine};
use idp_harness::backend::kind::install;
use idp_harness::backend::kind::readiness::Component;

const CLUSTER: &str = "idp-harness-e2e";

fn works(program: &str, args: &[&str]) -> Result<(), String> {
    docker::run(&CommandLine::new(program, args.iter().copied())).map(|_| ()).map_err(|e| e.to_string())
}

fn harness(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_idp-harness")).args(args).output().expect("the idp-harness binary runs")
}

#[test]
fn kind_up_status_down() {
    if let Err(reason) = works("docker", &["info"]).and_then(|()| works("kind", &["version"])) {
        eprintln!("skipped: {reason}");
        return;
    }
    let up = harness(&["kind", "up", "--name", CLUSTER]);
    let stderr = String::from_utf8_lossy(&up.stderr).to_string();
    if !up.status.success() {
        let _ = harness(&["kind", "down", "--name", CLUSTER]);
        panic!("kind up failed:\n{stderr}");
    }
    assert!(stderr.contains("[kind up] install done in"), "no progress lines:\n{stderr}");

    // Every check of every component holds now (each must succeed at once, not after a wait).
    let ctx = config::context(CLUSTER);
    let mut failures = Vec::new();
    for c in Component::ALL {
        for check in c.checks() {
            let cmd = install::wait_command(&check, &ctx, Duration::from_secs(5));
            if let Err(e) = docker::run(&cmd) {
                failures.push(format!("{c:?}: {cmd}: {e}"));
            }
        }
    }

    // A scenario of the reference platform on it: Flux from the served repos, the secret
    // mounted through the real CSI driver, the AWS provider and the STS interception.
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/platform/secret-mount.yaml");
    let run = harness(&[
        "run",
        "--backend",
        "kind",
        "--context",
        CLUSTER,
        "--report-dir",
        &std::env::temp_dir().join("idp-harness-kind-e2e").display().to_string(),
        &scenario.display().to_string(),
    ]);
    let run_text = format!("{}\n{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));

    let status = harness(&["kind", "status", "--name", CLUSTER]);
    let status_text = String::from_utf8_lossy(&status.stdout).to_string();

    let down = harness(&["kind", "down", "--name", CLUSTER]);
    let down_text = String::from_utf8_lossy(&down.stdout).to_string();
    let clusters = docker::run(&config::get_clusters()).unwrap_or_default();

    assert!(failures.is_empty(), "not ready after kind up:\n{}", failures.join("\n"));
    assert!(run.status.success(), "the reference platform's secret-mount scenario on kind:\n{run_text}");
    assert!(status_text.contains("up to date"), "{status_text}");
    assert!(down.status.success(), "kind down failed: {}", String::from_utf8_lossy(&down.stderr));
    assert!(down_text.contains(&format!("removed kind cluster {CLUSTER}")), "{down_text}");
    assert!(down_text.contains(&format!("removed container {CLUSTER}-aws")), "{down_text}");
    assert!(!config::parse_clusters(&clusters).iter().any(|c| c == CLUSTER), "cluster still listed: {clusters}");
}

/// `kind up --dry-run` needs no Docker: it prints the whole plan through the real binary and
/// runs nothing (it must not create the cache's cluster records).
#[test]
fn dry_run_prints_the_plan_and_runs_nothing() {
    let home = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_idp-harness"))
        .args(["kind", "up", "--dry-run", "--name", "dry", "--aws", "localstack", "--skip", "crossplane"])
        .env("XDG_CACHE_HOME", home.path())
        .env_remove("LOCALSTACK_AUTH_TOKEN")
        .output()
        .expect("the idp-harness binary runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for want in [
        "cluster dry (context kind-dry)",
        "name: dry\n",
        "docker run -d --name dry-aws --network kind -p 127.0.0.1::4566",
        "localstack/localstack:community-archive",
        "helm upgrade --install secrets-provider-aws secrets-store-csi-driver-provider-aws",
        "kind load image-archive",
    ] {
        assert!(text.contains(want), "dry run lacks {want:?}:\n{text}");
    }
    assert!(!text.contains("crossplane-providerconfig"), "--skip crossplane ignored:\n{text}");
    assert!(!home.path().join("idp-harness/clusters").exists(), "a dry run wrote cluster records");
}

/// `run --backend kind` without a cluster `kind up` made ready says so and what to run; it
/// needs no Docker to get there.
#[test]
fn running_on_kind_without_a_ready_cluster_names_kind_up() {
    let home = tempfile::tempdir().expect("temp dir");
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/core/configmap-roundtrip.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_idp-harness"))
        .args(["run", "--backend", "kind", "--context", "nothing-here"])
        .arg(&scenario)
        .env("XDG_CACHE_HOME", home.path())
        .output()
        .expect("the idp-harness binary runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no kind cluster \"nothing-here\" is ready: run `idp-harness kind up --name nothing-here` first"),
        "{err}"
    );
}

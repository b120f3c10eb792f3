//! The README's five-minute tour, checked: its failing scenario fails the way the README shows
//! (the stuck pod and the CSI driver's FailedMount with AWS's AccessDeniedException), leaves an
//! evidence bundle with the files the tour opens, and never prints the secret's value.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read_tree(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).expect("read evidence dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            read_tree(&path, out);
        } else {
            out.push((path.clone(), String::from_utf8_lossy(&std::fs::read(&path).expect("read")).into_owned()));
        }
    }
}

#[test]
fn the_tour_failure_explains_itself_and_leaves_evidence() {
    let reports = tempfile::tempdir().expect("tempdir");
    let scenario = root().join("docs/tour/scale-up-after-a-policy-change.yaml");
    let venv_bin = root().join(".venv/bin");
    let path = format!("{}:{}", venv_bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_idp-harness"))
        .args(["run", "-q", "--report-dir"])
        .arg(reports.path())
        .arg(&scenario)
        .env("PATH", path)
        .current_dir(root())
        .output()
        .expect("run the CLI");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "the tour scenario fails\n{stdout}\n{stderr}");
    for needle in [
        "FAIL at spec.steps[4] reconcile",
        "is \"Pending\" (ContainerCreating), expected Running; last warning: FailedMount: MountVolume.SetUp failed for volume \"secrets-store-inline\"",
        "api error AccessDeniedException: User: arn:aws:sts::",
        "is not authorized to perform: secretsmanager:GetSecretValue on resource: my-app-db-password-sm",
        "evidence: ",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }
    // The bundle the tour opens.
    let run =
        std::fs::read_dir(reports.path()).expect("reports").flatten().find(|e| e.path().is_dir()).expect("a run dir");
    let bundle = run.path().join("tour-scale-up-after-a-policy-change");
    for file in ["failure.txt", "causal.txt", "events.txt", "aws-calls.txt", "objects.yaml", "decisions.txt"] {
        assert!(bundle.join(file).is_file(), "{file} in {}", bundle.display());
    }
    let causal = std::fs::read_to_string(bundle.join("causal.txt")).expect("causal");
    assert!(causal.contains("IAM DetachRolePolicy"), "the detach is on the causal timeline:\n{causal}");
    // The secret's value is in Secrets Manager and in the first pod's file, never in output.
    let mut files = Vec::new();
    read_tree(run.path().as_path(), &mut files);
    for (path, text) in files
        .iter()
        .map(|(p, t)| (p.display().to_string(), t))
        .chain([("stdout".to_string(), &stdout.to_string()), ("stderr".to_string(), &stderr.to_string())])
    {
        assert!(!text.contains("your_strong_db_password_for_eks"), "the secret value leaked into {path}");
    }
}

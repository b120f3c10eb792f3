//! `make bench`, scenario engine part: loading and validating 1,000 scenario files, runner
//! overhead per scenario on the simulator, 100 trivial scenarios in parallel, and 50 gator
//! policy suites verified (`idp-harness policy verify`). Prints figures; asserts nothing about
//! time.

#[macro_use]
#[path = "../../sim/benches/common/figures.rs"]
mod figures;

use std::path::Path;
use std::time::Instant;

use idp_harness::backend::Backend;
use idp_harness::policy::{self, Filter, Totals};
use idp_harness::run::events::{Reporter, RunEvent};
use idp_harness::run::{run_all, RunOptions};
use idp_harness::scenario::load_file;

struct Quiet;
impl Reporter for Quiet {
    fn event(&mut self, _: &RunEvent) {}
}

const TRIVIAL: &str = "apiVersion: idp-harness.dev/v1alpha1\nkind: Scenario\nmetadata: {name: NAME}\nspec:\n  steps:\n    - apply:\n        objects: [{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {k: v}}]\n    - expect:\n        object: {apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {k: v}}\n";

/// Copies a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_tree(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

/// 50 suites: the five example suites of policies/, ten copies each.
fn policy_suites() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..10 {
        copy_tree(&examples, &dir.path().join(format!("copy{i:02}")));
    }
    let arg = format!("{}/...", dir.path().display());
    let t = Instant::now();
    let loaded = policy::load_suites(&[arg]).expect("suites load");
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let results = policy::run_suites(&loaded.suites, &Filter::All);
    let run_ms = t.elapsed().as_secs_f64() * 1e3;
    let totals = Totals::of(&results);
    assert!(results.iter().all(|r| !r.is_failure()), "the example suites pass");
    figure!(
        "engine",
        "{} policy suites verified in {:.0} ms ({} cases passed; loading {} YAML files {:.1} ms, running {:.0} ms)",
        loaded.suites.len(),
        load_ms + run_ms,
        totals.passed,
        loaded.files,
        load_ms,
        run_ms
    );
}

fn main() {
    policy_suites();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut paths = Vec::new();
    for i in 0..1000 {
        let p = dir.path().join(format!("s{i:04}.yaml"));
        std::fs::write(&p, TRIVIAL.replace("NAME", &format!("s{i:04}"))).expect("write");
        paths.push(p);
    }
    let t = Instant::now();
    let loaded: Vec<_> = paths.iter().map(|p| load_file(p).expect("valid")).collect();
    figure!("engine", "load and validate 1,000 scenario files: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let backend = Backend::sim().await.expect("sim");
        let one = vec![loaded[0].clone()];
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let n = 50;
        let t = Instant::now();
        for _ in 0..n {
            run_all(one.clone(), &backend, &RunOptions { parallel: 1, ..Default::default() }, &mut Quiet, rx.clone())
                .await;
        }
        figure!(
            "engine",
            "one trivial scenario (namespace, apply, expect, cleanup) on the simulator: {:.2} ms each (mean of {n})",
            t.elapsed().as_secs_f64() * 1e3 / n as f64
        );
        let hundred: Vec<_> = loaded[..100].to_vec();
        let t = Instant::now();
        let totals = run_all(hundred, &backend, &RunOptions::default(), &mut Quiet, rx.clone()).await;
        figure!(
            "engine",
            "100 trivial scenarios in parallel ({} cores): {:.1} ms wall, {} passed",
            RunOptions::default().parallel,
            t.elapsed().as_secs_f64() * 1e3,
            totals.passed
        );
        backend.shutdown().await;
    });
}

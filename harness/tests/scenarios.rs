//! One test per scenario: finds `scenarios/**/*.yaml` and runs each on a fresh simulator, so
//! `cargo nextest run` lists them (`core/configmap-roundtrip`) and filters them with
//! `-E 'test(...)'`. A failing scenario fails its test with the real error and the diff.

use std::path::{Path, PathBuf};

use idp_harness::backend::Backend;
use idp_harness::run::events::{Reporter, RunEvent, Verdict};
use idp_harness::run::{run_all, RunOptions};
use idp_harness::scenario::load_file;
use libtest_mimic::{Arguments, Failed, Trial};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scenario_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            scenario_files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
}

struct Quiet;
impl Reporter for Quiet {
    fn event(&mut self, _: &RunEvent) {}
}

fn run_one(path: &Path) -> Result<(), Failed> {
    let loaded = load_file(path)
        .map_err(|errs| Failed::from(errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))?;
    rt.block_on(async {
        let backend = Backend::sim().await.map_err(|e| Failed::from(e.to_string()))?;
        let (_cancel_tx, cancel) = tokio::sync::watch::channel(false);
        let totals = run_all(vec![loaded], &backend, &RunOptions::default(), &mut Quiet, cancel).await;
        backend.shutdown().await;
        match totals.reports.first() {
            Some(r) if r.verdict == Verdict::Passed => Ok(()),
            Some(r) => {
                let mut text = String::new();
                for s in r.steps.iter().chain(&r.cleanup) {
                    text.push_str(&format!(
                        "  {:?} {} (line {}) {:.3}s\n",
                        s.verdict,
                        s.name,
                        s.line,
                        s.duration.as_secs_f64()
                    ));
                }
                if let Some(f) = &r.failure {
                    text.push_str(&format!("\n{}\n", f.message));
                    if let Some(d) = &f.detail {
                        text.push_str(&format!("{d}\n"));
                    }
                    if let Some(d) = &f.diff {
                        text.push_str(&format!("{d}\n"));
                    }
                }
                Err(Failed::from(text))
            }
            None => Err(Failed::from("the scenario did not run")),
        }
    })
}

fn main() {
    let args = Arguments::from_args();
    // Command steps find the set-up's kubectl.
    let venv_bin = root().join(".venv/bin");
    if venv_bin.is_dir() {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![venv_bin];
        paths.extend(std::env::split_paths(&path));
        if let Ok(joined) = std::env::join_paths(paths) {
            std::env::set_var("PATH", joined);
        }
    }
    let dir = root().join("scenarios");
    let mut files = Vec::new();
    scenario_files(&dir, &mut files);
    let trials = files
        .into_iter()
        .map(|p| {
            let name = p.strip_prefix(&dir).unwrap_or(&p).with_extension("").to_string_lossy().into_owned();
            Trial::test(name, move || run_one(&p))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

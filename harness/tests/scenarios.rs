//! One test per scenario: finds `scenarios/**/*.yaml` and runs each on a fresh simulator, so
//! `cargo nextest run` lists them (`core/configmap-roundtrip`) and filters them with
//! `-E 'test(...)'`. A failing scenario fails its test with the real error and the diff.

use std::path::{Path, PathBuf};

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

fn run_one(path: &Path) -> Result<(), Failed> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))?;
    let report = rt.block_on(idp_harness::api::run_scenario_file(path)).map_err(|e| Failed::from(e.to_string()))?;
    if report.passed() {
        Ok(())
    } else {
        Err(Failed::from(report.explain()))
    }
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

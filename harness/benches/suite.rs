//! `make bench`, last part: the simulator's start, the example suite (`scenarios/platform/` and
//! `scenarios/as-documented/`) on the simulator with each scenario's time and the whole run
//! including the AWS emulator's start, then one table of every figure the benchmarks before it
//! recorded (see `sim/benches/common/figures.rs`). Prints figures; asserts nothing about time.
//!
//! The example suite runs twice: cold (a new kustomize cache directory, as on a fresh
//! machine) and warm (the outputs the cold run kept; what a developer's second run sees).

#[macro_use]
#[path = "../../sim/benches/common/figures.rs"]
mod figures;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use idp_harness::backend::Backend;
use idp_harness::run::events::{Reporter, RunEvent, ScenarioReport};
use idp_harness::run::{run_all, RunOptions};

/// Keeps the finished scenarios' reports.
#[derive(Default)]
struct Collect(Vec<ScenarioReport>);
impl Reporter for Collect {
    fn event(&mut self, e: &RunEvent) {
        if let RunEvent::ScenarioFinished { report } = e {
            self.0.push(report.clone());
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The simulated platform with every component, from nothing to its first fixed point.
async fn boot() {
    let mut times = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let platform = sim::platform::Platform::start(Default::default()).expect("platform");
        platform.settle(Duration::from_secs(30)).await.expect("settles");
        times.push(t.elapsed());
    }
    times.sort();
    figure!(
        "suite",
        "simulator boot (API server, Flux, Gatekeeper, CSI, ACK, Crossplane installed and settled): median {:.1} ms, max {:.1} ms",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 1.0))
    );
}

/// The example suite on a new backend (its emulator starts with the first scenario needing it).
async fn example_suite(label: &str, files: &[PathBuf]) {
    let (loaded, errors) = idp_harness::cli::discover::load_all(files);
    assert!(errors.is_empty(), "the example scenarios load");
    let n = loaded.len();
    let before = sim::flux::kustomize::stats();
    let t = Instant::now();
    let backend = Backend::sim().await.expect("sim");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let mut reports = Collect::default();
    let totals = run_all(loaded, &backend, &RunOptions::default(), &mut reports, rx).await;
    let wall = t.elapsed();
    backend.shutdown().await;
    let mut times: Vec<Duration> = reports.0.iter().map(|r| r.duration).collect();
    times.sort();
    figure!(
        "suite",
        "example suite, {label}: {n} scenarios in {:.2} s wall with {} at once, moto's start included ({} passed); per scenario median {:.0} ms, max {:.0} ms",
        wall.as_secs_f64(),
        RunOptions::default().parallel,
        totals.passed,
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 1.0))
    );
    let after = sim::flux::kustomize::stats();
    figure!(
        "suite",
        "example suite, {label}: {} kustomize processes ({} of them ahead, while moto started), {} builds from a cache",
        after.runs - before.runs,
        after.runs_ahead - before.runs_ahead,
        after.cached - before.cached
    );
    let mut by_name: Vec<&ScenarioReport> = reports.0.iter().collect();
    by_name.sort_by(|a, b| a.name.cmp(&b.name));
    for r in by_name {
        figure!("suite", "  {label}: {:<44} {:>6.0} ms {:?}", r.name, ms(r.duration), r.verdict);
    }
}

fn table() {
    let rows = figures::recorded();
    if rows.is_empty() {
        return;
    }
    let width = rows.iter().map(|(b, _)| b.len()).max().unwrap_or(5).max(5);
    println!();
    println!("{:<width$}  FIGURE", "BENCH");
    for (bench, figure) in rows {
        println!("{bench:<width$}  {figure}");
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let files =
        idp_harness::cli::discover::files(&[root.join("scenarios/platform"), root.join("scenarios/as-documented")])
            .expect("the example scenarios");
    // The scenarios' `command` steps and the simulated Flux use the set-up's kubectl.
    let venv = root.join(".venv/bin");
    let path = format!("{}:{}", venv.display(), std::env::var("PATH").unwrap_or_default());
    // SAFETY: single-threaded here, before the runtime and any other thread start.
    unsafe { std::env::set_var("PATH", path) };
    let cache = tempfile::tempdir().expect("tempdir");
    // SAFETY: as above.
    unsafe { std::env::set_var("IDP_HARNESS_CACHE_DIR", cache.path()) };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        boot().await;
        example_suite("cold", &files).await;
    });
    drop(rt);
    // A new process would not have the in-memory builds; the disk cache is what carries over.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(example_suite("warm", &files));
    table();
}

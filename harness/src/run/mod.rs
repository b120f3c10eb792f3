//! The runner: runs loaded scenarios on a backend, in parallel, and emits `events` that
//! reporters consume. Options: parallelism, fail-fast, repeat, CI shards (`--partition`).
//! Ctrl-C flips a cancel flag: running scenarios stop at the next step and clean up.

pub mod aws;
pub mod context;
pub mod events;
pub mod evidence;
pub mod expect;
pub mod kube_io;
pub mod matcher;
pub mod prefetch;
pub mod scenario;
pub mod steps;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, watch, Semaphore};

use crate::backend::Backend;
use crate::scenario::Loaded;
use events::{Reporter, RunEvent, ScenarioReport, Verdict};

/// `--partition count:M/N`: run every N-th scenario starting at the M-th (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub index: usize,
    pub total: usize,
}

impl std::str::FromStr for Partition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let spec = s.strip_prefix("count:").unwrap_or(s);
        let (m, n) =
            spec.split_once('/').ok_or_else(|| format!("invalid partition {s:?}: write count:M/N, e.g. count:1/3"))?;
        let index: usize = m.parse().map_err(|_| format!("invalid partition {s:?}: M is not a number"))?;
        let total: usize = n.parse().map_err(|_| format!("invalid partition {s:?}: N is not a number"))?;
        if index == 0 || total == 0 || index > total {
            return Err(format!("invalid partition {s:?}: need 1 <= M <= N"));
        }
        Ok(Partition { index, total })
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Scenarios at once (default: the number of cores).
    pub parallel: usize,
    /// Stop starting scenarios after the first failure.
    pub fail_fast: bool,
    /// Run each scenario this many times.
    pub repeat: u32,
    pub partition: Option<Partition>,
    /// Names this run in reports and labels (default: a new one).
    pub run_id: Option<String>,
    /// Where evidence bundles go: a failed scenario's bundle is written to
    /// `<evidence_dir>/<scenario name>/` before its cleanup runs. None (the default) captures
    /// nothing.
    pub evidence_dir: Option<PathBuf>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            parallel: std::thread::available_parallelism().map_or(2, |n| n.get()),
            fail_fast: false,
            repeat: 1,
            partition: None,
            run_id: None,
            evidence_dir: None,
        }
    }
}

/// A new run id: the time and a short random part (`20261124-081500-3f9a2c`).
pub fn new_run_id() -> String {
    format!("{}-{}", jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S"), &uuid::Uuid::new_v4().simple().to_string()[..6])
}

/// Totals of a run.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub reports: Vec<ScenarioReport>,
}

/// Selects the scenarios of a partition (in the given order).
pub fn select(scenarios: Vec<Loaded>, p: Option<Partition>) -> Vec<Loaded> {
    match p {
        None => scenarios,
        Some(p) => {
            scenarios.into_iter().enumerate().filter(|(i, _)| i % p.total == p.index - 1).map(|(_, s)| s).collect()
        }
    }
}

/// Runs scenarios on a backend and feeds every event to `reporter`. `cancel` set to true stops
/// the run (running scenarios clean up).
pub async fn run_all(
    scenarios: Vec<Loaded>,
    backend: &Backend,
    opts: &RunOptions,
    reporter: &mut dyn Reporter,
    cancel: watch::Receiver<bool>,
) -> Totals {
    let run_id = opts.run_id.clone().unwrap_or_else(new_run_id);
    let selected = select(scenarios, opts.partition);
    let mut jobs: Vec<Loaded> = Vec::new();
    for s in &selected {
        for _ in 0..opts.repeat.max(1) {
            jobs.push(s.clone());
        }
    }
    let start = Instant::now();
    reporter.event(&RunEvent::RunStarted {
        run_id: run_id.clone(),
        scenarios: jobs.iter().map(|j| j.scenario.metadata.name.clone()).collect(),
        backend: backend.name.to_string(),
    });
    let (tx, mut rx) = mpsc::unbounded_channel::<RunEvent>();
    let sem = Arc::new(Semaphore::new(opts.parallel.max(1)));
    let stop = Arc::new(AtomicBool::new(false));
    // A backend with one account (a real cluster's controllers hold one set of credentials)
    // gives it to every scenario; otherwise each scenario (and each repetition) acts in its own.
    let fixed_account = backend.fixed_account().await;
    if let Some(took) = backend.prepare(&jobs).await {
        tracing::debug!(?took, "the AWS emulator is started and warm");
    }
    // Scenarios are staged here, in order, each once a slot is free (a stage is a whole
    // simulated platform: making them all up front would compete with the running ones), while
    // the events of the running ones reach the reporter as they happen.
    let staging = async move {
        let mut handles = Vec::new();
        for (index, job) in jobs.into_iter().enumerate() {
            let Ok(permit) = sem.clone().acquire_owned().await else { break };
            let name = job.scenario.metadata.name.clone();
            if stop.load(Ordering::SeqCst) || *cancel.borrow() {
                let report = skipped(&job, backend.name, &tx);
                handles.push(tokio::spawn(async move { Some(report) }));
                continue;
            }
            let account = fixed_account.clone().unwrap_or_else(|| scenario::account_for(&run_id, &name, index));
            // A scenario's time includes its stage (the first that needs AWS also starts the
            // run's emulator).
            let started = Instant::now();
            let _ = tx.send(RunEvent::ScenarioStarted { scenario: name });
            let stage = match backend.stage(&job, &account).await {
                Ok(s) => s,
                Err(e) => {
                    let report = scenario::not_started(&job, backend.name, &tx, format!("set-up failed: {e}"), started);
                    if opts.fail_fast {
                        stop.store(true, Ordering::SeqCst);
                    }
                    handles.push(tokio::spawn(async move { Some(report) }));
                    continue;
                }
            };
            let tx = tx.clone();
            let stop = stop.clone();
            let backend_name = backend.name;
            let run_id = run_id.clone();
            let cancel = cancel.clone();
            let fail_fast = opts.fail_fast;
            let evidence_dir = opts.evidence_dir.clone();
            handles.push(tokio::spawn(async move {
                let _permit = permit;
                let env = scenario::Env {
                    stage: stage.clone(),
                    backend: backend_name,
                    run_id: &run_id,
                    account,
                    started,
                    tx: tx.clone(),
                    cancel,
                    evidence_dir: evidence_dir.as_deref(),
                };
                let report = scenario::run(&job, env).await;
                stage.shutdown().await;
                if fail_fast && report.verdict == Verdict::Failed {
                    stop.store(true, Ordering::SeqCst);
                }
                Some(report)
            }));
        }
        (handles, run_id)
    };
    let draining = async {
        while let Some(e) = rx.recv().await {
            reporter.event(&e);
        }
    };
    let ((handles, run_id), ()) = tokio::join!(staging, draining);
    let mut totals = Totals::default();
    for h in handles {
        if let Ok(Some(r)) = h.await {
            match r.verdict {
                Verdict::Passed => totals.passed += 1,
                Verdict::Failed => totals.failed += 1,
                Verdict::Skipped => totals.skipped += 1,
            }
            totals.reports.push(r);
        }
    }
    reporter.event(&RunEvent::RunFinished {
        run_id,
        passed: totals.passed,
        failed: totals.failed,
        skipped: totals.skipped,
        duration: start.elapsed(),
    });
    totals
}

fn skipped(job: &Loaded, backend: &str, tx: &mpsc::UnboundedSender<RunEvent>) -> ScenarioReport {
    let report = ScenarioReport::skipped(job.scenario.metadata.name.clone(), job.path.clone(), backend);
    let _ = tx.send(RunEvent::ScenarioFinished { report: report.clone() });
    report
}

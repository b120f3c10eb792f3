//! `idp-harness run [PATHS]`: loads scenarios (stopping on any invalid one), starts the
//! backend, runs them with a live terminal view, writes JUnit and JSON reports, and exits 0
//! when every scenario passed, 1 when one failed, 2 on usage or configuration errors. Ctrl-C
//! stops the run; running scenarios clean up before it exits.

use std::io::IsTerminal;
use std::path::PathBuf;

use super::{discover, exit};
use crate::backend::aws::AwsChoice;
use crate::backend::{Backend, BackendKind};
use crate::report::{Fanout, JsonReporter, JunitReporter, TerminalOptions, TerminalReporter};
use crate::run::events::Reporter;
use crate::run::{new_run_id, run_all, Partition, RunOptions};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Scenario files or directories (default: scenarios/).
    pub paths: Vec<PathBuf>,
    /// Where to run: sim (the embedded simulator), kind, or cluster (an existing kubeconfig).
    #[arg(long, value_enum, default_value = "sim")]
    pub backend: BackendKind,
    /// For --backend cluster: the kubeconfig (default: KUBECONFIG or ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// For --backend cluster: the context (default: the current one); for --backend kind: the
    /// name of the cluster `idp-harness kind up` made (default: idp-harness).
    #[arg(long)]
    pub context: Option<String>,
    /// For --backend cluster: run even when the cluster lacks a component the scenarios'
    /// profiles name (the check still prints what is missing).
    #[arg(long)]
    pub no_preflight: bool,
    /// Where AWS calls go: moto (the simulator's default), localstack (a host process from
    /// localstack/.venv, `make localstack-setup`), localstack-container (Docker), or external
    /// (the AWS_* variables; the cluster's default).
    #[arg(long, value_enum, env = "IDP_HARNESS_AWS")]
    pub aws: Option<AwsChoice>,
    /// Scenarios at once (default: the number of cores).
    #[arg(long, short = 'j')]
    pub parallel: Option<usize>,
    /// Stop starting scenarios after the first failure.
    #[arg(long)]
    pub fail_fast: bool,
    /// Run each scenario this many times.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Run one shard: count:M/N runs every N-th scenario from the M-th.
    #[arg(long)]
    pub partition: Option<Partition>,
    /// Only failures and the summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// Where JUnit and JSON reports and evidence bundles go (a folder per run).
    #[arg(long, default_value = "target/idp-harness")]
    pub report_dir: PathBuf,
}

pub async fn run(args: RunArgs) -> i32 {
    let loaded = match discover::load_or_report(&args.paths) {
        Ok(l) => l,
        Err(code) => {
            eprintln!("hint: `idp-harness validate` checks scenarios without running them");
            return code;
        }
    };
    if loaded.is_empty() {
        eprintln!(
            "error: no scenarios found in {}",
            args.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
        return exit::USAGE;
    }
    let backend =
        match Backend::start(args.backend, args.kubeconfig.clone(), args.context.clone(), args.aws, &loaded).await {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        };
    for note in &backend.fidelity_notes {
        eprintln!("note: {note}");
    }
    if let Some(report) = backend.preflight(&loaded).await {
        eprintln!("{}", report.summary());
        if !report.is_ready() && !args.no_preflight {
            eprintln!(
                "error: the cluster is not ready for these scenarios (see above); --no-preflight runs them anyway"
            );
            return exit::USAGE;
        }
    }
    let run_id = new_run_id();
    let dir = args.report_dir.join(&run_id);
    let stdout = std::io::stdout();
    let terminal =
        TerminalReporter::new(stdout, TerminalOptions::for_stream(args.quiet, std::io::stdout().is_terminal()));
    let mut reporter = Fanout::new(vec![
        Box::new(terminal),
        Box::new(JunitReporter::new(dir.join("junit.xml"))),
        Box::new(JsonReporter::new(dir.join("report.json"))),
    ]);
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupted: stopping scenarios and cleaning up (Ctrl-C again to abort)");
            let _ = cancel_tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let opts = RunOptions {
        parallel: args.parallel.unwrap_or_else(|| backend.default_parallel()),
        fail_fast: args.fail_fast,
        repeat: args.repeat,
        partition: args.partition,
        run_id: Some(run_id),
        evidence_dir: Some(dir.clone()),
    };
    let interrupted = cancel_rx.clone();
    let totals = run_all(loaded, &backend, &opts, &mut reporter, cancel_rx).await;
    backend.shutdown().await;
    match reporter.finish() {
        Ok(paths) => {
            for p in paths {
                println!("report: {}", p.display());
            }
        }
        Err(e) => eprintln!("warning: cannot write reports: {e}"),
    }
    // An interrupted run did not show that everything passes, even when nothing had failed yet.
    if totals.failed > 0 || *interrupted.borrow() {
        exit::FAILED
    } else {
        exit::OK
    }
}

//! `idp-harness policy verify` (gator verify: run Suite files) and `idp-harness policy test`
//! (gator test: evaluate objects against templates and constraints). Prints gator's output on
//! stdout, problems with their file, line and column on stderr, and returns the exit code:
//! 0 passed, 1 a failed case or a denying violation, 2 usage or configuration errors.
//!
//! The semantics live in `crate::policy`; this module must only parse arguments, print and
//! write the report files.

use std::path::{Path, PathBuf};

use super::exit;
use crate::policy::{self, objects, report, Filter, LoadSuitesError};

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Run gator Suite files (test.gatekeeper.sh/v1alpha1 Suite), as `gator verify` does.
    Verify(VerifyArgs),
    /// Evaluate objects against the templates and constraints in files, as `gator test` does.
    Test(TestArgs),
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Suite files or directories (a directory's own YAML files; `dir/...` for every file below).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// Only tests and cases whose names match this regular expression; `TEST//CASE` filters both.
    #[arg(long, short = 'r', value_name = "REGEX")]
    pub run: Option<String>,
    /// Also print each test and case as it runs, passes or is skipped.
    #[arg(long, short)]
    pub verbose: bool,
    /// Write JUnit XML here (one testsuite per suite file, one testcase per case).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the results as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// `-o` of `policy test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Default,
    Json,
    Yaml,
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// A file or directory of objects, templates and constraints (repeatable; `-` reads stdin).
    #[arg(long = "filename", short = 'f', required = true, value_name = "PATH")]
    pub filenames: Vec<PathBuf>,
    /// Output format: the default text, json or yaml.
    #[arg(long, short, value_enum, ignore_case = true, default_value = "default")]
    pub output: OutputFormat,
    /// Print only violations Gatekeeper would deny (the exit code still counts all).
    #[arg(long)]
    pub deny_only: bool,
}

/// Runs a `policy` subcommand; returns the exit code.
pub fn run(command: &PolicyCommand) -> i32 {
    match command {
        PolicyCommand::Verify(args) => verify(args),
        PolicyCommand::Test(args) => test(args),
    }
}

fn write_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, contents)
}

pub fn verify(args: &VerifyArgs) -> i32 {
    let run = args.run.as_deref().unwrap_or_default();
    let filter = match Filter::new(run) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: --run {run:?}: {e}");
            return exit::USAGE;
        }
    };
    let loaded = match policy::load_suites(&args.paths) {
        Ok(l) => l,
        Err(LoadSuitesError::Invalid(errs)) => {
            for e in &errs {
                eprintln!("error: {e}");
            }
            eprintln!("{} problem(s); no suite was run", errs.len());
            return exit::USAGE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    if loaded.suites.is_empty() {
        eprintln!(
            "warning: no gator suites (apiVersion: test.gatekeeper.sh/v1alpha1, kind: Suite) in {} ({} YAML file(s) \
             looked at)",
            args.paths.join(", "),
            loaded.files
        );
    }
    let results = policy::run_suites(&loaded.suites, &filter);
    print!("{}", report::print_go(&results, args.verbose));
    let mut code = if results.iter().any(|r| r.is_failure()) { exit::FAILED } else { exit::OK };
    if let Some(path) = &args.junit {
        let written = report::junit(&results)
            .to_string()
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|xml| write_file(path, xml.as_bytes()));
        if let Err(e) = written {
            eprintln!("error: cannot write {}: {e}", path.display());
            code = exit::USAGE;
        }
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report::json(&results)).unwrap_or_default();
        if let Err(e) = write_file(path, format!("{text}\n").as_bytes()) {
            eprintln!("error: cannot write {}: {e}", path.display());
            code = exit::USAGE;
        }
    }
    code
}

pub fn test(args: &TestArgs) -> i32 {
    let sources = match objects::read_sources(&args.filenames) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: reading: {e}");
            return exit::USAGE;
        }
    };
    for c in objects::conflicts(&sources) {
        eprintln!("warning: {c}");
    }
    let violations = match objects::evaluate(&sources) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let shown: Vec<objects::Violation> =
        violations.iter().filter(|v| !args.deny_only || v.result.denies()).cloned().collect();
    match args.output {
        OutputFormat::Default => print!("{}", objects::format_text(&shown)),
        OutputFormat::Json => print!("{}", objects::format_json(&shown)),
        OutputFormat::Yaml => print!("{}", objects::format_yaml(&shown)),
    }
    if objects::any_denied(&violations) {
        exit::FAILED
    } else {
        exit::OK
    }
}

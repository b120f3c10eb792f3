//! The Rust entry point: run a scenario file from a `#[tokio::test]` (or any async code) and
//! get its report, with the same steps, expectations and cleanup as the CLI.
//!
//! ```no_run
//! # async fn example() -> Result<(), idp_harness::api::Error> {
//! let report = idp_harness::api::run_scenario_file("scenarios/core/configmap-roundtrip.yaml").await?;
//! assert!(report.passed(), "{}", report.explain());
//! # Ok(()) }
//! ```

use std::path::Path;

use crate::backend::{Backend, BackendError};
use crate::run::events::{Reporter, RunEvent, ScenarioReport, Verdict};
use crate::run::{run_all, RunOptions};
use crate::scenario::{load_file, LoadError};

/// Why a scenario could not be run at all (a failing scenario is a report, not an error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid scenario:\n{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<LoadError>),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("the scenario did not run")]
    NotRun,
}

struct Silent;
impl Reporter for Silent {
    fn event(&mut self, _: &RunEvent) {}
}

/// Loads a scenario file and runs it on a fresh simulator.
pub async fn run_scenario_file(path: impl AsRef<Path>) -> Result<ScenarioReport, Error> {
    let loaded = load_file(path.as_ref()).map_err(Error::Invalid)?;
    let backend = backend_from_env(&loaded).await?;
    let (_cancel, rx) = tokio::sync::watch::channel(false);
    let totals = run_all(vec![loaded], &backend, &RunOptions::default(), &mut Silent, rx).await;
    backend.shutdown().await;
    totals.reports.into_iter().next().ok_or(Error::NotRun)
}

/// The backend `IDP_HARNESS_BACKEND` names: `sim` (the default), `kind` (the cluster `kind up`
/// made; `IDP_HARNESS_KIND_NAME`, default `idp-harness`) or `cluster` (`KUBECONFIG`, AWS from
/// the `AWS_*` variables). `make nightly` runs the scenario tests with `kind`.
async fn backend_from_env(loaded: &crate::scenario::Loaded) -> Result<Backend, Error> {
    let kind = match std::env::var("IDP_HARNESS_BACKEND").ok().as_deref() {
        None | Some("") | Some("sim") => return Ok(Backend::sim().await?),
        Some("kind") => crate::backend::BackendKind::Kind,
        Some("cluster") => crate::backend::BackendKind::Cluster,
        Some(other) => {
            return Err(Error::Backend(crate::backend::BackendError::Config(format!(
                "IDP_HARNESS_BACKEND={other:?}: expected sim, kind or cluster"
            ))))
        }
    };
    let name = std::env::var("IDP_HARNESS_KIND_NAME").ok().filter(|n| !n.is_empty());
    let context = if kind == crate::backend::BackendKind::Kind { name } else { None };
    Ok(Backend::start(kind, None, context, None, std::slice::from_ref(loaded)).await?)
}

impl ScenarioReport {
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Passed
    }

    /// The step timeline and the failure (message, detail, diff), for a test's panic message.
    pub fn explain(&self) -> String {
        let mut text = String::new();
        for s in self.steps.iter().chain(&self.cleanup) {
            text.push_str(&format!(
                "  {:?} {} (line {}) {:.3}s\n",
                s.verdict,
                s.name,
                s.line,
                s.duration.as_secs_f64()
            ));
        }
        if let Some(f) = &self.failure {
            text.push_str(&format!("\n{}\n", f.message));
            for part in [&f.detail, &f.diff].into_iter().flatten() {
                text.push_str(&format!("{part}\n"));
            }
        }
        for leak in &self.leaks {
            text.push_str(&format!("left behind: {leak}\n"));
        }
        text
    }
}

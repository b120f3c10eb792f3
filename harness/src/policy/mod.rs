//! Policy testing compatible with OPA Gatekeeper's `gator`: `verify` runs gator Suite files
//! (tests of a ConstraintTemplate and a Constraint against objects, with assertions on the
//! violations), `test` evaluates objects against templates and constraints read from files.
//! Both evaluate with the simulator's Gatekeeper core (`sim::gatekeeper`).
//!
//! The pieces: [`yaml`] (located YAML and object files), [`suite`] (the Suite format, loading,
//! finding suite files), [`engine`] (gator's constraint client over `sim::gatekeeper`),
//! [`verify`] (the suite runner and assertions), [`report`] (gator's text, JUnit, JSON),
//! [`objects`] (`gator test`), [`gofmt`] (Go-compatible JSON and YAML output).
//!
//! This module must not evaluate Rego itself nor change how the simulator's Gatekeeper decides;
//! the semantics it mirrors, and where it deviates from gator, are in docs/policy-suites.md.

pub mod engine;
pub mod gofmt;
pub mod objects;
pub mod report;
pub mod suite;
pub mod verify;
pub mod yaml;

use std::fmt;

pub use engine::{PolicyClient, PolicyResult, Subject};
pub use suite::{find_suite_files, load_suite, DiscoverError, Suite};
pub use verify::{run_suite, Filter, SuiteResult, Totals};

use crate::scenario::LoadError;

/// Why suites could not be loaded: nothing runs then.
#[derive(Debug, thiserror::Error)]
pub enum LoadSuitesError {
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    /// Every problem in every file.
    #[error("{}", display_all(.0))]
    Invalid(Vec<LoadError>),
}

fn display_all(errs: &[LoadError]) -> String {
    errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")
}

/// Suites found under the command-line paths, with the warnings met while loading them.
#[derive(Debug, Default)]
pub struct LoadedSuites {
    pub suites: Vec<Suite>,
    /// Unknown keys and other things gator ignores.
    pub warnings: Vec<LoadError>,
    /// How many YAML files were looked at.
    pub files: usize,
}

impl fmt::Display for LoadedSuites {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} suite(s) in {} YAML file(s)", self.suites.len(), self.files)
    }
}

/// Finds and loads the suites under each path (see [`find_suite_files`]); files that are not
/// suites are skipped, as gator skips them. Every invalid file is reported.
pub fn load_suites(paths: &[String]) -> Result<LoadedSuites, LoadSuitesError> {
    let mut out = LoadedSuites::default();
    let mut errors = Vec::new();
    for p in paths {
        for f in find_suite_files(p)? {
            out.files += 1;
            match load_suite(&f.path, &f.display) {
                Ok(Some(mut s)) => {
                    out.warnings.append(&mut s.warnings);
                    out.suites.push(s);
                }
                Ok(None) => {}
                Err(mut e) => errors.append(&mut e),
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(LoadSuitesError::Invalid(errors))
    }
}

/// Runs every suite, in order.
pub fn run_suites(suites: &[Suite], filter: &Filter) -> Vec<SuiteResult> {
    suites.iter().map(|s| run_suite(s, filter)).collect()
}

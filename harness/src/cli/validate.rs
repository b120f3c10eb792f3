//! `idp-harness validate [PATHS]`: loads and checks scenarios without running anything, and
//! `idp-harness list [PATHS]`: names, files and descriptions.

use std::path::PathBuf;

use super::{discover, exit};

#[derive(Debug, clap::Args)]
pub struct PathsArgs {
    /// Scenario files or directories (default: scenarios/).
    pub paths: Vec<PathBuf>,
}

pub fn validate(args: &PathsArgs) -> i32 {
    let files = match discover::files(&args.paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let (loaded, errors) = discover::load_all(&files);
    for e in &errors {
        eprintln!("error: {e}");
    }
    if errors.is_empty() {
        println!("{} scenario(s) valid", loaded.len());
        exit::OK
    } else {
        eprintln!("{} problem(s) in {} file(s)", errors.len(), files.len());
        exit::USAGE
    }
}

pub fn list(args: &PathsArgs) -> i32 {
    let files = match discover::files(&args.paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let (loaded, errors) = discover::load_all(&files);
    for l in &loaded {
        let desc = l.scenario.metadata.description.as_deref().unwrap_or("");
        println!("{}\t{}\t{desc}", l.scenario.metadata.name, l.path.display());
    }
    for e in &errors {
        eprintln!("error: {e}");
    }
    if errors.is_empty() {
        exit::OK
    } else {
        exit::USAGE
    }
}

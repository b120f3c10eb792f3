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
    match discover::load_or_report(&args.paths) {
        Ok(loaded) => {
            println!("{} scenario(s) valid", loaded.len());
            exit::OK
        }
        Err(code) => code,
    }
}

pub fn list(args: &PathsArgs) -> i32 {
    match discover::load_or_report(&args.paths) {
        Ok(loaded) => {
            for l in &loaded {
                let desc = l.scenario.metadata.description.as_deref().unwrap_or("");
                println!("{}\t{}\t{desc}", l.scenario.metadata.name, l.path.display());
            }
            exit::OK
        }
        Err(code) => code,
    }
}

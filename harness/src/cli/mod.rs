//! The command line: argument parsing (clap) and the commands. Commands print their own
//! errors with a hint and return the exit code (see `exit`).

pub mod discover;
pub mod kind;
pub mod policy;
pub mod run;
pub mod sim_up;
pub mod validate;

use clap::{Parser, Subcommand};

/// Exit codes (documented in the README and docs/scenarios.md).
pub mod exit {
    /// Every scenario passed, or the command finished normally.
    pub const OK: i32 = 0;
    /// A scenario failed.
    pub const FAILED: i32 = 1;
    /// Usage or configuration error (including invalid scenarios).
    pub const USAGE: i32 = 2;
}

#[derive(Debug, Parser)]
#[command(name = "idp-harness", version, about = "Test an Internal Developer Platform end to end")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios and report.
    Run(run::RunArgs),
    /// Check scenarios without running them.
    Validate(validate::PathsArgs),
    /// List scenarios.
    List(validate::PathsArgs),
    /// Print the JSON Schema of the scenario format.
    Schema,
    /// Gatekeeper policy tests, compatible with gator (verify suites, test objects).
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// The embedded platform simulator.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
    /// The kind backend: a kind cluster with the real platform and an AWS emulator.
    Kind {
        #[command(subcommand)]
        command: kind::KindCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Run the simulator's API server in the foreground until Ctrl-C.
    Up(sim_up::UpArgs),
}

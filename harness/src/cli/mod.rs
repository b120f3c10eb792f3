//! The command line: argument parsing (clap) and the commands. Commands return typed errors;
//! `main` prints them with a hint and picks the exit code.

pub mod sim_up;

use clap::{Parser, Subcommand};

/// Exit codes (documented in the README).
pub mod exit {
    /// Everything passed, or the command finished normally.
    pub const OK: i32 = 0;
    /// A scenario failed.
    pub const FAILED: i32 = 1;
    /// Usage or configuration error.
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
    /// The embedded platform simulator.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Run the simulator's API server in the foreground until Ctrl-C.
    Up(sim_up::UpArgs),
}

//! `idp-harness kind up | down | status | config`: the kind backend's cluster, AWS emulator and
//! platform, brought up and torn down by hand or by `make nightly`. Argument parsing and
//! printing only; the work is in `backend::kind::up`. It must not run scenarios.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use sim::platform::Profile;

use super::exit;
use crate::backend::kind::config::{self, DEFAULT_CLUSTER};
use crate::backend::kind::emulator::Emulator;
use crate::backend::kind::up::{self, KindError, Progress, UpOptions};
use crate::backend::kind::{sweep, versions};

#[derive(Debug, Subcommand)]
pub enum KindCommand {
    /// Create (or reuse) the cluster, start the AWS emulator, preload images, install the
    /// platform and wait until it is ready.
    Up(UpArgs),
    /// Remove the cluster and everything the harness made for it.
    Down(DownArgs),
    /// Say whether the cluster exists, is up to date, and what belongs to it.
    Status(NameArgs),
    /// Print the kind configuration `up` would use (kind-config/cluster.yaml is this output).
    Config(NameArgs),
}

/// Platform components `--skip` can leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Skip {
    Flux,
    Gatekeeper,
    Csi,
    AckIam,
    AckRds,
    AckSecretsmanager,
    Crossplane,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    /// The kind cluster's name.
    #[arg(long, default_value = DEFAULT_CLUSTER)]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub name: NameArgs,
    /// Print the whole plan (kind config, containers, images, install steps, checks) and run
    /// nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The AWS emulator (LocalStack uses LOCALSTACK_AUTH_TOKEN when set, else the token-free
    /// archive image).
    #[arg(long, value_enum, default_value_t = Emulator::Moto)]
    pub aws: Emulator,
    /// On failure, leave the cluster and emulator for inspection.
    #[arg(long)]
    pub keep: bool,
    /// Leave a component out (repeatable).
    #[arg(long, value_enum)]
    pub skip: Vec<Skip>,
    /// The AWS region the controllers use.
    #[arg(long)]
    pub region: Option<String>,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub name: NameArgs,
    /// Delete the kind cluster even when the harness has no record of making it.
    #[arg(long)]
    pub force: bool,
}

/// The profile `kind up` installs: everything, less `skip`.
pub fn profile(skip: &[Skip], region: Option<String>) -> Profile {
    let mut p = Profile { region, ..Profile::default() };
    for s in skip {
        match s {
            Skip::Flux => p.flux = None,
            Skip::Gatekeeper => p.gatekeeper = None,
            Skip::Csi => p.csi = None,
            Skip::AckIam => p.ack_iam = None,
            Skip::AckRds => p.ack_rds = None,
            Skip::AckSecretsmanager => p.ack_secretsmanager = None,
            Skip::Crossplane => p.crossplane_aws = None,
        }
    }
    p
}

fn cache() -> Result<PathBuf, KindError> {
    sweep::cache_dir().ok_or(KindError::NoCache)
}

fn fail(e: KindError) -> i32 {
    eprintln!("error: {e}");
    if let Some(h) = e.hint() {
        eprintln!("hint: {h}");
    }
    exit::FAILED
}

/// Runs a `kind` subcommand; returns the exit code.
pub fn run(cmd: &KindCommand) -> i32 {
    match cmd {
        KindCommand::Up(a) => {
            let cache = match cache() {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            let opts = UpOptions {
                name: a.name.name.clone(),
                aws: a.aws,
                keep: a.keep,
                profile: profile(&a.skip, a.region.clone()),
                cache,
            };
            if a.dry_run {
                return match up::dry_run(&opts) {
                    Ok(d) => {
                        print!("{}", d.render());
                        exit::OK
                    }
                    Err(e) => fail(e),
                };
            }
            let mut progress = Progress::new();
            match up::up(&opts, &mut progress) {
                Ok(r) => {
                    println!(
                        "cluster ready: kubectl context {}{}; AWS emulator {} (pods: {})",
                        r.context,
                        if r.reused { " (reused)" } else { "" },
                        r.aws_endpoint,
                        r.aws_cluster_endpoint
                    );
                    exit::OK
                }
                Err(e) => fail(e),
            }
        }
        KindCommand::Down(a) => match cache().and_then(|c| up::down(&c, &a.name.name, a.force)) {
            Ok(removed) if removed.is_empty() => {
                println!("nothing to remove for {}", a.name.name);
                exit::OK
            }
            Ok(removed) => {
                for r in removed {
                    println!("removed {r}");
                }
                exit::OK
            }
            Err(e) => fail(e),
        },
        KindCommand::Status(a) => match cache().and_then(|c| up::status(&c, &a.name)) {
            Ok(text) => {
                print!("{text}");
                exit::OK
            }
            Err(e) => fail(e),
        },
        KindCommand::Config(a) => {
            let rendered = versions::node_image().map_err(KindError::from).and_then(|i| {
                config::render(&config::ClusterOptions::new(&a.name, i)).map_err(|e| KindError::Render(e.to_string()))
            });
            match rendered {
                Ok(r) => {
                    print!("{}", r.yaml);
                    exit::OK
                }
                Err(e) => fail(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_removes_components_from_the_profile() {
        let p = profile(&[Skip::Crossplane, Skip::AckRds], Some("eu-west-1".into()));
        assert!(p.crossplane_aws.is_none() && p.ack_rds.is_none());
        assert!(p.flux.is_some() && p.ack_iam.is_some());
        assert_eq!(p.region.as_deref(), Some("eu-west-1"));
    }
}

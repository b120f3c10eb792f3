//! The `idp-harness` binary: parses the command line and runs the command; errors are printed
//! with a hint, and the exit code follows `cli::exit`.

use clap::Parser;
use idp_harness::cli::{exit, policy, run, sim_up, validate, Cli, Command, SimCommand};

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("IDP_HARNESS_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let code = match cli.command {
        Command::Validate(args) => validate::validate(&args),
        Command::List(args) => validate::list(&args),
        Command::Policy { command } => policy::run(&command),
        Command::Kind { command } => idp_harness::cli::kind::run(&command),
        Command::Schema => {
            print!("{}", idp_harness::scenario::schema::generate());
            exit::OK
        }
        command => {
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    std::process::exit(exit::USAGE);
                }
            };
            runtime.block_on(async {
                match command {
                    Command::Run(args) => run::run(args).await,
                    Command::Sim { command: SimCommand::Up(args) } => match sim_up::run(args).await {
                        Ok(()) => exit::OK,
                        Err(e) => {
                            eprintln!("error: {e}");
                            if let Some(h) = e.hint() {
                                eprintln!("hint: {h}");
                            }
                            exit::USAGE
                        }
                    },
                    _ => exit::USAGE,
                }
            })
        }
    };
    std::process::exit(code);
}

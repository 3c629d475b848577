//! `pulsekey-bench`: drives `POST /heartbeat` on the real release binary and on a bare
//! actix-web "ceiling" server, in one run on one machine, and reports the ratio.
//! Absolute numbers drift on shared machines; the ratio holds. See docs/performance.md.

mod ceiling;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a fixed heartbeat answer with no work: the machine's ceiling.
    Ceiling {
        #[arg(long, default_value = "127.0.0.1:18081")]
        bind: String,
    },
    /// Seed (once per work directory), start pulsekey and the ceiling, load both, report.
    Run(RunArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(clap::Args)]
pub struct RunArgs {
    #[arg(long, value_enum, default_value = "sqlite")]
    pub backend: Backend,
    /// An existing, empty (or previously seeded by this harness) PostgreSQL database.
    #[arg(long, required_if_eq("backend", "postgres"))]
    pub database_url: Option<String>,
    /// Licenses to seed (one customer with one server each).
    #[arg(long, default_value_t = 1_000_000)]
    pub licenses: u64,
    /// The `pulsekey` binary; defaults to the one beside this executable.
    #[arg(long)]
    pub pulsekey: Option<PathBuf>,
    /// Holds the seeded data and key lists, reused by later runs.
    #[arg(long, default_value = "target/bench")]
    pub work_dir: PathBuf,
    #[arg(long, default_value_t = 16)]
    pub connections: u32,
    #[arg(long, default_value_t = 1)]
    pub threads: u32,
    /// Seconds per measured load.
    #[arg(long, default_value_t = 10)]
    pub duration: u32,
    /// Unrecorded seconds of load before the first round.
    #[arg(long, default_value_t = 3)]
    pub warmup: u32,
    /// Interleaved rounds (ceiling, pulsekey, ceiling, …); medians are reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    #[arg(long, default_value_t = 18080)]
    pub port: u16,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ceiling { bind } => ceiling::serve(&bind).map_err(|err| err.to_string()),
        Command::Run(args) => run::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("pulsekey-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

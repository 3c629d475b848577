//! The `pulsekey` command line. Every failure ends in one line on stderr and
//! a non-zero exit, never a panic trace.

use std::net::TcpListener;
use std::process::ExitCode;

use pulsekey_db::Backend;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

use crate::config::secrets::{SecretSource, Secrets};
use crate::config::{Config, ConfigError, ServeArgs, StorageArgs};
use crate::http::state::AppState;

#[derive(Debug, Parser)]
#[command(name = "pulsekey", version, about = "Self-hosted license server")]
struct Cli {
    /// TOML file of settings, keyed by the long flag names in snake case (`data_dir`,
    /// `grace_days`, …). Flags and variables win over it.
    #[arg(long, global = true, env = "PULSEKEY_CONFIG", value_name = "FILE")]
    config: Option<std::path::PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API, the heartbeat endpoint and the web app.
    Serve(Box<ServeArgs>),
    /// Manage users in the configured database, whether or not the server is running.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Write a consistent copy of the SQLite database to a new FILE, server running or not.
    Backup {
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Replace the SQLite database with a backup (stop the server first); the replaced
    /// database is kept beside it.
    Restore {
        #[arg(long, value_name = "FILE")]
        from: std::path::PathBuf,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Copy everything from the embedded SQLite database into an empty PostgreSQL one and
    /// verify the copy (row counts and checksums).
    MigrateTo {
        /// The PostgreSQL database to fill: `postgres://…`.
        #[arg(long = "database-url", value_name = "URL")]
        target_url: String,
        /// Directory of the SQLite database to copy.
        #[arg(long, env = "PULSEKEY_DATA_DIR", default_value = "./pulsekey-data")]
        data_dir: std::path::PathBuf,
    },
    /// Manage the server's keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Development and benchmark helpers.
    #[command(subcommand)]
    Dev(DevCommand),
    /// Print the OpenAPI document (YAML), as checked in as openapi.yaml.
    #[command(hide = true)]
    Openapi,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Create a user; the password is read from the first line of standard input.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = ["admin", "customer"])]
        role: String,
        /// Read the password from standard input (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Defaults to USERNAME@users.invalid.
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Re-encrypt every stored license key under a new data key, in one transaction.
    RotateDataKey {
        /// Read the new key (32 bytes, standard base64) from standard input instead of
        /// generating one.
        #[arg(long)]
        new_key_stdin: bool,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the serve configuration (flags > variables > file > defaults) and print it,
    /// secrets masked, each setting with where it came from.
    Check(Box<ServeArgs>),
}

#[derive(Debug, Subcommand)]
enum DevCommand {
    /// Create N customers with one server each; write their license keys to a new FILE.
    Seed {
        #[arg(long)]
        customers: u64,
        #[arg(long)]
        keys_out: std::path::PathBuf,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

pub fn main() -> ExitCode {
    let (cli, described) = match parse_command_line() {
        Ok(parsed) => parsed,
        Err(err) => {
            eprintln!("pulsekey: {err}");
            return ExitCode::from(2);
        }
    };
    let log_format = match &cli.command {
        Command::Serve(args) => args.log_format.as_str(),
        _ => "pretty",
    };
    init_logging(log_format);
    let result = match cli.command {
        Command::Config(ConfigCommand::Check(args)) => config_check(&args, &described),
        Command::Backup { out, storage } => crate::ops::maintenance::backup(&storage, &out),
        Command::Restore { from, storage } => crate::ops::maintenance::restore(&storage, &from),
        Command::MigrateTo {
            target_url,
            data_dir,
        } => crate::ops::migrate::migrate_to(&data_dir, &target_url),
        Command::Keys(KeysCommand::RotateDataKey {
            new_key_stdin,
            storage,
        }) => read_new_key(new_key_stdin)
            .and_then(|key| crate::ops::maintenance::rotate_data_key(&storage, key)),
        Command::Serve(args) => serve(&args),
        Command::Users(UsersCommand::Create {
            username,
            role,
            password_stdin: _,
            email,
            storage,
        }) => create_user(&storage, username, &role, email),
        Command::Dev(DevCommand::Seed {
            customers,
            keys_out,
            storage,
        }) => dev_seed(&storage, customers, &keys_out),
        Command::Openapi => crate::http::openapi::yaml()
            .map(|yaml| print!("{yaml}"))
            .map_err(ConfigError),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pulsekey: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Every variable any command reads (`PULSEKEY_*`, `DATABASE_URL`): the names deployment
/// files may use.
pub fn variables() -> std::collections::BTreeSet<String> {
    fn collect(command: &clap::Command, out: &mut std::collections::BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env() {
                out.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            collect(sub, out);
        }
    }
    let mut out = std::collections::BTreeSet::new();
    collect(&Cli::command(), &mut out);
    out
}

/// Parses flags and variables, then adds the configuration file's settings where neither
/// set one. Also returns the effective settings of the chosen command, described.
fn parse_command_line() -> Result<(Cli, String), ConfigError> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let root = Cli::command();
    let matches = root
        .clone()
        .try_get_matches_from(&args)
        .unwrap_or_else(|err| err.exit());
    let (args, from_file) = match matches.get_one::<std::path::PathBuf>("config") {
        Some(path) => crate::config::file::apply(&root, &matches, args, path)?,
        None => (args, Default::default()),
    };
    let matches = root
        .clone()
        .try_get_matches_from(&args)
        .unwrap_or_else(|err| err.exit());
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    let (command, leaf) = crate::config::file::leaf(&root, &matches);
    let described = crate::config::file::describe(command, leaf, &from_file);
    Ok((cli, described))
}

fn read_new_key(from_stdin: bool) -> Result<Option<String>, ConfigError> {
    if !from_stdin {
        return Ok(None);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|err| ConfigError(format!("cannot read the new data key from stdin: {err}")))?;
    Ok(Some(line.trim().to_owned()))
}

/// `pulsekey config check`: the effective serve configuration, or the first thing wrong.
fn config_check(args: &ServeArgs, described: &str) -> Result<(), ConfigError> {
    Config::from_serve_args(args)?;
    fn source<'a>(variable: &'static str, value: &'a Option<String>) -> SecretSource<'a> {
        SecretSource {
            variable,
            value: value.as_deref(),
            shared_database: false,
        }
    }
    crate::config::secrets::check_values(
        source("PULSEKEY_JWT_SECRET", &args.jwt_secret),
        source("PULSEKEY_DATA_KEY", &args.storage.data_key),
        source("PULSEKEY_SIGNING_KEY", &args.signing_key),
    )?;
    print!("{described}");
    println!("# valid; secrets that are not set are generated into the data directory");
    Ok(())
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        // One object per line, with the request span's fields (id, method, route).
        logs.json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

fn serve(args: &ServeArgs) -> Result<(), ConfigError> {
    let config = Config::from_serve_args(args)?;
    let db = crate::ops::storage::open_database(&args.storage, pool_size())?;
    let _lock = crate::ops::maintenance::hold_serve_lock(&config.data_dir)?;
    let shared = db.backend() == Backend::Postgres;
    fn source<'a>(
        variable: &'static str,
        value: &'a Option<String>,
        shared: bool,
    ) -> SecretSource<'a> {
        SecretSource {
            variable,
            value: value.as_deref(),
            shared_database: shared,
        }
    }
    let secrets = Secrets::load(
        &config.data_dir,
        source("PULSEKEY_JWT_SECRET", &args.jwt_secret, shared),
        source("PULSEKEY_DATA_KEY", &args.storage.data_key, shared),
        source("PULSEKEY_SIGNING_KEY", &args.signing_key, shared),
    )?;
    let first_admin = pulsekey_core::audit::act(
        &db,
        &pulsekey_core::audit::Actor::system(),
        pulsekey_core::accounts::bootstrap_admin,
    )
    .map_err(|err| ConfigError(format!("cannot create the first admin: {err}")))?;
    let listener = TcpListener::bind(config.bind)
        .map_err(|err| ConfigError(format!("cannot listen on {}: {err}", config.bind)))?;
    tracing::info!(
        bind = %config.bind,
        backend = ?db.backend(),
        version = crate::VERSION,
        "pulsekey is serving on {}",
        config.public_url
    );
    if let Some(password) = first_admin {
        // Shown once, on stdout only: never to the log.
        println!(
            "\nCreated the first admin account.\n  username: admin\n  password: {password}\nSign in at {}/login and change it; this password is not shown again.\n",
            config.public_url
        );
    }
    let state = AppState::new(db, config, secrets)
        .map_err(|err| ConfigError(format!("cannot load the licenses: {err}")))?;
    actix_web::rt::System::new()
        .block_on(crate::http::app::serve(state.into(), listener))
        .map_err(|err| ConfigError(format!("server stopped: {err}")))
}

fn create_user(
    storage: &StorageArgs,
    username: String,
    role: &str,
    email: Option<String>,
) -> Result<(), ConfigError> {
    use pulsekey_core::accounts::{self, NewUser};
    use pulsekey_core::audit::Actor;
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .map_err(|err| ConfigError(format!("cannot read the password from stdin: {err}")))?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    let role = pulsekey_types::Role::parse(role)
        .ok_or_else(|| ConfigError("--role must be admin or customer".into()))?;
    let email = email.unwrap_or_else(|| format!("{username}@users.invalid"));
    let request = pulsekey_types::CreateUserRequest {
        username,
        email,
        password,
        role,
    };
    let new_user = NewUser::prepare(&request).map_err(|err| ConfigError(err.to_string()))?;
    let db = crate::ops::storage::open_database(storage, 1)?;
    let user = pulsekey_core::audit::act(&db, &Actor::cli(), |tx| {
        accounts::create_user(tx, &new_user)
    })
    .map_err(|err| ConfigError(err.to_string()))?;
    println!(
        "created {} {} (id {})",
        user.role.as_str(),
        user.username,
        user.id
    );
    Ok(())
}

fn dev_seed(
    storage: &StorageArgs,
    customers: u64,
    keys_out: &std::path::Path,
) -> Result<(), ConfigError> {
    let db = crate::ops::storage::open_database(storage, 2)?;
    let shared = db.backend() == Backend::Postgres;
    let data_key = crate::config::secrets::load_data_key(
        &storage.data_dir,
        SecretSource {
            variable: "PULSEKEY_DATA_KEY",
            value: storage.data_key.as_deref(),
            shared_database: shared,
        },
    )?;
    let started = std::time::Instant::now();
    let password = crate::ops::seed::seed(&db, &data_key, customers, keys_out)?;
    println!(
        "seeded {customers} customers in {:.1} s; keys in {}; every seeded customer's password: {password}",
        started.elapsed().as_secs_f64(),
        keys_out.display()
    );
    Ok(())
}

/// Enough connections for every worker plus the blocking pool's usual concurrency.
fn pool_size() -> u32 {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    u32::try_from(cores * 4).unwrap_or(16).clamp(4, 32)
}

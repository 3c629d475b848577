//! Configuration: flags and `PULSEKEY_*` variables, validated once at start; the TOML file
//! (`file`) and the generated or given secrets (`secrets`) beside them.

pub mod file;
pub mod secrets;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Args;

/// Where the data lives; shared by every command that opens the database.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Directory for the SQLite database and generated secrets.
    #[arg(long, env = "PULSEKEY_DATA_DIR", default_value = "./pulsekey-data")]
    pub data_dir: PathBuf,

    /// `postgres://…` selects PostgreSQL; default: SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Encrypts stored license keys: 32 bytes, standard base64 (default: generated into the
    /// data directory).
    #[arg(long, env = "PULSEKEY_DATA_KEY", hide_env_values = true)]
    pub data_key: Option<String>,
}

/// `pulsekey serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub storage: StorageArgs,

    /// Listen address.
    #[arg(long, env = "PULSEKEY_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,

    /// URL the proxies reach this server at, written into config.json.
    #[arg(long, env = "PULSEKEY_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Default grace window of a revoke, in days (1–365).
    #[arg(long, env = "PULSEKEY_GRACE_DAYS", default_value_t = 5)]
    pub grace_days: i64,

    /// Heartbeat interval told to proxies, in seconds (1–3600).
    #[arg(long, env = "PULSEKEY_HEARTBEAT_INTERVAL_SECS", default_value_t = 60)]
    pub heartbeat_interval_secs: u64,

    /// Longest a heartbeat's last-seen time, version and address wait in memory before they
    /// are written, in milliseconds (10–60000). Verdicts never wait for this.
    #[arg(long, env = "PULSEKEY_HEARTBEAT_FLUSH_MS", default_value_t = 1000)]
    pub heartbeat_flush_ms: u64,

    /// Refused heartbeats (unknown or malformed keys) one address may send a minute before
    /// its further refused ones get 429 until the minute is over (a valid key is always
    /// answered); 0 turns the limit off.
    #[arg(
        long,
        env = "PULSEKEY_HEARTBEAT_FAILURES_PER_MINUTE",
        default_value_t = 60
    )]
    pub heartbeat_failures_per_minute: u32,

    /// Heartbeats one license key may send a minute (a proxy sends one); past it, 429 with
    /// Retry-After until the minute is over (0–10000; 0 turns the limit off).
    #[arg(
        long,
        env = "PULSEKEY_HEARTBEATS_PER_KEY_PER_MINUTE",
        default_value_t = 30
    )]
    pub heartbeats_per_key_per_minute: u32,

    /// Failed sign-ins one address may have against one account in 15 minutes before that
    /// address waits out the rest of them; past it, the account is also slowed for every
    /// address (never locked) (1–1000).
    #[arg(long, env = "PULSEKEY_LOGIN_FAILURES_PER_ACCOUNT", default_value_t = 5)]
    pub login_failures_per_account: u32,

    /// Failed sign-ins one client address may have in 15 minutes, over all accounts
    /// (1–100000).
    #[arg(
        long,
        env = "PULSEKEY_LOGIN_FAILURES_PER_ADDRESS",
        default_value_t = 20
    )]
    pub login_failures_per_address: u32,

    /// Connections one client address may hold at once; one past it is closed as soon as it
    /// is accepted (0–1000000; 0 = no limit). Through a trusted proxy the client's requests
    /// in progress are counted instead, by its X-Forwarded-For address (429 past it).
    #[arg(
        long,
        env = "PULSEKEY_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256
    )]
    pub max_connections_per_address: u32,

    /// Connections each worker holds at most; past it, new ones wait in the listen queue
    /// (16–1000000). Default: what fits in the file-descriptor limit.
    #[arg(long, env = "PULSEKEY_MAX_CONNECTIONS_PER_WORKER")]
    pub max_connections_per_worker: Option<u32>,

    /// Seconds a client has to send a request's headers, and again its body, before it
    /// gets 408 (1–300).
    #[arg(long, env = "PULSEKEY_REQUEST_TIMEOUT_SECS", default_value_t = 10)]
    pub request_timeout_secs: u64,

    /// Seconds between sweeps that store EXPIRED for ended grace windows (1–3600). Verdicts
    /// never wait for a sweep; every node runs it, and running it twice changes nothing.
    #[arg(long, env = "PULSEKEY_EXPIRY_SWEEP_SECS", default_value_t = 30)]
    pub expiry_sweep_secs: u64,

    /// Seconds between samples of the fleet's counts for `/api/v1/fleet/history`, taken once
    /// for the whole cluster (1–60; the same on every node).
    #[arg(long, env = "PULSEKEY_FLEET_SAMPLE_SECS", default_value_t = 60)]
    pub fleet_sample_secs: u64,

    /// Days the fleet's history is kept (1–3650).
    #[arg(long, env = "PULSEKEY_FLEET_HISTORY_DAYS", default_value_t = 90)]
    pub fleet_history_days: u64,

    /// Let webhooks reach loopback, private, link-local and other non-public addresses
    /// (a receiver on this machine or its network). Off, such URLs are refused, also when
    /// a name resolves to one.
    #[arg(long, env = "PULSEKEY_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,

    /// Who must have a second factor (TOTP): `admins`, `all` or `off`. Someone it applies to
    /// who has none can only enrol one until they do.
    #[arg(long = "require-2fa", env = "PULSEKEY_REQUIRE_2FA", default_value = "off", value_parser = ["off", "admins", "all"])]
    pub require_2fa: String,

    /// Bearer token a scraper must present to read `/metrics`; unset, the metrics are open
    /// (keep them behind the load balancer).
    #[arg(long, env = "PULSEKEY_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Log lines as `pretty` text or `json` objects (one per line).
    #[arg(long, env = "PULSEKEY_LOG_FORMAT", default_value = "pretty", value_parser = ["pretty", "json"])]
    pub log_format: String,

    /// Comma-separated addresses of reverse proxies whose X-Forwarded-For is believed.
    #[arg(long, env = "PULSEKEY_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    /// Signs session tokens; at least 32 bytes (default: generated into the data directory).
    #[arg(long, env = "PULSEKEY_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Ed25519 seed that signs heartbeat responses: 32 bytes, standard base64 (default:
    /// generated into the data directory).
    #[arg(long, env = "PULSEKEY_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<String>,
}

/// A configuration that cannot work, said in one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The validated configuration of a running server.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub public_url: String,
    pub grace_days: i64,
    pub heartbeat_interval_secs: u64,
    pub heartbeat_flush: std::time::Duration,
    /// 0: no limit.
    pub heartbeat_failures_per_minute: u32,
    /// 0: no limit.
    pub heartbeats_per_key_per_minute: u32,
    pub login_failures_per_account: u32,
    pub login_failures_per_address: u32,
    pub request_timeout: std::time::Duration,
    /// 0: no limit.
    pub max_connections_per_address: u32,
    /// `None`: derived from the file-descriptor limit at start.
    pub max_connections_per_worker: Option<u32>,
    pub expiry_sweep: std::time::Duration,
    pub fleet: pulsekey_core::fleet::FleetSettings,
    pub metrics_token: Option<String>,
    pub trusted_proxies: Vec<IpAddr>,
    /// Whether the session cookie must travel over HTTPS only.
    pub secure_cookies: bool,
    /// Webhooks may reach non-public addresses (`PULSEKEY_WEBHOOK_ALLOW_PRIVATE`).
    pub webhook_allow_private: bool,
    /// `PULSEKEY_REQUIRE_2FA`.
    pub require_2fa: pulsekey_core::second_factor::Requirement,
}

impl Config {
    pub fn from_serve_args(args: &ServeArgs) -> Result<Self, ConfigError> {
        let bind: SocketAddr = args.bind.parse().map_err(|_| {
            ConfigError(format!(
                "PULSEKEY_BIND / --bind: {:?} is not an address like 127.0.0.1:8080",
                args.bind
            ))
        })?;
        if !pulsekey_core::license::GRACE_DAYS_RANGE.contains(&args.grace_days) {
            return Err(ConfigError(format!(
                "PULSEKEY_GRACE_DAYS: {} is outside 1–365",
                args.grace_days
            )));
        }
        if !(10..=60_000).contains(&args.heartbeat_flush_ms) {
            return Err(ConfigError(format!(
                "PULSEKEY_HEARTBEAT_FLUSH_MS: {} is outside 10–60000",
                args.heartbeat_flush_ms
            )));
        }
        if !(1..=3600).contains(&args.heartbeat_interval_secs) {
            return Err(ConfigError(format!(
                "PULSEKEY_HEARTBEAT_INTERVAL_SECS: {} is outside 1–3600",
                args.heartbeat_interval_secs
            )));
        }
        // The index counts up to 65535 a minute; a limit must stay well below.
        check_range(
            "PULSEKEY_HEARTBEATS_PER_KEY_PER_MINUTE",
            args.heartbeats_per_key_per_minute.into(),
            0..=10_000,
        )?;
        check_range(
            "PULSEKEY_LOGIN_FAILURES_PER_ACCOUNT",
            args.login_failures_per_account.into(),
            1..=1000,
        )?;
        check_range(
            "PULSEKEY_LOGIN_FAILURES_PER_ADDRESS",
            args.login_failures_per_address.into(),
            1..=100_000,
        )?;
        check_range(
            "PULSEKEY_REQUEST_TIMEOUT_SECS",
            args.request_timeout_secs,
            1..=300,
        )?;
        check_range(
            "PULSEKEY_MAX_CONNECTIONS_PER_ADDRESS",
            args.max_connections_per_address.into(),
            0..=1_000_000,
        )?;
        if let Some(per_worker) = args.max_connections_per_worker {
            check_range(
                "PULSEKEY_MAX_CONNECTIONS_PER_WORKER",
                per_worker.into(),
                16..=1_000_000,
            )?;
        }
        check_range(
            "PULSEKEY_EXPIRY_SWEEP_SECS",
            args.expiry_sweep_secs,
            1..=3600,
        )?;
        check_range("PULSEKEY_FLEET_SAMPLE_SECS", args.fleet_sample_secs, 1..=60)?;
        check_range(
            "PULSEKEY_FLEET_HISTORY_DAYS",
            args.fleet_history_days,
            1..=3650,
        )?;
        let trusted_proxies = args
            .trusted_proxies
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpAddr>().map_err(|_| {
                    ConfigError(format!(
                        "PULSEKEY_TRUSTED_PROXIES: {s:?} is not an IP address"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let public_url = match &args.public_url {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                url.trim_end_matches('/').to_owned()
            }
            Some(url) => {
                return Err(ConfigError(format!(
                    "PULSEKEY_PUBLIC_URL: {url:?} must start with http:// or https://"
                )));
            }
            None => default_public_url(bind),
        };
        Ok(Self {
            bind,
            data_dir: args.storage.data_dir.clone(),
            database_url: database_url(&args.storage),
            secure_cookies: public_url.starts_with("https://"),
            public_url,
            grace_days: args.grace_days,
            heartbeat_interval_secs: args.heartbeat_interval_secs,
            heartbeat_flush: std::time::Duration::from_millis(args.heartbeat_flush_ms),
            heartbeat_failures_per_minute: args.heartbeat_failures_per_minute,
            heartbeats_per_key_per_minute: args.heartbeats_per_key_per_minute,
            login_failures_per_account: args.login_failures_per_account,
            login_failures_per_address: args.login_failures_per_address,
            request_timeout: std::time::Duration::from_secs(args.request_timeout_secs),
            max_connections_per_address: args.max_connections_per_address,
            max_connections_per_worker: args.max_connections_per_worker,
            expiry_sweep: std::time::Duration::from_secs(args.expiry_sweep_secs),
            fleet: pulsekey_core::fleet::FleetSettings {
                interval_secs: args.heartbeat_interval_secs,
                sample_every_secs: args.fleet_sample_secs,
                history_kept: time::Duration::days(args.fleet_history_days as i64),
            },
            metrics_token: args.metrics_token.clone().filter(|t| !t.is_empty()),
            trusted_proxies,
            webhook_allow_private: args.webhook_allow_private,
            // clap has already refused anything but the three words.
            require_2fa: pulsekey_core::second_factor::Requirement::parse(&args.require_2fa)
                .unwrap_or_default(),
        })
    }
}

fn check_range(
    variable: &str,
    value: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<(), ConfigError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "{variable}: {value} is outside {}–{}",
            range.start(),
            range.end()
        )))
    }
}

/// The configured database, or the SQLite file in the data directory.
pub fn database_url(storage: &StorageArgs) -> String {
    match &storage.database_url {
        Some(url) if !url.trim().is_empty() => url.trim().to_owned(),
        _ => storage
            .data_dir
            .join("pulsekey.sqlite3")
            .display()
            .to_string(),
    }
}

fn default_public_url(bind: SocketAddr) -> String {
    let host = match bind.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    format!("http://{host}:{}", bind.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let cli = Cli::try_parse_from(std::iter::once("pulsekey").chain(args.iter().copied()))
            .map_err(|e| ConfigError(e.to_string()))?;
        Config::from_serve_args(&cli.serve)
    }

    #[test]
    fn defaults_need_no_configuration() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.public_url, "http://127.0.0.1:8080");
        assert!(config.database_url.ends_with("pulsekey.sqlite3"));
        assert_eq!(config.grace_days, 5);
        assert_eq!(config.heartbeat_interval_secs, 60);
        assert!(!config.secure_cookies);
    }

    #[test]
    fn rejects_bad_values_with_the_variable_name() {
        let err = parse(&["--bind", "nonsense"]).unwrap_err();
        assert!(err.0.contains("PULSEKEY_BIND"), "{err}");
        let err = parse(&["--grace-days", "0"]).unwrap_err();
        assert!(err.0.contains("PULSEKEY_GRACE_DAYS"), "{err}");
        let err = parse(&["--trusted-proxies", "10.0.0.1,bogus"]).unwrap_err();
        assert!(err.0.contains("bogus"), "{err}");
        let err = parse(&["--login-failures-per-account", "0"]).unwrap_err();
        assert!(
            err.0.contains("PULSEKEY_LOGIN_FAILURES_PER_ACCOUNT"),
            "{err}"
        );
        let err = parse(&["--request-timeout-secs", "301"]).unwrap_err();
        assert!(err.0.contains("PULSEKEY_REQUEST_TIMEOUT_SECS"), "{err}");
        let err = parse(&["--public-url", "ftp://x"]).unwrap_err();
        assert!(err.0.contains("PULSEKEY_PUBLIC_URL"), "{err}");
    }

    #[test]
    fn unspecified_bind_advertises_loopback_and_https_makes_cookies_secure() {
        let config = parse(&["--bind", "0.0.0.0:9000"]).unwrap();
        assert_eq!(config.public_url, "http://127.0.0.1:9000");
        let config = parse(&["--public-url", "https://lic.example.com/"]).unwrap();
        assert_eq!(config.public_url, "https://lic.example.com");
        assert!(config.secure_cookies);
    }
}

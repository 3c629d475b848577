//! `pulsekey-agent run --config config.json -- PROXY [ARGS…]`: runs the proxy while the
//! license allows it. Exit codes: the proxy's own when it exits by itself; 2 for a config
//! or start-up error; 3 EXPIRED; 4 key refused (401); 5 offline beyond the tolerance.
//!
//! The proxy runs under a guard process (`guard.rs`) so that its whole process tree ends
//! with the agent, even when the agent is killed with SIGKILL.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use pulsekey_agent::verdict::StopReason;
use pulsekey_agent::{Action, Agent, Outcome, Policy, StateFile};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::process::{Child, Command};

#[derive(Parser)]
#[command(
    name = "pulsekey-agent",
    version,
    about = "Runs a proxy while its pulsekey license allows it"
)]
struct Cli {
    #[command(subcommand)]
    command: AgentCommand,
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Heartbeat, start the proxy, and stop it when the license says so.
    Run {
        /// The config.json downloaded from the pulsekey dashboard.
        #[arg(long)]
        config: PathBuf,
        /// Where the last verified answer is kept across restarts (0600, written atomically);
        /// default: beside the config, as `<config>.state`.
        #[arg(long)]
        state: Option<PathBuf>,
        /// The proxy's version, reported with each heartbeat.
        #[arg(long, default_value = "unknown")]
        version_string: String,
        /// Hours without any verdict after which the proxy is stopped.
        #[arg(long, default_value_t = 72)]
        offline_tolerance_hours: i64,
        /// Seconds the proxy gets to exit after SIGTERM before SIGKILL.
        #[arg(long, default_value_t = 10)]
        stop_timeout_secs: u64,
        /// The proxy command and its arguments.
        #[arg(required = true, last = true)]
        proxy: Vec<String>,
    },
    /// Internal: the process between the agent and the proxy.
    #[command(hide = true)]
    Guard {
        #[arg(long)]
        agent_pid: i32,
        #[arg(long)]
        stop_timeout_ms: u64,
        #[arg(required = true, last = true)]
        proxy: Vec<String>,
    },
}

fn log(message: &str) {
    let now = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    eprintln!("{now} pulsekey-agent: {message}");
}

fn main() -> ExitCode {
    let code = match Cli::parse().command {
        AgentCommand::Guard {
            agent_pid,
            stop_timeout_ms,
            proxy,
        } => pulsekey_agent::guard::run(
            nix::unistd::Pid::from_raw(agent_pid),
            Duration::from_millis(stop_timeout_ms),
            &proxy,
        ),
        AgentCommand::Run {
            config,
            state,
            version_string,
            offline_tolerance_hours,
            stop_timeout_secs,
            proxy,
        } => {
            // One thread: the guard's parent-death signal follows the thread that spawned it.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(runtime) => runtime.block_on(run(
                    config,
                    state,
                    &version_string,
                    offline_tolerance_hours,
                    Duration::from_secs(stop_timeout_secs),
                    &proxy,
                )),
                Err(err) => {
                    log(&format!("cannot start: {err}"));
                    2
                }
            }
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

async fn run(
    config: PathBuf,
    state: Option<PathBuf>,
    version_string: &str,
    offline_tolerance_hours: i64,
    stop_timeout: Duration,
    proxy: &[String],
) -> i32 {
    let agent = match Agent::from_config(&config, version_string) {
        Ok(agent) => agent,
        Err(err) => {
            log(&err.to_string());
            return 2;
        }
    };
    let state = StateFile::new(
        state.unwrap_or_else(|| StateFile::default_path(&config)),
        agent.config().license_key(),
        agent.config().public_key,
    );
    if let Err(err) = state.check_writable() {
        log(&format!(
            "{err}: pass --state with a path this user can write"
        ));
        return 2;
    }
    let last = match state.load() {
        Ok(last) => last,
        Err(err) => {
            log(&format!(
                "{err}: not trusted; starting as if there were none"
            ));
            None
        }
    };
    let policy = Policy {
        offline_tolerance: time::Duration::hours(offline_tolerance_hours.max(0)),
    };
    supervise(agent, policy, last, state, stop_timeout, proxy).await
}

/// Logs what an action means; returns the stop reason if the proxy must stop.
fn act(action: &Action) -> Option<StopReason> {
    match action {
        Action::Run => None,
        Action::Warn { grace_expires_at } => {
            let until = grace_expires_at
                .and_then(|at| at.format(&Rfc3339).ok())
                .unwrap_or_else(|| "soon".into());
            log(&format!(
                "WARNING: the license is in its grace period; the proxy stops after {until}"
            ));
            None
        }
        Action::Wait(_) => None,
        Action::Stop(reason) => {
            log(match reason {
                StopReason::Expired => "the license has EXPIRED: stopping the proxy",
                StopReason::KeyRefused => {
                    "the server refused this license key (regenerated or unknown): stopping the proxy"
                }
                StopReason::OfflineTooLong => {
                    "no verdict within the offline tolerance: stopping the proxy"
                }
            });
            Some(*reason)
        }
    }
}

async fn supervise(
    agent: Agent,
    policy: Policy,
    last: Option<pulsekey_agent::LastAnswer>,
    state: StateFile,
    stop_timeout: Duration,
    proxy: &[String],
) -> i32 {
    log(&format!(
        "license {} at {}",
        agent.config().masked_key(),
        agent.config().server_url
    ));
    let mut decisions = std::sync::Arc::new(agent).watch(policy, last, state);
    let mut terminate = match Signals::new() {
        Ok(signals) => signals,
        Err(err) => {
            log(&format!("cannot watch for SIGTERM: {err}"));
            return 2;
        }
    };
    // The proxy starts only on a verified ACTIVE or GRACE: fresh, or on record and within
    // the offline tolerance.
    loop {
        let decision = tokio::select! {
            decision = decisions.recv() => decision,
            _ = terminate.recv() => {
                log("stopping before the proxy started");
                return 0;
            }
        };
        let Some(decision) = decision else { return 2 };
        note_state_error(&decision);
        if let Action::Wait(reason) = &decision.action {
            let why = match &decision.outcome {
                Outcome::NoVerdict(why) => why.as_str(),
                _ => "no verdict",
            };
            log(&format!(
                "{why}; {reason}: the proxy is not started; retrying in {} s",
                decision.retry_in.as_secs().max(1)
            ));
            continue;
        }
        if let Outcome::NoVerdict(why) = &decision.outcome {
            log(&format!(
                "{why}; starting the proxy on the verified verdict on record"
            ));
        }
        if let Some(reason) = act(&decision.action) {
            return reason.exit_code();
        }
        break;
    }
    let mut guard = match spawn_guard(stop_timeout, proxy) {
        Ok(child) => child,
        Err(err) => {
            log(&format!("cannot start {}: {err}", proxy[0]));
            return 2;
        }
    };
    loop {
        tokio::select! {
            status = guard.wait() => {
                let code = status.ok().and_then(|s| s.code()).unwrap_or(1);
                if code == pulsekey_agent::guard::CANNOT_START {
                    return 2;
                }
                log(&format!("the proxy exited with {code}"));
                return code;
            }
            _ = terminate.recv() => {
                log("asked to stop: stopping the proxy");
                stop(&mut guard, stop_timeout).await;
                return 0;
            }
            decision = decisions.recv() => {
                let Some(decision) = decision else { return 2 };
                note_state_error(&decision);
                if let Outcome::NoVerdict(why) = &decision.outcome {
                    log(&format!("no verdict ({why}); the proxy keeps running"));
                }
                if let Some(reason) = act(&decision.action) {
                    stop(&mut guard, stop_timeout).await;
                    return reason.exit_code();
                }
            }
        }
    }
}

fn note_state_error(decision: &pulsekey_agent::Decision) {
    if let Some(err) = &decision.state_error {
        log(&format!(
            "{err}: a restart while the server is unreachable will not start the proxy"
        ));
    }
}

/// SIGTERM, SIGINT and SIGHUP: each asks the agent to stop the proxy and exit.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
            _ = self.hup.recv() => {}
        }
    }
}

/// This same binary as the guard, which starts the proxy in a process group of its own.
fn spawn_guard(stop_timeout: Duration, proxy: &[String]) -> std::io::Result<Child> {
    Command::new(std::env::current_exe()?)
        .arg("guard")
        .arg(format!("--agent-pid={}", std::process::id()))
        .arg(format!("--stop-timeout-ms={}", stop_timeout.as_millis()))
        .arg("--")
        .args(proxy)
        .kill_on_drop(true)
        .spawn()
}

/// Asks the guard to end the proxy's process group (SIGTERM, then SIGKILL after
/// `timeout`), and waits for it; kills the guard itself only if it does not answer.
async fn stop(guard: &mut Child, timeout: Duration) {
    if let Some(pid) = guard.id().and_then(|id| i32::try_from(id).ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    if tokio::time::timeout(timeout + Duration::from_secs(10), guard.wait())
        .await
        .is_err()
    {
        log("the guard did not stop the proxy in time: killing it");
        let _ = guard.kill().await;
    }
}

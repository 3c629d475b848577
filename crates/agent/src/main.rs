//! `pulsekey-agent run --config config.json -- PROXY [ARGS…]`: runs the proxy while the
//! license allows it. Exit codes: the proxy's own when it exits by itself; 2 for a config
//! or start-up error; 3 EXPIRED; 4 key refused (401); 5 offline beyond the tolerance.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use pulsekey_agent::verdict::StopReason;
use pulsekey_agent::{Action, Agent, Outcome, Policy};
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
}

fn log(message: &str) {
    let now = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    eprintln!("{now} pulsekey-agent: {message}");
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Cli {
        command:
            AgentCommand::Run {
                config,
                version_string,
                offline_tolerance_hours,
                stop_timeout_secs,
                proxy,
            },
    } = Cli::parse();
    let agent = match Agent::from_config(&config, &version_string) {
        Ok(agent) => agent,
        Err(err) => {
            log(&err.to_string());
            return ExitCode::from(2);
        }
    };
    let policy = Policy {
        offline_tolerance: time::Duration::hours(offline_tolerance_hours.max(0)),
    };
    let code = supervise(
        agent,
        policy,
        Duration::from_secs(stop_timeout_secs),
        &proxy,
    )
    .await;
    ExitCode::from(u8::try_from(code).unwrap_or(1))
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

async fn supervise(agent: Agent, policy: Policy, stop_timeout: Duration, proxy: &[String]) -> i32 {
    log(&format!(
        "license {} at {}",
        agent.config().masked_key(),
        agent.config().server_url
    ));
    let mut decisions = std::sync::Arc::new(agent).watch(policy);
    // The first verdict decides whether the proxy may start at all.
    let Some(first) = decisions.recv().await else {
        return 2;
    };
    if let Outcome::NoVerdict(why) = &first.outcome {
        log(&format!(
            "no verdict yet ({why}); starting the proxy anyway"
        ));
    }
    if let Some(reason) = act(&first.action) {
        return reason.exit_code();
    }
    let mut child = match Command::new(&proxy[0])
        .args(&proxy[1..])
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(err) => {
            log(&format!("cannot start {}: {err}", proxy[0]));
            return 2;
        }
    };
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(err) => {
                log(&format!("cannot watch for SIGTERM: {err}"));
                stop(&mut child, stop_timeout).await;
                return 2;
            }
        };
    loop {
        tokio::select! {
            status = child.wait() => {
                let code = status.ok().and_then(|s| s.code()).unwrap_or(1);
                log(&format!("the proxy exited with {code}"));
                return code;
            }
            _ = terminate.recv() => {
                log("SIGTERM: stopping the proxy");
                stop(&mut child, stop_timeout).await;
                return 0;
            }
            decision = decisions.recv() => {
                let Some(decision) = decision else { return 2 };
                if let Outcome::NoVerdict(why) = &decision.outcome {
                    log(&format!("no verdict ({why}); the proxy keeps running"));
                }
                if let Some(reason) = act(&decision.action) {
                    stop(&mut child, stop_timeout).await;
                    return reason.exit_code();
                }
            }
        }
    }
}

/// SIGTERM, then SIGKILL if the proxy has not exited within `timeout`.
async fn stop(child: &mut Child, timeout: Duration) {
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    if tokio::time::timeout(timeout, child.wait()).await.is_err() {
        log("the proxy ignored SIGTERM: killing it");
        let _ = child.kill().await;
    }
}

//! The guard: a small process between the agent and the proxy that makes sure the proxy's
//! whole process tree ends with the agent, however the agent ends.
//!
//! ```text
//! pulsekey-agent ── guard (parent-death signal: SIGTERM) ── proxy, in a process group of its own
//!                                                             └── the proxy's workers (same group)
//! ```
//! Two things a supervisor alone cannot do without `unsafe` (which the workspace forbids):
//! the guard asks the kernel for SIGTERM when the agent dies, even by SIGKILL
//! (`PR_SET_PDEATHSIG`), and it is the subreaper of everything below it, so workers the proxy
//! forks are reaped by it and cannot slip away to init. On SIGTERM (from the agent's stop, or
//! from the kernel when the agent died) it ends the proxy's group: SIGTERM, then SIGKILL after
//! the stop timeout. When the proxy exits by itself, leftover workers are ended the same way
//! and the guard exits with the proxy's code.

use std::os::unix::process::CommandExt as _;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, getppid};

/// The exit code when the proxy cannot be started at all (as `sh` answers for a missing
/// command).
pub const CANNOT_START: i32 = 127;

/// Runs the guard; returns its exit code: the proxy's own, 128 + signal if a signal ended
/// it, 0 after a requested stop, [`CANNOT_START`] if it never ran.
pub fn run(agent: Pid, stop_timeout: Duration, proxy: &[String]) -> i32 {
    let mut signals = SigSet::empty();
    for signal in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGCHLD,
    ] {
        signals.add(signal);
    }
    // Blocked, then taken one at a time with sigwait: no handlers, no races. The proxy
    // starts with an empty mask (std resets it in the child).
    if let Err(err) = signals.thread_block() {
        eprintln!("pulsekey-agent guard: cannot block signals: {err}");
        return CANNOT_START;
    }
    if let Err(err) = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM) {
        eprintln!("pulsekey-agent guard: cannot watch the agent: {err}");
        return CANNOT_START;
    }
    // The agent may have died before the line above took effect.
    if getppid() != agent {
        return CANNOT_START;
    }
    if let Err(err) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!("pulsekey-agent guard: cannot become the proxy's subreaper: {err}");
        return CANNOT_START;
    }
    let Some((program, args)) = proxy.split_first() else {
        return CANNOT_START;
    };
    let child = match Command::new(program).args(args).process_group(0).spawn() {
        Ok(child) => child,
        Err(err) => {
            eprintln!("pulsekey-agent: cannot start {program}: {err}");
            return CANNOT_START;
        }
    };
    let group = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    // Reaped below with waitpid; the std handle is not used again.
    drop(child);

    let mut proxy_status = None;
    loop {
        match signals.wait() {
            Ok(Signal::SIGCHLD) => {
                reap(group, &mut proxy_status);
                if let Some(code) = proxy_status {
                    end_group(group, stop_timeout, &mut proxy_status);
                    return code;
                }
            }
            Ok(_) => {
                end_group(group, stop_timeout, &mut proxy_status);
                return 0;
            }
            Err(Errno::EINTR) => {}
            Err(err) => {
                eprintln!("pulsekey-agent guard: sigwait failed: {err}");
                end_group(group, stop_timeout, &mut proxy_status);
                return 1;
            }
        }
    }
}

/// Reaps every child that has exited (the proxy and any orphaned worker); records the
/// proxy's exit code when it is among them.
fn reap(proxy: Pid, proxy_status: &mut Option<i32>) {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == proxy => *proxy_status = Some(code),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == proxy => {
                *proxy_status = Some(128 + signal as i32);
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Whether any process of the group is left (reaping first, so zombies do not count).
fn group_alive(group: Pid, proxy_status: &mut Option<i32>) -> bool {
    reap(group, proxy_status);
    killpg(group, None).is_ok()
}

/// SIGTERM to the whole group, SIGKILL to whatever is left after `timeout`.
fn end_group(group: Pid, timeout: Duration, proxy_status: &mut Option<i32>) {
    if !group_alive(group, proxy_status) {
        return;
    }
    let _ = killpg(group, Signal::SIGTERM);
    if wait_until_gone(group, timeout, proxy_status) {
        return;
    }
    eprintln!("pulsekey-agent: the proxy ignored SIGTERM: killing its process group");
    let _ = killpg(group, Signal::SIGKILL);
    wait_until_gone(group, Duration::from_secs(5), proxy_status);
}

fn wait_until_gone(group: Pid, timeout: Duration, proxy_status: &mut Option<i32>) -> bool {
    let deadline = Instant::now() + timeout;
    while group_alive(group, proxy_status) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

//! The binary's start-up failures: one clear line on stderr, a non-zero exit, no panic.

use std::process::{Command, Output};

fn pulsekey(args: &[&str], env: &[(&str, &str)]) -> Output {
    let data_dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_pulsekey"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command.env("PULSEKEY_DATA_DIR", data_dir.path());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn assert_one_line_failure(output: &Output, expected: &str) {
    assert!(
        !output.status.success(),
        "expected failure, got {:?}",
        output.status
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("pulsekey: "), "{stderr}");
    assert!(last.contains(expected), "expected {expected:?} in {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_bind_address() {
    assert_one_line_failure(
        &pulsekey(&["serve", "--bind", "not-an-address"], &[]),
        "PULSEKEY_BIND",
    );
}

#[test]
fn port_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    assert_one_line_failure(
        &pulsekey(&["serve", "--bind", &addr], &[]),
        "cannot listen on",
    );
}

#[test]
fn unreachable_postgres() {
    let output = pulsekey(
        &["serve", "--bind", "127.0.0.1:0"],
        &[("DATABASE_URL", "postgres://u:hunter2@127.0.0.1:1/x")],
    );
    assert_one_line_failure(&output, "cannot open the database");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("hunter2"));
}

#[test]
fn unsupported_database_url() {
    assert_one_line_failure(
        &pulsekey(
            &["serve", "--bind", "127.0.0.1:0"],
            &[("DATABASE_URL", "mysql://x")],
        ),
        "DATABASE_URL",
    );
}

#[test]
fn unwritable_data_dir() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let below_a_file = file.path().join("data");
    assert_one_line_failure(
        &pulsekey(
            &[
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--data-dir",
                below_a_file.to_str().unwrap(),
            ],
            &[],
        ),
        "data directory",
    );
}

#[test]
fn bad_secret_is_named_but_not_echoed() {
    let output = pulsekey(
        &["serve", "--bind", "127.0.0.1:0"],
        &[("PULSEKEY_JWT_SECRET", "too-short-secret")],
    );
    assert_one_line_failure(&output, "PULSEKEY_JWT_SECRET");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("too-short-secret"));
}

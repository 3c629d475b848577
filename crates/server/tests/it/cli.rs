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

#[test]
fn config_check_applies_flag_over_env_over_file_over_default_and_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pulsekey.toml");
    std::fs::write(
        &file,
        "bind = \"0.0.0.0:9000\"\ngrace_days = 9\nheartbeat_interval_secs = 30\n\
         trusted_proxies = [\"10.0.0.1\", \"10.0.0.2\"]\n\
         jwt_secret = \"file-jwt-secret-that-is-long-enough-000\"\n",
    )
    .unwrap();
    let output = pulsekey(
        &[
            "config",
            "check",
            "--config",
            file.to_str().unwrap(),
            "--bind",
            "127.0.0.1:7000",
        ],
        &[
            ("PULSEKEY_GRACE_DAYS", "7"),
            ("DATABASE_URL", "postgres://pk:db-password-42@db:5432/pk"),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "bind = \"127.0.0.1:7000\"  # flag --bind",
        "grace_days = 7  # env PULSEKEY_GRACE_DAYS",
        "heartbeat_interval_secs = 30  # file",
        "heartbeat_flush_ms = 1000  # default",
        "trusted_proxies = [\"10.0.0.1\", \"10.0.0.2\"]  # file",
        "jwt_secret = \"********\"  # file",
        "database_url = \"postgres://pk:********@db:5432/pk\"  # env DATABASE_URL",
        "# signing_key is not set",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in\n{stdout}"
        );
    }
    assert!(!stdout.contains("db-password-42") && !stdout.contains("file-jwt-secret"));
}

#[test]
fn config_check_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pulsekey.toml");
    std::fs::write(&file, "grace_dayz = 3\n").unwrap();
    let output = pulsekey(
        &["config", "check", "--config", file.to_str().unwrap()],
        &[],
    );
    assert_one_line_failure(&output, "unknown setting `grace_dayz`");
    // A value that looks like a flag is still the setting's value.
    std::fs::write(&file, "grace_days = -3\n").unwrap();
    let output = pulsekey(
        &["config", "check", "--config", file.to_str().unwrap()],
        &[],
    );
    assert_one_line_failure(&output, "PULSEKEY_GRACE_DAYS: -3 is outside 1–365");
    std::fs::write(&file, "grace_days = 400\n").unwrap();
    let output = pulsekey(
        &["config", "check", "--config", file.to_str().unwrap()],
        &[],
    );
    assert_one_line_failure(&output, "PULSEKEY_GRACE_DAYS: 400 is outside 1–365");
    // The file works through PULSEKEY_CONFIG too, and for `serve`.
    let output = pulsekey(&["serve"], &[("PULSEKEY_CONFIG", file.to_str().unwrap())]);
    assert_one_line_failure(&output, "PULSEKEY_GRACE_DAYS: 400 is outside 1–365");
    let output = pulsekey(
        &["config", "check"],
        &[("PULSEKEY_SIGNING_KEY", "not-base64-secret!")],
    );
    assert_one_line_failure(&output, "PULSEKEY_SIGNING_KEY: must be standard base64");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("not-base64-secret"));
}

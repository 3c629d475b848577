//! The harness end to end on a small data set: seeds, runs both servers under wrk, reports.
//! CI runs this instead of the real benchmark (docs/performance.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn the_harness_seeds_loads_both_servers_and_reports_a_ratio() {
    let work = tempfile::tempdir().unwrap();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let output = Command::new(env!("CARGO_BIN_EXE_pulsekey-bench"))
        .args([
            "run",
            "--licenses",
            "300",
            "--duration",
            "2",
            "--warmup",
            "1",
        ])
        .args([
            "--rounds",
            "1",
            "--connections",
            "4",
            "--port",
            &port.to_string(),
        ])
        .arg("--work-dir")
        .arg(work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");

    let row = |server: &str| -> Vec<String> {
        let line = stdout
            .lines()
            .find(|line| line.starts_with(&format!("| {server} |")))
            .unwrap_or_else(|| panic!("no {server} row in {stdout}"));
        line.split('|').map(|cell| cell.trim().to_owned()).collect()
    };
    for server in ["ceiling", "pulsekey"] {
        let cells = row(server);
        let per_sec: f64 = cells[2].parse().unwrap();
        assert!(per_sec > 0.0, "{server} served nothing: {stdout}");
        // Every seeded key is valid: a refused heartbeat or a socket error is a failure.
        assert_eq!(cells[6], "0", "{server} had errors: {stdout}");
    }
    assert!(stdout.contains("pulsekey ÷ ceiling: "), "{stdout}");
    let heap_line = stdout
        .lines()
        .find(|line| line.starts_with("pulsekey anonymous memory"))
        .unwrap();
    assert!(!heap_line.ends_with(" 0.0 MiB"), "{heap_line}");
    // Seeding once per work directory: a second run reuses the data.
    assert!(work.path().join("sqlite-300/keys.txt").is_file());
}

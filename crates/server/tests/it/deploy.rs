//! The deployment files cannot run here (no Docker), so they are read and checked against
//! the binary itself: every variable they set is one pulsekey reads, the services are
//! wired the way the README says, and the Dockerfile builds what the compose file runs.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

fn repo_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn compose() -> Value {
    let mut yaml: yaml_serde::Value =
        yaml_serde::from_str(&repo_file("docker-compose.yml")).unwrap();
    yaml.apply_merge().unwrap();
    serde_json::to_value(yaml).unwrap()
}

/// Variables pulsekey does not read but the files may set: compose's own.
const NOT_PULSEKEY: [&str; 1] = ["POSTGRES_PASSWORD"];

fn assert_known(names: impl IntoIterator<Item = String>, place: &str) {
    let known = pulsekey_server::cli::variables();
    for name in names {
        assert!(
            known.contains(&name) || NOT_PULSEKEY.contains(&name.as_str()),
            "{place} sets {name}, which pulsekey does not read (it reads {known:?})"
        );
    }
}

#[test]
fn compose_runs_postgres_and_two_nodes_behind_a_load_balancer() {
    let compose = compose();
    let services = compose["services"].as_object().unwrap();
    let names: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from(["postgres", "pulsekey-a", "pulsekey-b", "nginx"])
    );

    let postgres = &services["postgres"];
    assert!(
        postgres["healthcheck"]["test"]
            .to_string()
            .contains("pg_isready")
    );
    let volume = postgres["volumes"][0].as_str().unwrap();
    let volume_name = volume.split(':').next().unwrap();
    assert!(
        compose["volumes"].get(volume_name).is_some(),
        "{volume} is not a named volume"
    );

    for node in ["pulsekey-a", "pulsekey-b"] {
        let node = &services[node];
        assert_eq!(node["env_file"], ".env");
        assert_eq!(
            node["depends_on"]["postgres"]["condition"],
            "service_healthy"
        );
        assert!(node["healthcheck"]["test"].to_string().contains("/readyz"));
        let env = node["environment"].as_object().unwrap();
        assert_known(env.keys().cloned(), "docker-compose.yml");
        assert!(
            env["DATABASE_URL"]
                .as_str()
                .unwrap()
                .starts_with("postgres://")
        );
        assert_eq!(env["PULSEKEY_BIND"], "0.0.0.0:8080");
        // Nodes must share these; compose refuses to start without them.
        for secret in [
            "PULSEKEY_JWT_SECRET",
            "PULSEKEY_DATA_KEY",
            "PULSEKEY_SIGNING_KEY",
        ] {
            let value = env[secret].as_str().unwrap();
            assert_eq!(value, format!("${{{secret}:?set {secret} in .env}}"));
        }
        // X-Forwarded-For is believed from nginx alone.
        assert_eq!(
            env["PULSEKEY_TRUSTED_PROXIES"],
            services["nginx"]["networks"]["pulsekey"]["ipv4_address"]
        );
    }

    let nginx = &services["nginx"];
    assert_eq!(nginx["ports"][0], "8080:80");
    for node in ["pulsekey-a", "pulsekey-b"] {
        assert_eq!(nginx["depends_on"][node]["condition"], "service_healthy");
    }
    assert!(nginx["healthcheck"]["test"].is_array());
    let mount = nginx["volumes"][0].as_str().unwrap();
    assert!(mount.starts_with("./deploy/nginx.conf:"), "{mount}");
}

#[test]
fn nginx_balances_over_both_nodes_and_keeps_metrics_inside() {
    let nginx = repo_file("deploy/nginx.conf");
    for node in ["pulsekey-a:8080", "pulsekey-b:8080"] {
        assert!(
            nginx.contains(&format!("server {node}")),
            "{node} missing from nginx.conf"
        );
    }
    assert!(nginx.contains("proxy_set_header X-Forwarded-For"));
    assert!(nginx.contains("proxy_set_header X-Request-Id"));
    assert!(nginx.contains("location = /metrics { return 404; }"));
    // Only heartbeats are retried on the other node once sent.
    assert_eq!(nginx.matches("non_idempotent").count(), 1);
    let heartbeat = nginx.find("location = /heartbeat").unwrap();
    let retry = nginx.find("non_idempotent").unwrap();
    assert!(heartbeat < retry && retry < nginx.find("location / {").unwrap());
}

#[test]
fn the_env_file_template_names_every_shared_secret_and_nothing_unknown() {
    let template = repo_file(".env.example");
    let names: Vec<String> = template
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once('=').map(|(name, _)| name.trim().to_owned()))
        .collect();
    assert_known(names.clone(), ".env.example");
    for secret in [
        "PULSEKEY_JWT_SECRET",
        "PULSEKEY_DATA_KEY",
        "PULSEKEY_SIGNING_KEY",
        "POSTGRES_PASSWORD",
    ] {
        assert!(
            names.iter().any(|n| n == secret),
            "{secret} missing from .env.example"
        );
    }
}

#[test]
fn the_dockerfile_builds_the_web_app_and_the_server_in_stages() {
    let dockerfile = repo_file("Dockerfile");
    let stages = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert!(
        stages >= 2,
        "a multi-stage build keeps the toolchain out of the image"
    );
    let build = dockerfile
        .find("scripts/build-frontend")
        .expect("the SPA is built");
    let server = dockerfile
        .find("--bin pulsekey")
        .expect("the server is built");
    assert!(
        build < server,
        "the SPA must exist when the server embeds it"
    );
    assert!(dockerfile.contains("EXPOSE 8080"));
    let env: Vec<String> = dockerfile
        .split_whitespace()
        .filter_map(|word| word.split_once('=').map(|(name, _)| name.to_owned()))
        .filter(|name| name.starts_with("PULSEKEY_"))
        .collect();
    assert!(!env.is_empty());
    assert_known(env, "Dockerfile");
}

#[test]
fn the_systemd_unit_raises_the_descriptor_limit_and_sets_only_known_variables() {
    let unit = repo_file("deploy/pulsekey.service");
    let limit: u64 = unit
        .lines()
        .find_map(|line| line.strip_prefix("LimitNOFILE="))
        .expect("no LimitNOFILE= in deploy/pulsekey.service")
        .trim()
        .parse()
        .unwrap();
    assert!(limit >= 65_536, "LimitNOFILE={limit}");
    let names = unit
        .lines()
        .filter_map(|line| line.strip_prefix("Environment="))
        .filter_map(|assignment| assignment.split_once('=').map(|(name, _)| name.to_owned()));
    assert_known(names, "deploy/pulsekey.service");
    assert!(unit.contains("ExecStart=/usr/local/bin/pulsekey serve"));
}

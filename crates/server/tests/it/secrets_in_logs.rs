//! The real binary, driven through a whole lifecycle with debug logging: no license key,
//! password, session token or secret ever reaches its output.

use std::io::Write as _;
use std::process::Stdio;

use pulsekey_types::{InstallConfig, RevealResponse};
use serde_json::json;

use crate::util::serve::{ServeProcess, pulsekey, seed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_creates_an_admin_whose_password_is_shown_once_on_stdout_only() {
    let mut server = ServeProcess::start(tempfile::tempdir().unwrap()).await;
    let stdout = std::fs::read_to_string(server.log_path("stdout.log")).unwrap();
    let password = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .expect("the first start prints the admin password")
        .to_owned();
    let client = reqwest::Client::new();
    let login = client
        .post(format!("{}/api/v1/auth/login", server.url))
        .json(&json!({ "username": "admin", "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    server.stop();
    let stderr = std::fs::read_to_string(server.log_path("stderr.log")).unwrap();
    assert!(!stderr.contains(&password), "the password reached the log");
    // A second start finds an admin and prints no password.
    let data_dir = tempfile::TempDir::new().unwrap();
    std::fs::remove_dir(data_dir.path()).unwrap();
    std::fs::rename(server.data_dir.path(), data_dir.path()).unwrap();
    let again = ServeProcess::start(data_dir).await;
    assert!(
        !std::fs::read_to_string(again.log_path("stdout.log"))
            .unwrap()
            .contains("password:")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_output_of_a_whole_lifecycle() {
    let data_dir = tempfile::tempdir().unwrap();
    let admin_password = "boss-password-123";
    let mut create = pulsekey(data_dir.path())
        .args([
            "users",
            "create",
            "--username",
            "boss",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{admin_password}\n").as_bytes())
        .unwrap();
    let created = create.wait_with_output().unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let mut cli_output = String::from_utf8_lossy(&created.stdout).to_string()
        + &String::from_utf8_lossy(&created.stderr);

    let (seeded, mut keys) = seed(data_dir.path(), 3);
    let seed_stdout = String::from_utf8_lossy(&seeded.stdout).to_string();
    let customer_password = seed_stdout.rsplit(": ").next().unwrap().trim().to_owned();
    cli_output += &String::from_utf8_lossy(&seeded.stderr);
    assert_eq!(keys.len(), 3);
    let keys_file = data_dir.path().join("keys.txt");
    let again = pulsekey(data_dir.path())
        .args(["dev", "seed", "--customers", "1", "--keys-out"])
        .arg(&keys_file)
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "seeding must not overwrite a keys file"
    );

    let mut server = ServeProcess::start(data_dir).await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.url);
    let admin = server.login("boss", admin_password).await;
    for key in &keys {
        let r = client
            .post(url("/heartbeat"))
            .bearer_auth(key)
            .json(&json!({ "version": "3.1" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let servers: pulsekey_types::UserList = client
        .get(url("/api/v1/users?role=customer"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let customer = servers
        .items
        .iter()
        .find(|u| u.username.ends_with("-0"))
        .unwrap();
    let owned: pulsekey_types::ServerList = client
        .get(url(&format!("/api/v1/users/{}/servers", customer.id)))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let server_id = owned.items[0].id;
    for action in ["regenerate", "revoke", "reinstate"] {
        let r = client
            .post(url(&format!(
                "/api/v1/servers/{server_id}/license/{action}"
            )))
            .bearer_auth(&admin.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{action}");
    }
    let revealed: RevealResponse = client
        .post(url(&format!("/api/v1/servers/{server_id}/license/reveal")))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    keys.push(revealed.key.clone());
    let customer_login = server.login(&customer.username, &customer_password).await;
    let config: InstallConfig = client
        .get(url(&format!("/api/v1/me/servers/{server_id}/install")))
        .bearer_auth(&customer_login.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config.license_key, revealed.key);
    let wrong = client
        .post(url("/api/v1/auth/login"))
        .json(&json!({ "username": "boss", "password": "boss-wrong-password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    server.stop();

    let output = server.output() + &cli_output;
    assert!(
        output.contains("DEBUG") || output.contains("INFO"),
        "the server logged nothing: {output}"
    );
    let mut secrets = keys.clone();
    secrets.extend([
        admin_password.to_owned(),
        customer_password,
        "boss-wrong-password".into(),
        admin.token,
        customer_login.token,
    ]);
    for file in ["jwt-secret", "data-key", "signing-key"] {
        secrets.push(
            std::fs::read_to_string(server.data_dir.path().join(file))
                .unwrap()
                .trim()
                .to_owned(),
        );
    }
    for secret in &secrets {
        assert!(
            !output.contains(secret.as_str()),
            "a secret reached the output: …{}",
            &secret[secret.len().saturating_sub(4)..]
        );
    }
}

//! Storage as it fails in production: a disk that fills up, files an operator's packaging
//! created with the wrong modes.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pulsekey_types::{ErrorBody, ErrorCode};
use serde_json::json;

use crate::util::serve::ServeProcess;

/// A tmpfs of `size`, mounted for the test's lifetime (the suite runs as root, as
/// `scripts/test` does; without the right to mount, the test fails rather than skips).
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let path = std::env::temp_dir().join(format!("pulsekey-small-disk-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            mounted.status.success(),
            "cannot mount a tmpfs to fill (this test needs root): {}",
            String::from_utf8_lossy(&mounted.stderr)
        );
        Self { path }
    }

    /// Writes a file until the disk refuses another byte.
    fn fill(&self) -> PathBuf {
        use std::io::Write as _;
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        while file.write_all(&chunk[..1]).is_ok() {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        let _ = std::fs::remove_dir(&self.path);
    }
}

async fn create_customer(server: &ServeProcess, admin: &str, n: usize) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api/v1/users", server.url))
        .bearer_auth(admin)
        .json(&json!({
            "username": format!("customer-{n}"),
            "email": format!("{}@example.com", "c".repeat(200)),
            "password": "customer-password-1",
            "role": "customer",
        }))
        .send()
        .await
        .unwrap()
}

async fn readyz(server: &ServeProcess) -> (u16, String) {
    let response = reqwest::get(format!("{}/readyz", server.url))
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_a_503_that_says_so_and_the_server_recovers_by_itself() {
    let disk = SmallDisk::mount("24m");
    let server = ServeProcess::start(tempfile::tempdir_in(&disk.path).unwrap()).await;
    let admin = server
        .login("admin", &server.first_admin_password())
        .await
        .token;
    assert_eq!(create_customer(&server, &admin, 0).await.status(), 201);

    let filler = disk.fill();
    // SQLite may still fit a few writes in pages it holds; the disk runs out within these.
    let mut refused = None;
    for n in 1..=300 {
        let response = create_customer(&server, &admin, n).await;
        match response.status().as_u16() {
            201 => continue,
            503 => {
                refused = Some(response.json::<ErrorBody>().await.unwrap());
                break;
            }
            other => panic!(
                "a write on a full disk answered {other}: {}",
                response.text().await.unwrap()
            ),
        }
    }
    let refused = refused.expect("300 writes fit on a full disk");
    assert_eq!(refused.error, ErrorCode::StorageFailing);
    assert!(
        refused.message.contains("storage is full or failing"),
        "{}",
        refused.message
    );
    let (status, body) = readyz(&server).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("storage_failing"), "{body}");

    // Space again: the node is ready and writes work, with nobody restarting anything.
    std::fs::remove_file(filler).unwrap();
    let mut ready = false;
    for _ in 0..50 {
        if readyz(&server).await.0 == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "readiness did not recover once the disk had space");
    assert_eq!(create_customer(&server, &admin, 1000).await.status(), 201);
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_files_are_private_even_in_a_data_directory_packaging_made_0755() {
    let data_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(data_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = ServeProcess::start(data_dir).await;
    let admin = server
        .login("admin", &server.first_admin_password())
        .await
        .token;
    // A write, so the WAL and its index exist too.
    assert_eq!(create_customer(&server, &admin, 1).await.status(), 201);
    for name in [
        "pulsekey.sqlite3",
        "pulsekey.sqlite3-wal",
        "pulsekey.sqlite3-shm",
    ] {
        let path = server.log_path(name);
        assert!(path.exists(), "{name} missing");
        assert_eq!(mode(&path), 0o600, "{name}");
    }
    let output = server.output();
    assert!(
        output.contains("the data directory is readable by others"),
        "{output}"
    );
}

//! Operator commands on the data itself: backup, restore and data-key rotation. Each
//! either completes or leaves everything as it was, and says which in one line.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use pulsekey_db::{Backend, Db};

use crate::config::{ConfigError, StorageArgs};
use crate::domain::audit::Actor;
use crate::domain::crypto::{DataKey, random_bytes};
use crate::secrets::{self, DATA_KEY_FILE, PENDING_DATA_KEY, SecretSource};

fn failed(what: &'static str) -> impl Fn(pulsekey_db::DbError) -> ConfigError {
    move |err| ConfigError(format!("{what}: {err}"))
}

fn cli_actor() -> Actor {
    Actor {
        username: Some("cli".into()),
        ..Actor::default()
    }
}

/// `pulsekey backup --out FILE`: a consistent copy of the SQLite database, taken while the
/// server runs. FILE must not exist; it is created readable by its owner only.
pub fn backup(storage: &StorageArgs, out: &Path) -> Result<(), ConfigError> {
    let db = crate::cli::open_database(storage, 1)?;
    if db.backend() == Backend::Postgres {
        return Err(ConfigError(
            "backup copies the embedded SQLite database; for PostgreSQL use pg_dump (see the README)"
                .into(),
        ));
    }
    // Created empty and private first: VACUUM INTO fills an empty file, and the copy holds
    // password hashes and encrypted keys.
    secrets::write_private(out, "").map_err(|_| {
        ConfigError(format!(
            "{} already exists or cannot be created",
            out.display()
        ))
    })?;
    let written = (|| {
        let mut conn = db.conn()?;
        pulsekey_db::backup::sqlite_into(&mut conn, &out.display().to_string())
    })();
    if let Err(err) = written {
        let _ = std::fs::remove_file(out);
        return Err(ConfigError(format!("backup failed: {err}")));
    }
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    println!("backed up to {} ({size} bytes)", out.display());
    println!(
        "stored keys are encrypted: keep the data key (PULSEKEY_DATA_KEY or {}) with the backup, apart from it",
        storage.data_dir.join(DATA_KEY_FILE).display()
    );
    Ok(())
}

/// `pulsekey restore --from FILE`: replaces the SQLite database with a backup. The server
/// must be stopped. The database it replaces is kept beside it, never deleted.
pub fn restore(storage: &StorageArgs, from: &Path) -> Result<(), ConfigError> {
    let target = PathBuf::from(crate::config::database_url(storage));
    if crate::config::database_url(storage).starts_with("postgres") {
        return Err(ConfigError(
            "restore replaces the embedded SQLite database; for PostgreSQL use pg_restore or psql (see the README)"
                .into(),
        ));
    }
    std::fs::create_dir_all(&storage.data_dir).map_err(|err| {
        ConfigError(format!(
            "cannot create {}: {err}",
            storage.data_dir.display()
        ))
    })?;
    let staged = with_suffix(&target, ".restoring");
    let _ = std::fs::remove_file(&staged);
    std::fs::copy(from, &staged)
        .map_err(|err| ConfigError(format!("cannot read {}: {err}", from.display())))?;
    // Opening runs the migrations, so a backup from an older version comes up to date; the
    // check runs on the copy, so a bad file changes nothing.
    let checked = Db::open(&staged.display().to_string(), 1).and_then(|db| {
        let mut conn = db.conn()?;
        pulsekey_db::backup::sqlite_is_intact(&mut conn)
    });
    match checked {
        Ok(true) => {}
        Ok(false) | Err(_) => {
            let _ = std::fs::remove_file(&staged);
            for suffix in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(with_suffix(&staged, suffix));
            }
            return Err(ConfigError(format!(
                "{} is not an intact pulsekey database; nothing was changed",
                from.display()
            )));
        }
    }
    let mut kept = None;
    if target.exists() {
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let aside = with_suffix(&target, &format!(".before-restore-{stamp}"));
        for suffix in ["", "-wal", "-shm"] {
            let from = with_suffix(&target, suffix);
            if from.exists() {
                std::fs::rename(&from, with_suffix(&aside, suffix)).map_err(|err| {
                    ConfigError(format!("cannot move {} aside: {err}", from.display()))
                })?;
            }
        }
        kept = Some(aside);
    }
    for suffix in ["", "-wal", "-shm"] {
        let from = with_suffix(&staged, suffix);
        if from.exists() {
            std::fs::rename(&from, with_suffix(&target, suffix)).map_err(|err| {
                ConfigError(format!("cannot move the restored database in place: {err}"))
            })?;
        }
    }
    println!("restored {} from {}", target.display(), from.display());
    if let Some(aside) = kept {
        println!("the database it replaced is kept as {}", aside.display());
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `pulsekey keys rotate-data-key`: re-encrypts every stored license key under a new data
/// key in one transaction.
///
/// With the data key in the data directory, the new key is written beside it
/// (`data-key.next`) before the transaction commits and moved over it after, so a crash in
/// between leaves both keys on disk; the next run finishes the move. With
/// `PULSEKEY_DATA_KEY` set, the operator sets the new value on every node and restarts them.
pub fn rotate_data_key(storage: &StorageArgs, new_key: Option<String>) -> Result<(), ConfigError> {
    let db = crate::cli::open_database(storage, 2)?;
    let from_env = storage.data_key.as_deref().is_some_and(|v| !v.is_empty());
    let key_file = storage.data_dir.join(DATA_KEY_FILE);
    let pending = storage.data_dir.join(PENDING_DATA_KEY);
    if !from_env && pending.exists() {
        return finish_interrupted_rotation(&db, &key_file, &pending);
    }
    let old = secrets::load_data_key(
        &storage.data_dir,
        SecretSource {
            variable: "PULSEKEY_DATA_KEY",
            value: storage.data_key.as_deref(),
            shared_database: db.backend() == Backend::Postgres,
        },
    )?;
    let generated = new_key.is_none();
    let new_text = new_key.unwrap_or_else(|| BASE64.encode(random_bytes::<32>()));
    let new = DataKey::new(
        secrets::decode_32(&new_text)
            .map_err(|why| ConfigError(format!("the new data key {why}")))?,
    );
    if !from_env {
        secrets::write_private(&pending, &new_text)?;
    }
    let rotated = db.transaction(|conn| {
        crate::domain::servers::rotate_data_key(conn, &cli_actor(), &old, &new)
    });
    let rotated = match rotated {
        Ok(rotated) => rotated,
        Err(err) => {
            let _ = std::fs::remove_file(&pending);
            return Err(ConfigError(format!(
                "rotation failed, nothing was changed: {err}"
            )));
        }
    };
    if from_env {
        println!("re-encrypted {rotated} license keys under the new data key.");
        println!(
            "set PULSEKEY_DATA_KEY to it on every node and restart them; until then reveals fail."
        );
        if generated {
            println!("{new_text}");
        }
    } else {
        std::fs::rename(&pending, &key_file)
            .map_err(|err| ConfigError(format!("cannot move the new data key in place: {err}")))?;
        println!(
            "re-encrypted {rotated} license keys; the new data key is in {} (restart running servers)",
            key_file.display()
        );
    }
    Ok(())
}

/// A rotation stopped between its commit and moving the new key in place, or before the
/// commit: the stored ciphertexts say which key they are under.
fn finish_interrupted_rotation(
    db: &Db,
    key_file: &Path,
    pending: &Path,
) -> Result<(), ConfigError> {
    let read = |path: &Path| -> Result<DataKey, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| ConfigError(format!("cannot read {}: {err}", path.display())))?;
        let bytes = secrets::decode_32(text.trim())
            .map_err(|why| ConfigError(format!("{} {why}", path.display())))?;
        Ok(DataKey::new(bytes))
    };
    let next = read(pending)?;
    let mut conn = db.conn().map_err(failed("cannot read the database"))?;
    let sample = pulsekey_db::servers::ciphertext_page(&mut conn, 0, 1)
        .map_err(failed("cannot read the database"))?;
    let committed = sample
        .first()
        .is_none_or(|(_, hash, ciphertext)| next.open(ciphertext, hash).is_ok());
    if committed {
        std::fs::rename(pending, key_file)
            .map_err(|err| ConfigError(format!("cannot move the new data key in place: {err}")))?;
        println!(
            "finished an interrupted rotation: the new data key is in {}",
            key_file.display()
        );
    } else {
        std::fs::remove_file(pending)
            .map_err(|err| ConfigError(format!("cannot remove {}: {err}", pending.display())))?;
        println!(
            "an interrupted rotation had not committed; the data key is unchanged. Run the command again to rotate."
        );
    }
    Ok(())
}

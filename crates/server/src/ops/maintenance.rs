//! Operator commands on the data itself: backup, restore and data-key rotation. Each
//! either completes or leaves everything as it was, and says which in one line.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use pulsekey_db::{Backend, Db};

use crate::config::secrets::{self, DATA_KEY_FILE, PENDING_DATA_KEY, SecretSource};
use crate::config::{ConfigError, StorageArgs};
use pulsekey_core::audit::Actor;
use pulsekey_core::crypto::{DataKey, random_bytes};

/// The lock file every `serve` holds (shared) on its data directory, and that commands
/// which must not run under a live server take exclusively.
const SERVE_LOCK: &str = "serve.lock";

fn lock_file(data_dir: &Path) -> Result<std::fs::File, ConfigError> {
    let path = data_dir.join(SERVE_LOCK);
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|err| ConfigError(format!("cannot open {}: {err}", path.display())))
}

/// Held for as long as `serve` runs: several servers may share a data directory's lock,
/// but no exclusive command can take it meanwhile. Released by the OS even on `kill -9`.
pub fn hold_serve_lock(data_dir: &Path) -> Result<std::fs::File, ConfigError> {
    let file = lock_file(data_dir)?;
    file.try_lock_shared().map_err(|_| {
        ConfigError(format!(
            "{} is locked by a running `pulsekey restore` or `pulsekey keys rotate-data-key`; wait for it to finish",
            data_dir.display()
        ))
    })?;
    Ok(file)
}

/// Fails while any `serve` runs on `data_dir`: restoring or re-keying under a live server
/// would lose what it writes meanwhile.
fn exclusive(data_dir: &Path, command: &str) -> Result<std::fs::File, ConfigError> {
    let file = lock_file(data_dir)?;
    file.try_lock().map_err(|_| {
        ConfigError(format!(
            "a pulsekey server is running on {}; stop it before `pulsekey {command}`",
            data_dir.display()
        ))
    })?;
    Ok(file)
}

/// Makes a rename or a new file in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), ConfigError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|err| ConfigError(format!("cannot sync {}: {err}", dir.display())))
}

fn failed(what: &'static str) -> impl Fn(pulsekey_db::DbError) -> ConfigError {
    move |err| ConfigError(format!("{what}: {err}"))
}

/// `pulsekey backup --out FILE`: a consistent copy of the SQLite database, taken while the
/// server runs. FILE must not exist; it is created readable by its owner only.
pub fn backup(storage: &StorageArgs, out: &Path) -> Result<(), ConfigError> {
    let url = crate::config::database_url(storage);
    if !url.starts_with("postgres") && !Path::new(&url).exists() {
        return Err(ConfigError(format!(
            "no database at {url} (set --data-dir or DATABASE_URL)"
        )));
    }
    let db = crate::ops::storage::open_database(storage, 1)?;
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
    let url = crate::config::database_url(storage);
    if url.starts_with("postgres") {
        return Err(ConfigError(
            "restore replaces the embedded SQLite database; for PostgreSQL use pg_restore or psql (see the README)"
                .into(),
        ));
    }
    let target = PathBuf::from(url);
    std::fs::create_dir_all(&storage.data_dir).map_err(|err| {
        ConfigError(format!(
            "cannot create {}: {err}",
            storage.data_dir.display()
        ))
    })?;
    let _lock = exclusive(&storage.data_dir, "restore")?;
    let staged = with_suffix(&target, ".restoring");
    let _ = std::fs::remove_file(&staged);
    std::fs::copy(from, &staged)
        .map_err(|err| ConfigError(format!("cannot read {}: {err}", from.display())))?;
    // Checked as it is (a pulsekey database, intact), then opened, which runs the
    // migrations so a backup from an older version comes up to date. All on the copy: a
    // bad file changes nothing.
    let staged_path = staged.display().to_string();
    let checked = pulsekey_db::backup::sqlite_is_pulsekey_backup(&staged_path).and_then(|ok| {
        if !ok {
            return Ok(false);
        }
        let db = Db::open(&staged_path, 1)?;
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
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        let aside = with_suffix(&target, &format!(".before-restore-{stamp}"));
        if aside.exists() {
            return Err(ConfigError(format!("{} already exists", aside.display())));
        }
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
    sync_dir(&storage.data_dir)?;
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
    let db = crate::ops::storage::open_database(storage, 2)?;
    let _lock = exclusive(&storage.data_dir, "keys rotate-data-key")?;
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
    if from_env && generated {
        // Before the commit: once it commits, this is the only copy of the key.
        println!("new data key (set it as PULSEKEY_DATA_KEY on every node once this succeeds):");
        println!("{new_text}");
    }
    if !from_env {
        secrets::write_private(&pending, &new_text)?;
        sync_dir(&storage.data_dir)?;
    }
    let rotated = pulsekey_core::audit::act(&db, &Actor::cli(), |tx| {
        pulsekey_core::servers::rotate_data_key(tx, &old, &new)
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
            "re-encrypted {rotated} license keys; the new data key is in {}",
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
    let Ok(next) = read(pending) else {
        // Unreadable means it was never completely written, and it is written (and synced)
        // before the transaction begins: nothing was re-encrypted under it.
        std::fs::remove_file(pending)
            .map_err(|err| ConfigError(format!("cannot remove {}: {err}", pending.display())))?;
        println!(
            "removed an incomplete {}; the data key is unchanged. Run the command again to rotate.",
            pending.display()
        );
        return Ok(());
    };
    let mut conn = db.conn().map_err(failed("cannot read the database"))?;
    let sample = pulsekey_db::servers::ciphertext_page(&mut conn, 0, 1)
        .map_err(failed("cannot read the database"))?;
    let committed = sample
        .first()
        .is_none_or(|(_, hash, ciphertext)| next.open(ciphertext, hash).is_ok());
    if committed {
        std::fs::rename(pending, key_file)
            .map_err(|err| ConfigError(format!("cannot move the new data key in place: {err}")))?;
        if let Some(dir) = key_file.parent() {
            sync_dir(dir)?;
        }
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

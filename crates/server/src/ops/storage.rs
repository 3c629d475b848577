//! Opening the configured database for any command: the data directory made and kept
//! private, the SQLite files owner-only, migrations run.

use pulsekey_db::{Backend, Db};

use crate::config::{ConfigError, StorageArgs};

/// Opens (creating and migrating if need be) the configured database.
pub fn open_database(storage: &StorageArgs, pool_size: u32) -> Result<Db, ConfigError> {
    create_data_dir(&storage.data_dir)?;
    let url = crate::config::database_url(storage);
    if let Ok((Backend::Sqlite, path)) = Backend::from_url(&url) {
        private_database_files(std::path::Path::new(path))?;
    }
    Db::open(&url, pool_size).map_err(|err| ConfigError(format!("cannot open the database: {err}")))
}

/// The database holds every key's ciphertext and every password hash: owner-only, whatever
/// the umask or the mode of a data directory that packaging created. SQLite gives its -wal
/// and -shm files the database file's mode, so creating that one 0600 covers all three;
/// files an older version left readable are narrowed.
fn private_database_files(database: &std::path::Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let cannot = |path: &std::path::Path, err: std::io::Error| {
        ConfigError(format!("cannot make {} private: {err}", path.display()))
    };
    if !database.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(database)
            .map_err(|err| cannot(database, err))?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        let path = std::path::PathBuf::from(name);
        let Ok(metadata) = std::fs::metadata(&path) else {
            continue;
        };
        if metadata.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|err| cannot(&path, err))?;
            tracing::info!(path = %path.display(), "made the database file readable by its owner only");
        }
    }
    Ok(())
}

/// The data directory holds the database and secrets: readable by its owner only.
fn create_data_dir(dir: &std::path::Path) -> Result<(), ConfigError> {
    let cannot = |err: std::io::Error| {
        ConfigError(format!(
            "cannot create data directory {}: {err}",
            dir.display()
        ))
    };
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(cannot)?;
    } else if let Ok(metadata) = std::fs::metadata(dir) {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            // Left as it is (packaging may want a group to reach it), but said.
            tracing::warn!(
                dir = %dir.display(),
                mode = format!("{mode:o}"),
                "the data directory is readable by others than its owner: its files are kept \
                 0600, but chmod 700 it unless that is meant"
            );
        }
    }
    // Fail now, with the path in the message, rather than at the first secret or write.
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"").map_err(|err| {
        ConfigError(format!(
            "data directory {} is not writable: {err}",
            dir.display()
        ))
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

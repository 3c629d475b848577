//! `pulsekey migrate-to --database-url postgres://…`: moves an embedded SQLite deployment
//! to PostgreSQL. Everything is copied with its ids (audit log included) from one snapshot
//! of the source, in one transaction on the target, which commits only if every table's
//! row count and checksum match the source's.

use std::path::Path;

use pulsekey_db::copy::{self, TableSummary};
use pulsekey_db::{Backend, Db, DbError};

use crate::config::ConfigError;

#[derive(Debug, thiserror::Error)]
enum MigrateError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the copy of {table} does not match the source ({detail}); nothing was committed")]
    Mismatch { table: &'static str, detail: String },
}

pub fn migrate_to(data_dir: &Path, target_url: &str) -> Result<(), ConfigError> {
    // Before opening anything: a mistyped URL must not create a stray SQLite file.
    if !(target_url.starts_with("postgres://") || target_url.starts_with("postgresql://")) {
        return Err(ConfigError(
            "--database-url must be a postgres:// URL".into(),
        ));
    }
    let source_path = data_dir.join("pulsekey.sqlite3");
    if !source_path.exists() {
        return Err(ConfigError(format!(
            "no SQLite database at {} (set --data-dir)",
            source_path.display()
        )));
    }
    let source = Db::open(&source_path.display().to_string(), 1)
        .map_err(|err| ConfigError(format!("cannot open {}: {err}", source_path.display())))?;
    let target = Db::open(target_url, 1)
        .map_err(|err| ConfigError(format!("cannot open the target database: {err}")))?;
    if target.backend() != Backend::Postgres {
        return Err(ConfigError(
            "--database-url must be a postgres:// URL".into(),
        ));
    }
    let summaries = source
        .read_snapshot(|src| {
            target
                .transaction(|pg| {
                    copy::sqlite_to_postgres(src, pg)?;
                    let expected = copy::summarize(src)?;
                    let copied = copy::summarize(pg)?;
                    verify(&expected, &copied)?;
                    Ok::<_, MigrateError>(copied)
                })
                .map_err(|err| match err {
                    MigrateError::Db(err) => err,
                    mismatch => DbError::Unsupported(mismatch.to_string()),
                })
        })
        .map_err(|err| ConfigError(format!("migration failed: {err}")))?;
    for summary in &summaries {
        println!(
            "{:<18} {:>10} rows  sha256 {}",
            summary.table,
            summary.rows,
            pulsekey_core::crypto::hex(&summary.sha256)
        );
    }
    println!("copied and verified: every table's row count and checksum match the source.");
    println!(
        "start the nodes with this DATABASE_URL and the same PULSEKEY_DATA_KEY (or the contents of {}), PULSEKEY_JWT_SECRET and PULSEKEY_SIGNING_KEY",
        data_dir
            .join(crate::config::secrets::DATA_KEY_FILE)
            .display()
    );
    Ok(())
}

fn verify(expected: &[TableSummary], copied: &[TableSummary]) -> Result<(), MigrateError> {
    for (want, got) in expected.iter().zip(copied) {
        if want.rows != got.rows {
            return Err(MigrateError::Mismatch {
                table: want.table,
                detail: format!("{} rows, {} copied", want.rows, got.rows),
            });
        }
        if want.sha256 != got.sha256 {
            return Err(MigrateError::Mismatch {
                table: want.table,
                detail: "same row count, different contents".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(rows: u64, byte: u8) -> TableSummary {
        TableSummary {
            table: "servers",
            rows,
            sha256: [byte; 32],
        }
    }

    #[test]
    fn a_copy_must_match_in_count_and_contents() {
        assert!(verify(&[summary(3, 1)], &[summary(3, 1)]).is_ok());
        let err = verify(&[summary(3, 1)], &[summary(2, 1)]).unwrap_err();
        assert!(err.to_string().contains("3 rows, 2 copied"), "{err}");
        let err = verify(&[summary(3, 1)], &[summary(3, 2)]).unwrap_err();
        assert!(err.to_string().contains("different contents"), "{err}");
    }
}

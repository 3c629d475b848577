//! Reading the audit log: filtered keyset pages and CSV / JSON-lines exports.

use pulsekey_db::DbConnection;
use pulsekey_db::Total;
use pulsekey_db::audit::{self, AuditListed, AuditQuery};
use pulsekey_types::{AuditEntry, AuditPage};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::DomainError;
use super::accounts::{check_limit, parse_cursor};

const EXPORT_CHUNK: i64 = 500;

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    action: Option<String>,
    target: Option<i64>,
    user_id: Option<i64>,
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
}

pub(crate) fn parse_time(
    name: &str,
    value: Option<&str>,
) -> Result<Option<OffsetDateTime>, DomainError> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339)
                .ok()
                // Kept in UTC, which an offset can push past the year 9999.
                .and_then(|at| at.checked_to_offset(time::UtcOffset::UTC))
                .ok_or_else(|| {
                    DomainError::Validation(format!(
                        "{name} must be an RFC 3339 time like 2026-01-31T00:00:00Z"
                    ))
                })
        })
        .transpose()
}

impl AuditFilter {
    pub fn parse(
        action: Option<String>,
        target: Option<i64>,
        user_id: Option<i64>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Self, DomainError> {
        Ok(Self {
            action: crate::text_filter("action", action)?,
            target,
            user_id,
            from: parse_time("from", from)?,
            to: parse_time("to", to)?,
        })
    }

    fn query(&self, before_id: Option<i64>, limit: i64) -> AuditQuery {
        AuditQuery {
            action: self.action.clone(),
            target: self.target,
            user_id: self.user_id,
            from: self.from.map(pulsekey_db::to_stored),
            to: self.to.map(pulsekey_db::to_stored),
            before_id,
            limit,
        }
    }
}

pub fn entry(listed: &AuditListed) -> AuditEntry {
    let row = &listed.row;
    AuditEntry {
        id: row.id,
        at: pulsekey_db::from_stored(row.at),
        action: row.action.clone(),
        target: row.target,
        target_owner_id: listed.target_owner_id,
        user_id: row.user_id,
        username: row.username.clone(),
        metadata: serde_json::from_str(&row.metadata).unwrap_or(serde_json::Value::Null),
        ip: row.ip.clone(),
    }
}

pub fn page(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<AuditPage, DomainError> {
    let limit = check_limit(limit)?;
    let query = filter.query(parse_cursor(cursor)?, limit + 1);
    let rows = audit::list(conn, &query)?;
    let total = Total::of_page(query.before_id.is_none(), rows.len(), limit, || {
        audit::total(conn, &query)
    })?;
    let more = rows.len() as i64 > limit;
    let items: Vec<AuditEntry> = rows.iter().take(limit as usize).map(entry).collect();
    let next_cursor = if more {
        items.last().map(|e| e.id.to_string())
    } else {
        None
    };
    Ok(AuditPage {
        items,
        next_cursor,
        total: total.count as u64,
        total_capped: total.capped,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    JsonLines,
}

impl ExportFormat {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "csv" => Ok(Self::Csv),
            "jsonl" => Ok(Self::JsonLines),
            other => Err(DomainError::Validation(format!(
                "format must be csv or jsonl, not {other:?}"
            ))),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::JsonLines => "application/x-ndjson",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::JsonLines => "jsonl",
        }
    }
}

/// One chunk of an export, and the id to continue before (None when this was the last).
pub fn export_chunk(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    before_id: Option<i64>,
    format: ExportFormat,
    with_header: bool,
) -> Result<(Vec<u8>, Option<i64>), DomainError> {
    let rows = audit::list(conn, &filter.query(before_id, EXPORT_CHUNK))?;
    let mut out = Vec::new();
    if with_header && format == ExportFormat::Csv {
        out.extend_from_slice(b"id,at,action,target,userId,username,metadata,ip\n");
    }
    for row in &rows {
        let entry = entry(row);
        match format {
            ExportFormat::JsonLines => {
                serde_json::to_writer(&mut out, &entry)
                    .map_err(|e| DomainError::Validation(e.to_string()))?;
                out.push(b'\n');
            }
            ExportFormat::Csv => {
                let at = entry.at.format(&Rfc3339).unwrap_or_default();
                let fields = [
                    entry.id.to_string(),
                    at,
                    entry.action.clone(),
                    entry.target.map(|t| t.to_string()).unwrap_or_default(),
                    entry.user_id.map(|u| u.to_string()).unwrap_or_default(),
                    entry.username.clone().unwrap_or_default(),
                    entry.metadata.to_string(),
                    entry.ip.clone().unwrap_or_default(),
                ];
                let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                out.extend_from_slice(line.join(",").as_bytes());
                out.push(b'\n');
            }
        }
    }
    let next = (rows.len() as i64 == EXPORT_CHUNK)
        .then(|| rows.last().map(|r| r.row.id))
        .flatten();
    Ok((out, next))
}

/// Quotes a CSV field when needed, and defuses spreadsheet formulas (a username like
/// `=HYPERLINK(…)` must not run when an auditor opens the file).
fn csv_field(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=1+1"), "'=1+1");
        assert_eq!(csv_field("{\"graceDays\":5}"), "\"{\"\"graceDays\"\":5}\"");
    }

    #[test]
    fn filter_times_must_be_rfc3339() {
        assert!(AuditFilter::parse(None, None, None, Some("2026-01-01T00:00:00Z"), None).is_ok());
        assert!(AuditFilter::parse(None, None, None, Some("yesterday"), None).is_err());
        assert!(ExportFormat::parse("xml").is_err());
    }
}

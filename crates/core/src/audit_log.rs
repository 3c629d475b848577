//! Reading the audit log: filtered keyset pages and CSV / JSON-lines exports.

use pulsekey_db::DbConnection;
use pulsekey_db::Total;
use pulsekey_db::audit::{self, AuditListed, AuditOrder, AuditQuery};
use pulsekey_types::{AuditEntry, AuditPage, AuditSort};
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
    sort: AuditSort,
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
        sort: AuditSort,
    ) -> Result<Self, DomainError> {
        Ok(Self {
            action: crate::text_filter("action", action)?,
            target,
            user_id,
            from: parse_time("from", from)?,
            to: parse_time("to", to)?,
            sort,
        })
    }

    /// The query of the page that follows the entry `past` (the first page without one).
    fn query(&self, past: Option<i64>, limit: i64) -> AuditQuery {
        AuditQuery {
            action: self.action.clone(),
            target: self.target,
            user_id: self.user_id,
            from: self.from.map(pulsekey_db::to_stored),
            to: self.to.map(pulsekey_db::to_stored),
            order: match self.sort {
                AuditSort::Newest => AuditOrder::Newest { before_id: past },
                AuditSort::Oldest => AuditOrder::Oldest { after_id: past },
            },
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
    let query = filter.query(past_of(filter.sort, cursor)?, limit + 1);
    let rows = audit::list(conn, &query)?;
    let total = Total::of_page(query.order.is_first_page(), rows.len(), limit, || {
        audit::total(conn, &query)
    })?;
    let more = rows.len() as i64 > limit;
    let items: Vec<AuditEntry> = rows.iter().take(limit as usize).map(entry).collect();
    let next_cursor = more
        .then(|| items.last().map(|e| cursor_of(filter.sort, e.id)))
        .flatten();
    Ok(AuditPage {
        items,
        next_cursor,
        total: total.count as u64,
        total_capped: total.capped,
    })
}

/// The cursor after the entry `id`: the id itself newest first (as it always was), and
/// `o.` before it oldest first, so that a cursor of one order is refused by the other.
fn cursor_of(sort: AuditSort, id: i64) -> String {
    match sort {
        AuditSort::Newest => id.to_string(),
        AuditSort::Oldest => format!("o.{id}"),
    }
}

fn past_of(sort: AuditSort, cursor: Option<&str>) -> Result<Option<i64>, DomainError> {
    let cursor = cursor.filter(|c| !c.is_empty());
    match (sort, cursor) {
        (_, None) => Ok(None),
        (AuditSort::Newest, Some(id)) => parse_cursor(Some(id)),
        (AuditSort::Oldest, Some(cursor)) => match cursor.strip_prefix("o.") {
            Some(id) => parse_cursor(Some(id)),
            None => Err(DomainError::Validation(
                "cursor is not valid for this sort".into(),
            )),
        },
    }
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

/// One chunk of an export in the filter's order, and the id to continue past (None when
/// this was the last).
pub fn export_chunk(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    past: Option<i64>,
    format: ExportFormat,
    with_header: bool,
) -> Result<(Vec<u8>, Option<i64>), DomainError> {
    let rows = audit::list(conn, &filter.query(past, EXPORT_CHUNK))?;
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
        let parse =
            |from| AuditFilter::parse(None, None, None, Some(from), None, AuditSort::Newest);
        assert!(parse("2026-01-01T00:00:00Z").is_ok());
        assert!(parse("yesterday").is_err());
        assert!(ExportFormat::parse("xml").is_err());
    }

    #[test]
    fn each_sort_reads_back_its_own_cursor_and_refuses_the_other() {
        for sort in [AuditSort::Newest, AuditSort::Oldest] {
            assert_eq!(past_of(sort, Some(&cursor_of(sort, 42))).unwrap(), Some(42));
            assert_eq!(past_of(sort, Some("")).unwrap(), None);
        }
        let newest = cursor_of(AuditSort::Newest, 42);
        let oldest = cursor_of(AuditSort::Oldest, 42);
        for (sort, cursor) in [
            (AuditSort::Newest, oldest.as_str()),
            (AuditSort::Oldest, newest.as_str()),
            (AuditSort::Oldest, "o.-1"),
            (AuditSort::Oldest, "o.x"),
        ] {
            assert!(past_of(sort, Some(cursor)).is_err(), "{sort:?} {cursor}");
        }
    }
}

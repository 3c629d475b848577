//! The `audit_log` table: append-only (triggers refuse UPDATE and DELETE).

use diesel::prelude::*;
use time::PrimitiveDateTime;

use crate::schema::{audit_log, servers};
use crate::sql::Total;
use crate::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: i64,
    pub at: PrimitiveDateTime,
    pub action: String,
    pub target: Option<i64>,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    /// A JSON object.
    pub metadata: String,
    pub ip: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = audit_log)]
pub struct AuditInsertForm<'a> {
    pub at: PrimitiveDateTime,
    pub action: &'a str,
    pub target: Option<i64>,
    pub user_id: Option<i64>,
    pub username: Option<&'a str>,
    pub metadata: &'a str,
    pub ip: Option<&'a str>,
}

/// Filters, order and page of an audit listing.
#[derive(Debug, Default, Clone)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub target: Option<i64>,
    pub user_id: Option<i64>,
    pub from: Option<PrimitiveDateTime>,
    pub to: Option<PrimitiveDateTime>,
    pub order: AuditOrder,
    pub limit: i64,
}

/// The order of a listing, and where its page starts: just past the previous page's
/// last entry (the keyset cursor). Ids are the order entries were written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOrder {
    Newest { before_id: Option<i64> },
    Oldest { after_id: Option<i64> },
}

impl Default for AuditOrder {
    fn default() -> Self {
        Self::Newest { before_id: None }
    }
}

impl AuditOrder {
    pub fn is_first_page(self) -> bool {
        matches!(
            self,
            Self::Newest { before_id: None } | Self::Oldest { after_id: None }
        )
    }
}

pub fn insert(conn: &mut DbConnection, form: &AuditInsertForm<'_>) -> Result<i64, DbError> {
    Ok(diesel::insert_into(audit_log::table)
        .values(form)
        .returning(audit_log::id)
        .get_result(conn)?)
}

/// An audit row as listed: with the owner of the server it targets, while that server
/// exists, so that a reader can link to it without asking once per row.
#[derive(Debug, Clone)]
pub struct AuditListed {
    pub row: AuditRow,
    pub target_owner_id: Option<i64>,
}

/// Narrows a boxed select of `audit_log` (alone or joined) by the query's filters; a
/// macro because the two selects are different types.
macro_rules! filtered {
    ($select:expr, $query:expr) => {{
        let query: &AuditQuery = $query;
        let mut select = $select;
        if let Some(action) = &query.action {
            select = select.filter(audit_log::action.eq(action.clone()));
        }
        if let Some(target) = query.target {
            select = select.filter(audit_log::target.eq(target));
        }
        if let Some(user_id) = query.user_id {
            select = select.filter(audit_log::user_id.eq(user_id));
        }
        if let Some(from) = query.from {
            select = select.filter(audit_log::at.ge(from));
        }
        if let Some(to) = query.to {
            select = select.filter(audit_log::at.lt(to));
        }
        select
    }};
}

pub fn list(conn: &mut DbConnection, query: &AuditQuery) -> Result<Vec<AuditListed>, DbError> {
    let mut select = filtered!(
        audit_log::table
            .left_join(servers::table.on(audit_log::target.eq(servers::id.nullable())))
            .select((AuditRow::as_select(), servers::owner_id.nullable()))
            .into_boxed(),
        query
    );
    select = match query.order {
        AuditOrder::Newest { before_id } => {
            if let Some(before) = before_id {
                select = select.filter(audit_log::id.lt(before));
            }
            select.order(audit_log::id.desc())
        }
        AuditOrder::Oldest { after_id } => {
            if let Some(after) = after_id {
                select = select.filter(audit_log::id.gt(after));
            }
            select.order(audit_log::id.asc())
        }
    };
    let rows: Vec<(AuditRow, Option<i64>)> = select.limit(query.limit).load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(row, target_owner_id)| AuditListed {
            row,
            target_owner_id,
        })
        .collect())
}

/// How many entries the query's filters match, regardless of its page.
pub fn total(conn: &mut DbConnection, query: &AuditQuery) -> Result<Total, DbError> {
    let ids: Vec<i64> = filtered!(audit_log::table.select(audit_log::id).into_boxed(), query)
        .order(audit_log::id.desc())
        .limit(Total::CAP + 1)
        .load(conn)?;
    Ok(Total::of(ids.len()))
}

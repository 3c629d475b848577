//! The `users` table.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use crate::schema::users;
use crate::{DbConnection, DbError};

use crate::connection::MultiBackend;
use crate::sql::{Total, escape_like, lower};

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub role: String,
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct UserInsertForm<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub role: &'a str,
    pub password_hash: &'a str,
    pub disabled: bool,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

/// A partial update: `None` leaves the column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserUpdateForm {
    pub username: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
    pub password_hash: Option<String>,
    pub disabled: Option<bool>,
    pub updated_at: Option<PrimitiveDateTime>,
}

/// Filters, order and page of a user listing.
#[derive(Debug, Default, Clone)]
pub struct UserQuery {
    pub role: Option<String>,
    /// Case-insensitive substring of username or email.
    pub search: Option<String>,
    pub order: UserOrder,
    pub limit: i64,
}

/// The order of a listing, and where its page starts: just past the previous page's
/// last row (the keyset cursor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserOrder {
    /// Newest first: ids below `before_id`.
    Newest { before_id: Option<i64> },
    /// By username whatever its case (the `lower(username)` index): lower-cased names
    /// above `after`, which a unique index makes a place of its own.
    Username { after: Option<String> },
}

impl Default for UserOrder {
    fn default() -> Self {
        Self::Newest { before_id: None }
    }
}

impl UserOrder {
    pub fn is_first_page(&self) -> bool {
        matches!(
            self,
            Self::Newest { before_id: None } | Self::Username { after: None }
        )
    }
}

pub fn insert(conn: &mut DbConnection, form: &UserInsertForm<'_>) -> Result<UserRow, DbError> {
    let id: i64 = diesel::insert_into(users::table)
        .values(form)
        .returning(users::id)
        .get_result(conn)?;
    find(conn, id)
}

pub fn find(conn: &mut DbConnection, id: i64) -> Result<UserRow, DbError> {
    Ok(users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)?)
}

/// The user of this name, whatever its case: `Admin` is `admin` (a unique index on
/// `lower(username)` keeps it one account).
pub fn find_by_username(
    conn: &mut DbConnection,
    username: &str,
) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .filter(lower(users::username).eq(username.to_ascii_lowercase()))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn update(conn: &mut DbConnection, id: i64, form: &UserUpdateForm) -> Result<UserRow, DbError> {
    let changed = diesel::update(users::table.find(id))
        .set(form)
        .execute(conn)?;
    if changed == 0 {
        return Err(DbError::NotFound);
    }
    find(conn, id)
}

pub fn count_admins(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(users::table
        .filter(users::role.eq("admin"))
        .count()
        .get_result(conn)?)
}

/// Admins that are neither disabled nor `except`: keeps the last admin from locking
/// everyone out.
pub fn count_other_enabled_admins(conn: &mut DbConnection, except: i64) -> Result<i64, DbError> {
    Ok(users::table
        .filter(users::role.eq("admin"))
        .filter(users::disabled.eq(false))
        .filter(users::id.ne(except))
        .count()
        .get_result(conn)?)
}

pub fn list(conn: &mut DbConnection, query: &UserQuery) -> Result<Vec<UserRow>, DbError> {
    match &query.order {
        UserOrder::Newest { before_id } => newest(conn, query, *before_id),
        UserOrder::Username { after } => by_username(conn, query, after.as_deref()),
    }
}

fn newest(
    conn: &mut DbConnection,
    query: &UserQuery,
    before_id: Option<i64>,
) -> Result<Vec<UserRow>, DbError> {
    if let Some(search) = trigram_search(conn, query) {
        let DbConnection::Sqlite(sqlite) = conn else {
            unreachable!("trigram_search answers only on SQLite")
        };
        return by_trigrams(sqlite, query, &search, before_id, query.limit);
    }
    let mut select = matching(query);
    if let Some(before) = before_id {
        select = select.filter(users::id.lt(before));
    }
    Ok(select
        .order(users::id.desc())
        .limit(query.limit)
        .select(UserRow::as_select())
        .load(conn)?)
}

fn by_username(
    conn: &mut DbConnection,
    query: &UserQuery,
    after: Option<&str>,
) -> Result<Vec<UserRow>, DbError> {
    // Walking the username index past every user a rare search does not match reads
    // them all; the trigram index finds those few at once, and they sort in no time.
    // A search matching more than a count's worth is common enough for the walk to
    // meet a page of matches early.
    if let Some(search) = trigram_search(conn, query) {
        let DbConnection::Sqlite(sqlite) = conn else {
            unreachable!("trigram_search answers only on SQLite")
        };
        let mut rows = by_trigrams(sqlite, query, &search, None, Total::CAP + 1)?;
        if rows.len() as i64 <= Total::CAP {
            // SQLite's `lower` folds ASCII only, as usernames are.
            rows.retain(|row| {
                after.is_none_or(|after| row.username.to_ascii_lowercase().as_str() > after)
            });
            rows.sort_by_cached_key(|row| row.username.to_ascii_lowercase());
            rows.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
            return Ok(rows);
        }
    }
    let mut select = matching(query);
    if let Some(after) = after {
        select = select.filter(lower(users::username).gt(after.to_owned()));
    }
    Ok(select
        .order(lower(users::username).asc())
        .limit(query.limit)
        .select(UserRow::as_select())
        .load(conn)?)
}

/// How many users the query's role and search match, regardless of its page.
pub fn total(conn: &mut DbConnection, query: &UserQuery) -> Result<Total, DbError> {
    if let Some(search) = trigram_search(conn, query) {
        let DbConnection::Sqlite(sqlite) = conn else {
            unreachable!("trigram_search answers only on SQLite")
        };
        let ids = by_trigrams(sqlite, query, &search, None, Total::CAP + 1)?;
        return Ok(Total::of(ids.len()));
    }
    let ids: Vec<i64> = matching(query)
        .select(users::id)
        .limit(Total::CAP + 1)
        .load(conn)?;
    Ok(Total::of(ids.len()))
}

/// The search to run through SQLite's trigram index, when that is the quick way.
/// Three characters make a trigram: shorter searches match so much that the scan stops
/// early anyway. Admins are few, so a search among them is quickest as a scan over the
/// (role, id) index; walking every match of a common substring to find the rare admin
/// among a million customers is not.
fn trigram_search(conn: &DbConnection, query: &UserQuery) -> Option<String> {
    let search = query.search.as_deref().filter(|s| s.chars().count() >= 3)?;
    (matches!(conn, DbConnection::Sqlite(_)) && query.role.as_deref() != Some("admin"))
        .then(|| search.to_owned())
}

/// The users the query's role and search match, in no order yet.
fn matching(query: &UserQuery) -> users::BoxedQuery<'static, MultiBackend> {
    let mut select = users::table.into_boxed();
    if let Some(role) = &query.role {
        select = select.filter(users::role.eq(role.clone()));
    }
    if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
        let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
        select = select.filter(
            lower(users::username)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(users::email).like(pattern).escape('\\')),
        );
    }
    select
}

/// SQLite's search through the `users_search` trigram index (see its migration), newest
/// first, below `before_id`: the index yields ids in descending order, so a page stops
/// after `limit` matches (a count after `Total::CAP + 1`). PostgreSQL needs no special query: its trigram
/// indexes serve the `LIKE` in `matching`.
fn by_trigrams(
    conn: &mut diesel::SqliteConnection,
    query: &UserQuery,
    search: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<UserRow>, DbError> {
    use diesel::sql_types::{BigInt, Text};
    let mut sql = String::from(
        "SELECT users.* FROM users_search JOIN users ON users.id = users_search.rowid \
         WHERE users_search MATCH ?",
    );
    if query.role.is_some() {
        sql.push_str(" AND users.role = ?");
    }
    if before.is_some() {
        sql.push_str(" AND users_search.rowid < ?");
    }
    sql.push_str(" ORDER BY users_search.rowid DESC LIMIT ?");
    // One quoted phrase: its trigrams in a row, i.e. the substring, whatever it contains.
    let phrase = format!("\"{}\"", search.replace('"', "\"\""));
    let mut select = diesel::sql_query(sql)
        .into_boxed::<diesel::sqlite::Sqlite>()
        .bind::<Text, _>(phrase);
    if let Some(role) = &query.role {
        select = select.bind::<Text, _>(role.clone());
    }
    if let Some(before) = before {
        select = select.bind::<BigInt, _>(before);
    }
    Ok(select.bind::<BigInt, _>(limit).load(conn)?)
}

pub fn owns_servers(conn: &mut DbConnection, id: i64) -> Result<bool, DbError> {
    use crate::schema::servers;
    let count: i64 = servers::table
        .filter(servers::owner_id.eq(id))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

/// Takes the write lock on one user for the rest of the transaction (see
/// `servers::lock`). Returns false when there is no such user.
pub fn lock(conn: &mut DbConnection, id: i64) -> Result<bool, DbError> {
    let touched = diesel::update(users::table.find(id))
        .set(users::updated_at.eq(users::updated_at))
        .execute(conn)?;
    Ok(touched == 1)
}

/// Inserts many users in one statement; returns `(id, username)` of each.
/// (Multi-row inserts do not go through the multi-backend connection, hence the match.)
pub fn insert_many(
    conn: &mut DbConnection,
    forms: &[UserInsertForm<'_>],
) -> Result<Vec<(i64, String)>, DbError> {
    let query = diesel::insert_into(users::table)
        .values(forms)
        .returning((users::id, users::username));
    Ok(match conn {
        DbConnection::Sqlite(sqlite) => query.get_results(sqlite)?,
        DbConnection::Postgres(pg) => query.get_results(pg)?,
    })
}

/// Usernames that differ only by case, grouped, each with its id: what must be renamed
/// before usernames can be unique regardless of case.
pub fn case_duplicates(conn: &mut DbConnection) -> Result<Vec<(i64, String)>, DbError> {
    #[derive(QueryableByName)]
    struct Duplicate {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        username: String,
    }
    let rows: Vec<Duplicate> = diesel::sql_query(
        "SELECT id, username FROM users WHERE lower(username) IN \
         (SELECT lower(username) FROM users GROUP BY lower(username) HAVING COUNT(*) > 1) \
         ORDER BY lower(username), id",
    )
    .load(conn)?;
    Ok(rows.into_iter().map(|d| (d.id, d.username)).collect())
}

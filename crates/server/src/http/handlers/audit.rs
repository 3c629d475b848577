use actix_web::{HttpResponse, get, web};
use futures_util::stream;
use pulsekey_types::{AuditPage, AuditSort, ErrorBody, Scope};
use serde::Deserialize;

use crate::http::auth::Principal;
use crate::http::error::ApiError;
use crate::http::state::SharedState;
use pulsekey_core::audit_log::{self, AuditFilter, ExportFormat};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct AuditQuery {
    /// Exact action, e.g. `server.license.revoke`.
    action: Option<String>,
    /// The server acted on.
    target: Option<i64>,
    /// The acting user.
    user_id: Option<i64>,
    /// Entries at or after this instant (RFC 3339).
    from: Option<String>,
    /// Entries before this instant (RFC 3339).
    to: Option<String>,
    /// `newest` (default) or `oldest` first; exports follow it too.
    sort: Option<AuditSort>,
    /// `nextCursor` of the previous page, asked with the same filters and sort.
    cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<i64>,
    /// `csv` or `jsonl` streams every matching entry as a download instead of a page.
    format: Option<String>,
}

/// The audit log, newest or oldest first: a page of JSON, or an export of every match.
#[utoipa::path(
    tag = "audit",
    operation_id = "list_audit_log",
    params(AuditQuery),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "A page (or, with `format`, a CSV / JSON-lines export)", content(
            (AuditPage = "application/json"),
            (String = "text/csv"),
            (String = "application/x-ndjson"),
        )),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `read`)", body = ErrorBody),
        (status = 422, description = "Bad cursor, limit, time or format", body = ErrorBody),
    ),
)]
#[get("/audit-log")]
pub async fn list_audit_log(
    state: SharedState,
    principal: Principal,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin(Scope::Read)?;
    let q = query.into_inner();
    let filter = AuditFilter::parse(
        q.action,
        q.target,
        q.user_id,
        q.from.as_deref(),
        q.to.as_deref(),
        q.sort.unwrap_or_default(),
    )?;
    let format = q.format.as_deref().map(ExportFormat::parse).transpose()?;
    let Some(format) = format else {
        let (cursor, limit) = (q.cursor, q.limit);
        let page = state
            .blocking(move |db| {
                Ok(audit_log::page(
                    &mut *db.conn()?,
                    &filter,
                    cursor.as_deref(),
                    limit,
                )?)
            })
            .await?;
        return Ok(HttpResponse::Ok().json(page));
    };
    // Streams page by page so an export of a million entries never sits in memory.
    let chunks = stream::unfold(Some((state, None::<i64>, true)), move |next| {
        let filter = filter.clone();
        async move {
            let (state, past, first) = next?;
            let db_state = state.clone();
            let fetched = db_state
                .blocking(move |db| {
                    Ok(audit_log::export_chunk(
                        &mut *db.conn()?,
                        &filter,
                        past,
                        format,
                        first,
                    )?)
                })
                .await;
            match fetched {
                Ok((bytes, Some(last_id))) => Some((
                    Ok::<_, ApiError>(web::Bytes::from(bytes)),
                    Some((state, Some(last_id), false)),
                )),
                Ok((bytes, None)) => Some((Ok(web::Bytes::from(bytes)), None)),
                Err(err) => Some((Err(err), None)),
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"audit-log.{}\"", format.extension()),
        ))
        .streaming(chunks))
}

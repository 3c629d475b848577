use leptos::prelude::*;
use pulsekey_types::AuditEntry;

use crate::address::ListAddress;
use crate::api;
use crate::components::error_view::Loaded;
use crate::components::filter_select::FilterSelect;
use crate::components::list_total::ListTotal;
use crate::components::search_field::PageSizeField;
use crate::components::user_picker::UserPicker;

/// The address's parameters: the filters as a person set them (days as picked), the order
/// and the page.
const KEYS: [&str; 8] = [
    "action", "target", "userId", "from", "to", "sort", "limit", "cursor",
];
const PAGE_SIZES: [&str; 3] = ["25", "50", "100"];

#[component]
pub fn AuditLogPage() -> impl IntoView {
    crate::app::page_title("Audit log");
    let address = ListAddress::new("/admin/audit-log", &KEYS);
    let param = move |key: &'static str| address.get(key);
    let set = move |key: &'static str, value: String| address.set(key, value, false);
    // The API's query for the filters and the order (exports follow both). Dates are the
    // viewer's days, as the table shows times in local time: From is local midnight, To the
    // end of that local day.
    let filter = Memo::new(move |_| {
        let mut q = String::new();
        let mut add = |name: &str, value: String| {
            if !value.trim().is_empty() {
                q.push_str(&format!(
                    "&{name}={}",
                    js_sys::encode_uri_component(value.trim())
                ));
            }
        };
        add("action", param("action"));
        add("target", param("target"));
        add("userId", param("userId"));
        add("from", local_day_bound(&param("from"), false));
        add("to", local_day_bound(&param("to"), true));
        add("sort", param("sort"));
        q
    });
    let live = crate::live::use_live();
    let page = LocalResource::new(move || {
        live.track();
        let limit = Some(param("limit"))
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| "25".into());
        api::audit_log(
            format!("limit={limit}{}", filter.get()),
            Some(param("cursor")).filter(|c| !c.is_empty()),
        )
    });
    let input = move |key: &'static str,
                      testid: &'static str,
                      placeholder: &'static str,
                      kind: &'static str| {
        view! {
            <input
                data-testid=testid
                placeholder=placeholder
                type=kind
                prop:value=move || param(key)
                on:change=move |ev| set(key, event_target_value(&ev))
            />
        }
    };
    let user = Signal::derive(move || param("userId").parse::<i64>().ok());
    view! {
        <h1>"Audit log"</h1>
        <div class="filters">
            <FilterSelect address key="action" label="Action" options=&ACTIONS/>
            <label>"Server id" {input("target", "filter-target", "e.g. 42", "text")}</label>
            <label>
                "By user"
                <UserPicker
                    testid="filter-user"
                    picked=user
                    on_pick=Callback::new(move |id: Option<i64>| {
                        set("userId", id.map(|id| id.to_string()).unwrap_or_default())
                    })
                />
            </label>
            <label>"From" {input("from", "filter-from", "from", "date")}</label>
            <label>"To" {input("to", "filter-to", "to", "date")}</label>
            <FilterSelect address key="sort" label="Order" options=&[("", "Newest first"), ("oldest", "Oldest first")]/>
            <PageSizeField address sizes=&PAGE_SIZES/>
            // `download`: the browser saves the file; the app's router leaves the link alone.
            <a data-testid="export-csv" download="audit-log.csv" href=move || format!("/api/v1/audit-log?format=csv{}", filter.get())>"Export CSV"</a>
            <a data-testid="export-jsonl" download="audit-log.jsonl" href=move || format!("/api/v1/audit-log?format=jsonl{}", filter.get())>"Export JSON lines"</a>
        </div>
        <Loaded>
            {move || Suspend::new(async move {
                page.await
                    .map(|page| {
                        if page.items.is_empty() {
                            return view! {
                                <p class="empty" data-testid="no-entries">"No entry matches these filters."</p>
                            }
                                .into_any();
                        }
                        let next = page.next_cursor.clone();
                        let (first, later) = if param("sort") == "oldest" {
                            ("Oldest", "Newer")
                        } else {
                            ("Newest", "Older")
                        };
                        view! {
                            <ListTotal total=page.total capped=page.total_capped one="entry" many="entries"/>
                            <table class="list fixed audit" data-testid="audit-table">
                                <thead>
                                    <tr><th>"When"</th><th>"Action"</th><th>"Target"</th><th>"By"</th><th>"Details"</th><th>"IP"</th></tr>
                                </thead>
                                <tbody>
                                    {page.items.into_iter().map(|entry| view! { <AuditRow entry/> }).collect_view()}
                                </tbody>
                            </table>
                            <div class="actions">
                                <button
                                    data-testid="newest-page"
                                    disabled=move || param("cursor").is_empty()
                                    on:click=move |_| set("cursor", String::new())
                                >
                                    {first}
                                </button>
                                <button
                                    data-testid="older-page"
                                    disabled=next.is_none()
                                    on:click=move |_| set("cursor", next.clone().unwrap_or_default())
                                >
                                    {later}
                                </button>
                            </div>
                        }
                            .into_any()
                    })
            })}
        </Loaded>
    }
}

#[component]
fn AuditRow(entry: AuditEntry) -> impl IntoView {
    // The entry names the server's owner, whose page holds the server's card.
    let target = entry.target.map(|server| match entry.target_owner_id {
        Some(owner) => {
            view! { <a href=format!("/admin/users/{owner}")>{format!("server {server}")}</a> }
                .into_any()
        }
        None => view! { <span>{format!("server {server}")}</span> }.into_any(),
    });
    view! {
        <tr data-testid="audit-row">
            <td data-label="When">{crate::time_fmt::local(entry.at)}</td>
            <td data-label="Action" data-testid="audit-action">{entry.action}</td>
            <td data-label="Target">{target}</td>
            <td data-label="By">{entry.username.unwrap_or_default()}</td>
            <td data-label="Details">{details(&entry.metadata)}</td>
            <td data-label="IP">{entry.ip.unwrap_or_default()}</td>
        </tr>
    }
}

/// What the audit log can be filtered by, with the words a person looks for.
const ACTIONS: [(&str, &str); 19] = [
    ("", "Any"),
    ("auth.login", "Signed in"),
    ("auth.login.failed", "Failed sign-in"),
    ("user.create", "User created"),
    ("user.update", "User changed"),
    ("user.disable", "User disabled"),
    ("user.password.change", "Own password changed"),
    ("user.password.change.failed", "Wrong current password"),
    ("server.create", "Server added"),
    ("server.update", "Server renamed"),
    ("server.delete", "Server deleted"),
    ("server.license.reveal", "Key revealed"),
    ("server.license.install", "config.json downloaded"),
    ("server.license.regenerate", "Key regenerated"),
    ("server.license.revoke", "License revoked"),
    ("server.license.reinstate", "License reinstated"),
    ("token.create", "Token created"),
    ("token.revoke", "Token revoked"),
    ("data_key.rotate", "Data key rotated"),
];

/// An entry's details as labelled fields rather than raw JSON: `graceExpiresAt` reads
/// "grace expires at", and times are the viewer's local time as in the When column.
fn details(metadata: &serde_json::Value) -> impl IntoView + use<> {
    let fields: Vec<(String, String)> = match metadata {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(key, value)| {
                let text = match value {
                    serde_json::Value::String(text) => time::OffsetDateTime::parse(
                        text,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .map(crate::time_fmt::local)
                    .unwrap_or_else(|_| text.clone()),
                    other => other.to_string(),
                };
                (words(key), text)
            })
            .collect(),
        serde_json::Value::Null => Vec::new(),
        other => vec![(String::new(), other.to_string())],
    };
    view! {
        <dl class="details">
            {fields
                .into_iter()
                .map(|(key, value)| view! { <dt>{key}</dt> <dd>{value}</dd> })
                .collect_view()}
        </dl>
    }
}

/// A camelCase key as words: `subjectUserId` is "subject user id".
fn words(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() && !out.is_empty() {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// `2026-12-03` (an `<input type=date>` value) as the UTC instant its local day starts, or
/// with `end`, its last millisecond; empty when the input is empty or not a date.
fn local_day_bound(day: &str, end: bool) -> String {
    let mut parts = day.trim().split('-').map(|p| p.parse::<u32>().ok());
    let (Some(Some(year)), Some(Some(month)), Some(Some(date))) =
        (parts.next(), parts.next(), parts.next())
    else {
        return String::new();
    };
    let (hours, minutes, seconds, millis) = if end { (23, 59, 59, 999) } else { (0, 0, 0, 0) };
    let local = js_sys::Date::new_with_year_month_day_hr_min_sec_milli(
        year,
        month as i32 - 1,
        date as i32,
        hours,
        minutes,
        seconds,
        millis,
    );
    if local.get_time().is_nan() {
        return String::new();
    }
    String::from(local.to_iso_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_keys_read_as_words() {
        assert_eq!(words("graceExpiresAt"), "grace expires at");
        assert_eq!(words("subjectUserId"), "subject user id");
        assert_eq!(words("name"), "name");
    }
}

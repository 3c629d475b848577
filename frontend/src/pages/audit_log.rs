use leptos::prelude::*;
use pulsekey_types::AuditEntry;

use crate::api;
use crate::components::error_view::Loaded;

#[component]
pub fn AuditLogPage() -> impl IntoView {
    let action = RwSignal::new(String::new());
    let target = RwSignal::new(String::new());
    let user = RwSignal::new(String::new());
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let cursor = RwSignal::new(None::<String>);
    // The query string for the current filters. Dates are the viewer's days, as the table
    // shows times in local time: From is local midnight, To the end of that local day.
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
        add("action", action.get());
        add("target", target.get());
        add("userId", user.get());
        add("from", local_day_bound(&from.get(), false));
        add("to", local_day_bound(&to.get(), true));
        q
    });
    let live = crate::live::use_live();
    let page = LocalResource::new(move || {
        live.track();
        api::audit_log(filter.get(), cursor.get())
    });
    let input = move |signal: RwSignal<String>,
                      testid: &'static str,
                      placeholder: &'static str,
                      kind: &'static str| {
        view! {
            <input
                data-testid=testid
                placeholder=placeholder
                type=kind
                prop:value=move || signal.get()
                on:change=move |ev| {
                    cursor.set(None);
                    signal.set(event_target_value(&ev));
                }
            />
        }
    };
    view! {
        <h1>"Audit log"</h1>
        <div class="filters">
            {input(action, "filter-action", "action, e.g. server.license.revoke", "text")}
            {input(target, "filter-target", "server id", "text")}
            {input(user, "filter-user", "user id", "text")}
            {input(from, "filter-from", "from", "date")}
            {input(to, "filter-to", "to", "date")}
            // `download`: the browser saves the file; the app's router leaves the link alone.
            <a data-testid="export-csv" download="audit-log.csv" href=move || format!("/api/v1/audit-log?format=csv{}", filter.get())>"Export CSV"</a>
            <a data-testid="export-jsonl" download="audit-log.jsonl" href=move || format!("/api/v1/audit-log?format=jsonl{}", filter.get())>"Export JSON lines"</a>
        </div>
        <Loaded>
            {move || Suspend::new(async move {
                page.await
                    .map(|page| {
                        let next = page.next_cursor.clone();
                        view! {
                            <table class="list" data-testid="audit-table">
                                <thead>
                                    <tr><th>"When"</th><th>"Action"</th><th>"Target"</th><th>"By"</th><th>"Details"</th><th>"IP"</th></tr>
                                </thead>
                                <tbody>
                                    {page.items.into_iter().map(|entry| view! { <AuditRow entry/> }).collect_view()}
                                </tbody>
                            </table>
                            <div class="actions">
                                <button on:click=move |_| cursor.set(None)>"Newest"</button>
                                <button disabled=next.is_none() on:click=move |_| cursor.set(next.clone())>"Older"</button>
                            </div>
                        }
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
            <td>{crate::time_fmt::local(entry.at)}</td>
            <td data-testid="audit-action">{entry.action}</td>
            <td>{target}</td>
            <td>{entry.username.unwrap_or_default()}</td>
            <td><code>{entry.metadata.to_string()}</code></td>
            <td>{entry.ip.unwrap_or_default()}</td>
        </tr>
    }
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

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
    // The query string for the current filters (dates from <input type=date> as UTC days).
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
        add(
            "from",
            from.get()
                .trim()
                .is_empty()
                .then(String::new)
                .unwrap_or_else(|| format!("{}T00:00:00Z", from.get())),
        );
        add(
            "to",
            to.get()
                .trim()
                .is_empty()
                .then(String::new)
                .unwrap_or_else(|| format!("{}T23:59:59Z", to.get())),
        );
        q
    });
    let page = LocalResource::new(move || api::audit_log(filter.get(), cursor.get()));
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
            <a data-testid="export-csv" href=move || format!("/api/v1/audit-log?format=csv{}", filter.get())>"Export CSV"</a>
            <a data-testid="export-jsonl" href=move || format!("/api/v1/audit-log?format=jsonl{}", filter.get())>"Export JSON lines"</a>
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

//! `/admin/servers`: every installation across customers. The filters, the order and the
//! page live in the address, so a link or Back brings the same list again.

use leptos::prelude::*;
use leptos_router::components::A;
use pulsekey_types::{Connection, ServerListItem};

use crate::address::ListAddress;
use crate::api;
use crate::components::error_view::Loaded;
use crate::components::filter_select::FilterSelect;
use crate::components::list_total::ListTotal;
use crate::components::search_field::{PageSizeField, SearchField};
use crate::components::status_badge::StatusBadge;
use crate::components::user_picker::UserPicker;
use crate::time_fmt;

/// The address's parameters that the list understands, in the API's own names.
const KEYS: [&str; 8] = [
    "status",
    "connection",
    "version",
    "ownerId",
    "q",
    "sort",
    "limit",
    "cursor",
];

const PAGE_SIZES: [&str; 3] = ["50", "100", "200"];

#[component]
pub fn AdminServersPage() -> impl IntoView {
    crate::app::page_title("Servers");
    let address = ListAddress::new("/admin/servers", &KEYS);
    let live = crate::live::use_live();
    let servers = LocalResource::new(move || {
        live.track();
        api::list_servers(address.query(&[]))
    });
    let current = move |key: &'static str| address.get(key);
    let set = move |key: &'static str, value: String| address.set(key, value, false);
    let next_page = move |cursor: String| address.set("cursor", cursor, false);
    let first_page = move || address.set("cursor", String::new(), false);
    // The versions the fleet runs now, newest sample first, for the version picker.
    let versions = LocalResource::new(api::fleet);
    let version_picker = {
        move || {
            let options = move || {
                let mut known: Vec<String> = versions
                    .get()
                    .and_then(Result::ok)
                    .map(|fleet| fleet.versions.into_iter().map(|v| v.version).collect())
                    .unwrap_or_default();
                let chosen = current("version");
                if !chosen.is_empty() && !known.contains(&chosen) {
                    known.push(chosen);
                }
                known
                    .into_iter()
                    .map(|version| {
                        let selected = current("version") == version;
                        view! { <option value=version.clone() selected=selected>{version.clone()}</option> }
                    })
                    .collect_view()
            };
            view! {
                <label>
                    "Version"
                    <select
                        data-testid="filter-version"
                        prop:value=move || current("version")
                        on:change=move |ev| set("version", event_target_value(&ev))
                    >
                        <option value="">"Any"</option>
                        {options}
                    </select>
                </label>
            }
        }
    };
    let owner = Signal::derive(move || current("ownerId").parse::<i64>().ok());
    let pick_owner = {
        Callback::new(move |id: Option<i64>| {
            set("ownerId", id.map(|id| id.to_string()).unwrap_or_default())
        })
    };

    view! {
        <h1>"Servers"</h1>
        <div class="filters">
            <SearchField address key="q" label="Search" testid="filter-q" placeholder="server or customer"/>
            <FilterSelect address key="status" label="Status" options=&[("", "Any"), ("ACTIVE", "Active"), ("GRACE", "Grace"), ("EXPIRED", "Expired")]/>
            <FilterSelect address key="connection" label="Connection" options=&[("", "Any"), ("online", "Online"), ("late", "Late"), ("offline", "Offline"), ("never", "Never seen")]/>
            <label>"Customer" <UserPicker testid="filter-owner" picked=owner on_pick=pick_owner/></label>
            {version_picker()}
            <FilterSelect address key="sort" label="Order" options=&[("", "Newest first"), ("name", "Name"), ("lastHeartbeatAt", "Last heartbeat")]/>
            <PageSizeField address sizes=&PAGE_SIZES/>
        </div>
        <Loaded>
            {move || {
                Suspend::new(async move {
                    servers
                        .await
                        .map(|page| {
                            let next = page.next_cursor.clone();
                            let rows = if page.items.is_empty() {
                                view! { <p data-testid="no-servers">"No server matches these filters."</p> }.into_any()
                            } else {
                                view! {
                                    <table class="list" data-testid="server-table">
                                        <thead>
                                            <tr>
                                                <th>"Server"</th>
                                                <th>"Customer"</th>
                                                <th>"Status"</th>
                                                <th>"Connection"</th>
                                                <th>"Version"</th>
                                                <th>"Last heartbeat"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {page.items.into_iter().map(|server| view! { <ServerRow server/> }).collect_view()}
                                        </tbody>
                                    </table>
                                }
                                    .into_any()
                            };
                            let total = view! {
                                <ListTotal total=page.total capped=page.total_capped one="server" many="servers"/>
                            };
                            view! {
                                {total}
                                {rows}
                                <div class="actions">
                                    <button
                                        data-testid="first-page"
                                        disabled=move || current("cursor").is_empty()
                                        on:click=move |_| first_page()
                                    >
                                        "First page"
                                    </button>
                                    <button
                                        data-testid="next-page"
                                        disabled=next.is_none()
                                        on:click=move |_| {
                                            if let Some(cursor) = next.clone() {
                                                next_page(cursor);
                                            }
                                        }
                                    >
                                        "Next page"
                                    </button>
                                </div>
                            }
                        })
                })
            }}
        </Loaded>
    }
}

fn connection_text(connection: Connection) -> &'static str {
    match connection {
        Connection::Online => "online",
        Connection::Late => "late",
        Connection::Offline => "offline",
        Connection::Never => "never seen",
    }
}

#[component]
fn ServerRow(server: ServerListItem) -> impl IntoView {
    let status = server.license.status;
    let live = crate::live::use_live();
    let at = server.license.last_heartbeat_at;
    view! {
        <tr data-testid="server-row">
            <td data-label="Server">
                <A href=format!("/admin/users/{}", server.owner_id)>{server.name}</A>
            </td>
            <td data-label="Customer">{server.owner_username}</td>
            <td data-label="Status">
                <StatusBadge status=Signal::derive(move || status)/>
            </td>
            <td data-label="Connection" data-testid="server-connection">{connection_text(server.license.connection)}</td>
            <td data-label="Version">{server.license.installed_version.unwrap_or_else(|| "—".into())}</td>
            <td data-label="Last heartbeat">{move || time_fmt::heartbeat(at, live.now_ms.get())}</td>
        </tr>
    }
}

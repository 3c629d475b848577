//! `/admin/users`: search, filter, order and page through accounts. All of it lives in the
//! address, so opening a user and coming Back lands on the same page.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use pulsekey_types::{Role, UserView};

use crate::address::ListAddress;
use crate::api;
use crate::components::error_view::Loaded;
use crate::components::filter_select::FilterSelect;
use crate::components::list_total::ListTotal;
use crate::components::search_field::{PageSizeField, SearchField};
use crate::time_fmt;

/// The address's parameters that the list understands, in the API's own names.
const KEYS: [&str; 5] = ["q", "role", "sort", "limit", "cursor"];
const PAGE_SIZES: [&str; 3] = ["20", "50", "100"];

#[component]
pub fn AdminUsersPage() -> impl IntoView {
    crate::app::page_title("Users");
    let address = ListAddress::new("/admin/users", &KEYS);
    let param = move |key: &str| address.get(key);
    let live = crate::live::use_live();
    let users = LocalResource::new(move || {
        live.track();
        let mut query = address.query(&[]);
        if param("limit").is_empty() {
            query.push_str(&format!("&limit={}", PAGE_SIZES[0]));
        }
        api::list_users(query)
    });
    let go =
        move |key: &'static str, value: String, replace: bool| address.set(key, value, replace);

    view! {
        <h1>"Users"</h1>
        <NewUser/>
        <div class="filters">
            <SearchField address key="q" label="Search" testid="user-search" placeholder="name or email"/>
            <FilterSelect address key="role" label="Role" options=&[("", "Any"), ("customer", "Customers"), ("admin", "Admins")]/>
            <FilterSelect address key="sort" label="Order" options=&[("", "Newest first"), ("username", "Username")]/>
            <PageSizeField address sizes=&PAGE_SIZES/>
        </div>
        <Loaded>
            {move || {
                Suspend::new(async move {
                users
                    .await
                    .map(|page| {
                        let next = page.next_cursor.clone();
                        let on_first = param("cursor").is_empty();
                        if page.items.is_empty() {
                            let (q, role) = (param("q"), param("role"));
                            let who = match role.as_str() {
                                "admin" => "admin",
                                "customer" => "customer",
                                _ => "user",
                            };
                            let text = if q.is_empty() {
                                format!("No {who}s yet.")
                            } else {
                                format!("No {who}'s name or email contains “{q}”.")
                            };
                            return view! { <p class="empty" data-testid="no-users">{text}</p> }.into_any();
                        }
                        let (first, later) = (go, go);
                        view! {
                            <ListTotal total=page.total capped=page.total_capped one="user" many="users"/>
                            <table class="list fixed" data-testid="user-table">
                                <thead>
                                    <tr>
                                        <th>"Username"</th>
                                        <th>"Email"</th>
                                        <th>"Role"</th>
                                        <th>"Status"</th>
                                        <th>"Last heartbeat"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {page.items.into_iter().map(|user| view! { <UserRow user/> }).collect_view()}
                                </tbody>
                            </table>
                            <div class="actions">
                                <button
                                    data-testid="first-page"
                                    disabled=on_first
                                    on:click=move |_| first("cursor", String::new(), false)
                                >
                                    "First page"
                                </button>
                                <button
                                    data-testid="next-page"
                                    disabled=next.is_none()
                                    on:click=move |_| later("cursor", next.clone().unwrap_or_default(), false)
                                >
                                    "Next page"
                                </button>
                            </div>
                        }
                            .into_any()
                    })
                })
            }}
        </Loaded>
    }
}

#[component]
fn UserRow(user: UserView) -> impl IntoView {
    let live = crate::live::use_live();
    let (role, at) = (user.role, user.last_heartbeat_at);
    let last_heartbeat = move || match role {
        Role::Admin => String::new(),
        Role::Customer => time_fmt::heartbeat(at, live.now_ms.get()),
    };
    view! {
        <tr data-testid="user-row">
            <td data-label="User">
                <A href=format!("/admin/users/{}", user.id)>{user.username}</A>
            </td>
            <td data-label="Email">{user.email}</td>
            <td data-label="Role">{user.role.as_str()}</td>
            <td data-label="Status">
                {if user.disabled {
                    view! { <span class="badge badge-expired">"disabled"</span> }.into_any()
                } else {
                    view! { <span class="badge badge-active">"enabled"</span> }.into_any()
                }}
            </td>
            <td data-label="Last heartbeat">{last_heartbeat}</td>
        </tr>
    }
}

/// "Add a user": an admin or a customer, then to their page.
#[component]
fn NewUser() -> impl IntoView {
    let username = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Customer);
    let navigate = use_navigate();
    let create = Action::new_local(move |request: &pulsekey_types::CreateUserRequest| {
        let request = request.clone();
        let navigate = navigate.clone();
        async move {
            let user = api::create_user(request).await?;
            navigate(&format!("/admin/users/{}", user.id), Default::default());
            Ok::<_, api::ApiError>(())
        }
    });
    let failed = Signal::derive(move || create.value().get().and_then(Result::err));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        create.dispatch(pulsekey_types::CreateUserRequest {
            username: username.get_untracked().trim().to_owned(),
            email: email.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
            role: role.get_untracked(),
        });
    };
    let input = move |signal: RwSignal<String>,
                      label: &'static str,
                      testid: &'static str,
                      kind: &'static str| {
        view! {
            <label>
                {label}
                <input
                    data-testid=testid
                    type=kind
                    autocomplete="off"
                    prop:value=move || signal.get()
                    on:input=move |ev| signal.set(event_target_value(&ev))
                />
            </label>
        }
    };
    view! {
        <details class="card" data-testid="new-user">
            <summary>"Add a user"</summary>
            <form class="filters" on:submit=submit>
                {input(username, "Username", "new-username", "text")}
                {input(email, "Email", "new-email", "email")}
                {input(password, "Password (12+ characters)", "new-password", "password")}
                <label>
                    "Role"
                    <select
                        data-testid="new-role"
                        on:change=move |ev| {
                            role.set(if event_target_value(&ev) == "admin" { Role::Admin } else { Role::Customer })
                        }
                    >
                        <option value="customer" selected=true>"Customer"</option>
                        <option value="admin">"Admin"</option>
                    </select>
                </label>
                <button type="submit" data-testid="create-user" disabled=move || create.pending().get()>
                    "Add user"
                </button>
            </form>
            <p class="hint">"Give the password to the person by a private channel; they can change it on their Account page."</p>
            <crate::components::error_view::ActionError error=failed testid="new-user-error"/>
        </details>
    }
}

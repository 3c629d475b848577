use leptos::prelude::*;
use leptos_router::components::A;
use pulsekey_types::{Role, UserView};

use crate::api;
use crate::components::error_view::Loaded;
use crate::time_fmt;

#[component]
pub fn AdminUsersPage() -> impl IntoView {
    let search = RwSignal::new(String::new());
    let cursor = RwSignal::new(None::<String>);
    let live = crate::live::use_live();
    let users = LocalResource::new(move || {
        live.track();
        api::list_users(search.get(), cursor.get())
    });

    view! {
        <h1>"Users"</h1>
        <input
            data-testid="user-search"
            placeholder="Search by name or email"
            prop:value=move || search.get()
            on:input=move |ev| {
                cursor.set(None);
                search.set(event_target_value(&ev));
            }
        />
        <Loaded>
            {move || Suspend::new(async move {
                users
                    .await
                    .map(|page| {
                        let next = page.next_cursor.clone();
                        view! {
                            <table class="list">
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
                                <button on:click=move |_| cursor.set(None)>"First page"</button>
                                <button
                                    data-testid="next-page"
                                    disabled=next.is_none()
                                    on:click=move |_| cursor.set(next.clone())
                                >
                                    "Next page"
                                </button>
                            </div>
                        }
                    })
            })}
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
            <td>
                <A href=format!("/admin/users/{}", user.id)>{user.username}</A>
            </td>
            <td>{user.email}</td>
            <td>{user.role.as_str()}</td>
            <td>{if user.disabled { "disabled" } else { "enabled" }}</td>
            <td>{last_heartbeat}</td>
        </tr>
    }
}

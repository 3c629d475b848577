use leptos::prelude::*;
use leptos_router::components::A;

use crate::api;
use crate::session::on_error;

#[component]
pub fn AdminUsersPage() -> impl IntoView {
    let search = RwSignal::new(String::new());
    let cursor = RwSignal::new(None::<String>);
    let users = LocalResource::new(move || {
        let (q, c) = (search.get(), cursor.get());
        async move {
            let result = api::list_users(q, c).await;
            if let Err(err) = &result {
                on_error(err);
            }
            result
        }
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
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                users
                    .get()
                    .map(|result| match result {
                        Err(err) => view! { <p class="error">{err.message}</p> }.into_any(),
                        Ok(page) => {
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
                                        {page
                                            .items
                                            .into_iter()
                                            .map(|user| {
                                                view! {
                                                    <tr data-testid="user-row">
                                                        <td>
                                                            <A href=format!("/admin/users/{}", user.id)>{user.username.clone()}</A>
                                                        </td>
                                                        <td>{user.email.clone()}</td>
                                                        <td>{user.role.as_str()}</td>
                                                        <td>{if user.disabled { "disabled" } else { "enabled" }}</td>
                                                        <td>
                                                            {match (user.role, user.last_heartbeat_at) {
                                                                (pulsekey_types::Role::Admin, _) => String::new(),
                                                                (_, at) => crate::time_fmt::heartbeat(at),
                                                            }}
                                                        </td>
                                                    </tr>
                                                }
                                            })
                                            .collect_view()}
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
                                .into_any()
                        }
                    })
            }}
        </Transition>
    }
}

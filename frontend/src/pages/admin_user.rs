use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;
use pulsekey_types::{Role, UpdateUserRequest, UserView};

use crate::api;
use crate::components::license_card::LicenseCard;
use crate::session::on_error;

#[component]
pub fn AdminUserPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params.with(|p| {
            p.get("id")
                .and_then(|id| id.parse::<i64>().ok())
                .unwrap_or(0)
        })
    };
    let user = LocalResource::new(move || {
        let id = id();
        async move {
            let result = api::get_user(id).await;
            if let Err(err) = &result {
                on_error(err);
            }
            result
        }
    });
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                user.get()
                    .map(|result| match result {
                        Err(err) => view! { <p class="error">{err.message}</p> }.into_any(),
                        Ok(user) => view! { <UserEditor user=user/> }.into_any(),
                    })
            }}
        </Transition>
    }
}

/// The account form, and for a customer one License card per owned server.
#[component]
fn UserEditor(user: UserView) -> impl IntoView {
    let id = user.id;
    let is_customer = user.role == Role::Customer;
    let username = RwSignal::new(user.username.clone());
    let email = RwSignal::new(user.email.clone());
    let role = RwSignal::new(user.role);
    let disabled = RwSignal::new(user.disabled);
    let error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);

    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saved.set(false);
        let changes = UpdateUserRequest {
            username: Some(username.get_untracked()),
            email: Some(email.get_untracked()),
            role: Some(role.get_untracked()),
            disabled: Some(disabled.get_untracked()),
            password: None,
            revoke_tokens: None,
        };
        spawn_local(async move {
            match api::update_user(id, changes).await {
                Ok(_) => {
                    error.set(None);
                    saved.set(true);
                }
                Err(err) => {
                    on_error(&err);
                    error.set(Some(err.message));
                }
            }
        });
    };

    view! {
        <h1>{format!("Edit user {}", user.username)}</h1>
        <form class="card" on:submit=save data-testid="account-form">
            <label>
                "Username"
                <input
                    data-testid="account-username"
                    prop:value=move || username.get()
                    on:input=move |ev| username.set(event_target_value(&ev))
                />
            </label>
            <label>
                "Email"
                <input
                    data-testid="account-email"
                    prop:value=move || email.get()
                    on:input=move |ev| email.set(event_target_value(&ev))
                />
            </label>
            <label>
                "Role"
                <select
                    data-testid="account-role"
                    on:change=move |ev| {
                        role.set(if event_target_value(&ev) == "admin" { Role::Admin } else { Role::Customer })
                    }
                >
                    <option value="customer" selected=move || role.get() == Role::Customer>"Customer"</option>
                    <option value="admin" selected=move || role.get() == Role::Admin>"Admin"</option>
                </select>
            </label>
            <label class="inline">
                <input
                    data-testid="account-disabled"
                    type="checkbox"
                    prop:checked=move || disabled.get()
                    on:change=move |ev| disabled.set(event_target_checked(&ev))
                />
                "Disabled"
            </label>
            <button type="submit" data-testid="account-save">"Save"</button>
            <Show when=move || saved.get()>
                <span class="notice" data-testid="account-saved">"Saved"</span>
            </Show>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" role="alert" data-testid="account-error">{move || error.get().unwrap_or_default()}</p>
            </Show>
        </form>
        <Show when=move || is_customer>
            <Servers owner=id/>
        </Show>
    }
}

#[component]
fn Servers(owner: i64) -> impl IntoView {
    let version = RwSignal::new(0u32);
    let servers = LocalResource::new(move || {
        version.track();
        async move { api::user_servers(owner).await }
    });
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        spawn_local(async move {
            match api::create_server(owner, name.get_untracked()).await {
                Ok(_) => {
                    name.set(String::new());
                    error.set(None);
                    version.update(|v| *v += 1);
                }
                Err(err) => {
                    on_error(&err);
                    error.set(Some(err.message));
                }
            }
        });
    };
    view! {
        <h2>"Servers"</h2>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                servers
                    .get()
                    .map(|result| match result {
                        Err(err) => view! { <p class="error">{err.message}</p> }.into_any(),
                        Ok(list) if list.items.is_empty() => {
                            view! { <p data-testid="no-servers">"No servers yet."</p> }.into_any()
                        }
                        Ok(list) => {
                            list.items
                                .into_iter()
                                .map(|server| view! { <LicenseCard server=server/> })
                                .collect_view()
                                .into_any()
                        }
                    })
            }}
        </Transition>
        <form class="card" on:submit=add>
            <label>
                "New server name "
                <input
                    data-testid="server-name"
                    prop:value=move || name.get()
                    on:input=move |ev| name.set(event_target_value(&ev))
                />
            </label>
            <button type="submit" data-testid="add-server">"Add server"</button>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" role="alert">{move || error.get().unwrap_or_default()}</p>
            </Show>
        </form>
    }
}

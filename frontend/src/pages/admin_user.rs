use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use pulsekey_types::{Role, UpdateUserRequest, UserView};

use crate::api::{self, ApiError};
use crate::components::error_view::{ActionError, Loaded};
use crate::components::license_card::LicenseCard;

#[component]
pub fn AdminUserPage() -> impl IntoView {
    crate::app::page_title("User");
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|id| id.parse::<i64>().ok()));
    let user = LocalResource::new(move || {
        let id = id();
        async move {
            match id {
                Some(id) => api::get_user(id).await,
                None => Err(ApiError::local("no such user: the address names none")),
            }
        }
    });
    view! {
        <Loaded>
            {move || Suspend::new(async move { user.await.map(|user| view! { <UserEditor user/> }) })}
        </Loaded>
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

    // What the server holds: the heading, and what "unsaved" is measured against.
    let stored = RwSignal::new(user.clone());
    let save = Action::new_local(move |changes: &UpdateUserRequest| {
        let changes = changes.clone();
        async move {
            let saved = api::update_user(id, changes).await?;
            stored.set(saved.clone());
            Ok::<_, ApiError>(saved)
        }
    });
    let dirty = Memo::new(move |_| {
        stored.with(|s| {
            username.with(|u| *u != s.username)
                || email.with(|e| *e != s.email)
                || role.get() != s.role
                || disabled.get() != s.disabled
        })
    });
    let saved = move || matches!(save.value().get(), Some(Ok(_))) && !dirty.get();
    let failed = Signal::derive(move || save.value().get().and_then(Result::err));
    crate::unsaved::ask_before_leaving(dirty.into());
    // An admin about to take away their own access is told before they save.
    let session = crate::session::use_session();
    let losing_own_access = move || {
        session.user().is_some_and(|me| me.id == id)
            && (role.get() != Role::Admin || disabled.get())
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save.dispatch(UpdateUserRequest {
            username: Some(username.get_untracked()),
            email: Some(email.get_untracked()),
            role: Some(role.get_untracked()),
            disabled: Some(disabled.get_untracked()),
            password: None,
            revoke_tokens: None,
        });
    };

    view! {
        <h1 data-testid="user-heading">{move || format!("Edit user {}", stored.with(|s| s.username.clone()))}</h1>
        <form class="card" on:submit=submit data-testid="account-form">
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
            <Show when=losing_own_access>
                <p class="warning" role="alert" data-testid="self-demote-warning">
                    "This is your own account: once saved, you lose admin access and are signed out of the admin pages. Another admin will have to give it back."
                </p>
            </Show>
            <button
                type="submit"
                data-testid="account-save"
                class:danger=losing_own_access
                disabled=move || save.pending().get() || !dirty.get()
            >
                {move || if losing_own_access() { "Save and give up admin access" } else { "Save" }}
            </button>
            <Show when=move || dirty.get()>
                <span class="hint" data-testid="account-unsaved">"Unsaved changes"</span>
            </Show>
            <Show when=saved>
                <span class="notice" data-testid="account-saved">"Saved"</span>
            </Show>
            <ActionError error=failed testid="account-error"/>
        </form>
        // One's own password is changed on the Account page, proving the current one.
        <Show when=move || session.user().is_some_and(|me| me.id != id)>
            <ResetPassword id/>
        </Show>
        <Show when=move || is_customer>
            <Servers owner=id owner_name=user.username.clone()/>
        </Show>
    }
}

/// A customer's servers, each as a License card, and the form that adds one.
#[component]
fn Servers(owner: i64, owner_name: String) -> impl IntoView {
    let owner_name = StoredValue::new(owner_name);
    let name = RwSignal::new(String::new());
    let add = Action::new_local(move |typed: &String| {
        let typed = typed.clone();
        async move {
            api::create_server(owner, typed).await?;
            // Cleared only once the server exists: a refused name stays there to be fixed.
            name.set(String::new());
            Ok::<_, ApiError>(())
        }
    });
    // The name of the server a card last deleted: the list reloads and says so.
    let deleted = RwSignal::new(None::<String>);
    let servers = LocalResource::new(move || {
        add.version().track();
        deleted.track();
        api::user_servers(owner)
    });
    // Owned by the server (the grace window's default and range): asked once per page.
    let settings = LocalResource::new(api::settings);
    let failed = Signal::derive(move || add.value().get().and_then(Result::err));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        add.dispatch(name.get_untracked());
    };
    view! {
        <h2>"Servers"</h2>
        {move || {
            deleted
                .get()
                .map(|name| {
                    view! {
                        <p class="notice" data-testid="servers-notice">
                            {format!("{name} was deleted; its proxy is refused at its next heartbeat.")}
                        </p>
                    }
                })
        }}
        <Loaded>
            {move || Suspend::new(async move {
                let settings = settings.await?;
                let list = servers.await?;
                Ok::<_, ApiError>(if list.items.is_empty() {
                    view! { <p data-testid="no-servers">"No servers yet."</p> }.into_any()
                } else {
                    list.items
                        .into_iter()
                        .map(|server| {
                            view! {
                                <LicenseCard
                                    server
                                    settings=settings.clone()
                                    owner=owner_name.get_value()
                                    on_deleted=move |name: String| deleted.set(Some(name))
                                />
                            }
                        })
                        .collect_view()
                        .into_any()
                })
            })}
        </Loaded>
        <form class="card" on:submit=submit>
            <label>
                "New server name "
                <input
                    data-testid="server-name"
                    prop:value=move || name.get()
                    on:input=move |ev| name.set(event_target_value(&ev))
                />
            </label>
            <button type="submit" data-testid="add-server" disabled=move || add.pending().get()>
                "Add server"
            </button>
            <ActionError error=failed testid="add-server-error"/>
        </form>
    }
}

/// An admin sets someone's password (they forgot it): every session of theirs ends.
#[component]
fn ResetPassword(id: i64) -> impl IntoView {
    let password = RwSignal::new(String::new());
    let reset = Action::new_local(move |password: &String| {
        let password = password.clone();
        async move {
            api::update_user(
                id,
                UpdateUserRequest {
                    password: Some(password),
                    ..Default::default()
                },
            )
            .await?;
            Ok::<_, ApiError>(())
        }
    });
    let done = move || matches!(reset.value().get(), Some(Ok(())));
    Effect::new(move || {
        if done() {
            password.set(String::new());
        }
    });
    let failed = Signal::derive(move || reset.value().get().and_then(Result::err));
    view! {
        <form
            class="card"
            data-testid="reset-password-form"
            on:submit=move |ev| {
                ev.prevent_default();
                reset.dispatch(password.get_untracked());
            }
        >
            <h2>"Reset password"</h2>
            <label>
                "New password (12+ characters)"
                <input
                    data-testid="reset-password"
                    type="password"
                    autocomplete="new-password"
                    prop:value=move || password.get()
                    on:input=move |ev| password.set(event_target_value(&ev))
                />
            </label>
            <button type="submit" data-testid="reset-password-save" disabled=move || reset.pending().get()>
                "Set password"
            </button>
            <Show when=done>
                <p class="notice" role="status" data-testid="password-reset">
                    "Password set; every session of theirs was signed out."
                </p>
            </Show>
            <ActionError error=failed testid="reset-password-error"/>
        </form>
    }
}

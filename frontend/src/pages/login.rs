use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api;
use crate::session::{home_of, mark_signed_in, use_session};

#[component]
pub fn LoginPage() -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let query = use_query_map();
    let expired = move || query.with(|q| q.get("expired").is_some());
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::login(username.get_untracked(), password.get_untracked()).await {
                Ok(response) => {
                    let home = home_of(response.user.role);
                    mark_signed_in(true);
                    session.user.set(Some(response.user));
                    navigate(home, Default::default());
                }
                Err(err) => error.set(Some(err.message)),
            }
            busy.set(false);
        });
    };

    view! {
        <section class="card narrow">
            <h1>"Sign in to pulsekey"</h1>
            <Show when=expired>
                <p class="notice" data-testid="session-expired">"Your session has ended. Please sign in again."</p>
            </Show>
            <form on:submit=submit>
                <label>
                    "Username"
                    <input
                        data-testid="login-username"
                        autocomplete="username"
                        prop:value=move || username.get()
                        on:input=move |ev| username.set(event_target_value(&ev))
                    />
                </label>
                <label>
                    "Password"
                    <input
                        data-testid="login-password"
                        type="password"
                        autocomplete="current-password"
                        prop:value=move || password.get()
                        on:input=move |ev| password.set(event_target_value(&ev))
                    />
                </label>
                <button data-testid="login-submit" type="submit" disabled=move || busy.get()>
                    "Sign in"
                </button>
            </form>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" role="alert" data-testid="login-error">{move || error.get().unwrap_or_default()}</p>
            </Show>
        </section>
    }
}

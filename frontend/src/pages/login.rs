use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api;
use crate::components::error_view::ActionError;
use crate::session::{home_of, mark_signed_in, use_session};

#[component]
pub fn LoginPage() -> impl IntoView {
    crate::app::page_title("Sign in");
    let session = use_session();
    // Whatever ended here, a later 401 must not claim a session this page did not start.
    mark_signed_in(false);
    let navigate = use_navigate();
    let query = use_query_map();
    let expired = move || query.with(|q| q.get("expired").is_some());
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());

    let login = Action::new_local(move |(username, password): &(String, String)| {
        let (username, password) = (username.clone(), password.clone());
        let navigate = navigate.clone();
        async move {
            let response = api::login(username, password).await?;
            let home = home_of(response.user.role);
            session.signed_in(response.user);
            navigate(home, Default::default());
            Ok(())
        }
    });
    let failed = Signal::derive(move || login.value().get().and_then(Result::err));

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        login.dispatch((username.get_untracked(), password.get_untracked()));
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
                <button data-testid="login-submit" type="submit" disabled=move || login.pending().get()>
                    "Sign in"
                </button>
            </form>
            <ActionError error=failed testid="login-error" unauthorized_is_an_answer=true/>
        </section>
    }
}

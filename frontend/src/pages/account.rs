//! `/account`: the signed-in person's own password, for admins and customers alike.

use leptos::prelude::*;

use crate::api::{self, ApiError};
use crate::components::error_view::ActionError;

#[component]
pub fn AccountPage() -> impl IntoView {
    crate::app::page_title("Account");
    let session = crate::session::use_session();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let repeated = RwSignal::new(String::new());
    let change = Action::new_local(move |(current, new, repeated): &(String, String, String)| {
        let (current, new, repeated) = (current.clone(), new.clone(), repeated.clone());
        async move {
            if new != repeated {
                return Err(ApiError::local("The two new passwords differ."));
            }
            api::change_password(current, new).await
        }
    });
    let changed = move || matches!(change.value().get(), Some(Ok(())));
    let failed = Signal::derive(move || change.value().get().and_then(Result::err));
    // A success empties the form: nothing secret stays in it.
    Effect::new(move || {
        if changed() {
            for field in [current, new, repeated] {
                field.set(String::new());
            }
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        change.dispatch((
            current.get_untracked(),
            new.get_untracked(),
            repeated.get_untracked(),
        ));
    };
    let field = move |signal: RwSignal<String>,
                      label: &'static str,
                      testid: &'static str,
                      autocomplete: &'static str| {
        view! {
            <label>
                {label}
                <input
                    data-testid=testid
                    type="password"
                    autocomplete=autocomplete
                    prop:value=move || signal.get()
                    on:input=move |ev| signal.set(event_target_value(&ev))
                />
            </label>
        }
    };
    view! {
        <h1>"Account"</h1>
        <p class="hint">
            {move || session.user().map(|u| format!("Signed in as {} ({}).", u.username, u.role.as_str()))}
        </p>
        <form class="card narrow-left" on:submit=submit data-testid="password-form">
            <h2>"Change your password"</h2>
            <p class="hint">"At least 12 characters. Your other sessions are signed out; this one stays."</p>
            {field(current, "Current password", "current-password", "current-password")}
            {field(new, "New password", "new-password", "new-password")}
            {field(repeated, "New password again", "repeat-password", "new-password")}
            <button type="submit" data-testid="change-password" disabled=move || change.pending().get()>
                "Change password"
            </button>
            <Show when=changed>
                <p class="notice" role="status" data-testid="password-changed">
                    "Your password was changed; your other sessions were signed out."
                </p>
            </Show>
            <ActionError error=failed testid="password-error"/>
        </form>
    }
}

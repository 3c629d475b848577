//! The License card of the seed page: masked key with reveal and copy, status, installed
//! version, last heartbeat, grace expiry, and the three actions behind confirmations.

use leptos::prelude::*;
use leptos::task::spawn_local;
use pulsekey_types::{LicenseStatus, ServerView};

use crate::api::{self, LicenseAction};
use crate::components::status_badge::StatusBadge;
use crate::session::on_error;
use crate::time_fmt;

/// Which confirmation is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Regenerate,
    Revoke,
    Reinstate,
}

impl Pending {
    fn explanation(self) -> &'static str {
        match self {
            Self::Regenerate => {
                "A new key replaces this one now. The proxy using the old key is refused at its next \
                 heartbeat and stops itself until the customer installs the new config.json."
            }
            Self::Revoke => {
                "The license enters its grace period: the proxy keeps running and the customer sees a \
                 banner. When the grace period ends, the proxy stops at its next heartbeat."
            }
            Self::Reinstate => {
                "The license becomes ACTIVE again; the proxy resumes within one heartbeat interval."
            }
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Regenerate => "Regenerate the license key?",
            Self::Revoke => "Revoke this license?",
            Self::Reinstate => "Reinstate this license?",
        }
    }
}

#[component]
pub fn LicenseCard(server: ServerView) -> impl IntoView {
    let server_id = server.id;
    let license = RwSignal::new(server.license);
    let revealed = RwSignal::new(None::<String>);
    let pending = RwSignal::new(None::<Pending>);
    let grace_days = RwSignal::new(String::from("5"));
    let error = RwSignal::new(None::<String>);
    let notice = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let status = Signal::derive(move || license.with(|l| l.status));

    let toggle_reveal = move |_| {
        if revealed.get_untracked().is_some() {
            revealed.set(None);
            return;
        }
        spawn_local(async move {
            match api::reveal(server_id).await {
                Ok(key) => revealed.set(Some(key)),
                Err(err) => {
                    on_error(&err);
                    error.set(Some(err.message));
                }
            }
        });
    };

    let copy = move |_| {
        spawn_local(async move {
            let key = match revealed.get_untracked() {
                Some(key) => key,
                None => match api::reveal(server_id).await {
                    Ok(key) => key,
                    Err(err) => {
                        on_error(&err);
                        error.set(Some(err.message));
                        return;
                    }
                },
            };
            let Some(window) = web_sys::window() else {
                return;
            };
            let promise = window.navigator().clipboard().write_text(&key);
            match wasm_bindgen_futures::JsFuture::from(promise).await {
                Ok(_) => notice.set(Some("Key copied to the clipboard".into())),
                Err(_) => error.set(Some("The browser refused clipboard access".into())),
            }
        });
    };

    let confirm = move |_| {
        let Some(which) = pending.get_untracked() else {
            return;
        };
        let action = match which {
            Pending::Regenerate => LicenseAction::Regenerate,
            Pending::Reinstate => LicenseAction::Reinstate,
            Pending::Revoke => match grace_days.get_untracked().trim().parse::<i64>() {
                Ok(days) if (1..=365).contains(&days) => LicenseAction::Revoke { grace_days: days },
                _ => {
                    error.set(Some(
                        "Grace days must be a whole number from 1 to 365".into(),
                    ));
                    return;
                }
            },
        };
        busy.set(true);
        spawn_local(async move {
            match api::license_action(server_id, action).await {
                Ok(view) => {
                    license.set(view);
                    revealed.set(None);
                    pending.set(None);
                    error.set(None);
                    notice.set(Some(match which {
                        Pending::Regenerate => "A new key was issued".into(),
                        Pending::Revoke => "The license is in its grace period".into(),
                        Pending::Reinstate => "The license is active again".into(),
                    }));
                }
                Err(err) => {
                    on_error(&err);
                    error.set(Some(err.message));
                }
            }
            busy.set(false);
        });
    };

    view! {
        <section class="card license-card" data-testid="license-card" data-server-id=server_id>
            <h3>{format!("License — {}", server.name)}</h3>
            <dl>
                <dt>"License key"</dt>
                <dd class="key-row">
                    <code data-testid="license-key">
                        {move || revealed.get().unwrap_or_else(|| license.with(|l| l.key_masked.clone()))}
                    </code>
                    <button
                        data-testid="reveal-key"
                        class="icon"
                        title=move || if revealed.with(Option::is_some) { "Hide the key" } else { "Reveal the key" }
                        on:click=toggle_reveal
                    >
                        {move || if revealed.with(Option::is_some) { "Hide" } else { "Reveal" }}
                    </button>
                    <button data-testid="copy-key" class="icon" title="Copy the key" on:click=copy>
                        "Copy"
                    </button>
                </dd>
                <dt>"Status"</dt>
                <dd>
                    <StatusBadge status=status/>
                </dd>
                <dt>"Installed version"</dt>
                <dd data-testid="installed-version">
                    {move || license.with(|l| l.installed_version.clone().unwrap_or_else(|| "—".into()))}
                </dd>
                <dt>"Last heartbeat"</dt>
                <dd data-testid="last-heartbeat">{move || time_fmt::heartbeat(license.with(|l| l.last_heartbeat_at))}</dd>
                <Show when=move || status.get() == LicenseStatus::Grace>
                    <dt>"Grace expires"</dt>
                    <dd data-testid="grace-expires">
                        {move || license.with(|l| l.grace_expires_at.map(time_fmt::local).unwrap_or_default())}
                    </dd>
                </Show>
            </dl>
            <div class="actions">
                <button data-testid="regenerate-key" on:click=move |_| pending.set(Some(Pending::Regenerate))>
                    "Regenerate"
                </button>
                <button
                    data-testid="revoke-license"
                    disabled=move || status.get() != LicenseStatus::Active
                    on:click=move |_| pending.set(Some(Pending::Revoke))
                >
                    "Revoke"
                </button>
                <button
                    data-testid="reinstate-license"
                    disabled=move || status.get() == LicenseStatus::Active
                    on:click=move |_| pending.set(Some(Pending::Reinstate))
                >
                    "Reinstate"
                </button>
            </div>
            <Show when=move || notice.with(Option::is_some)>
                <p class="notice" data-testid="card-notice">{move || notice.get().unwrap_or_default()}</p>
            </Show>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" role="alert" data-testid="card-error">{move || error.get().unwrap_or_default()}</p>
            </Show>
            <Show when=move || pending.with(Option::is_some)>
                <div class="dialog" role="dialog" data-testid="confirm-dialog">
                    <h4>{move || pending.get().map(Pending::title).unwrap_or_default()}</h4>
                    <p>{move || pending.get().map(Pending::explanation).unwrap_or_default()}</p>
                    <Show when=move || pending.get() == Some(Pending::Revoke)>
                        <label>
                            "Grace days "
                            <input
                                data-testid="grace-days"
                                type="number"
                                min="1"
                                max="365"
                                prop:value=move || grace_days.get()
                                on:input=move |ev| grace_days.set(event_target_value(&ev))
                            />
                        </label>
                    </Show>
                    <div class="actions">
                        <button data-testid="confirm-action" disabled=move || busy.get() on:click=confirm>
                            "Confirm"
                        </button>
                        <button data-testid="cancel-action" on:click=move |_| pending.set(None)>
                            "Cancel"
                        </button>
                    </div>
                </div>
            </Show>
        </section>
    }
}

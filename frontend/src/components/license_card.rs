//! The License card of the seed page: masked key with reveal and copy, status, connection,
//! installed version, last heartbeat, grace expiry, the three license actions behind
//! confirmations, and the server's own: rename, delete, its recent events.

use std::future::Future;

use leptos::prelude::*;
use pulsekey_types::{
    Connection, LicenseStatus, ServerEvent, ServerEventPage, ServerView, SettingsView,
};

use crate::api::{self, ApiError, LicenseAction};
use crate::components::error_view::{ActionError, Loaded};
use crate::components::icons::{ClipboardIcon, EyeIcon, EyeOffIcon};
use crate::components::status_badge::StatusBadge;
use crate::time_fmt;

/// Which confirmation is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Regenerate,
    Revoke,
    Reinstate,
    Delete,
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
            Self::Delete => {
                "The server and its license are deleted now. Its proxy is refused at its next \
                 heartbeat and stops itself; the audit log keeps the record. This cannot be undone."
            }
        }
    }

    /// The question, naming the server and its customer.
    fn title(self, server: &str, owner: &str) -> String {
        match self {
            Self::Regenerate => format!("Regenerate the key of {server} ({owner})?"),
            Self::Revoke => format!("Revoke the license of {server} ({owner})?"),
            Self::Reinstate => format!("Reinstate the license of {server} ({owner})?"),
            Self::Delete => format!("Delete {server} ({owner})?"),
        }
    }

    /// The confirm button: what happens, in a word or two.
    fn verb(self) -> &'static str {
        match self {
            Self::Regenerate => "Regenerate key",
            Self::Revoke => "Revoke license",
            Self::Reinstate => "Reinstate license",
            Self::Delete => "Delete server",
        }
    }

    /// Whether the action stops a customer's service (styled as dangerous).
    fn destructive(self) -> bool {
        self != Self::Reinstate
    }

    fn done(self) -> &'static str {
        match self {
            Self::Regenerate => "A new key was issued",
            Self::Revoke => "The license is in its grace period",
            Self::Reinstate => "The license is active again",
            Self::Delete => "The server was deleted",
        }
    }
}

/// What the card's last action said: something to tell (or nothing), or why it failed.
/// One at a time, so a success never shows beside an older error.
type Outcome = Option<Result<Option<&'static str>, ApiError>>;

/// An action of the card: it runs `run` and leaves its outcome in `outcome`.
fn card_action<I, F, Fu>(outcome: RwSignal<Outcome>, run: F) -> Action<I, ()>
where
    I: 'static,
    F: Fn(&I) -> Fu + 'static,
    Fu: Future<Output = Result<Option<&'static str>, ApiError>> + 'static,
{
    Action::new_local(move |input: &I| {
        let run = run(input);
        async move {
            let result = run.await;
            let success = result.is_ok();
            outcome.set(Some(result));
            // A success is said, then goes; an error stays until the next action.
            if success {
                set_timeout(
                    move || {
                        if matches!(outcome.get_untracked(), Some(Ok(_))) {
                            outcome.set(None);
                        }
                    },
                    NOTICE_SHOWN_FOR,
                );
            }
        }
    })
}

const NOTICE_SHOWN_FOR: std::time::Duration = std::time::Duration::from_secs(6);

#[component]
pub fn LicenseCard(
    server: ServerView,
    /// The server's grace window: the revoke dialog's default and range.
    settings: SettingsView,
    /// The customer's username, named in confirmations.
    owner: String,
    /// Called with the server's name once it has been deleted, so that the list around it
    /// reloads and says so.
    #[prop(into)]
    on_deleted: Callback<String>,
) -> impl IntoView {
    let server_id = server.id;
    let name = RwSignal::new(server.name.clone());
    let renaming = RwSignal::new(None::<String>);
    let license = RwSignal::new(server.license);
    let revealed = RwSignal::new(None::<String>);
    let pending = RwSignal::new(None::<Pending>);
    let grace_days = RwSignal::new(settings.grace_days_default.to_string());
    let outcome = RwSignal::<Outcome>::new(None);
    let status = Signal::derive(move || license.with(|l| l.status));
    let live = crate::live::use_live();
    // The warning near the top and the list at the bottom, kept current.
    let events = LocalResource::new(move || {
        live.track();
        api::server_events(server_id, 20)
    });
    let dialog = NodeRef::<leptos::html::Dialog>::new();

    let reveal = card_action(outcome, move |_: &()| async move {
        revealed.set(Some(api::reveal(server_id).await?));
        Ok(None)
    });
    let copy = card_action(outcome, move |_: &()| async move {
        let key = match revealed.get_untracked() {
            Some(key) => key,
            None => api::reveal(server_id).await?,
        };
        let refused = || ApiError::local("The browser refused clipboard access");
        let window = web_sys::window().ok_or_else(refused)?;
        let promise = window.navigator().clipboard().write_text(&key);
        wasm_bindgen_futures::JsFuture::from(promise)
            .await
            .map_err(|_| refused())?;
        Ok(Some("Key copied to the clipboard"))
    });
    let change = card_action(
        outcome,
        move |&(which, action): &(Pending, LicenseAction)| async move {
            license.set(api::license_action(server_id, action).await?);
            revealed.set(None);
            pending.set(None);
            Ok(Some(which.done()))
        },
    );
    let rename = card_action(outcome, move |typed: &String| {
        let typed = typed.clone();
        async move {
            name.set(api::rename_server(server_id, typed).await?.name);
            renaming.set(None);
            Ok(Some("The server was renamed"))
        }
    });
    let delete = card_action(outcome, move |_: &()| async move {
        api::delete_server(server_id).await?;
        pending.set(None);
        // The card goes with its server: the list tells what happened.
        on_deleted.run(name.get_untracked());
        Ok(None)
    });
    let busy = move || {
        reveal.pending().get()
            || copy.pending().get()
            || change.pending().get()
            || rename.pending().get()
            || delete.pending().get()
    };

    // The card follows the server while it is open (heartbeats, another admin's action),
    // but never under an open confirmation or a running action.
    Effect::new(move || {
        if live.refreshes() == 0 || pending.with_untracked(Option::is_some) || busy() {
            return;
        }
        leptos::task::spawn_local(async move {
            if let Ok(fresh) = api::get_server(server_id).await
                && pending.with_untracked(Option::is_none)
            {
                license.set(fresh.license);
                if renaming.with_untracked(Option::is_none) {
                    name.set(fresh.name);
                }
            }
        });
    });
    // The confirmation is a modal <dialog>: focus moves into it, Escape cancels, and focus
    // goes back to the button that opened it when it closes.
    Effect::new(move || {
        let open = pending.with(Option::is_some);
        if let Some(element) = dialog.get() {
            if open && !element.open() {
                let _ = element.show_modal();
            } else if !open && element.open() {
                element.close();
            }
        }
    });

    let toggle_reveal = move |_| {
        if revealed.get_untracked().is_some() {
            revealed.set(None);
        } else {
            reveal.dispatch(());
        }
    };

    let (min_days, max_days) = (settings.grace_days_min, settings.grace_days_max);
    let confirm = move |_| {
        let Some(which) = pending.get_untracked() else {
            return;
        };
        let action = match which {
            Pending::Delete => {
                delete.dispatch(());
                return;
            }
            Pending::Regenerate => LicenseAction::Regenerate,
            Pending::Reinstate => LicenseAction::Reinstate,
            Pending::Revoke => match grace_days.get_untracked().trim().parse::<i64>() {
                Ok(days) if (min_days..=max_days).contains(&days) => {
                    LicenseAction::Revoke { grace_days: days }
                }
                _ => {
                    outcome.set(Some(Err(ApiError::local(format!(
                        "Grace days must be a whole number from {min_days} to {max_days}"
                    )))));
                    return;
                }
            },
        };
        change.dispatch((which, action));
    };
    let notice = move || outcome.get().and_then(Result::ok).flatten();
    let failed = Signal::derive(move || outcome.get().and_then(Result::err));

    view! {
        <section class="card license-card" data-testid="license-card" data-server-id=server_id>
            <h3 data-testid="server-name-heading">{move || format!("License — {}", name.get())}</h3>
            <Transition>
                {move || Suspend::new(async move { events.await.ok().and_then(|page| old_key_warning(&page.items)) })}
            </Transition>
            {move || match renaming.get() {
                None => {
                    view! {
                        <div class="actions card-tools">
                            <button
                                class="icon"
                                data-testid="rename-server"
                                on:click=move |_| renaming.set(Some(name.get_untracked()))
                            >
                                "Rename"
                            </button>
                            <button
                                class="icon"
                                data-testid="delete-server"
                                on:click=move |_| pending.set(Some(Pending::Delete))
                            >
                                "Delete"
                            </button>
                        </div>
                    }
                        .into_any()
                }
                Some(_) => {
                    view! {
                        <form
                            class="actions card-tools"
                            on:submit=move |ev| {
                                ev.prevent_default();
                                rename.dispatch(renaming.get_untracked().unwrap_or_default());
                            }
                        >
                            <label>
                                "New name"
                                <input
                                    data-testid="rename-input"
                                    prop:value=move || renaming.get().unwrap_or_default()
                                    on:input=move |ev| renaming.set(Some(event_target_value(&ev)))
                                />
                            </label>
                            <button type="submit" data-testid="rename-save" disabled=busy>"Save"</button>
                            <button type="button" class="icon" on:click=move |_| renaming.set(None)>"Cancel"</button>
                        </form>
                    }
                        .into_any()
                }
            }}
            <dl>
                <dt>"License key"</dt>
                <dd class="key-row">
                    <code data-testid="license-key">
                        {move || revealed.get().unwrap_or_else(|| license.with(|l| l.key_masked.clone()))}
                    </code>
                    <button
                        data-testid="reveal-key"
                        class="icon"
                        aria-label=move || if revealed.with(Option::is_some) { "Hide the key" } else { "Reveal the key" }
                        title=move || if revealed.with(Option::is_some) { "Hide the key" } else { "Reveal the key" }
                        on:click=toggle_reveal
                    >
                        {move || if revealed.with(Option::is_some) { view! { <EyeOffIcon/> }.into_any() } else { view! { <EyeIcon/> }.into_any() }}
                    </button>
                    <button
                        data-testid="copy-key"
                        class="icon"
                        aria-label="Copy the key"
                        title="Copy the key"
                        on:click=move |_| {
                            copy.dispatch(());
                        }
                    >
                        <ClipboardIcon/>
                    </button>
                </dd>
                <dt>"Status"</dt>
                <dd>
                    <StatusBadge status=status/>
                </dd>
                <dt>"Connection"</dt>
                <dd data-testid="connection">{move || license.with(|l| connection_text(l.connection))}</dd>
                <dt>"Installed version"</dt>
                <dd data-testid="installed-version">
                    {move || license.with(|l| l.installed_version.clone().unwrap_or_else(|| "—".into()))}
                </dd>
                <dt>"Last heartbeat"</dt>
                <dd data-testid="last-heartbeat">
                    {move || time_fmt::heartbeat(license.with(|l| l.last_heartbeat_at), live.now_ms.get())}
                </dd>
                <Show when=move || status.get() == LicenseStatus::Grace>
                    <dt>"Grace expires"</dt>
                    <dd data-testid="grace-expires">
                        {move || license.with(|l| l.grace_expires_at.map(time_fmt::local).unwrap_or_default())}
                    </dd>
                </Show>
                <Show when=move || license.with(|l| l.expired_at.is_some())>
                    <dt>"Expired"</dt>
                    <dd data-testid="expired-at">
                        {move || license.with(|l| l.expired_at.map(time_fmt::local).unwrap_or_default())}
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
            <RecentEvents events/>
            <p class="notice toast" role="status" aria-live="polite" data-testid="card-notice">
                {move || notice().unwrap_or_default()}
            </p>
            <ActionError error=failed testid="card-error"/>
            <dialog
                class="dialog"
                node_ref=dialog
                data-testid="confirm-dialog"
                aria-labelledby=format!("confirm-title-{server_id}")
                aria-describedby=format!("confirm-text-{server_id}")
                on:close=move |_| pending.set(None)
            >
                <h4 id=format!("confirm-title-{server_id}")>
                    {move || pending.get().map(|p| p.title(&name.get(), &owner)).unwrap_or_default()}
                </h4>
                <p id=format!("confirm-text-{server_id}")>{move || pending.get().map(Pending::explanation).unwrap_or_default()}</p>
                <Show when=move || pending.get() == Some(Pending::Revoke)>
                    <label>
                        "Grace days "
                        <input
                            data-testid="grace-days"
                            type="number"
                            min=min_days
                            max=max_days
                            prop:value=move || grace_days.get()
                            on:input=move |ev| grace_days.set(event_target_value(&ev))
                        />
                    </label>
                </Show>
                <div class="actions">
                    <button
                        data-testid="confirm-action"
                        class:danger=move || pending.get().is_some_and(Pending::destructive)
                        disabled=busy
                        on:click=confirm
                    >
                        {move || pending.get().map(Pending::verb).unwrap_or("Confirm")}
                    </button>
                    <button class="secondary" data-testid="cancel-action" on:click=move |_| pending.set(None)>
                        "Cancel"
                    </button>
                </div>
            </dialog>
        </section>
    }
}

fn connection_text(connection: Connection) -> &'static str {
    match connection {
        Connection::Online => "online: heard from within two heartbeat intervals",
        Connection::Late => "late: no heartbeat for more than two intervals",
        Connection::Offline => "offline: no heartbeat for more than ten intervals",
        Connection::Never => "never seen: no heartbeat yet",
    }
}

/// One event as a person reads it.
fn event_text(event: &ServerEvent) -> String {
    let field = |name: &str| event.data[name].as_str().unwrap_or("?").to_owned();
    match event.kind.as_str() {
        "version_changed" => format!("version {} → {}", field("from"), field("to")),
        "address_changed" => format!("address {} → {}", field("from"), field("to")),
        "came_online" => "came online".to_owned(),
        "went_offline" => "went offline: no heartbeat for ten intervals".to_owned(),
        "old_key_used" => format!(
            "a regenerated key (…{}) called from {}",
            field("keyLast4"),
            field("ip")
        ),
        other => other.replace('_', " "),
    }
}

/// The server's newest events.
#[component]
fn RecentEvents(events: LocalResource<Result<ServerEventPage, ApiError>>) -> impl IntoView {
    view! {
        <h4>"Recent events"</h4>
        <Loaded>
            {move || Suspend::new(async move {
                events
                    .await
                    .map(|page| {
                        if page.items.is_empty() {
                            view! { <p class="hint" data-testid="server-events">"Nothing has happened to this installation yet."</p> }.into_any()
                        } else {
                            view! {
                                <ul data-testid="server-events">
                                    {page
                                        .items
                                        .iter()
                                        .take(5)
                                        .map(|event| {
                                            view! {
                                                <li>{format!("{} — {}", time_fmt::local(event.at), event_text(event))}</li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                            }
                                .into_any()
                        }
                    })
            })}
        </Loaded>
    }
}

/// Support's first question when "the proxy keeps stopping": is it still calling with the
/// key it had before a regenerate? (Each node reports that at most once an hour.)
fn old_key_warning(events: &[ServerEvent]) -> Option<impl IntoView + use<>> {
    let used = events.iter().find(|e| e.kind == "old_key_used")?;
    let age_secs = (js_sys::Date::now() / 1000.0) as i64 - used.at.unix_timestamp();
    if age_secs > 70 * 60 {
        return None;
    }
    let ip = used.data["ip"]
        .as_str()
        .unwrap_or("an unknown address")
        .to_owned();
    let last4 = used.data["keyLast4"].as_str().unwrap_or("????").to_owned();
    Some(view! {
        <p class="warning" role="status" data-testid="old-key-warning">
            {format!(
                "An old key (…{last4}) is still calling: last at {} from {ip}. The customer has not re-run Install since the key was regenerated, so that proxy is refused.",
                time_fmt::local(used.at)
            )}
        </p>
    })
}

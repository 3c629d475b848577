//! `/admin/webhooks`: the endpoints that hear what happens, each with its health, its latest
//! deliveries and what an admin can do about them.

use leptos::prelude::*;
use pulsekey_types::{
    CreateWebhookRequest, DeliveryState, UpdateWebhookRequest, WebhookAttempt, WebhookEventType,
    WebhookEvents, WebhookView,
};

use crate::api::{self, ApiError};
use crate::components::error_view::{ActionError, Loaded};
use crate::components::icons::ClipboardIcon;
use crate::time_fmt;

/// How many of an endpoint's latest attempts its card shows.
const ATTEMPTS_SHOWN: u32 = 10;

/// What the page keeps across the list's refreshes, which rebuild a card whose endpoint
/// changed.
#[derive(Debug, Clone, Copy)]
struct PageState {
    /// Bumped by every change made here, so the list follows at once rather than at the
    /// next refresh.
    changed: RwSignal<u32>,
    /// A secret being shown, and whose (`None`: the endpoint just added).
    secret: RwSignal<Option<(Option<i64>, String)>>,
    /// The outcome of the last change, and the endpoint it was made to (`None`: one that
    /// is gone).
    notice: RwSignal<Option<(Option<i64>, String)>>,
}

impl PageState {
    fn list_changed(&self) {
        self.changed.update(|n| *n += 1);
    }
}

/// A card is rebuilt when its endpoint changed, and only then: an open confirmation, and
/// the deliveries on screen, stay through a refresh that changed nothing.
fn card_key(webhook: &WebhookView) -> String {
    serde_json::to_string(webhook).unwrap_or_default()
}

#[component]
pub fn WebhooksPage() -> impl IntoView {
    crate::app::page_title("Webhooks");
    let live = crate::live::use_live();
    let page = PageState {
        changed: RwSignal::new(0),
        secret: RwSignal::new(None),
        notice: RwSignal::new(None),
    };
    let webhooks = LocalResource::new(move || {
        live.track();
        page.changed.track();
        api::list_webhooks()
    });
    let cards = move || {
        webhooks
            .get()
            .and_then(Result::ok)
            .map(|list| list.items)
            .unwrap_or_default()
    };
    view! {
        <h1>"Webhooks"</h1>
        <p class="hint">
            "Each event is signed as Standard Webhooks defines it and sent until the endpoint answers 2xx: "
            "again after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 24 h and 24 h. "
            "An endpoint that fails for 3 days is disabled; enabling it sends what waited."
        </p>
        <NewWebhook page/>
        {move || {
            page.notice
                .get()
                .filter(|(whose, _)| whose.is_none())
                .map(|(_, text)| view! { <p class="notice" role="status" data-testid="webhooks-notice">{text}</p> })
        }}
        <Loaded>
            {move || Suspend::new(async move {
                webhooks
                    .await
                    .map(|list| {
                        list.items.is_empty().then(|| {
                            view! {
                                <p class="empty" data-testid="no-webhooks">
                                    "No endpoints yet. Add one to hear about license actions and servers going dark."
                                </p>
                            }
                        })
                    })
            })}
        </Loaded>
        <For each=cards key=card_key let:webhook>
            <WebhookCard webhook page/>
        </For>
    }
}

/// The signing secret the API gave `owner` (`None`: the endpoint just added), shown this
/// once with a copy button, until the admin says it is saved.
#[component]
fn SecretShownOnce(page: PageState, owner: Option<i64>) -> impl IntoView {
    let secret = page.secret;
    let mine = move || {
        secret
            .get()
            .filter(|(whose, _)| *whose == owner)
            .map(|(_, text)| text)
    };
    let copied = RwSignal::new(None::<&'static str>);
    let copy = move |_| {
        let Some(text) = mine() else {
            return;
        };
        let promise = window().navigator().clipboard().write_text(&text);
        leptos::task::spawn_local(async move {
            let done = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
            copied.set(Some(if done {
                "Copied to the clipboard"
            } else {
                "The browser refused clipboard access; select the secret and copy it"
            }));
        });
    };
    move || {
        mine().map(|text| {
            view! {
                <div class="banner banner-grace" role="status">
                    <p>
                        "The signing secret, shown this once. Give it to the receiver now: pulsekey keeps it sealed and cannot show it again."
                    </p>
                    <p class="actions">
                        <code data-testid="webhook-secret">{text}</code>
                        <button class="icon" data-testid="copy-webhook-secret" aria-label="Copy the secret" on:click=copy>
                            <ClipboardIcon/>
                        </button>
                    </p>
                    {move || copied.get().map(|text| view! { <p class="notice">{text}</p> })}
                    <button
                        data-testid="secret-saved"
                        on:click=move |_| {
                            secret.set(None);
                            copied.set(None);
                        }
                    >
                        "I have saved it"
                    </button>
                </div>
            }
        })
    }
}

/// "Add an endpoint": its address, what it hears, then its secret.
#[component]
fn NewWebhook(page: PageState) -> impl IntoView {
    let url = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let all = RwSignal::new(true);
    let chosen = RwSignal::new(Vec::<WebhookEventType>::new());
    let create = Action::new_local(move |request: &CreateWebhookRequest| {
        let request = request.clone();
        async move {
            let created = api::create_webhook(request).await?;
            url.set(String::new());
            description.set(String::new());
            all.set(true);
            chosen.set(Vec::new());
            page.secret.set(Some((None, created.secret)));
            page.list_changed();
            Ok::<_, ApiError>(())
        }
    });
    let failed = Signal::derive(move || create.value().get().and_then(Result::err));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let events = if all.get_untracked() {
            WebhookEvents::All
        } else {
            WebhookEvents::Only(chosen.get_untracked())
        };
        create.dispatch(CreateWebhookRequest {
            url: url.get_untracked().trim().to_owned(),
            description: description.get_untracked().trim().to_owned(),
            events,
            enabled: true,
        });
    };
    let toggle = move |event: WebhookEventType, on: bool| {
        chosen.update(|types| {
            types.retain(|t| *t != event);
            if on {
                types.push(event);
                types.sort();
            }
        })
    };
    view! {
        <details class="card" data-testid="new-webhook">
            <summary>"Add an endpoint"</summary>
            <form on:submit=submit>
                <div class="filters">
                    <label>
                        "URL"
                        <input
                            data-testid="new-webhook-url"
                            type="url"
                            required=true
                            placeholder="https://billing.example.com/hooks/pulsekey"
                            prop:value=move || url.get()
                            on:input=move |ev| url.set(event_target_value(&ev))
                        />
                    </label>
                    <label>
                        "Description"
                        <input
                            data-testid="new-webhook-description"
                            type="text"
                            maxlength="200"
                            prop:value=move || description.get()
                            on:input=move |ev| description.set(event_target_value(&ev))
                        />
                    </label>
                </div>
                <fieldset class="events">
                    <legend>"Events"</legend>
                    <label class="inline">
                        <input
                            type="checkbox"
                            data-testid="new-webhook-all"
                            prop:checked=move || all.get()
                            on:change=move |ev| all.set(event_target_checked(&ev))
                        />
                        "All, and those added in later versions"
                    </label>
                    {WebhookEventType::SUBSCRIBABLE
                        .into_iter()
                        .map(|event| {
                            view! {
                                <label class="inline">
                                    <input
                                        type="checkbox"
                                        data-testid=format!("new-webhook-event-{}", event.as_str())
                                        disabled=move || all.get()
                                        prop:checked=move || all.get() || chosen.with(|c| c.contains(&event))
                                        on:change=move |ev| toggle(event, event_target_checked(&ev))
                                    />
                                    <code>{event.as_str()}</code>
                                </label>
                            }
                        })
                        .collect_view()}
                </fieldset>
                <button type="submit" data-testid="create-webhook" disabled=move || create.pending().get()>
                    "Add endpoint"
                </button>
            </form>
            <p class="hint">
                "The address must be public: private, loopback and link-local addresses are refused unless the operator allows them."
            </p>
            <ActionError error=failed testid="new-webhook-error"/>
            <SecretShownOnce page owner=None/>
        </details>
    }
}

/// How an endpoint is doing, in a few words.
fn health(webhook: &WebhookView, now_ms: f64) -> (&'static str, String) {
    match (
        &webhook.disabled_reason,
        webhook.enabled,
        webhook.failing_since,
    ) {
        (Some(_), _, _) => ("badge-expired", "Disabled by pulsekey".to_owned()),
        (None, false, _) => ("badge-grace", "Paused".to_owned()),
        (None, true, Some(since)) => (
            "badge-grace",
            format!("Failing (first failure {})", time_fmt::ago(since, now_ms)),
        ),
        (None, true, None) => ("badge-active", "Delivering".to_owned()),
    }
}

fn events_text(events: &WebhookEvents) -> String {
    match events {
        WebhookEvents::All => "all events".to_owned(),
        WebhookEvents::Only(types) => types
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// What an admin can do to an endpoint from its card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Test,
    Enable(bool),
    RotateSecret,
    Delete,
}

#[component]
fn WebhookCard(webhook: WebhookView, page: PageState) -> impl IntoView {
    let live = crate::live::use_live();
    let id = webhook.id;
    let confirm_delete = RwSignal::new(false);
    let refreshed = RwSignal::new(0u32);
    let attempts = LocalResource::new(move || {
        live.track();
        refreshed.track();
        api::webhook_deliveries(id, ATTEMPTS_SHOWN)
    });
    let title = if webhook.description.is_empty() {
        webhook.url.clone()
    } else {
        webhook.description.clone()
    };
    let change = Action::new_local({
        let title = title.clone();
        move |change: &Change| {
            let change = *change;
            let title = title.clone();
            async move {
                let done = match change {
                    Change::Test => {
                        api::test_webhook(id).await?;
                        refreshed.update(|n| *n += 1);
                        "A test event is on its way; its delivery appears below"
                    }
                    Change::Enable(on) => {
                        let changes = UpdateWebhookRequest {
                            enabled: Some(on),
                            ..Default::default()
                        };
                        api::update_webhook(id, changes).await?;
                        if on {
                            "Enabled: what waited is sent now"
                        } else {
                            "Paused"
                        }
                    }
                    Change::RotateSecret => {
                        let rotated = api::rotate_webhook_secret(id).await?;
                        page.secret.set(Some((Some(id), rotated.secret)));
                        "A new secret signs from now on; the old one signs beside it for 24 hours"
                    }
                    Change::Delete => {
                        api::delete_webhook(id).await?;
                        // The card goes with its endpoint: the page says what happened.
                        page.notice
                            .set(Some((None, format!("Deleted the endpoint {title}."))));
                        page.list_changed();
                        return Ok(());
                    }
                };
                page.notice.set(Some((Some(id), done.to_owned())));
                if matches!(change, Change::Enable(_)) {
                    page.list_changed();
                }
                Ok::<_, ApiError>(())
            }
        }
    });
    let failed = Signal::derive(move || change.value().get().and_then(Result::err));
    let busy = move || change.pending().get();
    let now = move || live.now_ms.get();
    let (badge, _) = health(&webhook, 0.0);
    let health_text = {
        let webhook = webhook.clone();
        move || health(&webhook, now()).1
    };
    let enabled = webhook.enabled;
    let label = title.clone();
    view! {
        <section class="card" data-testid="webhook" aria-label=label>
            <div class="card-head">
                <h2>{title}</h2>
                <span class=format!("badge {badge}") data-testid="webhook-health">{health_text}</span>
            </div>
            {webhook
                .disabled_reason
                .clone()
                .map(|reason| {
                    view! {
                        <p class="banner banner-expired" role="alert" data-testid="webhook-disabled-banner">
                            {format!("pulsekey disabled this endpoint: {reason}. ")}
                            "Its events wait; enable it once the receiver answers again and they are sent at once."
                        </p>
                    }
                })}
            <dl>
                <dt>"URL"</dt>
                <dd><code>{webhook.url.clone()}</code></dd>
                <dt>"Hears"</dt>
                <dd>{events_text(&webhook.events)}</dd>
                <dt>"Added"</dt>
                <dd>{time_fmt::local(webhook.created_at)}</dd>
            </dl>
            <div class="actions">
                <button data-testid="test-webhook" disabled=busy on:click=move |_| { change.dispatch(Change::Test); }>
                    "Send a test event"
                </button>
                {if enabled {
                    view! {
                        <button data-testid="disable-webhook" disabled=busy on:click=move |_| { change.dispatch(Change::Enable(false)); }>
                            "Pause"
                        </button>
                    }
                        .into_any()
                } else {
                    view! {
                        <button data-testid="enable-webhook" disabled=busy on:click=move |_| { change.dispatch(Change::Enable(true)); }>
                            "Enable"
                        </button>
                    }
                        .into_any()
                }}
                <button data-testid="rotate-webhook-secret" disabled=busy on:click=move |_| { change.dispatch(Change::RotateSecret); }>
                    "New secret"
                </button>
                <button class="danger" data-testid="delete-webhook" disabled=busy on:click=move |_| confirm_delete.set(true)>
                    "Delete"
                </button>
            </div>
            <Show when=move || confirm_delete.get()>
                <div class="banner banner-expired" role="alertdialog" aria-label="Delete this endpoint?">
                    <p>"Delete this endpoint? Its waiting deliveries are dropped and it hears nothing more. This cannot be undone."</p>
                    <div class="actions">
                        <button class="danger" data-testid="confirm-delete-webhook" disabled=busy on:click=move |_| { change.dispatch(Change::Delete); }>
                            "Delete endpoint"
                        </button>
                        <button on:click=move |_| confirm_delete.set(false)>"Cancel"</button>
                    </div>
                </div>
            </Show>
            {move || {
                page.notice
                    .get()
                    .filter(|(whose, _)| *whose == Some(id))
                    .map(|(_, text)| view! { <p class="notice" role="status">{text}</p> })
            }}
            <ActionError error=failed testid="webhook-error"/>
            <SecretShownOnce page owner=Some(id)/>
            <div class="card-head section-gap">
                <h3>"Latest deliveries"</h3>
                <button data-testid="refresh-deliveries" on:click=move |_| refreshed.update(|n| *n += 1)>
                    "Refresh"
                </button>
            </div>
            <Loaded>
                {move || Suspend::new(async move {
                    attempts
                        .await
                        .map(|page| {
                            if page.items.is_empty() {
                                return view! { <p class="empty">"Nothing sent yet."</p> }.into_any();
                            }
                            view! {
                                <table class="list">
                                    <thead>
                                        <tr>
                                            <th>"When"</th>
                                            <th>"Event"</th>
                                            <th>"Answer"</th>
                                            <th>"Delivery"</th>
                                            <th>"Retry"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {page
                                            .items
                                            .into_iter()
                                            .map(|attempt| view! { <AttemptRow webhook=id endpoint_enabled=enabled attempt refreshed/> })
                                            .collect_view()}
                                    </tbody>
                                </table>
                            }
                                .into_any()
                        })
                })}
            </Loaded>
        </section>
    }
}

/// What came back, or why nothing did.
fn answer(attempt: &WebhookAttempt) -> String {
    let ms = attempt.duration_ms;
    match (attempt.status_code, &attempt.error) {
        (Some(code), _) => format!("HTTP {code} in {ms} ms"),
        (None, Some(error)) => format!("{error} (after {ms} ms)"),
        (None, None) => format!("no answer (after {ms} ms)"),
    }
}

/// Where the attempt's delivery stands; `endpoint_enabled`: a disabled endpoint's
/// deliveries wait, however due.
fn state_text(attempt: &WebhookAttempt, endpoint_enabled: bool, now_ms: f64) -> String {
    match (attempt.state, attempt.next_attempt_at) {
        (DeliveryState::Delivered, _) => "delivered".to_owned(),
        (DeliveryState::Failed, _) => "failed: every retry used".to_owned(),
        (DeliveryState::Pending, _) if !endpoint_enabled => {
            "waiting for the endpoint to be enabled".to_owned()
        }
        (DeliveryState::Pending, Some(next)) => {
            let secs = ((next.unix_timestamp_nanos() / 1_000_000) as f64 - now_ms) / 1000.0;
            match secs as i64 {
                ..=0 => "retrying now".to_owned(),
                secs @ 1..=59 => format!("next try in {secs} s"),
                secs @ 60..=3599 => format!("next try in {} min", secs / 60),
                secs => format!("next try in {} h", secs / 3600),
            }
        }
        (DeliveryState::Pending, None) => "waiting for the endpoint to be enabled".to_owned(),
    }
}

#[component]
fn AttemptRow(
    webhook: i64,
    endpoint_enabled: bool,
    attempt: WebhookAttempt,
    refreshed: RwSignal<u32>,
) -> impl IntoView {
    let live = crate::live::use_live();
    let delivery = attempt.delivery_id;
    let retry = Action::new_local(move |_: &()| async move {
        api::retry_delivery(webhook, delivery).await?;
        refreshed.update(|n| *n += 1);
        Ok::<_, ApiError>(())
    });
    let failed = Signal::derive(move || retry.value().get().and_then(Result::err));
    let can_retry = endpoint_enabled && attempt.state != DeliveryState::Delivered;
    let head = attempt.response_head.clone();
    let state = {
        let attempt = attempt.clone();
        move || state_text(&attempt, endpoint_enabled, live.now_ms.get())
    };
    view! {
        <tr data-testid="webhook-delivery">
            <td data-label="When">{time_fmt::local(attempt.at)}</td>
            <td data-label="Event">
                <code>{attempt.event_type.as_str()}</code>
                <br/>
                <small class="hint">{attempt.event_id.clone()}</small>
            </td>
            <td data-label="Answer" data-testid="delivery-answer" title=head>
                {answer(&attempt)}
            </td>
            <td data-label="Delivery" data-testid="delivery-state">{state}</td>
            <td data-label="Retry">
                {can_retry
                    .then(|| {
                        view! {
                            <button
                                data-testid="retry-delivery"
                                disabled=move || retry.pending().get()
                                on:click=move |_| {
                                    retry.dispatch(());
                                }
                            >
                                "Send again"
                            </button>
                        }
                    })}
                <ActionError error=failed testid="retry-error"/>
            </td>
        </tr>
    }
}

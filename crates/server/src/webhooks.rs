//! Sending webhooks: the HTTP client that may reach only public addresses, one attempt at
//! a delivery, and the worker every node runs. What to send and when lives in
//! `pulsekey_core::webhooks`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pulsekey_core::audit::{self, Actor};
use pulsekey_core::crypto::DataKey;
use pulsekey_core::webhooks::{address, open_secret, schedule, signing};
use pulsekey_db::webhooks::{self as db, ClaimedDelivery};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::http::metrics::DeliveryResult;
use crate::http::state::SharedState;

/// How long an endpoint has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an answer is read (and kept, for the deliveries page).
pub const RESPONSE_HEAD_BYTES: usize = 2048;
/// Deliveries one node claims per round, at most.
const CLAIM_BATCH: usize = 64;
/// Attempts one node has open at once. A round claims only as many deliveries as there are
/// places free, so each starts at once (a claim must not lapse while its delivery waits its
/// turn, or another node would send it too); an endpoint that hangs holds its places for
/// the timeout, not the round, and the others' deliveries go on.
const IN_FLIGHT: usize = 128;
/// A claim outlives the longest attempt (the 10 s timeout, then its record); a node that
/// stops lets it lapse after this, and another node (or the same, restarted) sends it again.
const CLAIM_FOR: time::Duration = time::Duration::seconds(20);

/// Resolves an endpoint's host once and hands the client only the addresses allowed, so
/// the address checked is the address connected to (a name cannot resolve to a public
/// address for the check and a private one for the connection).
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addrs = resolve_allowed(name.as_str(), allow_private).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Why an endpoint's address is refused, in words for its owner.
#[derive(Debug, thiserror::Error)]
pub enum AddressRefused {
    #[error("{0} does not resolve")]
    Unresolved(String),
    #[error(
        "{0} resolves to a loopback, private, link-local or otherwise non-public address; \
         set PULSEKEY_WEBHOOK_ALLOW_PRIVATE=true to allow such receivers"
    )]
    NotPublic(String),
}

async fn resolve_allowed(
    host: &str,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, AddressRefused> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|_| AddressRefused::Unresolved(host.to_owned()))?
        .collect();
    if addrs.is_empty() {
        return Err(AddressRefused::Unresolved(host.to_owned()));
    }
    // Any one non-public answer refuses the name: picking the public ones would still let
    // a name that mixes them probe what answers.
    if !allow_private && addrs.iter().any(|a| !address::is_public(a.ip())) {
        return Err(AddressRefused::NotPublic(host.to_owned()));
    }
    Ok(addrs)
}

/// Whether `url` may be delivered to now: its literal address, or every address its name
/// resolves to, public (unless private ones are allowed).
pub async fn check_destination(url: &url::Url, allow_private: bool) -> Result<(), AddressRefused> {
    match address::literal_address(url) {
        Some(ip) if !allow_private && !address::is_public(ip) => {
            Err(AddressRefused::NotPublic(ip.to_string()))
        }
        Some(_) => Ok(()),
        None => {
            let host = url.host_str().unwrap_or_default();
            resolve_allowed(host, allow_private).await.map(|_| ())
        }
    }
}

/// The client every attempt uses: no redirects followed (a 3xx is a failure), no proxy
/// from the environment (it would connect where the checks did not look), a 10 s limit.
pub fn client(allow_private: bool) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .user_agent(concat!("pulsekey-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// What one attempt came to.
#[derive(Debug)]
pub struct Outcome {
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub response_head: String,
    pub duration: Duration,
}

impl Outcome {
    pub fn delivered(&self) -> bool {
        self.status_code
            .is_some_and(|code| (200..300).contains(&code))
    }
}

/// Sends one delivery, signed with every live secret of its endpoint.
pub async fn attempt(
    client: &reqwest::Client,
    data_key: &DataKey,
    delivery: &ClaimedDelivery,
    allow_private: bool,
) -> Outcome {
    let started = Instant::now();
    let failed = |error: String| Outcome {
        status_code: None,
        error: Some(error),
        response_head: String::new(),
        duration: started.elapsed(),
    };
    let url = match address::validate_url(&delivery.url) {
        Ok(url) => url,
        Err(err) => return failed(err.to_string()),
    };
    // A name is checked by the resolver as it connects; a literal address is not resolved.
    if let Some(ip) = address::literal_address(&url)
        && !allow_private
        && !address::is_public(ip)
    {
        return failed(AddressRefused::NotPublic(ip.to_string()).to_string());
    }
    let mut secrets = match open_secret(data_key, &delivery.secret_ciphertext) {
        Ok(secret) => vec![secret],
        Err(_) => return failed("the signing secret does not open with the data key".into()),
    };
    let now = time::OffsetDateTime::now_utc();
    if let (Some(previous), Some(until)) = (
        &delivery.previous_secret_ciphertext,
        delivery.previous_secret_expires_at,
    ) && pulsekey_db::from_stored(until) > now
        && let Ok(previous) = open_secret(data_key, previous)
    {
        secrets.push(previous);
    }
    let timestamp = now.unix_timestamp();
    let live: Vec<&signing::SigningSecret> = secrets.iter().collect();
    let signature =
        signing::signature_header(&live, &delivery.msg_id, timestamp, &delivery.payload);
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &delivery.msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.payload.clone())
        .send()
        .await;
    let mut response = match sent {
        Ok(response) => response,
        Err(err) => return failed(describe(&err)),
    };
    let status = response.status().as_u16();
    let mut head = Vec::new();
    // At most a few KiB of an answer is read, whatever it sends.
    while head.len() < RESPONSE_HEAD_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => head.extend_from_slice(&chunk),
            _ => break,
        }
    }
    head.truncate(RESPONSE_HEAD_BYTES);
    Outcome {
        status_code: Some(status),
        error: None,
        // PostgreSQL's text cannot hold NUL: a binary answer must not make its own record
        // fail (and the event be sent again and again).
        response_head: String::from_utf8_lossy(&head).replace('\0', "\u{fffd}"),
        duration: started.elapsed(),
    }
}

/// A failed request in words, without its URL (which may carry a token in its query).
fn describe(err: &reqwest::Error) -> String {
    use std::error::Error as _;
    if err.is_timeout() {
        return format!("no answer within {} s", TIMEOUT.as_secs());
    }
    let mut cause: Option<&dyn std::error::Error> = err.source();
    while let Some(inner) = cause {
        if let Some(refused) = inner.downcast_ref::<AddressRefused>() {
            return refused.to_string();
        }
        cause = inner.source();
    }
    if err.is_connect() {
        "could not connect".into()
    } else {
        "the request failed".into()
    }
}

/// Every node delivers: each round it claims what is due and starts each attempt on its
/// own task, which records the outcome. Once a minute it disables the endpoints that have
/// failed for too long.
pub fn spawn_worker(state: SharedState) {
    actix_web::rt::spawn(async move {
        let client = match client(state.config.webhook_allow_private) {
            Ok(client) => client,
            Err(err) => {
                tracing::error!(error = %err, "webhooks cannot be delivered: no HTTP client");
                return;
            }
        };
        let places = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        let mut last_disable_check: Option<Instant> = None;
        loop {
            let free = places.available_permits().min(CLAIM_BATCH);
            let claimed = round(&state, free).await;
            let count = claimed.len();
            for delivery in claimed {
                let Ok(place) = places.clone().acquire_owned().await else {
                    return; // never closed
                };
                let (state, client) = (state.clone(), client.clone());
                actix_web::rt::spawn(async move {
                    let allow_private = state.config.webhook_allow_private;
                    let outcome =
                        attempt(&client, &state.secrets.data_key, &delivery, allow_private).await;
                    record(&state, &delivery, &outcome).await;
                    drop(place);
                });
            }
            if last_disable_check.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                last_disable_check = Some(Instant::now());
                disable_failing(&state).await;
            }
            // A full batch means more may be due now.
            if count < CLAIM_BATCH {
                actix_web::rt::time::sleep(Duration::from_millis(250)).await;
            }
        }
    });
}

/// One round: relays new server events, then claims up to `free` deliveries that are due.
async fn round(state: &SharedState, free: usize) -> Vec<ClaimedDelivery> {
    let (db, interval) = (state.db.clone(), state.config.heartbeat_interval_secs);
    let relayed = actix_web::web::block(move || {
        pulsekey_core::webhooks::relay_server_events(&db, time::OffsetDateTime::now_utc(), interval)
    })
    .await;
    if let Ok(Err(err)) = relayed {
        tracing::warn!(error = %err, "server events could not be relayed to webhooks");
    }
    if free == 0 {
        return Vec::new();
    }
    let db = state.db.clone();
    let claimed = actix_web::web::block(move || {
        let now = time::OffsetDateTime::now_utc();
        if !db::any_due(&mut *db.conn()?, pulsekey_db::to_stored(now))? {
            return Ok(Vec::new());
        }
        db.transaction(|conn| {
            db::claim_due(
                conn,
                pulsekey_db::to_stored(now),
                pulsekey_db::to_stored(now + CLAIM_FOR),
                i64::try_from(free).unwrap_or(i64::MAX),
            )
        })
    })
    .await;
    match claimed {
        Ok(Ok(claimed)) => claimed,
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "webhook deliveries could not be claimed");
            Vec::new()
        }
        Err(_) => Vec::new(),
    }
}

async fn record(state: &SharedState, delivery: &ClaimedDelivery, outcome: &Outcome) {
    let delivered = outcome.delivered();
    state
        .metrics
        .webhook_delivery(match (delivered, outcome.status_code) {
            (true, _) => DeliveryResult::Delivered,
            (false, Some(_)) => DeliveryResult::Rejected,
            (false, None) => DeliveryResult::Unreachable,
        });
    let attempts = u32::try_from(delivery.attempts).unwrap_or(0) + 1;
    let now = time::OffsetDateTime::now_utc();
    let next = (!delivered)
        .then(|| schedule::retry_after(attempts, jitter()))
        .flatten()
        .map(|wait| pulsekey_db::to_stored(now + wait));
    let error = match (&outcome.error, outcome.status_code) {
        (Some(error), _) => Some(error.clone()),
        (None, Some(code)) if !delivered => Some(format!("answered {code}")),
        _ => None,
    };
    let (db, id, webhook_id, claim) = (
        state.db.clone(),
        delivery.id,
        delivery.webhook_id,
        delivery.claimed_until,
    );
    let (status_code, head, millis) = (
        outcome.status_code.map(i32::from),
        outcome.response_head.clone(),
        i64::try_from(outcome.duration.as_millis()).unwrap_or(i64::MAX),
    );
    let recorded = actix_web::web::block(move || {
        db.transaction(|conn| {
            db::record_attempt(
                conn,
                &db::AttemptForm {
                    delivery_id: id,
                    claimed_until: claim,
                    webhook_id,
                    at: pulsekey_db::to_stored(now),
                    status_code,
                    error: error.as_deref(),
                    duration_ms: millis,
                    response_head: &head,
                    delivered,
                    next_attempt_at: next,
                },
            )
        })
    })
    .await;
    match recorded {
        Ok(Ok(())) => tracing::debug!(
            delivery = id,
            webhook = webhook_id,
            delivered,
            "webhook attempt"
        ),
        // The claim lapses and another round tries again: at least once, not at most.
        Ok(Err(err)) => tracing::warn!(error = %err, delivery = id, "webhook attempt not recorded"),
        Err(_) => {}
    }
}

/// Spreads retries over a fifth of their wait (see `schedule::retry_after`).
fn jitter() -> f64 {
    let [byte] = pulsekey_core::crypto::random_bytes::<1>();
    f64::from(byte) / 256.0
}

async fn disable_failing(state: &SharedState) {
    let db = state.db.clone();
    let disabled = actix_web::web::block(move || {
        let now = time::OffsetDateTime::now_utc();
        let reason = format!(
            "every delivery failed for {} days",
            schedule::DISABLE_AFTER.whole_days()
        );
        audit::act(&db, &Actor::system(), |tx| {
            pulsekey_core::webhooks::disable_failing(tx, now, &reason)
        })
    })
    .await;
    match disabled {
        Ok(Ok(ids)) if !ids.is_empty() => {
            tracing::warn!(webhooks = ?ids, "webhooks disabled after failing")
        }
        Ok(Ok(_)) => {}
        Ok(Err(err)) => tracing::warn!(error = %err, "failing webhooks not checked"),
        Err(_) => {}
    }
}

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
use tokio::sync::mpsc;

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
/// How long an idle node waits before it looks for due deliveries again.
const ROUND_PAUSE: Duration = Duration::from_millis(250);
/// Attempts recorded in one transaction, at most.
const RECORD_BATCH: usize = 256;
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

/// Every node delivers: each round it claims what is due, as many as it has places for,
/// and starts each attempt on its own task; a recorder writes the outcomes in batches.
/// Once a minute it disables the endpoints that have failed for too long.
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
        let (finish, finished) = mpsc::unbounded_channel();
        actix_web::rt::spawn(recorder(state.clone(), finished));
        let mut last_disable_check: Option<Instant> = None;
        loop {
            // Places for a batch: half a batch at least, so a node at its limit claims in
            // batches rather than one by one, but no longer than a round's pause, so that
            // server events are relayed even while every place is taken.
            let wanted = places.clone().acquire_many_owned(CLAIM_BATCH as u32 / 2);
            let mut held = match actix_web::rt::time::timeout(ROUND_PAUSE, wanted).await {
                Ok(Ok(held)) => Some(held),
                Ok(Err(_)) => return, // the semaphore is never closed
                Err(_) => None,
            };
            while held.as_ref().map_or(0, |h| h.num_permits()) < CLAIM_BATCH {
                match (places.clone().try_acquire_owned(), held.as_mut()) {
                    (Ok(more), Some(held)) => held.merge(more),
                    (Ok(more), None) => held = Some(more),
                    (Err(_), _) => break,
                }
            }
            let asked = held.as_ref().map_or(0, |h| h.num_permits());
            let claimed = round(&state, asked).await;
            let count = claimed.len();
            for delivery in claimed {
                let Some(place) = held.as_mut().and_then(|held| held.split(1)) else {
                    break; // never: no more are claimed than places are held
                };
                let (state, client, finish) = (state.clone(), client.clone(), finish.clone());
                actix_web::rt::spawn(async move {
                    let allow_private = state.config.webhook_allow_private;
                    let outcome =
                        attempt(&client, &state.secrets.data_key, &delivery, allow_private).await;
                    let at = time::OffsetDateTime::now_utc();
                    let _ = finish.send(Finished {
                        delivery,
                        outcome,
                        at,
                        place,
                    });
                });
            }
            drop(held);
            if last_disable_check.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                last_disable_check = Some(Instant::now());
                disable_failing(&state).await;
            }
            // Fewer due than there were places for: nothing more is due now.
            if count < asked {
                actix_web::rt::time::sleep(ROUND_PAUSE).await;
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

/// An attempt's outcome, on its way to the database.
struct Finished {
    delivery: ClaimedDelivery,
    outcome: Outcome,
    at: time::OffsetDateTime,
    /// Held until the outcome is recorded, so a node never claims faster than it records
    /// (a claim must not lapse before its record).
    place: tokio::sync::OwnedSemaphorePermit,
}

/// What [`record`] writes for one attempt.
struct Record {
    delivery_id: i64,
    claimed_until: time::PrimitiveDateTime,
    webhook_id: i64,
    at: time::PrimitiveDateTime,
    status_code: Option<i32>,
    error: Option<String>,
    duration_ms: i64,
    response_head: String,
    delivered: bool,
    next_attempt_at: Option<time::PrimitiveDateTime>,
}

impl Record {
    fn of(delivery: ClaimedDelivery, outcome: Outcome, at: time::OffsetDateTime) -> Self {
        let delivered = outcome.delivered();
        let attempts = u32::try_from(delivery.attempts).unwrap_or(0) + 1;
        let next_attempt_at = (!delivered)
            .then(|| schedule::retry_after(attempts, jitter()))
            .flatten()
            .map(|wait| pulsekey_db::to_stored(at + wait));
        let error = match (outcome.error, outcome.status_code) {
            (Some(error), _) => Some(error),
            (None, Some(code)) if !delivered => Some(format!("answered {code}")),
            _ => None,
        };
        Self {
            delivery_id: delivery.id,
            claimed_until: delivery.claimed_until,
            webhook_id: delivery.webhook_id,
            at: pulsekey_db::to_stored(at),
            status_code: outcome.status_code.map(i32::from),
            error,
            duration_ms: i64::try_from(outcome.duration.as_millis()).unwrap_or(i64::MAX),
            response_head: outcome.response_head,
            delivered,
            next_attempt_at,
        }
    }

    fn form(&self) -> db::AttemptForm<'_> {
        db::AttemptForm {
            delivery_id: self.delivery_id,
            claimed_until: self.claimed_until,
            webhook_id: self.webhook_id,
            at: self.at,
            status_code: self.status_code,
            error: self.error.as_deref(),
            duration_ms: self.duration_ms,
            response_head: &self.response_head,
            delivered: self.delivered,
            next_attempt_at: self.next_attempt_at,
        }
    }
}

/// Records finished attempts, as many to a transaction as have finished meanwhile: one
/// commit per attempt held a node to about 500 deliveries a second on SQLite.
async fn recorder(state: SharedState, mut finished: mpsc::UnboundedReceiver<Finished>) {
    while let Some(first) = finished.recv().await {
        let mut batch = vec![first];
        while batch.len() < RECORD_BATCH {
            match finished.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        record(&state, batch).await;
    }
}

async fn record(state: &SharedState, batch: Vec<Finished>) {
    for finished in &batch {
        let outcome = &finished.outcome;
        state
            .metrics
            .webhook_delivery(match (outcome.delivered(), outcome.status_code) {
                (true, _) => DeliveryResult::Delivered,
                (false, Some(_)) => DeliveryResult::Rejected,
                (false, None) => DeliveryResult::Unreachable,
            });
    }
    let (records, places): (Vec<Record>, Vec<_>) = batch
        .into_iter()
        .map(|f| (Record::of(f.delivery, f.outcome, f.at), f.place))
        .unzip();
    let count = records.len();
    let db = state.db.clone();
    let recorded = actix_web::web::block(move || {
        db.transaction(|conn| {
            records
                .iter()
                .try_for_each(|record| db::record_attempt(conn, &record.form()))
        })
    })
    .await;
    match recorded {
        Ok(Ok(())) => tracing::debug!(attempts = count, "webhook attempts recorded"),
        // The claims lapse and another round tries again: at least once, not at most.
        Ok(Err(err)) => {
            tracing::warn!(error = %err, attempts = count, "webhook attempts not recorded")
        }
        Err(_) => {}
    }
    drop(places);
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

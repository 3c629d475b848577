//! One heartbeat over HTTP, turned into an [`Outcome`].

use std::path::Path;
use std::time::Duration;

use pulsekey_types::HeartbeatRequest;
use time::OffsetDateTime;

use crate::config::{AgentConfig, ConfigError};
use crate::signature::{
    NONCE_HEADER, SIGNATURE_HEADER, new_nonce, verify_refusal, verify_response,
};
use crate::state::{SignedAnswer, StateFile};
use crate::verdict::{LastAnswer, Outcome};

/// The most of a response body the agent reads. A verdict is about 120 bytes; a server, or
/// anything posing as one, that sends more is not giving a verdict.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024;

/// A heartbeat client for one installation.
pub struct Agent {
    config: AgentConfig,
    version: String,
    http: reqwest::Client,
}

impl Agent {
    /// Reads `config.json`; `version` is what the proxy reports as its installed version.
    pub fn from_config(path: &Path, version: &str) -> Result<Self, ConfigError> {
        let config = AgentConfig::load(path)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|err| ConfigError::Malformed {
                path: path.display().to_string(),
                reason: err.to_string(),
            })?;
        Ok(Self {
            config,
            version: version.to_owned(),
            http,
        })
    }

    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// Sends one heartbeat. Anything but a verified verdict or a 401 is `NoVerdict`.
    pub async fn heartbeat(&self) -> Outcome {
        self.exchange().await.0
    }

    /// One heartbeat, with the signed answer behind a verdict or refusal, for the state file.
    async fn exchange(&self) -> (Outcome, Option<SignedAnswer>) {
        let nonce = new_nonce();
        let sent = self
            .http
            .post(format!("{}/heartbeat", self.config.server_url))
            .bearer_auth(self.config.license_key())
            .header(NONCE_HEADER, &nonce)
            .json(&HeartbeatRequest {
                version: self.version.clone(),
                hostname: None,
                uptime: None,
            })
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            // reqwest's message names the URL, never the Authorization header.
            Err(err) => {
                return (
                    Outcome::NoVerdict(format!("cannot reach the server: {err}")),
                    None,
                );
            }
        };
        let status = response.status();
        if !status.is_success() && status != reqwest::StatusCode::UNAUTHORIZED {
            return (
                Outcome::NoVerdict(format!("the server answered {status}")),
                None,
            );
        }
        let signature = response
            .headers()
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match read_bounded(response, MAX_RESPONSE_BYTES).await {
            Ok(body) => body,
            Err(why) => return (Outcome::NoVerdict(why), None),
        };
        let refusal = status == reqwest::StatusCode::UNAUTHORIZED;
        let checked = if refusal {
            // Only a refusal the server signed for this nonce stops the proxy.
            verify_refusal(
                &self.config.public_key,
                self.config.license_key(),
                &nonce,
                &body,
                signature.as_deref(),
            )
            .map(|()| Outcome::KeyRefused)
            .map_err(|err| format!("ignored an unsigned or forged 401: {err}"))
        } else {
            verify_response(
                &self.config.public_key,
                self.config.license_key(),
                &nonce,
                &body,
                signature.as_deref(),
                OffsetDateTime::now_utc(),
            )
            .map(Outcome::Verdict)
            .map_err(|err| format!("ignored a response that is not a verdict: {err}"))
        };
        match (checked, signature) {
            (Ok(outcome), Some(signature)) => (
                outcome,
                Some(SignedAnswer {
                    refusal,
                    nonce,
                    body,
                    signature,
                }),
            ),
            (Ok(outcome), None) => (outcome, None),
            (Err(why), _) => (Outcome::NoVerdict(why), None),
        }
    }
}

/// The body, or why there is none: at most `limit` bytes are ever buffered.
async fn read_bounded(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(format!("ignored a response larger than {limit} bytes"));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() > limit => {
                return Err(format!("ignored a response larger than {limit} bytes"));
            }
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => return Ok(body),
            Err(err) => return Err(format!("the response was cut short: {err}")),
        }
    }
}

/// One step of the heartbeat loop: what came back, what the proxy must do, and when the
/// next attempt is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    pub action: crate::verdict::Action,
    pub retry_in: Duration,
    /// The state file could not be written (the answer still counts for this run).
    pub state_error: Option<String>,
}

impl Agent {
    /// Runs the heartbeat loop on the current tokio runtime: a heartbeat now, then one per
    /// interval the server asks for (backing off with jitter while no verdict comes), each
    /// decided by a [`Supervisor`](crate::Supervisor) that starts from `last` (the state
    /// file's answer) and sent on the returned channel. Every verified answer is saved to
    /// `state`. The loop ends after sending a `Stop`, or when the receiver is dropped.
    pub fn watch(
        self: std::sync::Arc<Self>,
        policy: crate::Policy,
        last: Option<LastAnswer>,
        state: StateFile,
    ) -> tokio::sync::mpsc::Receiver<Decision> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let mut supervisor = crate::Supervisor::new(policy, last);
            let mut interval = Duration::from_secs(self.config.heartbeat_interval_secs.max(1));
            let mut backoff = crate::Backoff::new(Duration::from_secs(1), interval);
            loop {
                let (outcome, signed) = self.exchange().await;
                let state_error = signed.and_then(|answer| {
                    state
                        .save(&answer, OffsetDateTime::now_utc())
                        .err()
                        .map(|err| err.to_string())
                });
                let action = supervisor.decide(&outcome, OffsetDateTime::now_utc());
                let retry_in = match &outcome {
                    Outcome::Verdict(verdict) => {
                        interval = Duration::from_secs(verdict.heartbeat_interval_secs.max(1));
                        backoff = crate::Backoff::new(Duration::from_secs(1), interval);
                        interval
                    }
                    Outcome::NoVerdict(_) => backoff.next_delay(jitter()),
                    Outcome::KeyRefused => interval,
                };
                let stop = matches!(action, crate::Action::Stop(_));
                let decision = Decision {
                    outcome,
                    action,
                    retry_in,
                    state_error,
                };
                if tx.send(decision).await.is_err() || stop {
                    return;
                }
                tokio::time::sleep(retry_in).await;
            }
        });
        rx
    }
}

fn jitter() -> f64 {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    f64::from(byte[0]) / 256.0
}

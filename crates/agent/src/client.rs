//! One heartbeat over HTTP, turned into an [`Outcome`].

use std::path::Path;
use std::time::Duration;

use pulsekey_types::HeartbeatRequest;
use time::OffsetDateTime;

use crate::config::{AgentConfig, ConfigError};
use crate::signature::{
    NONCE_HEADER, SIGNATURE_HEADER, new_nonce, verify_refusal, verify_response,
};
use crate::verdict::Outcome;

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
            Err(err) => return Outcome::NoVerdict(format!("cannot reach the server: {err}")),
        };
        let status = response.status();
        if !status.is_success() && status != reqwest::StatusCode::UNAUTHORIZED {
            return Outcome::NoVerdict(format!("the server answered {status}"));
        }
        let signature = response
            .headers()
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(err) => return Outcome::NoVerdict(format!("the response was cut short: {err}")),
        };
        if status == reqwest::StatusCode::UNAUTHORIZED {
            // Only a refusal the server signed for this nonce stops the proxy.
            return match verify_refusal(
                &self.config.public_key,
                self.config.license_key(),
                &nonce,
                &body,
                signature.as_deref(),
            ) {
                Ok(()) => Outcome::KeyRefused,
                Err(err) => Outcome::NoVerdict(format!("ignored an unsigned or forged 401: {err}")),
            };
        }
        match verify_response(
            &self.config.public_key,
            self.config.license_key(),
            &nonce,
            &body,
            signature.as_deref(),
            OffsetDateTime::now_utc(),
        ) {
            Ok(verdict) => Outcome::Verdict(verdict),
            Err(err) => {
                Outcome::NoVerdict(format!("ignored a response that is not a verdict: {err}"))
            }
        }
    }
}

/// One step of the heartbeat loop: what came back, and what the proxy must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    pub action: crate::verdict::Action,
}

impl Agent {
    /// Runs the heartbeat loop on the current tokio runtime: a heartbeat now, then one per
    /// interval the server asks for (backing off with jitter while no verdict comes), each
    /// decided by a [`Supervisor`](crate::Supervisor) and sent on the returned channel. The
    /// loop ends after sending a `Stop`, or when the receiver is dropped.
    pub fn watch(
        self: std::sync::Arc<Self>,
        policy: crate::Policy,
    ) -> tokio::sync::mpsc::Receiver<Decision> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let mut supervisor = crate::Supervisor::new(policy, OffsetDateTime::now_utc());
            let mut interval = Duration::from_secs(self.config.heartbeat_interval_secs.max(1));
            let mut backoff = crate::Backoff::new(Duration::from_secs(1), interval);
            loop {
                let outcome = self.heartbeat().await;
                let action = supervisor.decide(&outcome, OffsetDateTime::now_utc());
                let delay = match &outcome {
                    Outcome::Verdict(verdict) => {
                        interval = Duration::from_secs(verdict.heartbeat_interval_secs.max(1));
                        backoff = crate::Backoff::new(Duration::from_secs(1), interval);
                        interval
                    }
                    Outcome::NoVerdict(_) => backoff.next_delay(jitter()),
                    Outcome::KeyRefused => interval,
                };
                let stop = matches!(action, crate::Action::Stop(_));
                if tx.send(Decision { outcome, action }).await.is_err() || stop {
                    return;
                }
                tokio::time::sleep(delay).await;
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

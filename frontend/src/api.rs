//! A typed client over the API: one function per call, errors as readable text.

use gloo_net::http::Request;
use pulsekey_types::{ErrorBody, HealthResponse};

/// What went wrong, ready to show to a person. (gloo's error is not `Clone`, which the
/// reactive resources need.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

fn network(err: gloo_net::Error) -> ApiError {
    ApiError {
        status: 0,
        message: format!("cannot reach the server: {err}"),
    }
}

async fn read<T: serde::de::DeserializeOwned>(
    response: gloo_net::http::Response,
) -> Result<T, ApiError> {
    let status = response.status();
    if response.ok() {
        return response.json::<T>().await.map_err(|err| ApiError {
            status,
            message: format!("unexpected answer from the server: {err}"),
        });
    }
    let message = match response.json::<ErrorBody>().await {
        Ok(body) => body.message,
        Err(_) => format!("the server answered {status}"),
    };
    Err(ApiError { status, message })
}

pub async fn health() -> Result<HealthResponse, ApiError> {
    read(Request::get("/healthz").send().await.map_err(network)?).await
}

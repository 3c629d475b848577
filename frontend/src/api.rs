//! A typed client over the API: one function per call, errors as readable text. The session
//! is the HttpOnly cookie the browser sends by itself; writes add the CSRF header.

use std::future::Future;
use std::pin::Pin;

use gloo_net::http::{Request, RequestBuilder};
use pulsekey_types::{
    AuditPage, ErrorBody, FleetHistory, FleetSummary, HealthResponse, LicenseView, LoginRequest,
    LoginResponse, MyServerList, RevealResponse, RevokeRequest, ServerEventPage, ServerList,
    ServerPage, ServerView, SettingsView, UpdateUserRequest, UpdateWebhookRequest, UserList,
    UserView, WebhookAttemptPage, WebhookList, WebhookView, WebhookWithSecret,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

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

impl ApiError {
    /// A failure in the browser itself, before or after the request (status 0).
    pub fn local(message: impl Into<String>) -> Self {
        Self {
            status: 0,
            message: message.into(),
        }
    }

    pub fn is_unauthorized(&self) -> bool {
        self.status == 401
    }
}

/// A request that never got an answer: the browser is offline, the server is down or a proxy
/// dropped it. The browser's own wording ("TypeError: Failed to fetch") helps nobody.
fn network(_: gloo_net::Error) -> ApiError {
    ApiError::local("cannot reach the server; check the connection and try again")
}

/// An answer's status and body.
type Exchange = Pin<Box<dyn Future<Output = Result<(u16, String), ApiError>>>>;

/// Sends a request and reads its whole answer. Boxed, and the one await every call shares:
/// each typed call then adds only its own parsing to the wasm, not another copy of the fetch.
fn exchange(request: Result<Request, gloo_net::Error>) -> Exchange {
    Box::pin(async move {
        let response = request.map_err(network)?.send().await.map_err(network)?;
        let status = response.status();
        let body = response.text().await.map_err(network)?;
        Ok((status, body))
    })
}

/// What the API refused, in its own words when it gave them.
fn refusal(status: u16, body: &str) -> ApiError {
    let message = match serde_json::from_str::<ErrorBody>(body) {
        Ok(body) => body.message,
        Err(_) => format!("the server answered {status}"),
    };
    ApiError { status, message }
}

fn parse<T: DeserializeOwned>((status, body): (u16, String)) -> Result<T, ApiError> {
    if !(200..300).contains(&status) {
        return Err(refusal(status, &body));
    }
    serde_json::from_str(&body).map_err(|err| ApiError {
        status,
        message: format!("unexpected answer from the server: {err}"),
    })
}

/// For calls answered with no body (204).
fn done((status, body): (u16, String)) -> Result<(), ApiError> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(refusal(status, &body))
    }
}

async fn get<T: DeserializeOwned>(url: &str) -> Result<T, ApiError> {
    parse(exchange(Request::get(url).build()).await?)
}

fn write(builder: RequestBuilder) -> RequestBuilder {
    builder.header("X-Pulsekey-Csrf", "1")
}

async fn send_json<B: Serialize, T: DeserializeOwned>(
    builder: RequestBuilder,
    body: &B,
) -> Result<T, ApiError> {
    parse(exchange(write(builder).json(body)).await?)
}

/// A write with no body.
async fn send<T: DeserializeOwned>(builder: RequestBuilder) -> Result<T, ApiError> {
    parse(exchange(write(builder).build()).await?)
}

pub async fn health() -> Result<HealthResponse, ApiError> {
    get("/healthz").await
}

pub async fn login(username: String, password: String) -> Result<LoginResponse, ApiError> {
    send_json(
        Request::post("/api/v1/auth/login"),
        &LoginRequest { username, password },
    )
    .await
}

pub async fn logout() -> Result<(), ApiError> {
    match done(exchange(write(Request::post("/api/v1/auth/logout")).build()).await?) {
        Err(err) if err.status == 401 => Ok(()),
        other => other,
    }
}

pub async fn change_password(current: String, new: String) -> Result<(), ApiError> {
    let body = pulsekey_types::ChangePasswordRequest {
        current_password: current,
        new_password: new,
    };
    done(exchange(write(Request::post("/api/v1/auth/password")).json(&body)).await?)
}

pub async fn me() -> Result<UserView, ApiError> {
    get("/api/v1/auth/me").await
}

/// What the server decides that the app shows and checks (the grace window's default and
/// range, the heartbeat interval).
pub async fn settings() -> Result<SettingsView, ApiError> {
    get("/api/v1/settings").await
}

/// `query`: the list's filters, order, page size and cursor, already encoded
/// (`role=customer&sort=username`).
pub async fn list_users(query: String) -> Result<UserList, ApiError> {
    get(&format!("/api/v1/users?{query}")).await
}

/// Up to `limit` users whose name or email contains `text`, by username.
pub async fn find_users(text: &str, limit: u32) -> Result<UserList, ApiError> {
    list_users(format!(
        "sort=username&limit={limit}&q={}",
        js_sys::encode_uri_component(text)
    ))
    .await
}

pub async fn fleet() -> Result<FleetSummary, ApiError> {
    get("/api/v1/fleet").await
}

/// Samples of the last `hours`, thinned by the server to a chart's worth.
pub async fn fleet_history(hours: i64) -> Result<FleetHistory, ApiError> {
    let now = js_sys::Date::now();
    let from = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(now - hours as f64 * 3.6e6));
    let from = String::from(from.to_iso_string());
    get(&format!(
        "/api/v1/fleet/history?from={}",
        js_sys::encode_uri_component(&from)
    ))
    .await
}

/// `query`: the list's filters, order, page size and cursor, already encoded
/// (`status=GRACE&sort=name`); without a `limit` the API's default page is 50.
pub async fn list_servers(query: String) -> Result<ServerPage, ApiError> {
    get(&format!("/api/v1/servers?{query}")).await
}

pub async fn get_server(id: i64) -> Result<ServerView, ApiError> {
    get(&format!("/api/v1/servers/{id}")).await
}

pub async fn create_user(request: pulsekey_types::CreateUserRequest) -> Result<UserView, ApiError> {
    send_json(Request::post("/api/v1/users"), &request).await
}

pub async fn get_user(id: i64) -> Result<UserView, ApiError> {
    get(&format!("/api/v1/users/{id}")).await
}

pub async fn update_user(id: i64, changes: UpdateUserRequest) -> Result<UserView, ApiError> {
    send_json(Request::patch(&format!("/api/v1/users/{id}")), &changes).await
}

pub async fn user_servers(id: i64) -> Result<ServerList, ApiError> {
    get(&format!("/api/v1/users/{id}/servers")).await
}

pub async fn create_server(owner_id: i64, name: String) -> Result<ServerView, ApiError> {
    send_json(
        Request::post("/api/v1/servers"),
        &pulsekey_types::CreateServerRequest { owner_id, name },
    )
    .await
}

pub async fn rename_server(id: i64, name: String) -> Result<ServerView, ApiError> {
    send_json(
        Request::patch(&format!("/api/v1/servers/{id}")),
        &pulsekey_types::UpdateServerRequest { name: Some(name) },
    )
    .await
}

pub async fn delete_server(id: i64) -> Result<(), ApiError> {
    done(exchange(write(Request::delete(&format!("/api/v1/servers/{id}"))).build()).await?)
}

/// The newest `limit` events of a server.
pub async fn server_events(id: i64, limit: u32) -> Result<ServerEventPage, ApiError> {
    get(&format!("/api/v1/servers/{id}/events?limit={limit}")).await
}

/// The license actions of the card, by the last segment of their path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseAction {
    Regenerate,
    Revoke { grace_days: i64 },
    Reinstate,
}

pub async fn license_action(server: i64, action: LicenseAction) -> Result<LicenseView, ApiError> {
    let (verb, body) = match action {
        LicenseAction::Regenerate => ("regenerate", RevokeRequest::default()),
        LicenseAction::Revoke { grace_days } => (
            "revoke",
            RevokeRequest {
                grace_days: Some(grace_days),
            },
        ),
        LicenseAction::Reinstate => ("reinstate", RevokeRequest::default()),
    };
    let builder = Request::post(&format!("/api/v1/servers/{server}/license/{verb}"));
    if verb == "revoke" {
        send_json(builder, &body).await
    } else {
        send(builder).await
    }
}

pub async fn reveal(server: i64) -> Result<String, ApiError> {
    let revealed: RevealResponse = send(Request::post(&format!(
        "/api/v1/servers/{server}/license/reveal"
    )))
    .await?;
    Ok(revealed.key)
}

pub async fn my_servers() -> Result<MyServerList, ApiError> {
    get("/api/v1/me/servers").await
}

/// The install endpoint's body, as text, to hand to the browser as a download.
pub async fn install_config(server: i64) -> Result<String, ApiError> {
    let (status, body) =
        exchange(Request::get(&format!("/api/v1/me/servers/{server}/install")).build()).await?;
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(refusal(status, &body))
    }
}

/// `query`: the filters and the page size, as the API names them.
pub async fn audit_log(query: String, cursor: Option<String>) -> Result<AuditPage, ApiError> {
    let mut url = format!("/api/v1/audit-log?{query}");
    if let Some(cursor) = cursor {
        url.push_str(&format!("&cursor={cursor}"));
    }
    get(&url).await
}

pub async fn list_webhooks() -> Result<WebhookList, ApiError> {
    get("/api/v1/webhooks").await
}

/// The answer holds the signing secret, which the API shows this once.
pub async fn create_webhook(
    request: pulsekey_types::CreateWebhookRequest,
) -> Result<WebhookWithSecret, ApiError> {
    send_json(Request::post("/api/v1/webhooks"), &request).await
}

pub async fn update_webhook(
    id: i64,
    changes: UpdateWebhookRequest,
) -> Result<WebhookView, ApiError> {
    send_json(Request::patch(&format!("/api/v1/webhooks/{id}")), &changes).await
}

pub async fn delete_webhook(id: i64) -> Result<(), ApiError> {
    done(exchange(write(Request::delete(&format!("/api/v1/webhooks/{id}"))).build()).await?)
}

/// A new secret, shown this once; the old one keeps signing beside it for 24 hours.
pub async fn rotate_webhook_secret(id: i64) -> Result<WebhookWithSecret, ApiError> {
    send(Request::post(&format!(
        "/api/v1/webhooks/{id}/rotate-secret"
    )))
    .await
}

/// Queues a `webhook.test` event, due now.
pub async fn test_webhook(id: i64) -> Result<(), ApiError> {
    done(exchange(write(Request::post(&format!("/api/v1/webhooks/{id}/test"))).build()).await?)
}

/// The newest `limit` delivery attempts of an endpoint.
pub async fn webhook_deliveries(id: i64, limit: u32) -> Result<WebhookAttemptPage, ApiError> {
    get(&format!("/api/v1/webhooks/{id}/deliveries?limit={limit}")).await
}

/// Makes a delivery due now, with its retries counted afresh.
pub async fn retry_delivery(id: i64, delivery: i64) -> Result<(), ApiError> {
    let url = format!("/api/v1/webhooks/{id}/deliveries/{delivery}/retry");
    done(exchange(write(Request::post(&url)).build()).await?)
}

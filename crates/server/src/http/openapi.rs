//! The OpenAPI document's frame; paths come from the handlers' `#[utoipa::path]`.

use utoipa::Modify;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "pulsekey",
        description = "Self-hosted license server: heartbeat verdicts for installed proxies, and \
                       the admin API that regenerates, revokes and reinstates their keys.",
        license(name = "Apache-2.0"),
    ),
    modifiers(&SecuritySchemes),
    // Types that only query parameters name: utoipa collects those of bodies by itself.
    components(schemas(
        pulsekey_types::ErrorBody,
        pulsekey_types::ErrorCode,
        pulsekey_types::AuditSort,
        pulsekey_types::ServerSort,
        pulsekey_types::UserSort,
        pulsekey_types::WebhookEventType,
        pulsekey_types::WebhookPayload
    )),
    tags(
        (name = "heartbeat", description = "What proxies call every interval"),
        (name = "auth", description = "Signing in: passwords, second factors, sessions"),
        (name = "users", description = "Admin: accounts"),
        (name = "fleet", description = "Admin: every installation at a glance and over time"),
        (name = "servers", description = "Admin: customers' servers"),
        (name = "licenses", description = "Admin: the License card and its actions"),
        (name = "audit", description = "Admin: the append-only audit log"),
        (name = "webhooks", description = "Admin: endpoints told what happens, signed per Standard Webhooks"),
        (name = "customer", description = "A customer's own servers"),
        (name = "tokens", description = "Admin: integrator API tokens"),
        (name = "settings", description = "What the server decides that clients show and check"),
        (name = "operations", description = "Health and readiness"),
    ),
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A session token from /api/v1/auth/login, or an integrator token (pkt_…)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "pulsekey_session",
                "The web app's HttpOnly session cookie; unsafe methods also need the \
                 X-Pulsekey-Csrf header",
            ))),
        );
        components.add_security_scheme(
            "license_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The proxy's license key (pk_…)"))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document, generated once from the routes; the app serves it and the
/// fallback reads which paths exist from it.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        use utoipa::OpenApi as _;
        use utoipa_actix_web::AppExt as _;
        let (_, mut api) = actix_web::App::new()
            .into_utoipa_app()
            .openapi(ApiDoc::openapi())
            .configure(crate::http::handlers::routes)
            .split_for_parts();
        add_common_responses(&mut api);
        api
    })
}

/// The document as YAML, as checked in at the repository root.
pub fn yaml() -> Result<String, String> {
    document()
        .to_yaml()
        .map_err(|err| format!("cannot write the OpenAPI document as YAML: {err}"))
}

/// Documents the errors every route can answer, whatever its handler says: 400 for a
/// malformed path, query or body, 413 and 415 for a body too large or not JSON. Added
/// here once instead of on each of two dozen handlers, so no route can forget them.
pub fn add_common_responses(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for item in api.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let has_input = operation.parameters.as_ref().is_some_and(|p| !p.is_empty())
                || operation.request_body.is_some();
            let takes_body = operation.request_body.is_some();
            let responses = &mut operation.responses.responses;
            responses.entry("431".into()).or_insert_with(|| {
                error("The request's headers are larger than 16 KiB together").into()
            });
            if has_input {
                responses
                    .entry("400".into())
                    .or_insert_with(|| error("Malformed path, query or body").into());
            }
            if takes_body {
                responses
                    .entry("413".into())
                    .or_insert_with(|| error("Body too large").into());
                responses
                    .entry("415".into())
                    .or_insert_with(|| error("Body is not JSON").into());
            }
        }
    }
}

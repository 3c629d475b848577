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
    components(schemas(pulsekey_types::ErrorBody, pulsekey_types::ErrorCode)),
    tags(
        (name = "heartbeat", description = "What proxies call every interval"),
        (name = "auth", description = "Sessions"),
        (name = "users", description = "Admin: accounts"),
        (name = "servers", description = "Admin: customers' servers"),
        (name = "licenses", description = "Admin: the License card and its actions"),
        (name = "audit", description = "Admin: the append-only audit log"),
        (name = "customer", description = "A customer's own servers"),
        (name = "tokens", description = "Admin: integrator API tokens"),
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

/// The document as YAML, as checked in at the repository root.
pub fn yaml() -> String {
    crate::app::openapi().to_yaml().unwrap_or_default()
}

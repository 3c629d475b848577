use leptos::prelude::*;
use pulsekey_types::{LicenseStatus, MyServer};
use wasm_bindgen::JsCast as _;

use crate::api::{self, ApiError};
use crate::components::error_view::{ActionError, Loaded};
use crate::components::status_badge::StatusBadge;
use crate::time_fmt;

#[component]
pub fn DashboardPage() -> impl IntoView {
    crate::app::page_title("Your servers");
    let live = crate::live::use_live();
    // Refreshed on its own: a revoke shows here within 30 s, or when the tab comes back.
    let servers = LocalResource::new(move || {
        live.track();
        api::my_servers()
    });
    view! {
        <h1>"Your servers"</h1>
        <Loaded>
            {move || Suspend::new(async move {
                servers
                    .await
                    .map(|list| {
                        if list.items.is_empty() {
                            view! { <p>"You have no servers yet. Ask your vendor to add one."</p> }.into_any()
                        } else {
                            list.items
                                .into_iter()
                                .map(|server| view! { <MyServerCard server/> })
                                .collect_view()
                                .into_any()
                        }
                    })
            })}
        </Loaded>
    }
}

/// Offers `text` to the browser as the download `config.json`.
fn download(text: &str) -> Result<(), ApiError> {
    let failed =
        |what: &str| ApiError::local(format!("the browser could not save config.json ({what})"));
    let window = web_sys::window().ok_or_else(|| failed("no window"))?;
    let document = window.document().ok_or_else(|| failed("no document"))?;
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/json");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)
        .map_err(|_| failed("no file"))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| failed("no file"))?;
    let anchor: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|_| failed("no link"))?
        .dyn_into()
        .map_err(|_| failed("no link"))?;
    anchor.set_href(&url);
    anchor.set_download("config.json");
    anchor.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

#[component]
fn MyServerCard(server: MyServer) -> impl IntoView {
    let id = server.id;
    let status = server.license.status;
    let live = crate::live::use_live();
    let grace_expires = server
        .license
        .grace_expires_at
        .map(time_fmt::local)
        .unwrap_or_default();
    let expired_on = server
        .license
        .expired_at
        .map(|at| format!(" on {}", time_fmt::local(at)))
        .unwrap_or_default();
    let last_heartbeat_at = server.license.last_heartbeat_at;
    let install =
        Action::new_local(move |_: &()| async move { download(&api::install_config(id).await?) });
    let failed = Signal::derive(move || install.value().get().and_then(Result::err));
    view! {
        <section class="card" data-testid="my-server">
            <h2>{server.name.clone()}</h2>
            {(status == LicenseStatus::Grace)
                .then(|| {
                    view! {
                        <p class="banner banner-grace" data-testid="grace-banner">
                            {format!("License in grace period: service continues until {grace_expires}.")}
                        </p>
                    }
                })}
            {(status == LicenseStatus::Expired)
                .then(|| {
                    view! {
                        <p class="banner banner-expired" data-testid="expired-notice">
                            {format!("License expired{expired_on}: the proxy has stopped. Contact your vendor to reinstate it.")}
                        </p>
                    }
                })}
            <p>
                <StatusBadge status=Signal::derive(move || status)/>
                " Last heartbeat: "
                <span data-testid="last-heartbeat">{move || time_fmt::heartbeat(last_heartbeat_at, live.now_ms.get())}</span>
            </p>
            <button
                data-testid="install-button"
                disabled=move || install.pending().get()
                on:click=move |_| {
                    install.dispatch(());
                }
            >
                "Download config.json"
            </button>
            <p class="hint">
                "Put config.json next to the proxy and run it under the agent: "
                <code>"pulsekey-agent run --config config.json -- ./proxy"</code>
                ". The file holds your license key: keep it private."
            </p>
            <ActionError error=failed testid="install-error"/>
        </section>
    }
}

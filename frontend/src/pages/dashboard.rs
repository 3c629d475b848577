use leptos::prelude::*;
use leptos::task::spawn_local;
use pulsekey_types::{LicenseStatus, MyServer};
use wasm_bindgen::JsCast as _;

use crate::api;
use crate::components::status_badge::StatusBadge;
use crate::session::on_error;
use crate::time_fmt;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let servers = LocalResource::new(|| async {
        let result = api::my_servers().await;
        if let Err(err) = &result {
            on_error(err);
        }
        result
    });
    view! {
        <h1>"Your servers"</h1>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                servers
                    .get()
                    .map(|result| match result {
                        Err(err) => view! { <p class="error">{err.message}</p> }.into_any(),
                        Ok(list) if list.items.is_empty() => {
                            view! { <p>"You have no servers yet. Ask your vendor to add one."</p> }.into_any()
                        }
                        Ok(list) => list.items.into_iter().map(|s| view! { <MyServerCard server=s/> }).collect_view().into_any(),
                    })
            }}
        </Transition>
    }
}

/// Offers `text` to the browser as the download `config.json`.
fn download(text: &str) -> Result<(), String> {
    let window = web_sys::window().ok_or("no window")?;
    let document = window.document().ok_or("no document")?;
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/json");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)
        .map_err(|_| "cannot make the file")?;
    let url =
        web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| "cannot make the file")?;
    let anchor: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|_| "no anchor")?
        .dyn_into()
        .map_err(|_| "no anchor")?;
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
    let grace_expires = server
        .license
        .grace_expires_at
        .map(time_fmt::local)
        .unwrap_or_default();
    let error = RwSignal::new(None::<String>);
    let install = move |_| {
        spawn_local(async move {
            match api::install_config(id).await {
                Ok(text) => {
                    if let Err(why) = download(&text) {
                        error.set(Some(why.to_owned()));
                    }
                }
                Err(err) => {
                    on_error(&err);
                    error.set(Some(err.message));
                }
            }
        });
    };
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
                            "License expired: the proxy has stopped. Contact your vendor to reinstate it."
                        </p>
                    }
                })}
            <p>
                <StatusBadge status=Signal::derive(move || status)/>
                " Last heartbeat: "
                {time_fmt::heartbeat(server.license.last_heartbeat_at)}
            </p>
            <button data-testid="install-button" on:click=install>"Download config.json"</button>
            <p class="hint">
                "Put config.json next to the proxy and run it under the agent: "
                <code>"pulsekey-agent run --config config.json -- ./proxy"</code>
                ". The file holds your license key: keep it private."
            </p>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" role="alert">{move || error.get().unwrap_or_default()}</p>
            </Show>
        </section>
    }
}

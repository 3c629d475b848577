//! The pulsekey web app. It talks only to the documented API, with the shared types.

mod address;
mod api;
mod app;
mod components;
mod live;
mod pages;
mod routes;
mod session;
mod time_fmt;
mod unsaved;

use wasm_bindgen::prelude::wasm_bindgen;

/// Runs when `boot.js` instantiates the module.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        show_crash_notice();
    }));
    // The static shell index.html painted while this module downloaded.
    if let Some(shell) = leptos::prelude::document().get_element_by_id("shell") {
        shell.remove();
    }
    // Before the router, whose listener would otherwise hear Back first.
    unsaved::guard_history();
    leptos::mount::mount_to_body(app::App);
}

/// After a panic the module is dead; the page should say so rather than freeze. The likeliest
/// cause is a piece of the app that could not be fetched: the network, or a tab opened
/// before pulsekey was upgraded asking for a piece of the old build.
fn show_crash_notice() {
    let document = leptos::prelude::document();
    let (Some(body), Ok(notice)) = (document.body(), document.create_element("div")) else {
        return;
    };
    notice.set_class_name("crashed");
    let _ = notice.set_attribute("role", "alert");
    let _ = notice.set_attribute("data-testid", "app-crashed");
    // A link to this very address reloads the page; no script is allowed inline.
    notice.set_inner_html(
        "<p><strong>The web app stopped.</strong> Part of it could not be loaded: the \
         connection dropped, or pulsekey was upgraded since this page was opened.</p>\
         <p><a href=\"\" rel=\"external\">Reload the page</a> to continue.</p>",
    );
    let _ = body.prepend_with_node_1(&notice);
}

//! The pulsekey web app. It talks only to the documented API, with the shared types.

mod api;
mod app;
mod components;
mod live;
mod pages;
mod session;
mod time_fmt;
mod unsaved;

use wasm_bindgen::prelude::wasm_bindgen;

/// Runs when `boot.js` instantiates the module.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    // The static shell index.html painted while this module downloaded.
    if let Some(shell) = leptos::prelude::document().get_element_by_id("shell") {
        shell.remove();
    }
    leptos::mount::mount_to_body(app::App);
}

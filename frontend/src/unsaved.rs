//! Asking before unsaved changes are left behind, by any way of leaving.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

const QUESTION: &str = "You have unsaved changes. Leave this page without saving them?";

/// While `dirty` is true, asks before the page is left: reloading, closing or going to
/// another site (the browser's own question), and following a link inside the app (ours).
/// The router follows a link only if no one prevented the click, and it listens on the
/// window, so a listener on the document hears the click first.
pub fn ask_before_leaving(dirty: Signal<bool>) {
    let unload = window_event_listener(leptos::ev::beforeunload, move |ev| {
        if dirty.get_untracked() {
            ev.prevent_default();
        }
    });
    let click = Closure::<dyn Fn(web_sys::MouseEvent)>::new(move |ev: web_sys::MouseEvent| {
        if !dirty.get_untracked()
            || ev.default_prevented()
            || ev.button() != 0
            || ev.meta_key()
            || ev.ctrl_key()
            || ev.shift_key()
            || ev.alt_key()
        {
            return;
        }
        let link = ev
            .target()
            .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
            .and_then(|element| element.closest("a[href]").ok().flatten());
        let Some(link) = link else { return };
        if link.has_attribute("download") || link.get_attribute("target").is_some() {
            return;
        }
        if !window().confirm_with_message(QUESTION).unwrap_or(true) {
            ev.prevent_default();
        }
    });
    let listener = StoredValue::new_local(click);
    listener.with_value(|click| {
        let _ =
            document().add_event_listener_with_callback("click", click.as_ref().unchecked_ref());
    });
    on_cleanup(move || {
        unload.remove();
        listener.with_value(|click| {
            let _ = document()
                .remove_event_listener_with_callback("click", click.as_ref().unchecked_ref());
        });
    });
}

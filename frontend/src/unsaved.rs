//! Asking before unsaved changes are left behind, by any way of leaving.

use std::cell::{Cell, RefCell};

use leptos::prelude::*;
use leptos_router::hooks::use_location;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

const QUESTION: &str = "You have unsaved changes. Leave this page without saving them?";

/// The page's address while it holds unsaved changes, None when it holds none.
type Unsaved = Box<dyn Fn() -> Option<String>>;

thread_local! {
    /// The page being guarded (one at a time), with a number so that the page that leaves
    /// does not take down the guard of the page that replaced it.
    static GUARDED: RefCell<Option<(u64, Unsaved)>> = const { RefCell::new(None) };
    static GUARDS: Cell<u64> = const { Cell::new(0) };
}

/// Asks before Back or Forward leaves a page with unsaved changes. Neither can be
/// prevented: the address has changed when `popstate` is heard. So this listener, added
/// before the router's and so heard first, asks; on "stay", the router never hears of it
/// and the page's address is put back.
pub fn guard_history() {
    let listener = Closure::<dyn Fn(web_sys::Event)>::new(|ev: web_sys::Event| {
        let here = GUARDED.with_borrow(|guarded| guarded.as_ref().and_then(|(_, here)| here()));
        let Some(here) = here else { return };
        if window().confirm_with_message(QUESTION).unwrap_or(true) {
            return;
        }
        ev.stop_immediate_propagation();
        if let Ok(history) = window().history() {
            let _ = history.push_state_with_url(&JsValue::NULL, "", Some(&here));
        }
    });
    let _ =
        window().add_event_listener_with_callback("popstate", listener.as_ref().unchecked_ref());
    // Listens for the life of the page.
    listener.forget();
}

/// While `dirty` is true, asks before the page is left: reloading, closing or going to
/// another site (the browser's own question), and following a link inside the app or going
/// Back or Forward (ours; see `guard_history`).
///
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
        // A link that leaves the app (another site, or `rel=external`, which reloads) is
        // asked about once, by the browser.
        let in_app = link
            .dyn_ref::<web_sys::HtmlAnchorElement>()
            .is_some_and(|a| Ok(a.origin()) == window().location().origin())
            && !link
                .get_attribute("rel")
                .is_some_and(|rel| rel.split_whitespace().any(|word| word == "external"));
        if !in_app {
            return;
        }
        if !window().confirm_with_message(QUESTION).unwrap_or(true) {
            ev.prevent_default();
        }
    });
    let location = use_location();
    let here = move || {
        Some(format!(
            "{}{}{}",
            location.pathname.try_get_untracked()?,
            location.search.try_get_untracked()?,
            location.hash.try_get_untracked()?
        ))
    };
    let guard = GUARDS.get() + 1;
    GUARDS.set(guard);
    let unsaved: Unsaved = Box::new(move || {
        if dirty.try_get_untracked().unwrap_or(false) {
            here()
        } else {
            None
        }
    });
    GUARDED.set(Some((guard, unsaved)));
    let listener = StoredValue::new_local(click);
    listener.with_value(|click| {
        let _ =
            document().add_event_listener_with_callback("click", click.as_ref().unchecked_ref());
    });
    on_cleanup(move || {
        unload.remove();
        GUARDED.with_borrow_mut(|guarded| {
            if guarded.as_ref().is_some_and(|(n, _)| *n == guard) {
                *guarded = None;
            }
        });
        listener.with_value(|click| {
            let _ = document()
                .remove_event_listener_with_callback("click", click.as_ref().unchecked_ref());
        });
    });
}

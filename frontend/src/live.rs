//! What keeps pages current without a reload: a clock that relative times read, and a refresh
//! count that every resource of live data tracks. The count moves every 30 s while the tab
//! is shown, and at once when the tab is shown or focused again.

use std::time::Duration;

use leptos::prelude::*;
use wasm_bindgen::JsCast as _;

const TICK: Duration = Duration::from_secs(15);
const REFRESH: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
pub struct Live {
    /// Milliseconds since the epoch, as of the last tick.
    pub now_ms: RwSignal<f64>,
    refresh: RwSignal<u64>,
}

impl Live {
    /// Makes the calling resource or effect run again at each refresh.
    pub fn track(&self) {
        self.refresh.track();
    }

    /// How many refreshes have happened (0 at start).
    pub fn refreshes(&self) -> u64 {
        self.refresh.get()
    }

    fn refresh_now(&self) {
        self.now_ms.set(js_sys::Date::now());
        self.refresh.update(|n| *n += 1);
    }
}

fn shown() -> bool {
    document().visibility_state() == web_sys::VisibilityState::Visible
}

pub fn provide_live() {
    let live = Live {
        now_ms: RwSignal::new(js_sys::Date::now()),
        refresh: RwSignal::new(0),
    };
    // Both run for the app's life: their handles are never cleared.
    let _ = set_interval_with_handle(move || live.now_ms.set(js_sys::Date::now()), TICK);
    let _ = set_interval_with_handle(
        move || {
            if shown() {
                live.refresh_now();
            }
        },
        REFRESH,
    );
    // Kept for the app's life: the handle is dropped without removing the listener.
    let _ = window_event_listener(leptos::ev::focus, move |_| live.refresh_now());
    let on_shown = wasm_bindgen::closure::Closure::<dyn Fn()>::new(move || {
        if shown() {
            live.refresh_now();
        }
    });
    let _ = document()
        .add_event_listener_with_callback("visibilitychange", on_shown.as_ref().unchecked_ref());
    on_shown.forget();
    provide_context(live);
}

pub fn use_live() -> Live {
    expect_context::<Live>()
}

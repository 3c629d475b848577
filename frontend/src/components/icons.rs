//! The few icons the app draws, as inline SVG in the text's colour. Each is decoration:
//! the button that holds it carries the name a screen reader reads.

use leptos::prelude::*;

#[component]
pub fn EyeIcon() -> impl IntoView {
    view! {
        <svg class="icon-svg" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path d="M1 12s4-7.5 11-7.5S23 12 23 12s-4 7.5-11 7.5S1 12 1 12z"/>
            <circle cx="12" cy="12" r="3.2"/>
        </svg>
    }
}

#[component]
pub fn EyeOffIcon() -> impl IntoView {
    view! {
        <svg class="icon-svg" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path d="M1 12s4-7.5 11-7.5S23 12 23 12s-4 7.5-11 7.5S1 12 1 12z"/>
            <circle cx="12" cy="12" r="3.2"/>
            <path d="M3 3l18 18"/>
        </svg>
    }
}

#[component]
pub fn ClipboardIcon() -> impl IntoView {
    view! {
        <svg class="icon-svg" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path d="M16 4h2a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2h2"/>
            <rect x="8" y="2" width="8" height="4" rx="1"/>
        </svg>
    }
}

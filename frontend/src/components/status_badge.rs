use leptos::prelude::*;
use pulsekey_types::LicenseStatus;

/// ACTIVE / GRACE / EXPIRED, in colour and in words.
#[component]
pub fn StatusBadge(#[prop(into)] status: Signal<LicenseStatus>) -> impl IntoView {
    view! {
        <span
            data-testid="status-badge"
            class=move || format!("badge badge-{}", status.get().as_str().to_lowercase())
        >
            {move || status.get().as_str()}
        </span>
    }
}

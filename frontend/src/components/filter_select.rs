//! A list's filter or order as a select whose value lives in the address.

use leptos::prelude::*;

use crate::address::ListAddress;

/// `options`: (the address's value, the words shown); "" is the value of no filter.
#[component]
pub fn FilterSelect(
    address: ListAddress,
    key: &'static str,
    label: &'static str,
    options: &'static [(&'static str, &'static str)],
) -> impl IntoView {
    let current = move || address.get(key);
    view! {
        <label>
            {label}
            <select
                data-testid=format!("filter-{key}")
                prop:value=current
                on:change=move |ev| address.set(key, event_target_value(&ev), false)
            >
                {options
                    .iter()
                    .map(|(value, text)| {
                        view! { <option value=*value selected=move || current() == *value>{*text}</option> }
                    })
                    .collect_view()}
            </select>
        </label>
    }
}

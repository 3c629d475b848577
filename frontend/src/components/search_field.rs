//! The fields above a list that change it through the address: the search box (the list is
//! asked again when typing pauses, not at every key) and the page size.

use std::time::Duration;

use leptos::prelude::*;

use crate::address::ListAddress;

/// How long typing must pause before the list is asked again.
const TYPING_PAUSE: Duration = Duration::from_millis(300);

/// Writes what is typed into the address parameter `key` once typing pauses, replacing the
/// history entry (one Back leaves the search, not one letter of it).
#[component]
pub fn SearchField(
    address: ListAddress,
    key: &'static str,
    label: &'static str,
    testid: &'static str,
    placeholder: &'static str,
) -> impl IntoView {
    let typed = RwSignal::new(address.get_untracked(key));
    // Each pause in typing arms a timer; a newer key press, the address changing under the
    // field, or the page going away disarms it.
    let pending = StoredValue::new_local(None::<TimeoutHandle>);
    let disarm = move || {
        if let Some(Some(timer)) = pending.try_update_value(Option::take) {
            timer.clear();
        }
    };
    on_cleanup(disarm);
    // Back, or a link, changes this parameter under the field (other parameters do not
    // touch what is being typed).
    let searched = Memo::new(move |_| address.get(key));
    Effect::new(move || {
        let searched = searched.get();
        if typed.with_untracked(|t| t.trim() != searched) {
            disarm();
            typed.set(searched);
        }
    });
    let on_input = move |ev| {
        typed.set(event_target_value(&ev));
        disarm();
        let timer = set_timeout_with_handle(
            move || {
                pending.try_set_value(None);
                if let Some(text) = typed.try_get_untracked() {
                    address.set(key, text.trim().to_owned(), true);
                }
            },
            TYPING_PAUSE,
        );
        pending.set_value(timer.ok());
    };
    view! {
        <label>
            {label}
            <input
                data-testid=testid
                type="search"
                placeholder=placeholder
                prop:value=move || typed.get()
                on:input=on_input
            />
        </label>
    }
}

/// How many rows a page of the list holds, in the address's `limit` (the first size is the
/// API's default for the list).
#[component]
pub fn PageSizeField(address: ListAddress, sizes: &'static [&'static str]) -> impl IntoView {
    view! {
        <label>
            "Per page"
            <select
                data-testid="page-size"
                prop:value=move || Some(address.get("limit")).filter(|l| !l.is_empty()).unwrap_or_else(|| sizes[0].to_owned())
                on:change=move |ev| address.set("limit", event_target_value(&ev), false)
            >
                {sizes
                    .iter()
                    .map(|n| view! { <option value=*n selected=move || address.get("limit").as_str() == *n>{*n}</option> })
                    .collect_view()}
            </select>
        </label>
    }
}

//! A user chosen by name: suggestions as one types, the id the API wants once a name matches.

use leptos::prelude::*;

use crate::api;

/// How many suggestions the list under the field offers.
const SUGGESTIONS: u32 = 8;

/// A text field that takes a username (or an id) and reports the user's id, or `None` when
/// it is cleared. `picked` is the id chosen elsewhere (the address), shown by its name.
#[component]
pub fn UserPicker(
    testid: &'static str,
    #[prop(into)] picked: Signal<Option<i64>>,
    on_pick: Callback<Option<i64>>,
) -> impl IntoView {
    let typed = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let suggestions = RwSignal::new(Vec::<String>::new());
    // The user the field's text names, once known. A lookup answers after the person may
    // have typed or picked again, or left the page: each lookup takes a number, and only
    // the latest one's answer is used. `try_*` because the page may be gone by then.
    let names = StoredValue::new(None::<i64>);
    let lookups = StoredValue::new(0u64);
    let next_lookup = move || {
        lookups.update_value(|n| *n += 1);
        lookups.get_value()
    };
    let is_latest = move |lookup: u64| lookups.try_get_value() == Some(lookup);
    // The address's pick (a link, Back, Forward) is shown by name, or cleared.
    Effect::new(move || {
        let wanted = picked.get();
        if wanted == names.get_value() {
            return;
        }
        let lookup = next_lookup();
        names.set_value(wanted);
        problem.set(None);
        let Some(id) = wanted else {
            typed.set(String::new());
            return;
        };
        leptos::task::spawn_local(async move {
            if let Ok(user) = api::get_user(id).await
                && is_latest(lookup)
            {
                typed.set(user.username);
            }
        });
    });
    let suggest = move |text: String| {
        typed.set(text.clone());
        if text.trim().chars().count() < 2 {
            suggestions.set(Vec::new());
            return;
        }
        leptos::task::spawn_local(async move {
            if let Ok(page) = api::find_users(text.trim(), SUGGESTIONS).await {
                suggestions.try_set(page.items.into_iter().map(|u| u.username).collect());
            }
        });
    };
    let choose = move |id: Option<i64>| {
        names.set_value(id);
        on_pick.run(id);
    };
    let pick = move |text: String| {
        let text = text.trim().to_owned();
        let lookup = next_lookup();
        problem.set(None);
        if text.is_empty() {
            return choose(None);
        }
        if let Ok(id) = text.parse::<i64>() {
            return choose(Some(id));
        }
        leptos::task::spawn_local(async move {
            let found = api::find_users(&text, 100).await;
            if !is_latest(lookup) {
                return;
            }
            let exact = found.as_ref().ok().and_then(|page| {
                page.items
                    .iter()
                    .find(|u| u.username.eq_ignore_ascii_case(&text))
                    .map(|u| u.id)
            });
            match (exact, found) {
                (Some(id), _) => choose(Some(id)),
                (None, Err(err)) => problem.set(Some(err.message)),
                (None, Ok(_)) => problem.set(Some(format!("No user is named “{text}”."))),
            }
        });
    };
    let list_id = format!("{testid}-names");
    view! {
        <input
            data-testid=testid
            placeholder="username"
            autocomplete="off"
            list=list_id.clone()
            prop:value=move || typed.get()
            on:input=move |ev| suggest(event_target_value(&ev))
            on:change=move |ev| pick(event_target_value(&ev))
        />
        <datalist id=list_id>
            {move || {
                suggestions
                    .get()
                    .into_iter()
                    .map(|name| view! { <option value=name></option> })
                    .collect_view()
            }}
        </datalist>
        {move || {
            problem
                .get()
                .map(|text| {
                    view! { <span class="error" role="alert" data-testid=format!("{testid}-error")>{text}</span> }
                })
        }}
    }
}

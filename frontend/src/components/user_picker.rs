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
    // A user picked before this page opened (a link, Back) is shown by name.
    Effect::new(move || {
        if let Some(id) = picked.get()
            && typed.with_untracked(String::is_empty)
        {
            leptos::task::spawn_local(async move {
                if let Ok(user) = api::get_user(id).await {
                    typed.set(user.username);
                }
            });
        }
    });
    let suggest = move |text: String| {
        typed.set(text.clone());
        if text.trim().chars().count() < 2 {
            suggestions.set(Vec::new());
            return;
        }
        leptos::task::spawn_local(async move {
            if let Ok(page) = api::list_users(text.trim().to_owned(), None, SUGGESTIONS).await {
                suggestions.set(page.items.into_iter().map(|u| u.username).collect());
            }
        });
    };
    let pick = move |text: String| {
        let text = text.trim().to_owned();
        problem.set(None);
        if text.is_empty() {
            on_pick.run(None);
            return;
        }
        if let Ok(id) = text.parse::<i64>() {
            on_pick.run(Some(id));
            return;
        }
        leptos::task::spawn_local(async move {
            let found = api::list_users(text.clone(), None, 100).await;
            let exact = found.as_ref().ok().and_then(|page| {
                page.items
                    .iter()
                    .find(|u| u.username.eq_ignore_ascii_case(&text))
                    .map(|u| u.id)
            });
            match (exact, found) {
                (Some(id), _) => on_pick.run(Some(id)),
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

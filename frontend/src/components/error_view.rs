//! The one way a failure is shown: reads fail into an `ErrorBoundary` whose fallback is
//! [`ErrorView`]; writes show their last error with [`ActionError`]. Both send the browser
//! to the login page when the failure is an ended session.

use leptos::prelude::*;

use crate::api::ApiError;
use crate::session::on_error;

/// What a person reads for one error: the API's own message when the error is the API's.
fn message(error: &leptos::error::Error) -> String {
    match error.downcast_ref::<ApiError>() {
        Some(api) => api.message.clone(),
        None => error.to_string(),
    }
}

/// The fallback of every `ErrorBoundary`.
#[component]
pub fn ErrorView(errors: ArcRwSignal<Errors>) -> impl IntoView {
    let unauthorized = {
        let errors = errors.clone();
        move || {
            errors.with(|errors| {
                errors.iter().find_map(|(_, e)| {
                    e.downcast_ref::<ApiError>()
                        .filter(|api| api.is_unauthorized())
                        .cloned()
                })
            })
        }
    };
    Effect::new(move || {
        if let Some(err) = unauthorized() {
            on_error(&err);
        }
    });
    view! {
        <div class="error" role="alert" data-testid="load-error">
            {move || {
                errors
                    .with(|errors| errors.iter().map(|(_, e)| message(e)).collect::<Vec<_>>())
                    .into_iter()
                    .map(|text| view! { <p>{text}</p> })
                    .collect_view()
            }}
        </div>
    }
}

/// The last error of a write, if its last run failed; nothing otherwise.
#[component]
pub fn ActionError(
    /// The failure to show, e.g. `Signal::derive(move || save.value().get().and_then(Result::err))`.
    #[prop(into)]
    error: Signal<Option<ApiError>>,
    /// The `data-testid` of the message.
    testid: &'static str,
    /// A 401 is this write's own answer (a refused sign-in), not an ended session: show it
    /// rather than leave for the login page.
    #[prop(optional)]
    unauthorized_is_an_answer: bool,
) -> impl IntoView {
    Effect::new(move || {
        if let Some(err) = error.get()
            && !unauthorized_is_an_answer
        {
            on_error(&err);
        }
    });
    move || {
        error.get().map(|err| {
            view! {
                <p class="error" role="alert" data-testid=testid>
                    {err.message}
                </p>
            }
        })
    }
}

/// A read: the previous content stays while a new one loads (`Transition`), and a failure
/// shows as [`ErrorView`]. Put resources' `Suspend`s inside.
#[component]
pub fn Loaded(children: Children) -> impl IntoView {
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorView errors/> }>{children()}</ErrorBoundary>
        </Transition>
    }
}

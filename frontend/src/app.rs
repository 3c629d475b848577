use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use crate::api;

#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <main class="page">
                <Routes fallback=|| view! { <p>"Page not found."</p> }>
                    <Route path=path!("/") view=Home/>
                </Routes>
            </main>
            <VersionFooter/>
        </Router>
    }
}

#[component]
fn Home() -> impl IntoView {
    view! {
        <h1>"pulsekey"</h1>
        <p>"Self-hosted license server."</p>
    }
}

/// The server's version, fetched from the API: proves browser → wasm → API → database.
#[component]
fn VersionFooter() -> impl IntoView {
    let health = LocalResource::new(api::health);
    view! {
        <footer class="footer">
            <Suspense fallback=|| view! { <span>"…"</span> }>
                {move || {
                    health
                        .get()
                        .map(|result| match result {
                            Ok(health) => {
                                view! {
                                    <span data-testid="server-version">
                                        {format!("pulsekey v{}", health.version)}
                                    </span>
                                }
                                    .into_any()
                            }
                            Err(err) => {
                                view! { <span class="error">{err.to_string()}</span> }.into_any()
                            }
                        })
                }}
            </Suspense>
        </footer>
    }
}

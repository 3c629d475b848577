use leptos::prelude::*;
use leptos_router::Lazy;
use leptos_router::components::{A, Redirect, Route, Router, Routes};
use leptos_router::path;
use pulsekey_types::Role;

use crate::api;
use crate::components::error_view::Loaded;
use crate::pages::login::LoginPage;
use crate::routes;
use crate::session::{
    home_of, leave_for, login_path_after_401, mark_signed_in, provide_session, use_session,
};

#[component]
pub fn App() -> impl IntoView {
    provide_session();
    crate::live::provide_live();
    view! {
        <Router>
            <NavBar/>
            <main class="page">
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=Home/>
                    <Route path=path!("/login") view=LoginPage/>
                    <Route path=path!("/admin/fleet") view={Lazy::<routes::Fleet>::new()}/>
                    <Route path=path!("/admin/users") view={Lazy::<routes::Users>::new()}/>
                    <Route path=path!("/admin/users/:id") view={Lazy::<routes::User>::new()}/>
                    <Route path=path!("/admin/servers") view={Lazy::<routes::Servers>::new()}/>
                    <Route path=path!("/admin/audit-log") view={Lazy::<routes::AuditLog>::new()}/>
                    <Route path=path!("/admin/webhooks") view={Lazy::<routes::Webhooks>::new()}/>
                    <Route path=path!("/account") view={Lazy::<routes::Account>::new()}/>
                    <Route path=path!("/dashboard") view={Lazy::<routes::Dashboard>::new()}/>
                </Routes>
            </main>
            <VersionFooter/>
        </Router>
    }
}

/// An address the app has no page for, e.g. a link to a page that was renamed.
#[component]
fn NotFound() -> impl IntoView {
    page_title("Page not found");
    view! {
        <h1 data-testid="not-found">"Page not found"</h1>
        <p>"Nothing is at this address. It may have been typed wrong or moved."</p>
        <p><A href="/">"Go to your start page"</A></p>
    }
}

/// `/`: wherever the signed-in user belongs, or the login page.
#[component]
fn Home() -> impl IntoView {
    let session = use_session();
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match session.me.await {
                    Ok(user) => view! { <Redirect path=home_of(user.role)/> },
                    Err(_) => view! { <Redirect path="/login"/> },
                }
            })}
        </Transition>
    }
}

/// Renders `children` for a signed-in user of `role` (of any role without one); sends
/// others where they belong.
#[component]
pub fn RequireRole(#[prop(optional)] role: Option<Role>, children: ChildrenFn) -> impl IntoView {
    let session = use_session();
    view! {
        <Loaded>
            {move || {
                let children = children.clone();
                Suspend::new(async move {
                    match session.me.await {
                        Err(err) if err.is_unauthorized() => {
                            Ok(view! { <Redirect path=login_path_after_401()/> }.into_any())
                        }
                        Err(err) => Err(err),
                        Ok(user) if role.is_none_or(|role| user.role == role) => {
                            Ok(children().into_any())
                        }
                        Ok(user) => Ok(view! { <Redirect path=home_of(user.role)/> }.into_any()),
                    }
                })
            }}
        </Loaded>
    }
}

#[component]
fn NavBar() -> impl IntoView {
    let session = use_session();
    let logout = Action::new_local(|_: &()| async {
        // Whatever the server answers, this tab forgets the session and starts afresh.
        let _ = api::logout().await;
        mark_signed_in(false);
        leave_for("/login");
    });
    view! {
        <nav class="nav">
            <span class="brand">"pulsekey"</span>
            {move || {
                session
                    .user()
                    .map(|user| {
                        let links = (user.role == Role::Admin)
                            .then(|| {
                                view! {
                                    <A href="/admin/fleet">"Fleet"</A>
                                    <A href="/admin/users">"Users"</A>
                                    <A href="/admin/servers">"Servers"</A>
                                    <A href="/admin/audit-log">"Audit log"</A>
                                    <A href="/admin/webhooks">"Webhooks"</A>
                                }
                            });
                        let home = (user.role == Role::Customer)
                            .then(|| view! { <A href="/dashboard">"Your servers"</A> });
                        view! {
                            {links}
                            {home}
                            <A href="/account" attr:class="who" attr:data-testid="signed-in-as">{user.username}</A>
                            <button
                                data-testid="logout"
                                disabled=move || logout.pending().get()
                                on:click=move |_| {
                                    logout.dispatch(());
                                }
                            >
                                "Sign out"
                            </button>
                        }
                    })
            }}
        </nav>
    }
}

/// The server's version, fetched from the API: proves browser → wasm → API → database.
#[component]
fn VersionFooter() -> impl IntoView {
    let health = LocalResource::new(api::health);
    view! {
        <footer class="footer">
            <Loaded>
                {move || Suspend::new(async move {
                    health
                        .await
                        .map(|health| {
                            view! {
                                <span data-testid="server-version">
                                    {format!("pulsekey v{}", health.version)}
                                </span>
                            }
                        })
                })}
            </Loaded>
        </footer>
    }
}

/// Names the browser tab after the page: "Fleet · pulsekey".
pub fn page_title(page: &str) {
    document().set_title(&format!("{page} · pulsekey"));
}

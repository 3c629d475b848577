use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{A, Redirect, Route, Router, Routes};
use leptos_router::path;
use pulsekey_types::Role;

use crate::api;
use crate::pages::{
    admin_user::AdminUserPage, admin_users::AdminUsersPage, audit_log::AuditLogPage,
    dashboard::DashboardPage, login::LoginPage,
};
use crate::session::{home_of, login_path_after_401, mark_signed_in, provide_session, use_session};

#[component]
pub fn App() -> impl IntoView {
    provide_session();
    view! {
        <Router>
            <NavBar/>
            <main class="page">
                <Routes fallback=|| view! { <p>"Page not found."</p> }>
                    <Route path=path!("/") view=Home/>
                    <Route path=path!("/login") view=LoginPage/>
                    <Route path=path!("/admin/users") view=|| view! { <RequireRole role=Role::Admin><AdminUsersPage/></RequireRole> }/>
                    <Route path=path!("/admin/users/:id") view=|| view! { <RequireRole role=Role::Admin><AdminUserPage/></RequireRole> }/>
                    <Route path=path!("/admin/audit-log") view=|| view! { <RequireRole role=Role::Admin><AuditLogPage/></RequireRole> }/>
                    <Route path=path!("/dashboard") view=|| view! { <RequireRole role=Role::Customer><DashboardPage/></RequireRole> }/>
                </Routes>
            </main>
            <VersionFooter/>
        </Router>
    }
}

/// `/`: wherever the signed-in user belongs, or the login page.
#[component]
fn Home() -> impl IntoView {
    let me = LocalResource::new(api::me);
    move || match me.get() {
        None => view! { <p>"Loading…"</p> }.into_any(),
        Some(Ok(user)) => view! { <Redirect path=home_of(user.role)/> }.into_any(),
        Some(Err(_)) => view! { <Redirect path="/login"/> }.into_any(),
    }
}

/// Renders `children` for a signed-in user of `role`; sends others where they belong.
#[component]
fn RequireRole(role: Role, children: ChildrenFn) -> impl IntoView {
    let session = use_session();
    let me = LocalResource::new(api::me);
    move || match me.get() {
        None => view! { <p>"Loading…"</p> }.into_any(),
        Some(Err(err)) if err.is_unauthorized() => {
            view! { <Redirect path=login_path_after_401()/> }.into_any()
        }
        Some(Err(err)) => view! { <p class="error">{err.message}</p> }.into_any(),
        Some(Ok(user)) if user.role == role => {
            session.user.set(Some(user));
            children().into_any()
        }
        Some(Ok(user)) => view! { <Redirect path=home_of(user.role)/> }.into_any(),
    }
}

#[component]
fn NavBar() -> impl IntoView {
    let session = use_session();
    let logout = move |_| {
        spawn_local(async move {
            let _ = api::logout().await;
            mark_signed_in(false);
            session.user.set(None);
            if let Some(window) = web_sys::window() {
                let _ = window.location().set_href("/login");
            }
        });
    };
    view! {
        <nav class="nav">
            <span class="brand">"pulsekey"</span>
            {move || {
                session
                    .user
                    .get()
                    .map(|user| {
                        let links = (user.role == Role::Admin)
                            .then(|| {
                                view! {
                                    <A href="/admin/users">"Users"</A>
                                    <A href="/admin/audit-log">"Audit log"</A>
                                }
                            });
                        view! {
                            {links}
                            <span class="who" data-testid="signed-in-as">{user.username.clone()}</span>
                            <button data-testid="logout" on:click=logout>"Sign out"</button>
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
                            Err(err) => view! { <span class="error">{err.to_string()}</span> }.into_any(),
                        })
                }}
            </Suspense>
        </footer>
    }
}

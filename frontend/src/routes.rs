//! The pages that only some people open, each in its own piece of the wasm: the browser
//! fetches a page's piece the first time someone goes there, so the sign-in page does not
//! wait for the admin console. `data` runs in the main module while the piece downloads;
//! `view` is in the piece (see scripts/build-frontend for the split).

use leptos::prelude::*;
use leptos_router::{LazyRoute, lazy_route};
use pulsekey_types::Role;

use crate::app::RequireRole;
use crate::pages::{
    account::AccountPage, admin_servers::AdminServersPage, admin_user::AdminUserPage,
    admin_users::AdminUsersPage, audit_log::AuditLogPage, dashboard::DashboardPage,
    fleet::FleetPage,
};

pub struct Fleet;

#[lazy_route]
impl LazyRoute for Fleet {
    fn data() -> Self {
        Self
    }
    fn view(this: Self) -> AnyView {
        let _ = this;
        view! { <RequireRole role=Role::Admin><FleetPage/></RequireRole> }.into_any()
    }
}

pub struct Users;

#[lazy_route]
impl LazyRoute for Users {
    fn data() -> Self {
        Self
    }
    fn view(this: Self) -> AnyView {
        let _ = this;
        view! { <RequireRole role=Role::Admin><AdminUsersPage/></RequireRole> }.into_any()
    }
}

pub struct User;

#[lazy_route]
impl LazyRoute for User {
    fn data() -> Self {
        Self
    }
    fn view(this: Self) -> AnyView {
        let _ = this;
        view! { <RequireRole role=Role::Admin><AdminUserPage/></RequireRole> }.into_any()
    }
}

pub struct Servers;

#[lazy_route]
impl LazyRoute for Servers {
    fn data() -> Self {
        Self
    }
    fn view(this: Self) -> AnyView {
        let _ = this;
        view! { <RequireRole role=Role::Admin><AdminServersPage/></RequireRole> }.into_any()
    }
}

pub struct AuditLog;

#[lazy_route]
impl LazyRoute for AuditLog {
    fn data() -> Self {
        Self
    }
    fn view(this: Self) -> AnyView {
        let _ = this;
        view! { <RequireRole role=Role::Admin><AuditLogPage/></RequireRole> }.into_any()
    }
}

pub struct Account;

#[lazy_route]
impl LazyRoute for Account {
    fn data() -> Self {
        Self
    }
    fn view(this: Self) -> AnyView {
        let _ = this;
        view! { <RequireRole><AccountPage/></RequireRole> }.into_any()
    }
}

pub struct Dashboard;

#[lazy_route]
impl LazyRoute for Dashboard {
    fn data() -> Self {
        Self
    }
    fn view(this: Self) -> AnyView {
        let _ = this;
        view! { <RequireRole role=Role::Customer><DashboardPage/></RequireRole> }.into_any()
    }
}

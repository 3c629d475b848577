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
    fleet::FleetPage, webhooks::WebhooksPage,
};

/// A lazy route that shows `$page` to a signed-in user (of `$role`, when one is given).
macro_rules! lazy_page {
    ($route:ident, $page:ident $(, $role:expr)?) => {
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }
            fn view(this: Self) -> AnyView {
                let _ = this;
                view! { <RequireRole $(role={$role})?><$page/></RequireRole> }.into_any()
            }
        }
    };
}

lazy_page!(Fleet, FleetPage, Role::Admin);
lazy_page!(Users, AdminUsersPage, Role::Admin);
lazy_page!(User, AdminUserPage, Role::Admin);
lazy_page!(Servers, AdminServersPage, Role::Admin);
lazy_page!(AuditLog, AuditLogPage, Role::Admin);
lazy_page!(Webhooks, WebhooksPage, Role::Admin);
lazy_page!(Dashboard, DashboardPage, Role::Customer);
lazy_page!(Account, AccountPage);

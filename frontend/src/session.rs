//! Who is signed in: asked of the server once when the app starts, provided to every page
//! as context, and set by sign-in so that nothing asks again.

use leptos::prelude::*;
use pulsekey_types::{Role, UserView};

use crate::api::{self, ApiError};

#[derive(Clone, Copy)]
pub struct Session {
    /// `/api/v1/auth/me`: the signed-in user, or why there is none (401 when nobody is).
    pub me: LocalResource<Result<UserView, ApiError>>,
}

impl Session {
    /// The signed-in user, once known (reactive).
    pub fn user(&self) -> Option<UserView> {
        self.me.get().and_then(Result::ok)
    }

    /// Sign-in answered with `user`: every page sees it without asking the server again.
    pub fn signed_in(&self, user: UserView) {
        mark_signed_in(true);
        self.me.set(Some(Ok(user)));
    }
}

pub fn provide_session() {
    provide_context(Session {
        me: LocalResource::new(api::me),
    });
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}

/// Where a user lands after signing in.
pub fn home_of(role: Role) -> &'static str {
    match role {
        Role::Admin => "/admin/fleet",
        Role::Customer => "/dashboard",
    }
}

const SIGNED_IN_FLAG: &str = "pulsekey.signed-in";

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

/// Remembers, for this tab, that someone signed in: a later 401 then means the session
/// ended (expired, revoked, password changed) rather than that nobody signed in. Not a
/// secret: the session itself is in an HttpOnly cookie.
pub fn mark_signed_in(signed_in: bool) {
    if let Some(storage) = session_storage() {
        let _ = if signed_in {
            storage.set_item(SIGNED_IN_FLAG, "1")
        } else {
            storage.remove_item(SIGNED_IN_FLAG)
        };
    }
}

/// Where to send someone the API just refused: the login page, saying why when a session
/// was lost.
pub fn login_path_after_401() -> &'static str {
    // The flag stays until the login page shows, so that every failure of the same
    // moment sends the same way.
    let had_session = session_storage()
        .and_then(|s| s.get_item(SIGNED_IN_FLAG).ok().flatten())
        .is_some();
    if had_session {
        "/login?expired=1"
    } else {
        "/login"
    }
}

/// A full navigation, so that nothing of the old session stays in memory.
pub fn leave_for(path: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_href(path);
    }
}

/// Sends the browser to the login page when the session has ended.
pub fn on_error(err: &ApiError) {
    if err.is_unauthorized() {
        leave_for(login_path_after_401());
    }
}

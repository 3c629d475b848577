//! `GET /api/v1/users`: users filtered by role and search, newest first or by username,
//! a keyset page at a time.

use pulsekey_db::users::{self, UserOrder};
use pulsekey_db::{DbConnection, Total};
use pulsekey_types::{Role, UserList, UserSort, UserView};

use super::{check_limit, parse_cursor, view};
use crate::DomainError;
use crate::crypto::{hex, unhex};

/// One page of users in `sort` order, and the cursor of the next page if there is one.
pub fn list_users(
    conn: &mut DbConnection,
    role: Option<Role>,
    search: Option<String>,
    sort: UserSort,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<UserList, DomainError> {
    let limit = check_limit(limit)?;
    let query = users::UserQuery {
        role: role.map(|r| r.as_str().to_owned()),
        search: crate::text_filter("q", search)?,
        order: order_from(sort, cursor)?,
        limit: limit + 1,
    };
    let rows = users::list(conn, &query)?;
    let total = Total::of_page(query.order.is_first_page(), rows.len(), limit, || {
        users::total(conn, &query)
    })?;
    let more = rows.len() as i64 > limit;
    let mut items: Vec<UserView> = rows.iter().take(limit as usize).map(view).collect();
    let next_cursor = more
        .then(|| items.last().map(|user| cursor_of(sort, user)))
        .flatten();
    complete_views(conn, &mut items)?;
    Ok(UserList {
        items,
        next_cursor,
        total: total.count as u64,
        total_capped: total.capped,
    })
}

/// The cursor after `user`: its id, or (by username) `u.` and its lower-cased username
/// in hex, so that a cursor of one order is refused by the other.
fn cursor_of(sort: UserSort, user: &UserView) -> String {
    match sort {
        UserSort::Id => user.id.to_string(),
        UserSort::Username => format!("u.{}", hex(user.username.to_ascii_lowercase().as_bytes())),
    }
}

fn order_from(sort: UserSort, cursor: Option<&str>) -> Result<UserOrder, DomainError> {
    match sort {
        UserSort::Id => Ok(UserOrder::Newest {
            before_id: parse_cursor(cursor)?,
        }),
        UserSort::Username => {
            let after = cursor
                .filter(|c| !c.is_empty())
                .map(|c| {
                    c.strip_prefix("u.")
                        .and_then(unhex)
                        .and_then(|bytes| String::from_utf8(bytes).ok())
                        .ok_or_else(|| {
                            DomainError::Validation("cursor is not valid for this sort".into())
                        })
                })
                .transpose()?;
            Ok(UserOrder::Username { after })
        }
    }
}

/// Fills in what the users table does not hold: each user's latest heartbeat across their
/// servers and whether they have a second factor, in one query each.
pub(super) fn complete_views(
    conn: &mut DbConnection,
    users: &mut [UserView],
) -> Result<(), DomainError> {
    let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    let latest: std::collections::HashMap<i64, time::PrimitiveDateTime> =
        pulsekey_db::servers::last_heartbeat_by_owner(conn, &ids)?
            .into_iter()
            .filter_map(|(owner, at)| Some((owner, at?)))
            .collect();
    let with_factor = pulsekey_db::second_factors::confirmed_among(conn, &ids)?;
    for user in users.iter_mut() {
        user.last_heartbeat_at = latest.get(&user.id).copied().map(pulsekey_db::from_stored);
        user.totp_enabled = with_factor.contains(&user.id);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn user(id: i64, username: &str) -> UserView {
        UserView {
            id,
            username: username.into(),
            email: format!("{username}@example.com"),
            role: Role::Customer,
            disabled: false,
            totp_enabled: false,
            last_heartbeat_at: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn each_sort_reads_back_its_own_cursor() {
        let alice = user(7, "Alice.W@x");
        assert_eq!(
            order_from(UserSort::Id, Some(&cursor_of(UserSort::Id, &alice))).unwrap(),
            UserOrder::Newest { before_id: Some(7) }
        );
        let cursor = cursor_of(UserSort::Username, &alice);
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.'),
            "{cursor}"
        );
        assert_eq!(
            order_from(UserSort::Username, Some(&cursor)).unwrap(),
            UserOrder::Username {
                after: Some("alice.w@x".into())
            }
        );
        assert_eq!(
            order_from(UserSort::Username, None).unwrap(),
            UserOrder::Username { after: None }
        );
    }

    #[test]
    fn a_cursor_of_the_other_sort_or_a_made_up_one_is_refused() {
        let by_name = cursor_of(UserSort::Username, &user(7, "alice"));
        for (sort, cursor) in [
            (UserSort::Id, by_name.as_str()),
            (UserSort::Username, "7"),
            (UserSort::Username, "u.zz"),
            (UserSort::Username, "u.616"),
            (UserSort::Username, "u.ff"),
        ] {
            assert!(
                matches!(
                    order_from(sort, Some(cursor)),
                    Err(DomainError::Validation(_))
                ),
                "{sort:?} {cursor}"
            );
        }
    }
}

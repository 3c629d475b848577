use leptos::prelude::*;

/// "2,001 users" above a list; past the count's cap, "More than 1,000 users".
#[component]
pub fn ListTotal(total: u64, capped: bool, one: &'static str, many: &'static str) -> impl IntoView {
    view! { <p class="list-total" data-testid="list-total">{total_text(total, capped, one, many)}</p> }
}

pub fn total_text(total: u64, capped: bool, one: &str, many: &str) -> String {
    let noun = if total == 1 && !capped { one } else { many };
    if capped {
        format!("More than {} {noun}", thousands(total))
    } else {
        format!("{} {noun}", thousands(total))
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_read_as_numbers_people_write() {
        assert_eq!(total_text(0, false, "user", "users"), "0 users");
        assert_eq!(total_text(1, false, "user", "users"), "1 user");
        assert_eq!(total_text(2_001, false, "user", "users"), "2,001 users");
        assert_eq!(total_text(999, false, "user", "users"), "999 users");
        assert_eq!(
            total_text(1_000_000, false, "user", "users"),
            "1,000,000 users"
        );
        assert_eq!(
            total_text(1_000, true, "server", "servers"),
            "More than 1,000 servers"
        );
    }
}

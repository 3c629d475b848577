//! SQL functions the queries share, the same on both backends.

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// `s` with LIKE's wildcards escaped (the queries give `\` as the escape character).
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// How many rows a list's filters match, counted up to [`Total::CAP`]: past it an exact
/// count would cost a scan of everything a common filter matches, at every page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    pub count: i64,
    /// There are more than `count`; counting stopped there.
    pub capped: bool,
}

impl Total {
    pub const CAP: i64 = 1_000;

    /// The total of a list whose page, asked for `limit + 1` rows, came back with `rows`: a
    /// first page that holds every match is its own count (which spares a second scan when
    /// few rows match); otherwise `count` counts.
    pub fn of_page<E>(
        first_page: bool,
        rows: usize,
        limit: i64,
        count: impl FnOnce() -> Result<Total, E>,
    ) -> Result<Total, E> {
        if first_page && rows as i64 <= limit {
            Ok(Self::of(rows))
        } else {
            count()
        }
    }

    /// From the ids of up to `CAP + 1` matching rows.
    pub fn of(matched: usize) -> Self {
        let matched = matched as i64;
        Self {
            count: matched.min(Self::CAP),
            capped: matched > Self::CAP,
        }
    }
}

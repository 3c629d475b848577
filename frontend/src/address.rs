//! A list's state in the address (its filters, order, page size and page), so that a link,
//! a reload or Back brings the same list again.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::params::ParamsMap;

type Navigate = Box<dyn Fn(&str, NavigateOptions)>;

#[derive(Clone, Copy)]
pub struct ListAddress {
    path: &'static str,
    /// The parameters the list understands, in the order they are written.
    keys: &'static [&'static str],
    query: Memo<ParamsMap>,
    navigate: StoredValue<Navigate, LocalStorage>,
}

impl ListAddress {
    pub fn new(path: &'static str, keys: &'static [&'static str]) -> Self {
        let navigate = use_navigate();
        Self {
            path,
            keys,
            query: use_query_map(),
            navigate: StoredValue::new_local(Box::new(move |to: &str, options| {
                navigate(to, options)
            })),
        }
    }

    /// A parameter's value ("" when absent); tracked, so what reads it follows the address.
    pub fn get(&self, key: &str) -> String {
        self.query.with(|q| q.get(key).unwrap_or_default())
    }

    pub fn get_untracked(&self, key: &str) -> String {
        self.query
            .with_untracked(|q| q.get(key).unwrap_or_default())
    }

    /// The query string of the parameters the list understands, `except` left out.
    pub fn query(&self, except: &[&str]) -> String {
        self.query.with(|q| query_of(q, self.keys, except))
    }

    /// Goes to the list with one parameter changed ("" removes it). Any change but the page
    /// itself starts again from the first page. Typing replaces the history entry rather
    /// than adding one per key.
    pub fn set(&self, key: &'static str, value: String, replace: bool) {
        let mut params = self.query.get_untracked();
        if key != "cursor" {
            params.remove("cursor");
        }
        if value.trim().is_empty() {
            params.remove(key);
        } else {
            params.replace(key, value);
        }
        let to = format!("{}?{}", self.path, query_of(&params, self.keys, &[]));
        self.navigate.with_value(|navigate| {
            navigate(
                &to,
                NavigateOptions {
                    replace,
                    ..Default::default()
                },
            )
        });
    }
}

fn query_of(params: &ParamsMap, keys: &[&str], except: &[&str]) -> String {
    keys.iter()
        .filter(|key| !except.contains(key))
        .filter_map(|key| {
            let value = params.get(key)?;
            (!value.trim().is_empty()).then(|| {
                format!(
                    "{key}={}",
                    String::from(js_sys::encode_uri_component(value.trim()))
                )
            })
        })
        .collect::<Vec<_>>()
        .join("&")
}

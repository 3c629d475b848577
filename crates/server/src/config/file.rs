//! The optional TOML configuration file (`--config FILE` or `PULSEKEY_CONFIG`).
//!
//! Its keys are the long flag names in snake case (`bind`, `data_dir`, `grace_days`, …): any
//! setting that also has a variable. Precedence is flag > variable > file > default. The
//! file's values are turned into flags for exactly the settings that no flag or variable
//! set, then the command line is parsed again, so one parser validates everything.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Command};

use crate::config::ConfigError;

/// The command line with the file's settings added, and the ids of the settings it set.
pub fn apply(
    root: &Command,
    matches: &ArgMatches,
    args: Vec<OsString>,
    path: &Path,
) -> Result<(Vec<OsString>, BTreeSet<String>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        ConfigError(format!(
            "cannot read configuration file {}: {err}",
            path.display()
        ))
    })?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|err| ConfigError(format!("{}: {}", path.display(), err.message())))?;
    let (command, leaf) = leaf(root, matches);
    let known = settings(root);
    let mut args = args;
    let mut from_file = BTreeSet::new();
    for (key, value) in &table {
        if !known.contains(key.as_str()) {
            return Err(ConfigError(format!(
                "{}: unknown setting `{key}` (settings are the long flag names in snake case, e.g. `data_dir`)",
                path.display()
            )));
        }
        // A setting of another command (the file is shared by all of them).
        let Some(arg) = command.get_arguments().find(|a| a.get_id() == key.as_str()) else {
            continue;
        };
        if matches!(
            leaf.value_source(key),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let Some(long) = arg.get_long() else { continue };
        let flag = format!("--{long}");
        let invalid =
            |expected: &str| ConfigError(format!("{}: `{key}` must be {expected}", path.display()));
        match (arg.get_action(), value) {
            (ArgAction::SetTrue, toml::Value::Boolean(true)) => args.push(flag.into()),
            (ArgAction::SetTrue, toml::Value::Boolean(false)) => {}
            (ArgAction::SetTrue, _) => return Err(invalid("true or false")),
            // `--flag=value`, so a value that starts with `-` is still a value (and a secret
            // never ends up quoted in a parse error).
            (_, toml::Value::String(s)) => args.push(format!("{flag}={s}").into()),
            (_, toml::Value::Integer(n)) => args.push(format!("{flag}={n}").into()),
            (_, toml::Value::Boolean(b)) => args.push(format!("{flag}={b}").into()),
            (_, toml::Value::Array(items)) if arg.get_value_delimiter().is_some() => {
                let items = items
                    .iter()
                    .map(|item| item.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| invalid("a list of strings"))?;
                args.push(format!("{flag}={}", items.join(",")).into());
            }
            _ => return Err(invalid("a string or an integer")),
        }
        from_file.insert(key.clone());
    }
    Ok((args, from_file))
}

/// The subcommand that will run, with its matches.
pub fn leaf<'a>(
    mut command: &'a Command,
    mut matches: &'a ArgMatches,
) -> (&'a Command, &'a ArgMatches) {
    while let Some((name, sub_matches)) = matches.subcommand() {
        match command.find_subcommand(name) {
            Some(sub) => {
                command = sub;
                matches = sub_matches;
            }
            None => break,
        }
    }
    (command, matches)
}

/// Every id that has a variable, in any command: what a file may set.
pub fn settings(command: &Command) -> BTreeSet<&str> {
    let mut ids: BTreeSet<&str> = command
        .get_arguments()
        .filter(|a| a.get_env().is_some())
        .map(|a| a.get_id().as_str())
        .collect();
    for sub in command.get_subcommands() {
        ids.extend(settings(sub));
    }
    ids.remove("config");
    ids
}

/// The effective settings of `command`, one `name = value  # source` line each, secrets
/// masked: what `pulsekey config check` prints.
pub fn describe(command: &Command, matches: &ArgMatches, from_file: &BTreeSet<String>) -> String {
    let mut out = String::new();
    for arg in command.get_arguments().filter(|a| a.get_env().is_some()) {
        let id = arg.get_id().as_str();
        if id == "config" {
            continue;
        }
        let env = arg
            .get_env()
            .map(|e| e.to_string_lossy())
            .unwrap_or_default();
        let source = match (from_file.contains(id), matches.value_source(id)) {
            (true, _) => "file".to_owned(),
            (_, Some(ValueSource::CommandLine)) => {
                format!("flag --{}", arg.get_long().unwrap_or(id))
            }
            (_, Some(ValueSource::EnvVariable)) => format!("env {env}"),
            (_, Some(ValueSource::DefaultValue)) => "default".to_owned(),
            _ => "not set".to_owned(),
        };
        let values: Vec<String> = matches
            .get_raw(id)
            .map(|raw| raw.map(|v| v.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let value = match values.as_slice() {
            [] => {
                out.push_str(&format!("# {id} is not set\n"));
                continue;
            }
            [url] if id == "database_url" => format!("{:?}", mask_url_password(url)),
            _ if arg.is_hide_env_values_set() => "\"********\"".to_owned(),
            [one] if one.parse::<i64>().is_ok() => one.clone(),
            [one] => format!("{one:?}"),
            many => format!("{many:?}"),
        };
        out.push_str(&format!("{id} = {value}  # {source}\n"));
    }
    out
}

/// `postgres://user:secret@host/db` → `postgres://user:********@host/db`.
pub fn mask_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[scheme_end..]
        .find('/')
        .map_or(url.len(), |i| scheme_end + i);
    let Some(at) = url[scheme_end..authority_end]
        .rfind('@')
        .map(|i| scheme_end + i)
    else {
        return url.to_owned();
    };
    match url[scheme_end..at].find(':') {
        Some(colon) => format!("{}********{}", &url[..scheme_end + colon + 1], &url[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, Command};

    fn command() -> Command {
        Command::new("pulsekey").subcommand(
            Command::new("serve")
                .arg(
                    Arg::new("bind")
                        .long("bind")
                        .env("TEST_CF_BIND")
                        .default_value("127.0.0.1:8080"),
                )
                .arg(
                    Arg::new("grace_days")
                        .long("grace-days")
                        .env("TEST_CF_GRACE"),
                )
                .arg(
                    Arg::new("trusted_proxies")
                        .long("trusted-proxies")
                        .env("TEST_CF_PROXIES")
                        .value_delimiter(','),
                ),
        )
    }

    fn with_file(contents: &str, args: &[&str]) -> Result<Vec<String>, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pulsekey.toml");
        std::fs::write(&path, contents).unwrap();
        let root = command();
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let matches = root.clone().try_get_matches_from(&args).unwrap();
        let (args, _) = apply(&root, &matches, args, &path)?;
        Ok(args.into_iter().map(|a| a.into_string().unwrap()).collect())
    }

    #[test]
    fn the_file_fills_what_flags_left_unset() {
        let args = with_file(
            "bind = \"0.0.0.0:9000\"\ngrace_days = 7\ntrusted_proxies = [\"10.0.0.1\", \"10.0.0.2\"]\n",
            &["pulsekey", "serve", "--grace-days", "3"],
        )
        .unwrap();
        assert_eq!(
            args,
            [
                "pulsekey",
                "serve",
                "--grace-days",
                "3",
                "--bind=0.0.0.0:9000",
                "--trusted-proxies=10.0.0.1,10.0.0.2"
            ]
        );
    }

    #[test]
    fn passwords_in_database_urls_are_masked() {
        assert_eq!(
            mask_url_password("postgres://pk:s3cret@db:5432/pulsekey?sslmode=require"),
            "postgres://pk:********@db:5432/pulsekey?sslmode=require"
        );
        assert_eq!(
            mask_url_password("postgres://pk@db/p"),
            "postgres://pk@db/p"
        );
        assert_eq!(
            mask_url_password("./data/pulsekey.sqlite3"),
            "./data/pulsekey.sqlite3"
        );
        assert_eq!(
            mask_url_password("postgres://a:b@c/d@e"),
            "postgres://a:********@c/d@e"
        );
    }

    #[test]
    fn unknown_settings_and_wrong_types_are_named() {
        let err = with_file("bnid = \"x\"", &["pulsekey", "serve"]).unwrap_err();
        assert!(err.0.contains("unknown setting `bnid`"), "{err}");
        let err = with_file("bind = [1]", &["pulsekey", "serve"]).unwrap_err();
        assert!(err.0.contains("`bind` must be"), "{err}");
        let err = with_file("bind = ", &["pulsekey", "serve"]).unwrap_err();
        assert!(err.0.contains("pulsekey.toml"), "{err}");
    }
}

//! Configuration sources, precedence and validation messages.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use crate::config::Strategy;

use super::*;

fn load_with(
    file: Option<&str>,
    env: &[(&str, &str)],
    flags: &[(&'static str, &str)],
) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    if let Some(text) = file {
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let lookup = |name: &str| env.get(name).cloned();
    load(Sources {
        file: None,
        default_file: Some(&path),
        env: &lookup,
        flags: flags.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
    })
}

fn error_text(result: Result<Config, ConfigError>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn defaults_without_any_source() {
    let c = load_with(None, &[], &[]).unwrap();
    assert_eq!(c.settings, Settings::default());
    assert!(c.api_access_token.is_none());
    assert!(c.accounts.is_empty());
    assert_eq!(c.host.to_string(), "127.0.0.1");
    assert_eq!(c.port, 8787);
    assert!(c.file.is_none());
}

#[test]
fn the_original_config_file_works() {
    let c = load_with(
        Some(r#"{
            "api_access_token": "my-own-token-123",
            "accounts": [{"email": "a@example.com", "password": "pw"}, {"api_key": "k1", "name": "main"}],
            "session_timeout_minutes": 30, "max_retries": 5, "retry_delay": 3,
            "request_timeout": 45, "stream_timeout": 180, "rate_limit": 30, "debug_mode": true,
            "stats_file_path": "stats_data.json"
        }"#),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(
        c.api_access_token.as_ref().map(Secret::expose),
        Some("my-own-token-123")
    );
    assert_eq!(c.accounts.len(), 2);
    assert_eq!(c.accounts[0].name(), "a@example.com");
    assert_eq!(c.accounts[1].name(), "main");
    assert_eq!(c.settings.max_retries, 5);
    assert_eq!(c.settings.retry_delay, Duration::from_secs(3));
    assert_eq!(c.settings.request_timeout, Duration::from_secs(45));
    assert_eq!(c.settings.rate_limit, 30);
    assert!(c.settings.debug_mode);
    assert_eq!(c.unknown_keys, ["stats_file_path"]);
}

#[test]
fn precedence_is_file_then_env_then_flags() {
    let file = Some(r#"{"max_retries": 1, "rate_limit": 10, "request_timeout": 5}"#);
    let env = [("MAX_RETRIES", "2"), ("RATE_LIMIT", "20")];
    let c = load_with(file, &env, &[("max_retries", "3")]).unwrap();
    assert_eq!(c.settings.max_retries, 3, "flag beats env");
    assert_eq!(c.settings.rate_limit, 20, "env beats file");
    assert_eq!(
        c.settings.request_timeout,
        Duration::from_secs(5),
        "file beats default"
    );
}

#[test]
fn accounts_from_env_in_both_shapes() {
    let wrapped = load_with(
        None,
        &[(
            "ONDEMAND_ACCOUNTS",
            r#"{"accounts":[{"email":"e@x","password":"p"}]}"#,
        )],
        &[],
    )
    .unwrap();
    assert!(
        matches!(&wrapped.accounts[0], AccountConfig::Password { email, .. } if email == "e@x")
    );
    let bare = load_with(
        Some(r#"{"accounts": [{"api_key": "zzz"}]}"#),
        &[("ONDEMAND_ACCOUNTS", r#"[{"api_key":"k"}]"#)],
        &[],
    )
    .unwrap();
    assert_eq!(bare.accounts.len(), 1, "env replaces the file's list");
    let name = bare.accounts[0].name().to_owned();
    // Unnamed keys get a fingerprint name that does not contain the key.
    assert!(name.starts_with("key-") && name.len() == 12, "{name}");
}

#[test]
fn errors_name_the_field_and_the_source() {
    let e = error_text(load_with(None, &[("MAX_RETRIES", "lots")], &[]));
    assert!(
        e.contains("`max_retries`") && e.contains("MAX_RETRIES") && e.contains("\"lots\""),
        "{e}"
    );
    let e = error_text(load_with(Some(r#"{"request_timeout": -1}"#), &[], &[]));
    assert!(
        e.contains("`request_timeout`") && e.contains("config.json"),
        "{e}"
    );
    let e = error_text(load_with(None, &[], &[("port", "70000")]));
    assert!(e.contains("`port`") && e.contains("--port"), "{e}");
    let e = error_text(load_with(None, &[("DEBUG_MODE", "maybe")], &[]));
    assert!(e.contains("true or false"), "{e}");
    let e = error_text(load_with(None, &[("ONDEMAND_BASE_URL", "ftp://x")], &[]));
    assert!(e.contains("`base_url`"), "{e}");
    let e = error_text(load_with(None, &[("LISTEN_HOST", "example.com")], &[]));
    assert!(e.contains("`host`"), "{e}");
    let e = error_text(load_with(Some("{not json"), &[], &[]));
    assert!(e.contains("not valid JSON"), "{e}");
    let e = error_text(load_with(
        None,
        &[("ONDEMAND_ACCOUNTS", "[{\"email\":\"a@b\"}]")],
        &[],
    ));
    assert!(
        e.contains("accounts[0]") && e.contains("no password"),
        "{e}"
    );
    let e = error_text(load_with(
        None,
        &[(
            "ONDEMAND_ACCOUNTS",
            "[{\"api_key\":\"a\",\"name\":\"x\"},{\"api_key\":\"b\",\"name\":\"x\"}]",
        )],
        &[],
    ));
    assert!(e.contains("accounts[1]") && e.contains("duplicate"), "{e}");
    let e = error_text(load_with(None, &[("ONDEMAND_ACCOUNTS", "[{}]")], &[]));
    assert!(e.contains("api_key"), "{e}");
}

#[test]
fn the_published_sample_token_is_refused() {
    let e = error_text(load_with(
        None,
        &[("API_ACCESS_TOKEN", "sk-2api-ondemand-access-token-2025")],
        &[],
    ));
    assert!(e.contains("sample token"), "{e}");
}

#[test]
fn a_short_token_is_refused_only_where_the_network_can_reach_it() {
    let e = error_text(load_with(
        None,
        &[
            ("API_ACCESS_TOKEN", "sk-short-123"),
            ("LISTEN_HOST", "0.0.0.0"),
        ],
        &[],
    ));
    assert!(
        e.contains("api_access_token") && e.contains("12 characters") && e.contains("0.0.0.0"),
        "{e}"
    );
    // The same token on loopback, and a long one anywhere, are fine.
    assert!(load_with(None, &[("API_ACCESS_TOKEN", "sk-short-123")], &[]).is_ok());
    let long = "sk-0123456789abcdef01234567";
    let c = load_with(
        None,
        &[("API_ACCESS_TOKEN", long), ("LISTEN_HOST", "0.0.0.0")],
        &[],
    )
    .unwrap();
    assert_eq!(c.api_access_token.unwrap().expose(), long);
}

#[test]
fn an_explicit_missing_file_is_an_error() {
    let lookup = |_: &str| None;
    let e = load(Sources {
        file: Some(Path::new("/nonexistent/odp.json")),
        default_file: None,
        env: &lookup,
        flags: vec![],
    });
    assert!(error_text(e).contains("/nonexistent/odp.json"));
}

#[test]
fn secrets_never_show_in_debug_output() {
    let c = load_with(Some(r#"{"api_access_token":"tok-SECRET-1","accounts":[{"api_key":"KEY-SECRET-2"},{"email":"e@x","password":"PW-SECRET-3"}]}"#), &[], &[]).unwrap();
    let debug = format!("{c:?}");
    for secret in ["tok-SECRET-1", "KEY-SECRET-2", "PW-SECRET-3"] {
        assert!(!debug.contains(secret), "{secret} leaked: {debug}");
    }
}

#[test]
fn settings_json_covers_every_setting_and_round_trips() {
    let mut changed = Settings {
        session_timeout: Duration::from_secs(5 * 60),
        session_mode: SessionMode::Reuse,
        retry_delay: Duration::from_millis(1500),
        pool_strategy: Strategy::Weighted,
        rate_limit: 0,
        user_agent: "agent/1".into(),
        ..Settings::default()
    };
    changed.health.circuit_failures = 7;
    for settings in [Settings::default(), changed] {
        let json = settings_json(&settings);
        let keys: Vec<&str> = all_names()
            .map(|f| f.key)
            .filter(|k| is_setting(k))
            .collect();
        let mut listed: Vec<&str> = json.keys().map(String::as_str).collect();
        let mut expected = keys.clone();
        listed.sort_unstable();
        expected.sort_unstable();
        assert_eq!(listed, expected, "settings_json lists every setting once");
        let mut stored = json.clone();
        // What the dashboard cannot change (read at start) is not stored.
        stored.retain(|key, _| SETTINGS.iter().any(|s| s.key == key && s.live));
        let rebuilt = settings_with(&Settings::default(), &Pinned::default(), &stored).unwrap();
        assert_eq!(rebuilt, settings);
    }
}

#[test]
fn pinned_settings_win_over_stored_ones_and_bad_stored_values_name_the_field() {
    let env = |name: &str| (name == "RATE_LIMIT").then(|| "7".to_owned());
    let config = load(Sources {
        file: None,
        default_file: None,
        env: &env,
        flags: vec![],
    })
    .unwrap();
    assert_eq!(
        config.pinned.origin("rate_limit"),
        Some(&Origin::Env("RATE_LIMIT"))
    );
    assert_eq!(config.pinned.origin("max_retries"), None);
    let serde_json::Value::Object(stored) = serde_json::json!({"rate_limit": 99, "max_retries": 5})
    else {
        unreachable!()
    };
    let settings = settings_with(&config.settings, &config.pinned, &stored).unwrap();
    assert_eq!((settings.rate_limit, settings.max_retries), (7, 5));
    let serde_json::Value::Object(bad) = serde_json::json!({"max_retries": "many"}) else {
        unreachable!()
    };
    let err = settings_with(&config.settings, &config.pinned, &bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`max_retries`") && err.contains("dashboard"),
        "{err}"
    );
    let serde_json::Value::Object(start_only) = serde_json::json!({"port": 1}) else {
        unreachable!()
    };
    assert!(settings_with(&config.settings, &config.pinned, &start_only).is_err());
}

#[test]
fn every_setting_is_declared_once_with_both_languages_and_a_valid_default() {
    let mut keys = std::collections::HashSet::new();
    let defaults = settings_json(&Settings::default());
    for s in SETTINGS {
        assert!(keys.insert(s.key), "{} twice", s.key);
        for words in [s.label, s.help] {
            assert!(!words.en.is_empty() && !words.zh.is_empty(), "{}", s.key);
        }
        let default = defaults[s.key].clone();
        let parsed = s.parse(&values::Raw::Json(default.clone()), &Origin::Stored);
        let mut round = Settings::default();
        (s.set)(
            &mut round,
            parsed.unwrap_or_else(|e| panic!("{}: {e}", s.key)),
        );
        assert_eq!((s.get)(&round), default, "{} round-trips", s.key);
        assert!(
            s.flag.starts_with("--") && s.env.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        );
    }
    let names: Vec<&str> = all_names().map(|n| n.key).collect();
    assert_eq!(names.len(), SETTINGS.len() + START_FIELDS.len());
}

#[test]
fn values_sent_as_headers_must_be_header_safe() {
    let ua = error_text(load_with(
        None,
        &[("ONDEMAND_USER_AGENT", "bad\u{7}agent")],
        &[],
    ));
    assert!(
        ua.contains("ONDEMAND_USER_AGENT") && ua.contains("visible ASCII"),
        "{ua}"
    );
    let key = error_text(load_with(
        None,
        &[("ONDEMAND_ACCOUNTS", "[{\"api_key\": \"abc\\u0001def\"}]")],
        &[],
    ));
    assert!(key.contains("api_key must be visible ASCII"), "{key}");
    let utf8 = error_text(load_with(None, &[], &[("user_agent", "Mozilla/5.0 ☃")]));
    assert!(utf8.contains("visible ASCII"), "{utf8}");
    assert!(
        load_with(
            None,
            &[("ONDEMAND_USER_AGENT", "Mozilla/5.0 (X11; Linux)")],
            &[]
        )
        .is_ok()
    );
}

#[test]
fn an_account_may_have_its_own_proxy_and_a_bad_one_is_named_without_its_password() {
    let config = load_with(
        None,
        &[(
            "ONDEMAND_ACCOUNTS",
            r#"[{"api_key": "k1", "proxy": "socks5h://u:pw@127.0.0.1:7890"}, {"api_key": "k2", "proxy": ""}]"#,
        )],
        &[],
    )
    .unwrap();
    let proxies: Vec<Option<String>> = config
        .accounts
        .iter()
        .map(|a| a.options().proxy.as_ref().map(|p| p.expose().to_owned()))
        .collect();
    assert_eq!(
        proxies,
        [Some("socks5h://u:pw@127.0.0.1:7890".to_owned()), None]
    );
    let e = error_text(load_with(
        None,
        &[(
            "ONDEMAND_ACCOUNTS",
            r#"[{"api_key": "k1", "proxy": "ftp://u:hunter2@h:1"}]"#,
        )],
        &[],
    ));
    assert!(e.contains("accounts[0].proxy"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn the_proxy_and_ca_file_settings_are_checked_at_start() {
    let e = error_text(load_with(
        None,
        &[("ONDEMAND_PROXY", "proxy.corp:3128")],
        &[],
    ));
    assert!(e.contains("ONDEMAND_PROXY"), "{e}");
    let e = error_text(load_with(
        None,
        &[],
        &[("upstream_ca_file", "/no/such/ca.pem")],
    ));
    assert!(
        e.contains("/no/such/ca.pem") && e.contains("cannot read"),
        "{e}"
    );
    let config = load_with(
        Some(r#"{"upstream_proxy": "http://me:pw@proxy.corp:3128"}"#),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(
        config.settings.upstream_proxy.map(|p| p.masked()),
        Some(format!("http://me:{PASSWORD_MASK}@proxy.corp:3128"))
    );
}

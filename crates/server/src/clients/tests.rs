//! The agents' config files in a temporary home: applied, previewed, undone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::agent::PROVIDER;
use super::*;

const ORIGIN: &str = "http://127.0.0.1:8787";

struct Place {
    _dir: tempfile::TempDir,
    home: PathBuf,
    clients: Clients,
}

fn place() -> Place {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let homes = Homes {
        home: Some(home.clone()),
        ..Homes::default()
    };
    let clients = Clients::new(homes, &dir.path().join("data"));
    Place {
        _dir: dir,
        home,
        clients,
    }
}

fn target(token: &str, model: Option<&str>) -> Target {
    Target {
        origin: ORIGIN.into(),
        token: token.into(),
        model: model.map(str::to_owned),
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

const CLAUDE_SETTINGS: &str = r#"{
  "permissions": {
    "deny": ["Read(./.env)"],
    "allow": ["Bash(npm run lint)"]
  },
  "env": {
    "DISABLE_TELEMETRY": "1"
  },
  "model": "opus",
  "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "echo hi"}]}]}
}
"#;

#[test]
fn claude_code_is_pointed_at_the_proxy_keeping_every_other_key_and_undone_byte_for_byte() {
    let p = place();
    let file = p.home.join(".claude/settings.json");
    write(&file, CLAUDE_SETTINGS);
    let before = p.clients.status(ORIGIN);
    assert!(before[0].exists && !before[0].connected && !before[0].applied);

    let preview = p
        .clients
        .preview(
            Agent::ClaudeCode,
            &target("sk-odp-one", Some("claude-sonnet-5")),
        )
        .unwrap();
    assert_eq!(read(&file), CLAUDE_SETTINGS, "a preview writes nothing");
    assert!(!p.clients.status(ORIGIN)[0].applied);
    for line in [
        "-  \"model\": \"opus\",",
        "+  \"model\": \"claude-sonnet-5\",",
        "+    \"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:8787\",",
        "+    \"ANTHROPIC_AUTH_TOKEN\": \"…\"",
    ] {
        assert!(
            preview.diff.lines().any(|l| l == line),
            "{line} in\n{}",
            preview.diff
        );
    }

    let applied = p
        .clients
        .apply(
            Agent::ClaudeCode,
            &target("sk-odp-one", Some("claude-sonnet-5")),
        )
        .unwrap();
    assert_eq!(
        applied.diff, preview.diff,
        "what was shown is what was done"
    );
    let now = read(&file);
    let json: serde_json::Value = serde_json::from_str(&now).unwrap();
    assert_eq!(json["env"]["ANTHROPIC_BASE_URL"], ORIGIN);
    assert_eq!(json["env"]["ANTHROPIC_AUTH_TOKEN"], "sk-odp-one");
    assert_eq!(json["env"]["DISABLE_TELEMETRY"], "1");
    assert_eq!(json["model"], "claude-sonnet-5");
    // Untouched values keep their text and the keys their order.
    assert!(now.contains(r#""hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "echo hi"}]}]}"#), "{now}");
    let order: Vec<usize> = ["\"permissions\"", "\"env\"", "\"model\"", "\"hooks\""]
        .iter()
        .map(|k| now.find(k).unwrap())
        .collect();
    assert!(order.is_sorted(), "{now}");
    let backup = PathBuf::from(applied.backup.unwrap());
    assert_eq!(read(&backup), CLAUDE_SETTINGS);
    #[cfg(unix)]
    assert_eq!((mode(&file), mode(&backup)), (0o600, 0o600));
    let status = &p.clients.status(ORIGIN)[0];
    assert!(status.connected && status.applied, "{status:?}");
    assert!(!p.clients.status("http://127.0.0.1:9999")[0].connected);

    let undone = p.clients.undo(Agent::ClaudeCode).unwrap();
    assert!(undone.restored);
    assert_eq!(read(&file), CLAUDE_SETTINGS, "byte for byte");
    assert!(undone.diff.contains("-    \"ANTHROPIC_AUTH_TOKEN\": \"…\""));
    assert!(!backup.exists());
    let status = &p.clients.status(ORIGIN)[0];
    assert!(!status.connected && !status.applied);
    assert!(matches!(
        p.clients.undo(Agent::ClaudeCode),
        Err(ClientError::NotApplied(_))
    ));
}

#[test]
fn a_diff_shows_no_secret_neither_the_proxys_token_nor_the_users_own_keys() {
    let p = place();
    let file = p.home.join(".claude/settings.json");
    let own = "sk-ant-api03-the-users-own-key-0123456789";
    write(
        &file,
        &format!("{{\n  \"env\": {{\n    \"ANTHROPIC_API_KEY\": \"{own}\"\n  }}\n}}\n"),
    );
    let token = "sk-odp-0123456789abcdefghijklmnopqrstuvwxyzAB";
    let change = p
        .clients
        .apply(Agent::ClaudeCode, &target(token, None))
        .unwrap();
    assert!(read(&file).contains(token), "the file has it");
    for secret in [own, token] {
        assert!(!change.diff.contains(secret), "{}", change.diff);
    }
    assert!(
        change.diff.contains("\"ANTHROPIC_AUTH_TOKEN\": \"sk…AB\""),
        "{}",
        change.diff
    );
    assert!(
        change
            .diff
            .contains("\"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:8787\"")
    );
    let undone = p.clients.undo(Agent::ClaudeCode).unwrap();
    assert!(
        !undone.diff.contains(token) && !undone.diff.contains(own),
        "{}",
        undone.diff
    );
}

#[test]
fn a_file_that_did_not_exist_is_made_and_undo_removes_it() {
    let p = place();
    let file = p.home.join(".claude/settings.json");
    let applied = p
        .clients
        .apply(Agent::ClaudeCode, &target("sk-odp-a", None))
        .unwrap();
    assert_eq!(applied.backup, None, "nothing to back up");
    assert_eq!(
        read(&file),
        "{\n  \"env\": {\n    \"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:8787\",\n    \"ANTHROPIC_AUTH_TOKEN\": \"sk-odp-a\"\n  }\n}\n"
    );
    #[cfg(unix)]
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    p.clients.undo(Agent::ClaudeCode).unwrap();
    assert!(!file.exists());
}

#[test]
fn when_the_user_changed_the_file_since_undo_takes_back_only_its_own_keys() {
    let p = place();
    let file = p.home.join(".claude/settings.json");
    write(&file, CLAUDE_SETTINGS);
    p.clients
        .apply(
            Agent::ClaudeCode,
            &target("sk-odp-one", Some("claude-sonnet-5")),
        )
        .unwrap();
    // A second apply (a new token) keeps the first backup and what the keys held first.
    p.clients
        .apply(
            Agent::ClaudeCode,
            &target("sk-odp-two", Some("claude-sonnet-5")),
        )
        .unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&read(&file)).unwrap();
    assert_eq!(json["env"]["ANTHROPIC_AUTH_TOKEN"], "sk-odp-two");
    json["theme"] = "dark".into();
    json["env"]["ANTHROPIC_BASE_URL"] = "http://elsewhere:1".into();
    write(&file, &serde_json::to_string_pretty(&json).unwrap());

    assert!(
        !p.clients.undo(Agent::ClaudeCode).unwrap().restored,
        "only its keys"
    );
    let json: serde_json::Value = serde_json::from_str(&read(&file)).unwrap();
    assert_eq!(json["theme"], "dark", "the user's change stays");
    assert_eq!(json["model"], "opus", "the model goes back to what it was");
    assert_eq!(json["env"]["ANTHROPIC_AUTH_TOKEN"], serde_json::Value::Null);
    assert_eq!(
        json["env"]["ANTHROPIC_BASE_URL"], "http://elsewhere:1",
        "a key the user changed since is theirs"
    );
    assert_eq!(json["env"]["DISABLE_TELEMETRY"], "1");
    assert_eq!(json["permissions"]["deny"][0], "Read(./.env)");
}

#[test]
fn tables_the_apply_made_go_when_undo_leaves_them_empty() {
    let p = place();
    let file = p.home.join(".claude/settings.json");
    write(&file, "{\"model\": \"opus\"}");
    p.clients
        .apply(Agent::ClaudeCode, &target("sk-odp-a", None))
        .unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&read(&file)).unwrap();
    json["theme"] = "dark".into();
    write(&file, &json.to_string());
    p.clients.undo(Agent::ClaudeCode).unwrap();
    let json: serde_json::Value = serde_json::from_str(&read(&file)).unwrap();
    assert_eq!(json, serde_json::json!({"model": "opus", "theme": "dark"}));
}

const CODEX_CONFIG: &str = r#"# my Codex setup
model = "gpt-5" # the default
model_provider = "openai"
approval_policy = "on-request"

[model_providers.azure]
name = "Azure"  # work
base_url = "https://example.openai.azure.com/openai"
env_key = "AZURE_OPENAI_API_KEY"

[profiles.fast]
model = "gpt-5-mini"
"#;

#[test]
fn codex_gets_a_responses_provider_with_comments_kept_and_undone_byte_for_byte() {
    let p = place();
    let file = p.home.join(".codex/config.toml");
    write(&file, CODEX_CONFIG);
    let applied = p
        .clients
        .apply(Agent::Codex, &target("sk-odp-c", Some("gpt-6.1-sol")))
        .unwrap();
    let now = read(&file);
    let doc: toml_edit::DocumentMut = now.parse().unwrap();
    assert_eq!(doc["model"].as_str(), Some("gpt-6.1-sol"));
    assert_eq!(doc["model_provider"].as_str(), Some(PROVIDER));
    let provider = &doc["model_providers"][PROVIDER];
    assert_eq!(
        provider["base_url"].as_str(),
        Some("http://127.0.0.1:8787/v1")
    );
    assert_eq!(provider["wire_api"].as_str(), Some("responses"));
    assert_eq!(
        provider["experimental_bearer_token"].as_str(),
        Some("sk-odp-c")
    );
    assert_eq!(
        doc["model_providers"]["azure"]["env_key"].as_str(),
        Some("AZURE_OPENAI_API_KEY")
    );
    for kept in [
        "# my Codex setup",
        "model = \"gpt-6.1-sol\" # the default",
        "name = \"Azure\"  # work",
        "[profiles.fast]",
    ] {
        assert!(now.contains(kept), "{kept} in\n{now}");
    }
    assert!(now.contains("[model_providers.ondemand-proxy]"), "{now}");
    assert!(
        !now.contains("[model_providers]\n"),
        "no empty parent table: {now}"
    );
    assert!(
        applied.diff.contains("-model_provider = \"openai\""),
        "{}",
        applied.diff
    );
    let status = &p.clients.status(ORIGIN)[1];
    assert!(status.connected && status.applied, "{status:?}");

    p.clients.undo(Agent::Codex).unwrap();
    assert_eq!(read(&file), CODEX_CONFIG);
}

#[test]
fn codex_partial_undo_puts_back_the_previous_provider_and_drops_its_own_table() {
    let p = place();
    let file = p.home.join(".codex/config.toml");
    write(&file, CODEX_CONFIG);
    p.clients
        .apply(Agent::Codex, &target("sk-odp-c", Some("gpt-6.1-sol")))
        .unwrap();
    let changed = format!("{}\n[tui]\nnotifications = true\n", read(&file));
    write(&file, &changed);
    p.clients.undo(Agent::Codex).unwrap();
    let now = read(&file);
    let doc: toml_edit::DocumentMut = now.parse().unwrap();
    assert_eq!(doc["model"].as_str(), Some("gpt-5"));
    assert_eq!(doc["model_provider"].as_str(), Some("openai"));
    assert!(doc["model_providers"].get(PROVIDER).is_none(), "{now}");
    assert!(doc["model_providers"].get("azure").is_some());
    assert_eq!(doc["tui"]["notifications"].as_bool(), Some(true));
}

#[test]
fn a_file_that_cannot_be_edited_is_left_alone_with_a_reason() {
    let p = place();
    let file = p.home.join(".claude/settings.json");
    for (text, says) in [
        ("{\"model\": ", "not valid JSON"),
        ("[1, 2]", "not valid JSON"),
        ("{\"env\": \"ANTHROPIC_BASE_URL=x\"}", "`env` holds a value"),
    ] {
        write(&file, text);
        let error = p
            .clients
            .apply(Agent::ClaudeCode, &target("sk-odp-a", None))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(says) && error.contains("was not changed"),
            "{text}: {error}"
        );
        assert_eq!(read(&file), text, "nothing written");
        assert!(!p.clients.status(ORIGIN)[0].applied, "no record kept");
    }
    let codex = p.home.join(".codex/config.toml");
    write(&codex, "model = [\n");
    let status = &p.clients.status(ORIGIN)[1];
    assert!(
        status
            .problem
            .as_deref()
            .is_some_and(|s| s.contains("TOML")),
        "{status:?}"
    );
    write(&codex, "[model_providers]\nondemand-proxy = 3\n");
    let error = p
        .clients
        .apply(Agent::Codex, &target("t", None))
        .unwrap_err();
    assert!(
        error.to_string().contains("model_providers.ondemand-proxy"),
        "{error}"
    );
    std::fs::write(&file, vec![b' '; (MAX_FILE + 1) as usize]).unwrap();
    assert!(matches!(
        p.clients.apply(Agent::ClaudeCode, &target("t", None)),
        Err(ClientError::TooLarge { .. })
    ));
}

#[cfg(unix)]
#[test]
fn a_linked_config_is_edited_where_it_lives_and_stays_a_link() {
    let p = place();
    let real = p.home.join("dotfiles/claude-settings.json");
    write(&real, "{}\n");
    std::fs::create_dir_all(p.home.join(".claude")).unwrap();
    let link = p.home.join(".claude/settings.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    p.clients
        .apply(Agent::ClaudeCode, &target("sk-odp-a", None))
        .unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(read(&real).contains("sk-odp-a"));
    p.clients.undo(Agent::ClaudeCode).unwrap();
    assert_eq!(read(&real), "{}\n");
}

#[test]
fn the_agents_own_directories_are_honoured() {
    let homes = Homes {
        home: Some("/home/u".into()),
        claude_dir: Some("/cfg/claude".into()),
        codex_home: Some("/cfg/codex".into()),
        path: None,
    };
    assert_eq!(
        homes.config_file(Agent::ClaudeCode).unwrap(),
        Path::new("/cfg/claude/settings.json")
    );
    assert_eq!(
        homes.config_file(Agent::Codex).unwrap(),
        Path::new("/cfg/codex/config.toml")
    );
    let plain = Homes {
        home: Some("/home/u".into()),
        ..Homes::default()
    };
    assert_eq!(
        plain.config_file(Agent::Codex).unwrap(),
        Path::new("/home/u/.codex/config.toml")
    );
    assert!(Homes::default().config_file(Agent::Codex).is_none());
}

#[test]
fn the_model_is_one_the_catalogue_serves() {
    let catalog = ondemand_core::models::ModelCatalog::builtin()
        .with_patterns(ondemand_core::models::ModelCatalog::builtin_patterns().to_vec());
    let offline = ondemand_core::endpoints::EndpointCatalog::default();
    let listed = catalog.listed(&offline);
    for agent in Agent::ALL {
        let model = model_for(agent, &catalog, &offline).unwrap();
        assert!(model.starts_with(agent.model_family()), "{model}");
        assert!(listed.contains(&model), "{model} is listed");
    }
}

#[test]
fn the_client_origin_is_loopback_for_an_address_that_listens_everywhere() {
    assert_eq!(client_origin("0.0.0.0:8787".parse().unwrap()), ORIGIN);
    assert_eq!(
        client_origin("127.0.0.1:1".parse().unwrap()),
        "http://127.0.0.1:1"
    );
    assert_eq!(client_origin("[::1]:2".parse().unwrap()), "http://[::1]:2");
    assert_eq!(
        client_origin("[::]:3".parse().unwrap()),
        "http://127.0.0.1:3"
    );
}

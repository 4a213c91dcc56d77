//! One-click client setup, black box: `ondemand-proxy connect` and `/api/clients` writing a
//! temporary home's Claude Code and Codex config, and taking it back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

#[path = "common/process.rs"]
mod process;

use process::{binary, start_demo};

/// A user's home with a `claude` on `PATH` (no Codex), and a data directory.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let home = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(home.path("bin")).unwrap();
        std::fs::create_dir_all(home.path("home")).unwrap();
        let claude = home.path("bin/claude");
        std::fs::write(&claude, "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        home
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn envs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("HOME", self.path("home").display().to_string()),
            ("PATH", self.path("bin").display().to_string()),
        ]
    }

    /// `ondemand-proxy connect <args>` as this user: (exit code, stdout, stderr).
    fn connect(&self, args: &[&str]) -> (i32, String, String) {
        let data = self.path("data");
        let mut cmd = binary();
        cmd.arg("connect")
            .args(args)
            .args(["--port", "8787", "--data-dir", data.to_str().unwrap()])
            .env_remove("CODEX_HOME")
            .env_remove("CLAUDE_CONFIG_DIR");
        for (name, value) in self.envs() {
            cmd.env(name, value);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

const CODEX_CONFIG: &str = "# mine\nmodel = \"gpt-5\"\napproval_policy = \"never\"\n\n[profiles.quick]\nmodel = \"gpt-5-mini\"\n";

#[test]
fn connect_writes_codexs_config_shows_the_change_and_takes_it_back() {
    let home = Home::new();
    let (code, out, err) = home.connect(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Claude Code  installed, not connected"),
        "{out}"
    );
    assert!(
        out.contains("Codex CLI    not found on PATH, not connected"),
        "{out}"
    );

    let config = home.path("home/.codex/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, CODEX_CONFIG).unwrap();
    let (code, out, err) = home.connect(&["codex", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Would change "), "{out}");
    assert!(
        out.contains("+base_url = \"http://127.0.0.1:8787/v1\""),
        "{out}"
    );
    assert_eq!(read(&config), CODEX_CONFIG, "a dry run writes nothing");

    let (code, out, err) = home.connect(&["codex"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("Connected Codex CLI to http://127.0.0.1:8787"),
        "{out}"
    );
    let token = read(&home.path("data/client_token"));
    assert!(
        !out.contains(token.trim()),
        "the token is never printed: {out}"
    );
    let doc: toml_edit::DocumentMut = read(&config).parse().unwrap();
    let provider = &doc["model_providers"]["ondemand-proxy"];
    assert_eq!(
        provider["experimental_bearer_token"].as_str(),
        Some(token.trim())
    );
    assert_eq!(provider["wire_api"].as_str(), Some("responses"));
    assert_eq!(doc["model_provider"].as_str(), Some("ondemand-proxy"));
    let model = doc["model"].as_str().unwrap();
    assert!(model.starts_with("gpt-") && model != "gpt-5", "{model}");
    assert!(read(&config).starts_with("# mine\n"));

    let (code, out, _) = home.connect(&[]);
    assert_eq!(code, 0);
    assert!(out.contains("Codex CLI    connected here"), "{out}");

    let (code, out, err) = home.connect(&["codex", "--undo"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Disconnected Codex CLI"), "{out}");
    assert!(
        out.contains("is back as it was before the first connect"),
        "{out}"
    );
    assert_eq!(read(&config), CODEX_CONFIG, "byte for byte");
    let (code, _, err) = home.connect(&["codex", "--undo"]);
    assert_ne!(code, 0);
    assert!(err.contains("nothing to undo"), "{err}");

    let (code, _, err) = home.connect(&["claude-code", "--token", "sk-not-a-token-of-ours"]);
    assert_ne!(code, 0);
    assert!(err.contains("That client token cannot be used"), "{err}");
    assert!(!home.path("home/.claude/settings.json").exists());
}

async fn admin(
    base: &str,
    password: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{base}{path}");
    let request = match method {
        "GET" => client.get(url),
        _ => client.post(url),
    };
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let response = request.bearer_auth(password).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_admin_api_connects_claude_code_to_a_model_the_catalogue_serves_and_undoes_it() {
    let home = Home::new();
    let data = home.path("data");
    let envs: Vec<(&str, String)> = home.envs();
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut proxy = start_demo(data.to_str().unwrap(), &envs, home.dir.path());
    let base = proxy.base_url();
    let origin = base.trim_end_matches("/v1").to_owned();
    let password = read(&data.join("admin_password"));
    let password = password.trim();
    let call = |method: &'static str, path: &'static str, body: Option<Value>| {
        let (origin, password) = (origin.clone(), password.to_owned());
        async move { admin(&origin, &password, method, path, body).await }
    };

    // The live catalogue, read now rather than when the start-up read lands.
    let (status, _) = call("POST", "/api/catalogue/refresh", None).await;
    assert_eq!(status, 200);
    let (status, list) = call("GET", "/api/clients", None).await;
    assert_eq!(status, 200, "{list}");
    let claude = &list["data"][0];
    assert_eq!(claude["agent"], "claude-code");
    assert_eq!(claude["installed"], true);
    assert_eq!(claude["connected"], false);
    let settings = home.path("home/.claude/settings.json");
    assert_eq!(claude["config_file"], settings.display().to_string());

    let (status, preview) = call("POST", "/api/clients/claude-code/preview", Some(json!({}))).await;
    assert_eq!(status, 200, "{preview}");
    assert!(
        preview["diff"]
            .as_str()
            .unwrap()
            .contains(&format!("\"ANTHROPIC_BASE_URL\": \"{origin}\""))
    );
    assert!(!settings.exists(), "a preview writes nothing");

    let (status, applied) = call("POST", "/api/clients/claude-code/apply", None).await;
    assert_eq!(status, 200, "{applied}");
    let written: Value = serde_json::from_str(&read(&settings)).unwrap();
    let token = written["env"]["ANTHROPIC_AUTH_TOKEN"].as_str().unwrap();
    assert!(
        !applied.to_string().contains(token),
        "no secret in the answer: {applied}"
    );
    let model = written["model"].as_str().unwrap();
    assert_eq!(applied["model"], model);
    let models = reqwest::Client::new()
        .get(format!("{base}/models"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200, "the written token is accepted");
    let models: Value = models.json().await.unwrap();
    assert!(
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == model),
        "{model} is one /v1/models lists"
    );
    // What Claude Code would send with these settings answers.
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/messages", written["env"]["ANTHROPIC_BASE_URL"].as_str().unwrap()))
        .header("x-api-key", token)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    let (status, refused) = call(
        "POST",
        "/api/clients/codex/apply",
        Some(json!({"token": "sk-nope"})),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["param"], "token");
    assert!(!home.path("home/.codex/config.toml").exists());
    let (status, _) = call("POST", "/api/clients/cursor/apply", None).await;
    assert_eq!(status, 404);
    let (status, _) = call(
        "POST",
        "/api/clients/codex/apply",
        Some(json!({"token": "x", "extra": 1})),
    )
    .await;
    assert!(
        status == 400 || status == 422,
        "unknown fields are refused: {status}"
    );

    let (status, undone) = call("POST", "/api/clients/claude-code/undo", None).await;
    assert_eq!(status, 200, "{undone}");
    assert!(!settings.exists(), "the file did not exist before");
    let (status, again) = call("POST", "/api/clients/claude-code/undo", None).await;
    assert_eq!(status, 404, "{again}");
    assert_eq!(again["error"]["code"], "not_connected");
    let (exit, stderr, _) = proxy.terminate();
    assert!(exit.success(), "{stderr}");
    assert!(!stderr.contains(token), "the token is not logged");
}

//! The shell's commands on Tauri's mock runtime: no window system, the real server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets,
};
use tauri::webview::InvokeRequest;

use super::*;

fn request(cmd: &str, body: Value) -> InvokeRequest {
    InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        url: "tauri://localhost".parse().unwrap(),
        body: InvokeBody::Json(body),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    }
}

fn invoke(
    webview: &tauri::WebviewWindow<MockRuntime>,
    cmd: &str,
    body: Value,
) -> Result<Value, Value> {
    get_ipc_response(webview, request(cmd, body)).map(|r| r.deserialize::<Value>().unwrap())
}

#[test]
fn commands_report_the_server_and_move_it_to_a_free_port() {
    let dir = tempfile::tempdir().unwrap();
    let env = |_: &str| None;
    let mut config = ondemand_core::config::load(ondemand_core::config::Sources {
        file: None,
        default_file: None,
        env: &env,
        flags: vec![],
    })
    .unwrap();
    config.admin_password = Some(ondemand_core::Secret::new("mock-runtime-admin-password"));
    let server = Arc::new(Server::new(config, dir.path().to_owned()));
    let app = configure(mock_builder())
        .build(mock_context(noop_assets()))
        .unwrap();
    app.manage(server.clone());
    let prefs_file = dir.path().join("preferences.json");
    app.manage(prefs::PrefsFile(prefs_file.clone()));
    let webview = WebviewWindowBuilder::new(&app, MAIN_WINDOW, Default::default())
        .build()
        .unwrap();

    assert_eq!(
        invoke(&webview, "shell_status", json!({})).unwrap()["state"],
        "stopped"
    );
    let refused = invoke(&webview, "use_port", json!({"port": 80})).unwrap_err();
    assert_eq!(refused["code"], "invalid_port");

    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let started = invoke(&webview, "use_port", json!({"port": port})).unwrap();
    assert_eq!(started["state"], "running", "{started}");
    assert_eq!(started["base_url"], format!("http://127.0.0.1:{port}"));
    assert!(
        started.get("admin_password").is_none(),
        "the password is not sent over IPC"
    );
    let health = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(health.is_ok(), "the server listens on the chosen port");
    assert!(
        server
            .client_token()
            .is_some_and(|t| t.starts_with("sk-odp-"))
    );
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(&prefs_file).unwrap()).unwrap();
    assert_eq!(saved["port"], port, "the chosen port is remembered");
    assert_eq!(prefs::load(app.handle()).port, port);

    tauri::async_runtime::block_on(server.stop());
    assert_eq!(
        invoke(&webview, "shell_status", json!({})).unwrap()["state"],
        "stopped"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "stopped means not listening"
    );
}

#[test]
fn the_window_script_carries_the_address_and_password_as_json() {
    let running = Status::Running {
        base_url: "http://127.0.0.1:8787".into(),
        admin_password: "pw\"</script>".into(),
    };
    let script = bootstrap_script(&running);
    assert!(script.starts_with("window.__ODP__ = {"));
    let json: Value = serde_json::from_str(
        script
            .trim_start_matches("window.__ODP__ = ")
            .trim_end_matches(';'),
    )
    .unwrap();
    assert_eq!(json["adminPassword"], "pw\"</script>");
    let failed = Status::Failed {
        port: 8787,
        reason: "in_use",
        message: "port 8787 on 127.0.0.1 is already in use".into(),
        suggestion: Some(8788),
    };
    let json: Value = serde_json::from_str(
        bootstrap_script(&failed)
            .trim_start_matches("window.__ODP__ = ")
            .trim_end_matches(';'),
    )
    .unwrap();
    assert_eq!(json["shellError"]["suggestion"], 8788);
    assert!(json.get("adminPassword").is_none());
}

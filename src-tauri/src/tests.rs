//! The shell's commands on Tauri's mock runtime: no window system, the real server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets,
};
use tauri::webview::InvokeRequest;

use ondemand_proxy::glance::{Light, Today};

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

/// The port-problem screen's one click: the port alone, through the preferences.
fn use_port(webview: &tauri::WebviewWindow<MockRuntime>, port: u16) -> Result<Value, Value> {
    invoke(
        webview,
        "set_preferences",
        json!({"changes": {"port": port}}),
    )
}

/// The native dialog, scripted: each question is kept, and answered with the next reply
/// (no when none is left).
#[derive(Clone, Default)]
struct Person {
    asked: Arc<std::sync::Mutex<Vec<confirm::Question>>>,
    replies: Arc<std::sync::Mutex<std::collections::VecDeque<bool>>>,
}

impl Person {
    fn will_answer(&self, yes: bool) {
        self.replies.lock().unwrap().push_back(yes);
    }

    fn asked(&self) -> Vec<String> {
        let asked = std::mem::take(&mut *self.asked.lock().unwrap());
        asked.into_iter().map(|q| q.title).collect()
    }
}

/// The shell on the mock runtime, with a server (not started) over a temporary directory.
fn shell(dir: &std::path::Path) -> (tauri::App<MockRuntime>, Arc<Supervisor>, std::path::PathBuf) {
    let (app, server, prefs_file, _) = shell_with_person(dir);
    (app, server, prefs_file)
}

fn shell_with_person(
    dir: &std::path::Path,
) -> (
    tauri::App<MockRuntime>,
    Arc<Supervisor>,
    std::path::PathBuf,
    Person,
) {
    let env = |_: &str| None;
    let mut config = ondemand_core::config::load(ondemand_core::config::Sources {
        file: None,
        default_file: None,
        env: &env,
        flags: vec![],
    })
    .unwrap();
    config.admin_password = Some(ondemand_core::Secret::new("mock-runtime-admin-password"));
    let server = Arc::new(Supervisor::new(config, dir.to_owned()));
    let app = configure(mock_builder())
        .build(mock_context(noop_assets()))
        .unwrap();
    app.manage(server.clone());
    let prefs_file = dir.join("preferences.json");
    app.manage(prefs::PrefsFile(prefs_file.clone()));
    let person = Person::default();
    server.set_confirmer(confirm::Confirmer::new({
        let person = person.clone();
        move |question| {
            person.asked.lock().unwrap().push(question);
            let yes = person.replies.lock().unwrap().pop_front().unwrap_or(false);
            Box::pin(async move { yes })
        }
    }));
    WebviewWindowBuilder::new(&app, MAIN_WINDOW, Default::default())
        .build()
        .unwrap();
    (app, server, prefs_file, person)
}

fn window(app: &tauri::App<MockRuntime>) -> tauri::WebviewWindow<MockRuntime> {
    app.get_webview_window(MAIN_WINDOW).unwrap()
}

fn free_port() -> u16 {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    free.local_addr().unwrap().port()
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn commands_report_the_server_and_move_it_to_a_free_port() {
    let dir = tempfile::tempdir().unwrap();
    let (app, server, prefs_file) = shell(dir.path());
    let webview = window(&app);

    assert_eq!(
        invoke(&webview, "shell_status", json!({})).unwrap()["state"],
        "stopped"
    );
    let refused = use_port(&webview, 80).unwrap_err();
    assert_eq!(refused["code"], "invalid_port");

    let port = free_port();
    use_port(&webview, port).unwrap();
    let started = invoke(&webview, "shell_status", json!({})).unwrap();
    assert_eq!(started["state"], "running", "{started}");
    assert_eq!(started["base_url"], format!("http://127.0.0.1:{port}"));
    assert!(
        started.get("credential").is_none() && started.get("admin_password").is_none(),
        "no credential is sent with the status"
    );
    let health = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(health.is_ok(), "the server listens on the chosen port");
    let token = invoke(&webview, "client_token", json!({})).unwrap();
    assert!(
        token.as_str().is_some_and(|t| t.starts_with("sk-odp-")),
        "{token}"
    );
    assert_eq!(token.as_str(), server.client_token().as_deref());
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(&prefs_file).unwrap()).unwrap();
    assert_eq!(saved["port"], port, "the chosen port is remembered");
    assert_eq!(prefs::load(app.handle()).port, port);

    tauri::async_runtime::block_on(server.stop());
    assert_eq!(
        invoke(&window(&app), "shell_status", json!({})).unwrap()["state"],
        "stopped"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "stopped means not listening"
    );
}

#[test]
fn preferences_are_validated_whole_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _server, prefs_file, person) = shell_with_person(dir.path());
    let prefs = invoke(&window(&app), "get_preferences", json!({})).unwrap();
    assert_eq!(prefs["port"], 8787);
    assert_eq!(prefs["host"], "127.0.0.1");
    assert_eq!(prefs["close_to_tray"], true);
    assert_eq!(prefs["start_minimised"], false);
    assert_eq!(prefs["language"], Value::Null);
    assert_eq!(prefs["theme"], "auto");
    assert_eq!(
        prefs["launch_at_login"],
        Value::Null,
        "no autostart on the mock runtime"
    );

    for (changes, code, field) in [
        (
            json!({"language": "fr", "theme": "dark"}),
            "invalid_language",
            "language",
        ),
        (json!({"port": 80}), "invalid_port", "port"),
        (json!({"host": "example.com"}), "invalid_host", "host"),
        (json!({"host": "192.168.1.10"}), "invalid_host", "host"),
        // Asked natively and answered no (the scripted person has no yes to give).
        (json!({"host": "0.0.0.0"}), "declined", "host"),
        (
            json!({"launch_at_login": true}),
            "declined",
            "launch_at_login",
        ),
    ] {
        let refused = invoke(
            &window(&app),
            "set_preferences",
            json!({"changes": changes}),
        )
        .unwrap_err();
        assert_eq!(refused["code"], code, "{changes}: {refused}");
        assert_eq!(refused["field"], field, "{changes}: {refused}");
        assert!(refused["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(
        person.asked(),
        [
            "Let other machines reach the proxy?",
            "Start OnDemand Proxy when you log in?"
        ],
        "a bad value is refused before anything is asked"
    );
    person.will_answer(true);
    let refused = invoke(
        &window(&app),
        "set_preferences",
        json!({"changes": {"launch_at_login": true}}),
    )
    .unwrap_err();
    assert_eq!(
        refused["code"], "autostart_failed",
        "a yes goes on to the login item, which the mock runtime has not got"
    );
    person.asked();
    for unknown in [json!({"colour": "red"}), json!({"confirm_exposed": true})] {
        assert!(
            invoke(
                &window(&app),
                "set_preferences",
                json!({"changes": unknown})
            )
            .is_err(),
            "unknown preferences are refused: {unknown}"
        );
    }
    assert!(person.asked().is_empty(), "the page has no way to confirm");
    assert_eq!(
        prefs::load(app.handle()),
        prefs::Prefs::default(),
        "nothing changed"
    );

    let changed = invoke(
        &window(&app),
        "set_preferences",
        json!({"changes": {"language": "zh-CN", "theme": "dark", "close_to_tray": false, "start_minimised": true}}),
    )
    .unwrap();
    assert_eq!(changed["language"], "zh-CN");
    assert_eq!(changed["theme"], "dark");
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(&prefs_file).unwrap()).unwrap();
    assert_eq!(saved["language"], "zh-CN");
    assert_eq!(saved["close_to_tray"], false);
    let loaded = prefs::load(app.handle());
    assert_eq!(loaded.language(), "zh-CN");
    assert!(loaded.start_minimised && !loaded.close_to_tray);
    assert_eq!(loaded.theme, ondemand_proxy::preferences::Theme::Dark);

    let back = invoke(
        &window(&app),
        "set_preferences",
        json!({"changes": {"language": null}}),
    )
    .unwrap();
    assert_eq!(
        back["language"],
        Value::Null,
        "null follows the system again"
    );
    assert_eq!(back["theme"], "dark", "what was not named stays");
}

#[test]
fn a_move_takes_the_new_address_before_letting_the_old_one_go() {
    let dir = tempfile::tempdir().unwrap();
    let (app, server, _, person) = shell_with_person(dir.path());
    let port = free_port();
    use_port(&window(&app), port).unwrap();
    assert!(listening(port));
    server.set_paused(true);

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let refused = invoke(
        &window(&app),
        "set_preferences",
        json!({"changes": {"port": taken_port}}),
    )
    .unwrap_err();
    assert_eq!(refused["code"], "port_unavailable", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains(&taken_port.to_string())
    );
    assert!(
        refused["suggestion"]
            .as_u64()
            .is_some_and(|p| p > u64::from(taken_port))
    );
    assert!(listening(port), "the old server still runs");
    assert_eq!(server.local_addr().unwrap().port(), port);
    assert_eq!(
        prefs::load(app.handle()).port,
        port,
        "the refused port was not saved"
    );

    let declined = invoke(
        &window(&app),
        "set_preferences",
        json!({"changes": {"host": "0.0.0.0"}}),
    )
    .unwrap_err();
    assert_eq!(declined["code"], "declined");
    assert!(
        server.local_addr().unwrap().ip().is_loopback(),
        "a no keeps it"
    );
    person.will_answer(true);
    let exposed = invoke(
        &window(&app),
        "set_preferences",
        json!({"changes": {"host": "0.0.0.0"}}),
    )
    .unwrap();
    assert_eq!(person.asked().len(), 2, "asked each time");
    assert_eq!(exposed["host"], "0.0.0.0");
    let addr = server.local_addr().unwrap();
    assert!(addr.ip().is_unspecified() && addr.port() == port, "{addr}");
    assert!(server.paused(), "a move keeps the pause");

    invoke(
        &window(&app),
        "set_preferences",
        json!({"changes": {"host": "127.0.0.1"}}),
    )
    .unwrap();
    assert!(
        server.local_addr().unwrap().ip().is_loopback(),
        "loopback needs no confirmation"
    );
    assert!(person.asked().is_empty());
    tauri::async_runtime::block_on(server.stop());
}

#[test]
fn the_tray_shows_the_state_in_the_chosen_language_and_a_badge() {
    let dir = tempfile::tempdir().unwrap();
    let (app, server, _) = shell(dir.path());
    let glance = |today: &mut Today| tauri::async_runtime::block_on(server.glance(today));
    let stopped = glance(&mut Today::default());
    assert_eq!(stopped.light(), Light::Problem);
    use_port(&window(&app), free_port()).unwrap();

    let running = glance(&mut Today::default());
    assert_eq!(running.light(), Light::Problem, "no account can serve yet");
    assert!(running.tooltip("en").contains("No account"), "{running:?}");
    let headline = running.headline("en");
    assert!(headline.contains("/v1"), "{headline}");
    assert!(headline.ends_with("0 requests today"), "{headline}");

    let mut today = Today::default();
    let count = |today: &mut Today| glance(today).today;
    assert_eq!(count(&mut today), 0);
    let state = server.state().unwrap();
    state
        .usage()
        .record(ondemand_core::store::usage::UsageEvent {
            ts: ondemand_core::clock::now_ms(),
            ..Default::default()
        })
        .unwrap();
    let live = state.engine().watch.live.clone();
    while live.seq() == 0 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(count(&mut today), 1, "a finished request is counted");

    server.set_paused(true);
    let zh = glance(&mut Today::default());
    assert!(
        zh.paused,
        "paused shows in the menu even while there is a problem"
    );
    assert!(zh.tooltip("zh-CN").contains("没有可用的账号"), "{zh:?}");

    let icon = tauri::image::Image::new_owned(vec![10; 64 * 64 * 4], 64, 64);
    let badged = tray::badged(&icon, Light::Paused);
    let px = |x: u32, y: u32| badged.rgba()[((y * 64 + x) * 4) as usize..][..4].to_vec();
    assert_eq!(px(50, 50), vec![0xf0, 0x8c, 0x00, 0xff], "the badge");
    assert_eq!(px(2, 2), vec![10, 10, 10, 10], "the icon elsewhere");
    tauri::async_runtime::block_on(server.stop());
}

#[test]
fn the_window_shows_only_the_apps_own_pages() {
    let own = |url: &str| {
        let url: tauri::Url = url.parse().unwrap();
        window::navigation(url.scheme(), url.host_str()) == Navigation::Stay
    };
    assert!(own("tauri://localhost/index.html"));
    assert!(own("http://tauri.localhost/index.html"));
    assert!(!own("http://127.0.0.1:8787/"));
    assert!(!own("https://example.com/"));
    assert!(!own("http://tauri.localhost.evil.example/"));
    assert!(!own("file:///etc/passwd"));
}

#[test]
fn the_window_may_use_only_the_apps_own_commands() {
    // Each permission here is a decision: anything more (core:default brings tray and menu
    // creation, event emission, image reading from any path) must be added on purpose.
    const ALLOWED: [&str; 4] = [
        "allow-shell-status",
        "allow-admin-credential",
        "allow-preferences",
        "allow-client-token",
    ];
    let capability: Value =
        serde_json::from_str(include_str!("../capabilities/default.json")).unwrap();
    let granted: Vec<&str> = capability["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(granted, ALLOWED);
    assert_eq!(capability["windows"], json!(["main"]));
    let capabilities = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/capabilities"))
        .unwrap()
        .count();
    assert_eq!(capabilities, 1, "one capability file: the main window's");
}

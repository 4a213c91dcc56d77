//! The desktop flows with a scripted host: no window, the real server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::Mutex;

use serde_json::Value;

use super::*;

/// The app around the flow, scripted: what it saved, asked and was told.
#[derive(Default)]
struct Scripted {
    prefs: Mutex<Prefs>,
    replies: Mutex<VecDeque<bool>>,
    login: Mutex<Option<bool>>,
    said: Mutex<Vec<String>>,
}

impl Scripted {
    fn note(&self, what: String) {
        self.said.lock().unwrap().push(what);
    }

    fn said(&self) -> Vec<String> {
        std::mem::take(&mut *self.said.lock().unwrap())
    }
}

impl Host for Scripted {
    fn load(&self) -> Prefs {
        self.prefs.lock().unwrap().clone()
    }
    fn save(&self, prefs: &Prefs) {
        *self.prefs.lock().unwrap() = prefs.clone();
        self.note("saved".into());
    }
    async fn ask(&self, question: Question) -> bool {
        self.note(format!("asked {}", question.title));
        self.replies.lock().unwrap().pop_front().unwrap_or(false)
    }
    fn launches_at_login(&self) -> Option<bool> {
        *self.login.lock().unwrap()
    }
    fn set_launch_at_login(&self, on: bool) -> Result<(), String> {
        *self.login.lock().unwrap() = Some(on);
        self.note(format!("login {on}"));
        Ok(())
    }
    fn language_changed(&self) {
        self.note("language".into());
    }
    async fn reopen(&self, status: Status, _prefs: Prefs) {
        let running = matches!(status, Status::Running { .. });
        self.note(format!("reopened running={running}"));
    }
    fn data_dir(&self) -> Option<String> {
        Some("/data".into())
    }
}

fn supervisor(dir: &std::path::Path) -> Supervisor {
    let env = |_: &str| None;
    let config = ondemand_core::config::load(ondemand_core::config::Sources {
        file: None,
        default_file: None,
        env: &env,
        flags: vec![],
    })
    .unwrap();
    Supervisor::new(config, dir.to_owned())
}

fn changes(json: Value) -> Changes {
    serde_json::from_value(json).unwrap()
}

#[tokio::test]
async fn the_flow_asks_saves_and_tells_the_app_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let server = supervisor(dir.path());
    let host = Scripted {
        login: Mutex::new(Some(false)),
        ..Scripted::default()
    };

    let refused = apply(
        &host,
        &server,
        &changes(serde_json::json!({"launch_at_login": true})),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code, "declined");
    assert_eq!(host.said(), ["asked Start OnDemand Proxy when you log in?"]);

    host.replies.lock().unwrap().push_back(true);
    apply(
        &host,
        &server,
        &changes(serde_json::json!({"launch_at_login": true})),
    )
    .await
    .unwrap();
    assert_eq!(
        host.said(),
        [
            "asked Start OnDemand Proxy when you log in?",
            "saved",
            "login true"
        ]
    );
    apply(
        &host,
        &server,
        &changes(serde_json::json!({"launch_at_login": true, "theme": "dark"})),
    )
    .await
    .unwrap();
    assert_eq!(
        host.said(),
        ["saved", "login true"],
        "on already: not asked again"
    );

    apply(
        &host,
        &server,
        &changes(serde_json::json!({"language": "zh-CN"})),
    )
    .await
    .unwrap();
    assert_eq!(host.said(), ["saved", "language"]);
    let view = serde_json::to_value(PrefsView::of(&host, host.load())).unwrap();
    assert_eq!(view["language"], "zh-CN");
    assert_eq!(view["theme"], "dark");
    assert_eq!(view["launch_at_login"], true);
    assert_eq!(view["data_dir"], "/data");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    apply(&host, &server, &changes(serde_json::json!({"port": port})))
        .await
        .unwrap();
    assert_eq!(host.said(), ["saved", "reopened running=true"]);
    assert_eq!(server.local_addr().unwrap().port(), port);
    apply(&host, &server, &changes(serde_json::json!({"port": port})))
        .await
        .unwrap();
    assert_eq!(host.said(), ["saved"], "the same port is no move");
    server.stop().await;
}

#[test]
fn the_window_script_carries_the_address_but_no_secret() {
    let script_json = |script: String| -> Value {
        assert!(script.starts_with("window.__ODP__ = {"));
        serde_json::from_str(
            script
                .trim_start_matches("window.__ODP__ = ")
                .trim_end_matches(';'),
        )
        .unwrap()
    };
    let running = Status::Running {
        base_url: "http://127.0.0.1:8787".into(),
        credential: "pw\"</script>".into(),
    };
    let script = bootstrap_script(&running, &Prefs::default());
    assert!(
        !script.contains("pw\"</script>"),
        "the credential is asked for over IPC, never put in a page"
    );
    assert_eq!(script_json(script)["baseUrl"], "http://127.0.0.1:8787");
    let failed = Status::Failed {
        port: 8787,
        reason: "in_use",
        message: "port 8787 on 127.0.0.1 is already in use".into(),
        suggestion: Some(8788),
    };
    let json = script_json(bootstrap_script(&failed, &Prefs::default()));
    assert_eq!(json["shellError"]["suggestion"], 8788);
    assert!(json.get("adminPassword").is_none());
}

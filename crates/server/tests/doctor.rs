//! `ondemand-proxy doctor` against the fake playing on-demand.io: clean when the fake keeps
//! to the contract, and each variant the real service might show named as a deviation in
//! the step where it shows. The report never holds the key, the account's name, or a
//! session id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{Harness, user};
use fake_ondemand::{Behaviour, Envelope, FakeOnDemand, FakeOptions};
use serde_json::{Value, json};

const KEY: &str = "doctor-key-0123456789abcdef";
const NAME: &str = "someone@example.com";

/// Runs `doctor` with `args` on an account of the fake's: the exit status, the JSON report
/// (with `--json`) and the raw output.
fn doctor(fake: &FakeOnDemand, args: &[&str]) -> (i32, Value, String) {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ondemand-proxy"))
        .arg("doctor")
        .args(args)
        .arg("--data-dir")
        .arg(data.path())
        .current_dir(data.path())
        .env_clear()
        .env("ONDEMAND_BASE_URL", fake.url())
        .env("ONDEMAND_AUTH_BASE_URL", fake.url())
        .env("ONDEMAND_CLIENT_BASE_URL", fake.url())
        .env(
            "ONDEMAND_ACCOUNTS",
            format!(r#"[{{"name": "{NAME}", "api_key": "{KEY}"}}]"#),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let kept = std::fs::read_to_string(data.path().join("doctor-report.json")).unwrap_or_default();
    let report = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    let all = format!("{stdout}\n{kept}");
    (out.status.code().unwrap_or(-1), report, all)
}

/// Nothing secret in what was printed and kept: the key, the name, the session ids.
fn nothing_secret(fake: &FakeOnDemand, output: &str) {
    assert!(!output.contains(KEY), "{output}");
    assert!(
        !output.contains(NAME) && !output.contains("example.com"),
        "{output}"
    );
    for request in fake.requests() {
        let session = request.path.strip_prefix("/chat/v1/sessions/");
        if let Some(id) = session.and_then(|rest| rest.split('/').next()) {
            assert!(!output.contains(id), "session id {id} in {output}");
        }
    }
}

fn step<'a>(report: &'a Value, name: &str) -> &'a Value {
    report[0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {report}"))
}

fn deviations(report: &Value, name: &str) -> String {
    step(report, name)["deviations"].to_string()
}

async fn fake(options: FakeOptions) -> FakeOnDemand {
    let fake = FakeOnDemand::start(options).await.unwrap();
    fake.add_key(KEY);
    fake
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_keeps_to_the_contract_gets_a_clean_report() {
    let fake = fake(FakeOptions::default()).await;
    let (code, report, output) = doctor(&fake, &["--json"]);
    assert_eq!(code, 0, "{output}");
    let names: Vec<&str> = report[0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "connection",
            "catalogue",
            "session",
            "sync",
            "stream",
            "delete"
        ]
    );
    for s in report[0]["steps"].as_array().unwrap() {
        assert_eq!(
            (s["ok"].as_bool(), s["deviations"].as_array().map(Vec::len)),
            (Some(true), Some(0)),
            "{s}"
        );
    }
    assert_eq!(step(&report, "session")["figures"]["id_at"], "data.id");
    assert_eq!(step(&report, "sync")["figures"]["exact_usage"], true);
    assert_eq!(step(&report, "stream")["figures"]["done"], true);
    // Six upstream calls: the connection test, the catalogue, the session, two queries and
    // the delete.
    assert_eq!(fake.requests().len(), 6, "{:?}", fake.requests());
    nothing_secret(&fake, &output);

    // The text form says the same, as safely.
    let (code, _, text) = doctor(&fake, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("✓ stream") && text.contains("0 failed, 0 deviations"),
        "{text}"
    );
    nothing_secret(&fake, &text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_variant_is_named_in_its_step() {
    type Variant = (
        &'static str,
        FakeOptions,
        Behaviour,
        &'static str,
        &'static str,
    );
    let variants: Vec<Variant> = vec![
        (
            "bare array",
            FakeOptions {
                catalogue_envelope: Envelope::Bare,
                ..FakeOptions::default()
            },
            Behaviour::default(),
            "catalogue",
            "array",
        ),
        (
            "data.endpoints",
            FakeOptions {
                catalogue_envelope: Envelope::Nested,
                ..FakeOptions::default()
            },
            Behaviour::default(),
            "catalogue",
            "data.endpoints",
        ),
        (
            "unknown event type",
            FakeOptions::default(),
            Behaviour {
                unknown_events: true,
                ..Behaviour::default()
            },
            "stream",
            "unknown eventType",
        ),
        (
            "no metricsLog",
            FakeOptions::default(),
            Behaviour {
                no_metrics: true,
                ..Behaviour::default()
            },
            "stream",
            "no metricsLog",
        ),
        (
            "spaced JSON",
            FakeOptions::default(),
            Behaviour {
                spaced_json: true,
                ..Behaviour::default()
            },
            "stream",
            "spaced JSON",
        ),
        (
            "a non-JSON frame",
            FakeOptions::default(),
            Behaviour {
                malformed_frame: true,
                ..Behaviour::default()
            },
            "stream",
            "not JSON",
        ),
        (
            "delete 404",
            FakeOptions {
                delete_not_found: true,
                ..FakeOptions::default()
            },
            Behaviour::default(),
            "delete",
            "404",
        ),
    ];
    for (what, options, behaviour, in_step, says) in variants {
        let fake = fake(options).await;
        fake.set_default_behaviour(behaviour);
        let (code, report, output) = doctor(&fake, &["--json"]);
        assert_eq!(code, 1, "{what}: {output}");
        assert!(
            deviations(&report, in_step).contains(says),
            "{what}: {}",
            deviations(&report, in_step)
        );
        nothing_secret(&fake, &output);
    }

    // A media answer still `processing`.
    let fake = fake(FakeOptions {
        media_processing: true,
        ..FakeOptions::default()
    })
    .await;
    let (code, report, output) = doctor(&fake, &["--json", "--with-media"]);
    assert_eq!(code, 1, "{output}");
    assert!(
        deviations(&report, "media").contains("processing"),
        "{output}"
    );
    nothing_secret(&fake, &output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_reached_exits_2_and_a_wrong_account_name_says_so() {
    let fake = fake(FakeOptions::default()).await;
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ondemand-proxy"))
        .args(["doctor", "--data-dir"])
        .arg(data.path())
        .current_dir(data.path())
        .env_clear()
        .env("ONDEMAND_BASE_URL", "http://127.0.0.1:9")
        .env(
            "ONDEMAND_ACCOUNTS",
            format!(r#"[{{"name": "{NAME}", "api_key": "{KEY}"}}]"#),
        )
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("✗ connection"));
    let (code, _, _) = doctor(&fake, &["--account", "nobody"]);
    assert_eq!(code, 3);
    assert!(fake.requests().is_empty());
}

/// `POST /api/doctor`: the answer's JSON lines (or the error's one object).
async fn diagnose(h: &Harness, body: Value) -> (u16, Vec<Value>) {
    let response = h
        .http
        .post(h.url("/api/doctor"))
        .bearer_auth(common::ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (status, lines)
}

/// The dashboard's *Diagnose*: `POST /api/doctor` sends each step as it ends, then the run;
/// one run at a time; an account resting after a 429 is left alone unless forced.
#[tokio::test]
async fn the_admin_route_streams_the_steps_and_leaves_a_resting_account_alone() {
    let h = Harness::with_keys(&["k1"]).await;
    let (status, lines) = diagnose(&h, json!({})).await;
    assert_eq!(status, 200, "{lines:?}");
    let steps: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["step"]["name"].as_str())
        .collect();
    assert_eq!(
        steps,
        [
            "connection",
            "catalogue",
            "session",
            "sync",
            "stream",
            "delete"
        ]
    );
    let run = &lines.last().unwrap()["done"];
    assert_eq!(run["exit_code"], 0, "{run}");
    assert_eq!(run["reports"].as_array().unwrap().len(), 1);
    assert!(
        run["text"]
            .as_str()
            .unwrap()
            .contains("0 failed, 0 deviations")
    );
    assert!(
        run["file"]
            .as_str()
            .unwrap()
            .ends_with("doctor-report.json")
    );
    assert!(!format!("{lines:?}").contains("\"k1\""), "{lines:?}");
    let (status, _) = diagnose(&h, json!({"account": 999})).await;
    assert_eq!(status, 404);

    // A 429 sets the account resting: the doctor would spend its allowance.
    h.fake.set_behaviour(
        "k1",
        Behaviour {
            failure: Some(fake_ondemand::Failure::new(429, "rate_limit_exceeded")),
            ..Behaviour::default()
        },
    );
    assert_ne!(h.chat(user("x")).await.0, 200);
    let (status, refused) = diagnose(&h, json!({})).await;
    assert_eq!(status, 409, "{refused:?}");
    assert_eq!(refused[0]["error"]["code"], "account_resting");
    h.fake.set_behaviour("k1", Behaviour::default());
    let (status, lines) = diagnose(&h, json!({"force": true})).await;
    assert_eq!(status, 200, "{lines:?}");
    assert!(lines.last().unwrap()["done"].is_object());
}

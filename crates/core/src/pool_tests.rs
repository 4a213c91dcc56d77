//! Pool selection: strategies, caps, and health-aware skipping, with explicit instants.

use std::collections::HashMap;

use super::*;
use crate::config::AccountOptions;
use crate::secret::Secret;

fn account(name: &str, weight: u32, max_concurrent: Option<u32>, enabled: bool) -> Account {
    Account::from_config(&AccountConfig::ApiKey {
        name: name.into(),
        api_key: Secret::new("k"),
        options: AccountOptions {
            weight,
            max_concurrent,
            enabled,
            proxy: None,
        },
    })
}

fn pool(names: &[&str]) -> Pool {
    Pool::new(names.iter().map(|n| account(n, 1, None, true)).collect())
}

fn counts(pool: &Pool, strategy: Strategy, picks: usize) -> HashMap<String, usize> {
    let now = Instant::now();
    let mut counts = HashMap::new();
    for _ in 0..picks {
        let lease = pool.pick(strategy, &[], now).unwrap();
        *counts.entry(lease.account().name.clone()).or_default() += 1;
    }
    counts
}

#[test]
fn round_robin_spreads_evenly_in_turn() {
    let p = pool(&["a", "b", "c"]);
    let now = Instant::now();
    let picks: Vec<_> = (0..6)
        .map(|_| {
            p.pick(Strategy::RoundRobin, &[], now)
                .unwrap()
                .account()
                .name
                .clone()
        })
        .collect();
    assert_eq!(picks, ["a", "b", "c", "a", "b", "c"]);
}

#[test]
fn weighted_is_exactly_proportional() {
    let p = Pool::new(vec![
        account("a", 1, None, true),
        account("b", 3, None, true),
        account("c", 6, None, true),
    ]);
    let c = counts(&p, Strategy::Weighted, 1000);
    assert_eq!((c["a"], c["b"], c["c"]), (100, 300, 600));
}

#[test]
fn disabled_accounts_get_nothing() {
    let p = Pool::new(vec![
        account("a", 1, None, true),
        account("off", 5, None, false),
    ]);
    for strategy in [
        Strategy::RoundRobin,
        Strategy::Weighted,
        Strategy::LeastInFlight,
    ] {
        assert_eq!(counts(&p, strategy, 20).get("off"), None, "{strategy:?}");
    }
    let none = Pool::new(vec![account("off", 1, None, false)]);
    assert_eq!(
        none.pick(Strategy::RoundRobin, &[], Instant::now())
            .unwrap_err(),
        NoPick::Empty
    );
}

#[test]
fn least_in_flight_prefers_the_idlest() {
    let p = pool(&["a", "b", "c"]);
    let now = Instant::now();
    let held: Vec<Lease> = (0..5)
        .map(|_| p.pick(Strategy::LeastInFlight, &[], now).unwrap())
        .collect();
    let load: Vec<u32> = p.accounts().iter().map(|a| a.in_flight()).collect();
    assert_eq!(load.iter().sum::<u32>(), 5);
    assert!(
        load.iter().max().unwrap() - load.iter().min().unwrap() <= 1,
        "{load:?}"
    );
    drop(held);
    assert!(
        p.accounts().iter().all(|a| a.in_flight() == 0),
        "leases return their slot"
    );
}

#[test]
fn caps_are_never_exceeded_even_under_contention() {
    let p = Arc::new(Pool::new(vec![account("capped", 1, Some(3), true)]));
    let now = Instant::now();
    let leases = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..100 {
                    if let Ok(lease) = p.pick(Strategy::RoundRobin, &[], now) {
                        leases.lock().unwrap().push(lease);
                    }
                }
            });
        }
    });
    assert_eq!(leases.lock().unwrap().len(), 3);
    assert_eq!(p.accounts()[0].in_flight(), 3);
    assert!(matches!(
        p.pick(Strategy::RoundRobin, &[], now),
        Err(NoPick::Unavailable { earliest: Some(_) })
    ));
}

#[test]
fn resting_accounts_are_skipped_and_the_earliest_recovery_is_reported() {
    let p = pool(&["a", "b"]);
    let policy = HealthPolicy::default();
    let t0 = Instant::now();
    let accounts = p.accounts();
    accounts[0].record_failure(Blame::AccountRateLimited, "429", t0, &policy);
    assert!(!counts(&p, Strategy::RoundRobin, 10).contains_key("a"));
    accounts[1].record_failure(Blame::AccountUnusable, "401", t0, &policy);
    let until = t0 + policy.cooldown_base;
    assert_eq!(
        p.pick(Strategy::RoundRobin, &[], t0).unwrap_err(),
        NoPick::Unavailable {
            earliest: Some(until)
        }
    );
    assert_eq!(
        p.pick(Strategy::RoundRobin, &[], until)
            .unwrap()
            .account()
            .name,
        "a",
        "usable once cooled down"
    );
    let status = accounts[1].status(t0);
    assert_eq!(
        (status.state.as_str(), status.reason.as_deref()),
        ("needs_attention", Some("401"))
    );
    assert_eq!(accounts[0].status(until).state, "healthy");
    accounts[1].reset();
    assert_eq!(accounts[1].status(t0).state, "healthy");
}

#[test]
fn an_open_circuit_lets_exactly_one_probe_through() {
    let p = pool(&["a"]);
    let policy = HealthPolicy::default();
    let t0 = Instant::now();
    let a = p.accounts()[0].clone();
    for _ in 0..policy.circuit_failures {
        a.record_failure(Blame::Transient, "500", t0, &policy);
    }
    assert_eq!(a.status(t0).state, "circuit_open");
    assert!(p.pick(Strategy::RoundRobin, &[], t0).is_err());
    let later = t0 + policy.circuit_open;
    let probe = p.pick(Strategy::RoundRobin, &[], later).unwrap();
    assert!(
        p.pick(Strategy::RoundRobin, &[], later).is_err(),
        "a second request waits for the probe"
    );
    a.record_success();
    drop(probe);
    assert!(p.pick(Strategy::RoundRobin, &[], later).is_ok());
}

#[test]
fn prefers_accounts_this_request_has_not_tried() {
    let p = pool(&["a", "b", "c"]);
    let now = Instant::now();
    let tried = vec!["a".to_owned(), "b".to_owned()];
    for _ in 0..3 {
        assert_eq!(
            p.pick(Strategy::RoundRobin, &tried, now)
                .unwrap()
                .account()
                .name,
            "c"
        );
    }
    let all: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    assert!(
        p.pick(Strategy::RoundRobin, &all, now).is_ok(),
        "then tried ones again"
    );
}

#[test]
fn an_update_keeps_unchanged_accounts_and_resets_edited_ones() {
    let config = |name: &str, key: &str| AccountConfig::ApiKey {
        name: name.into(),
        api_key: Secret::new(key),
        options: AccountOptions::default(),
    };
    let p = Pool::new(vec![
        Account::from_config(&config("a", "ka")),
        Account::from_config(&config("b", "kb")),
    ]);
    let t0 = Instant::now();
    let policy = HealthPolicy::default();
    for a in p.accounts().iter() {
        a.record_failure(Blame::AccountUnusable, "401", t0, &policy);
    }
    let held = p.accounts()[0].clone();
    p.update(&[
        config("a", "ka"),
        config("b", "kb-renewed"),
        config("c", "kc"),
    ]);
    let states: Vec<(String, &str)> = p
        .accounts()
        .iter()
        .map(|a| (a.name.clone(), a.status(t0).state.as_str()))
        .collect();
    assert_eq!(
        states,
        [
            ("a".into(), "needs_attention"),
            ("b".into(), "healthy"),
            ("c".into(), "healthy")
        ],
        "unchanged keeps its state; the edited key starts fresh"
    );
    assert!(
        Arc::ptr_eq(&held, &p.accounts()[0]),
        "the same live account"
    );
    p.update(&[config("c", "kc")]);
    assert_eq!(p.len(), 1);
}

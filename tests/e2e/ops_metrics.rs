//! The operational metrics over real HTTP: process figures from
//! `/proc/self`, build info, open connections per listener, refusals by
//! code, store errors — each family present and moving — labels bounded
//! (route templates, never raw paths); and the dashboard and alert rules in
//! `deploy/monitoring/` name only families the bridge exports
//! (`deploy/monitoring/families.txt`, compared here with a live scrape),
//! and the alert rules' label matchers name labels (and exact values) the
//! scraped series carry.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::TestApp;

/// The value of the first sample whose line starts with `prefix` (name and
/// labels), if any.
pub fn value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix)?.trim().parse().ok())
}

/// The families a scrape declares (`# TYPE name kind`).
pub fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn monitoring(file: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy/monitoring")
            .join(file),
    )
    .expect("deploy/monitoring file")
}

/// `deploy/monitoring/families.txt`: one family a line, `#` comments.
pub fn listed_families() -> BTreeSet<String> {
    monitoring("families.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The migration journey's labelled families: declared once a sign-in
/// reached the legacy IdP, or a legacy token went to token exchange or the
/// gateway.
pub const JOURNEY_FAMILIES: [&str; 2] = ["idp_bridge_legacy_sign_ins", "idp_bridge_legacy_tokens"];

/// The gateway's families: declared once a gateway has served.
pub const GATEWAY_FAMILIES: [&str; 3] = [
    "idp_bridge_gateway_cache",
    "idp_bridge_gateway_request_duration_seconds",
    "idp_bridge_gateway_upstream_duration_seconds",
];

/// Every family a scrape declares is listed in `families.txt` (so the
/// dashboard and rules may use it), and every listed family is declared
/// but those in `not_yet` (a family appears once it has a sample).
pub fn assert_families_listed(text: &str, not_yet: &[&str]) {
    let declared = families(text);
    let listed = listed_families();
    let unlisted: Vec<&String> = declared.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "declared but not in deploy/monitoring/families.txt: {unlisted:?}"
    );
    let missing: Vec<&String> = listed
        .difference(&declared)
        .filter(|f| !not_yet.contains(&f.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "listed in deploy/monitoring/families.txt but not declared: {missing:?}"
    );
}

async fn scrape(app: &TestApp) -> String {
    let url = format!("{}/metrics", app.metrics_url.as_deref().expect("metrics"));
    reqwest::get(&url)
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

#[tokio::test]
async fn process_build_and_connection_families_appear_and_move() {
    let app = TestApp::spawn_with("[metrics]\nlisten = \"127.0.0.1:0\"\n").await;
    let before = scrape(&app).await;
    for family in [
        "process_cpu_seconds",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
        "idp_bridge_build_info",
        "idp_bridge_open_connections",
        "idp_bridge_store_errors",
    ] {
        assert!(families(&before).contains(family), "{family} in\n{before}");
    }
    assert!(before.ends_with("# EOF\n"), "one exposition, one end");
    assert_eq!(before.matches("# EOF").count(), 1);
    assert!(
        before.lines().any(|l| l.starts_with(&format!(
            "idp_bridge_build_info{{version=\"{}\",commit=",
            env!("CARGO_PKG_VERSION")
        )) && l.ends_with(" 1")),
        "{before}"
    );
    assert!(value(&before, "process_resident_memory_bytes").expect("rss") > 1_000_000.0);
    let fds = value(&before, "process_open_fds").expect("fds");
    assert!(fds > 0.0);
    let start = value(&before, "process_start_time_seconds").expect("start");
    let now = f64::from(u32::try_from(idp_bridge::util::clock::now_unix()).expect("before 2106"));
    assert!((start - now).abs() < 3600.0);

    // Held connections are counted on the public listener, and given back.
    let addr = app.issuer.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(
            tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect"),
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let open = |text: &str| value(text, "idp_bridge_open_connections{listener=\"public\"}");
    assert!(open(&scrape(&app).await).expect("public gauge") >= 3.0);
    assert!(value(&scrape(&app).await, "process_open_fds").expect("fds") >= fds + 3.0);
    drop(held);
    let mut back = false;
    for _ in 0..50 {
        if open(&scrape(&app).await) == Some(0.0) {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "closed connections are given back");

    // CPU moves with work.
    let cpu = value(&before, "process_cpu_seconds_total").expect("cpu");
    let mut moved = false;
    for _ in 0..40 {
        let code = app.login(&app.params()).await.code();
        assert_eq!(app.redeem(&code).await.status(), 200);
        if value(&scrape(&app).await, "process_cpu_seconds_total").expect("cpu") > cpu {
            moved = true;
            break;
        }
    }
    assert!(moved, "CPU seconds grow with logins");
}

#[tokio::test]
async fn refusals_by_code_and_store_errors_are_counted_with_bounded_labels() {
    let app = TestApp::spawn_with("[metrics]\nlisten = \"127.0.0.1:0\"\n").await;
    let code = app.login(&app.params()).await.code();
    assert_eq!(app.redeem(&code).await.status(), 200);
    // Refusals by code; a raw path never becomes a label.
    let refused = app
        .token(&[("grant_type", "authorization_code"), ("code", "nope")])
        .await;
    assert_eq!(refused.status(), 401);
    let stray = reqwest::get(format!("{}/no/such/path-Zq93", app.issuer))
        .await
        .expect("reachable");
    assert_eq!(stray.status(), 404);
    let after = scrape(&app).await;
    assert_eq!(
        value(&after, "idp_bridge_refusals_total{code=\"invalid_client\"}"),
        Some(1.0),
        "{after}"
    );
    assert!(!after.contains("Zq93"), "no raw path in a label");
    assert_families_listed(
        &after,
        &[
            &GATEWAY_FAMILIES[..],
            &JOURNEY_FAMILIES[..],
            &["idp_bridge_tls_certificate_not_after_seconds"],
        ]
        .concat(),
    );

    // A store failure is counted (the table a refresh reads is taken away).
    let errors = value(&after, "idp_bridge_store_errors_total").expect("errors");
    let db = app.data_dir.path().join("bridge.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("open the real file");
    sqlx::query("ALTER TABLE refresh_tokens RENAME TO refresh_tokens_gone")
        .execute(&pool)
        .await
        .expect("rename");
    let failed = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "whatever-token"),
            ("client_id", "refresher"),
            ("client_secret", crate::support::REFRESHER_SECRET),
        ])
        .await;
    assert!(failed.status().is_server_error(), "{}", failed.status());
    let last = scrape(&app).await;
    assert!(
        value(&last, "idp_bridge_store_errors_total").expect("errors") > errors,
        "{last}"
    );
    assert!(
        value(
            &last,
            "idp_bridge_refusals_total{code=\"temporarily_unavailable\"}"
        )
        .is_some()
            || value(&last, "idp_bridge_refusals_total{code=\"server_error\"}").is_some(),
        "the 5xx is a refusal too: {last}"
    );
    // The alert rules select on labels these series really carry.
    let checked = assert_rule_selectors_match(&last);
    assert!(
        checked.contains(&"idp_bridge_http_request_duration_seconds_count".to_owned())
            && checked.contains(&"idp_bridge_upstream_request_duration_seconds_count".to_owned()),
        "{checked:?}"
    );
}

/// The label matchers of `deploy/monitoring/alerts.yml`'s expressions
/// (`metric{label="v", label=~"a|b"}`), beside the scrape `text`: for each
/// metric with samples there, every label a rule matches on (but `job` and
/// `instance`, which Prometheus adds) is one its samples carry, and an
/// exact value (`status="5xx"`) is one a sample has. Returns the metrics
/// checked (a metric without samples yet is skipped).
pub fn assert_rule_selectors_match(text: &str) -> Vec<String> {
    let rules = monitoring("alerts.yml");
    let mut checked = Vec::new();
    let mut rest = rules.as_str();
    while let Some(at) = rest.find(['i', 'p']) {
        rest = &rest[at..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[name.len().max(1)..];
        if !(name.starts_with("idp_bridge_") || name.starts_with("process_")) {
            continue;
        }
        let Some(selector) = rest.strip_prefix('{').and_then(|r| r.split_once('}')) else {
            continue;
        };
        let samples: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix(name.as_str()))
            .filter(|l| l.starts_with(['{', ' ']))
            .collect();
        if samples.is_empty() {
            continue;
        }
        for matcher in selector.0.split(',').map(str::trim) {
            let Some(at) = matcher.find(['=', '!']) else {
                continue;
            };
            let (label, op_value) = matcher.split_at(at);
            if label == "job" || label == "instance" {
                continue;
            }
            assert!(
                samples.iter().any(|s| s.contains(&format!("{label}=\""))),
                "alerts.yml matches {name} on `{label}`, which its samples lack:\n{}",
                samples.join("\n")
            );
            if let Some(exact) = op_value.strip_prefix('=').filter(|v| !v.starts_with('~')) {
                assert!(
                    samples
                        .iter()
                        .any(|s| s.contains(&format!("{label}={exact}"))),
                    "alerts.yml matches {name}{{{label}={exact}}}, which no sample has:\n{}",
                    samples.join("\n")
                );
            }
        }
        checked.push(name);
    }
    checked
}

#[test]
fn every_family_the_dashboard_and_rules_name_is_listed() {
    let listed = listed_families();
    let mut named = BTreeSet::new();
    for file in ["grafana-dashboard.json", "alerts.yml"] {
        let text = monitoring(file);
        let mut rest = text.as_str();
        while let Some(at) = rest.find(['i', 'p']) {
            rest = &rest[at..];
            let token: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if token.starts_with("idp_bridge_") || token.starts_with("process_") {
                named.insert(token.clone());
            }
            rest = &rest[token.len().max(1)..];
        }
    }
    assert!(named.len() > 8, "{named:?}");
    for name in named {
        let family = ["_total", "_bucket", "_count", "_sum"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(&name);
        assert!(
            listed.contains(family),
            "{name} is not a family the bridge exports"
        );
    }
}

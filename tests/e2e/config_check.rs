//! One validation for `serve` and `check-config` (issue 29): every problem
//! in one run, each with `file:line:column` or the variable that set it;
//! what `serve` would refuse (a store URL from an unset variable, clashing
//! listeners, a missing key file) seen by `check-config` too; published
//! placeholders refused wherever a secret is read.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_idp-bridge");

/// Twelve planted mistakes of different kinds, each with the key it is
/// reported under and the line it is on (0: set by a variable).
const TWELVE: &str = r#"issuer = "http://127.0.0.1:8080"
listen = "127.0.0.1:8080"
max_connections = "many"
storage_key = { file = "/nonexistent/idp-bridge/storage.key" }
[store]
url = { env = "IDP_BRIDGE_TEST_UNSET_DATABASE_URL" }
batch = 5
[metrics]
listen = "127.0.0.1:8080"
[tokens]
code_ttl_seconds = 600
[session]
idle_timeout_seconds = "long"
[throttle]
trusted_proxies = ["10.0.0.0/33"]
[branding]
accent_color = "red"
[[clients]]
id = "auth0"
secret = "REPLACE-with-a-32-character-or-longer-secret"
redirect_uris = ["not a url"]
[upstream]
adapter = "oauth2-password"
[upstream.oauth2-password]
token_url = "http://127.0.0.1:9/oauth/token"
userinfo_url = "http://127.0.0.1:9/oauth/userinfo"
client_id = "idp-bridge"
client_secret = { env = "LEGACY_CLIENT_SECRET" }
"#;

/// `(key, line)`: where each of the twelve is reported (line 0: by the
/// variable that set it).
const EXPECTED: [(&str, usize); 12] = [
    ("max_connections", 3),
    ("storage_key", 4),
    ("store.url", 6),
    ("store.batch", 7),
    ("metrics.listen", 9),
    ("tokens.code_ttl_seconds", 11),
    ("session.idle_timeout_seconds", 13),
    ("throttle.trusted_proxies[0]", 15),
    ("branding.accent_color", 17),
    ("clients[0].secret", 20),
    ("clients[0].redirect_uris[0]", 21),
    ("header_read_timeout_ms", 0),
];

/// Runs the binary with `args` and the twelve's environment; exit code and
/// the problem lines (`  - …`) of its standard error.
fn run(args: &[&str], config: &std::path::Path) -> (Option<i32>, Vec<String>, String) {
    run_with(args, config, &[("IDP_BRIDGE_HEADER_READ_TIMEOUT_MS", "5")])
}

/// [`run`] with `env` (and none of the twelve's overrides); also used by
/// `config_hostile`.
pub(crate) fn run_with(
    args: &[&str],
    config: &std::path::Path,
    env: &[(&str, &str)],
) -> (Option<i32>, Vec<String>, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg(config)
        .env_remove("IDP_BRIDGE_TEST_UNSET_DATABASE_URL")
        .envs(env.iter().copied())
        .env("LEGACY_CLIENT_SECRET", "a-real-legacy-client-secret")
        .env("IDP_BRIDGE_LOG", "off")
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let problems = err
        .lines()
        .filter_map(|l| l.strip_prefix("  - "))
        .map(str::to_owned)
        .collect();
    (out.status.code(), problems, err)
}

#[test]
fn twelve_mistakes_are_reported_in_one_run_with_positions_by_check_config_and_serve() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, TWELVE).expect("write");
    let file = path.display().to_string();

    let (code, problems, err) = run(&["check-config"], &path);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("12 problem(s)"), "{err}");
    assert_eq!(problems.len(), 12, "{err}");
    for (key, line) in EXPECTED {
        let found = problems
            .iter()
            .find(|p| p.contains(&format!("{key}:")) || p.contains(&format!("{key} (set by")))
            .unwrap_or_else(|| panic!("{key} missing from:\n{err}"));
        if line == 0 {
            assert!(
                found.contains("(set by IDP_BRIDGE_HEADER_READ_TIMEOUT_MS)"),
                "{found}"
            );
        } else {
            assert!(
                found.starts_with(&format!("{file}:{line}:")),
                "{key} should be at line {line}: {found}"
            );
        }
    }
    // What serve refused alone before: the variable, the clash, the file.
    assert!(
        err.contains("IDP_BRIDGE_TEST_UNSET_DATABASE_URL is not set"),
        "{err}"
    );
    assert!(err.contains("clashes with `listen`"), "{err}");
    assert!(err.contains("/nonexistent/idp-bridge/storage.key"), "{err}");
    assert!(err.contains("placeholder"), "{err}");
    assert!(
        !err.contains("32-character-or-longer"),
        "the secret is not echoed: {err}"
    );

    // serve refuses to start with the same list, before binding anything.
    let (code, served, err) = run(&["serve", "--config"], &path);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(served, problems, "serve and check-config disagree:\n{err}");
}

#[test]
fn what_serve_refused_alone_is_refused_by_check_config() {
    let dir = tempfile::tempdir().expect("dir");
    let base = r#"issuer = "http://127.0.0.1:8080"
listen = "0.0.0.0:8080"
[[clients]]
id = "auth0"
secret = "a-long-enough-client-secret-0123"
redirect_uris = ["https://example.us.auth0.com/login/callback"]
[upstream]
adapter = "oauth2-password"
[upstream.oauth2-password]
token_url = "http://127.0.0.1:9/oauth/token"
userinfo_url = "http://127.0.0.1:9/oauth/userinfo"
client_id = "idp-bridge"
"#;
    let check = |extra: &str| {
        let path = dir.path().join("bridge.toml");
        std::fs::write(&path, format!("{base}{extra}")).expect("write");
        let (code, problems, err) = run_with(&["check-config", "--config"], &path, &[]);
        (code, problems.join("\n"), err)
    };
    let (code, _, err) = check("");
    assert_eq!(code, Some(0), "the base checks out: {err}");
    // The wildcard takes the port on every address.
    let (code, problems, _) = check("[metrics]\nlisten = \"127.0.0.1:8080\"\n");
    assert_eq!(code, Some(1));
    assert!(
        problems.contains("metrics.listen: `127.0.0.1:8080` clashes with `listen`"),
        "{problems}"
    );
    let (_, problems, _) = check("[store]\nurl = \"mysql://db/bridge\"\n");
    assert!(
        problems.contains("store.url: only postgres:// URLs are supported"),
        "{problems}"
    );
    // The storage key the data directory holds must be one.
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::write(data.join("storage.key"), "not a key\n").expect("write");
    // `data_dir` must come before the first table.
    let path = dir.path().join("bridge.toml");
    std::fs::write(
        &path,
        format!("data_dir = {:?}\n{base}", data.display().to_string()),
    )
    .expect("write");
    let (code, problems, err) = run_with(&["check-config", "--config"], &path, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("storage.key") && p.contains("neither 64 hex digits")),
        "{err}"
    );
}

/// Every placeholder the manifests, the example config and the docs
/// publish, found by reading them: quoted values with `REPLACE`, `<…>`,
/// `change-me` or a Deploy CLI `@@KEY@@`.
fn published_placeholders() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("config.example.toml"), root.join("README.md")];
    for dir in ["docs", "deploy", "deploy/kubernetes", "deploy/systemd"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("dir").flatten() {
            let path = entry.path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    let mut found = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for quoted in text.split('"').skip(1).step_by(2) {
            let marked = quoted.contains("REPLACE")
                || quoted.to_ascii_lowercase().contains("change-me")
                || (quoted.starts_with('<') && quoted.ends_with('>'))
                || (quoted.starts_with("@@") && quoted.ends_with("@@"));
            if marked && !quoted.contains('\n') {
                found.push((file.display().to_string(), quoted.to_owned()));
            }
        }
    }
    found
}

#[test]
fn every_published_placeholder_is_refused_as_a_secret() {
    let found = published_placeholders();
    let k8s = [
        "REPLACE-with-64-hex-digits",
        "REPLACE-with-a-32-character-or-longer-secret",
        "postgres://idp_bridge:REPLACE@postgres.example.svc:5432/idp_bridge?sslmode=require",
    ];
    for value in k8s {
        assert!(
            found.iter().any(|(_, v)| v == value),
            "the scan finds the manifest's {value}"
        );
    }
    for (file, value) in &found {
        assert!(
            idp_bridge::util::secret::placeholder(value).is_some(),
            "{file}: {value} would be accepted as a secret"
        );
    }
}

#[test]
fn the_manifests_placeholders_fail_check_config_wherever_they_are_read() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bridge.toml");
    std::fs::write(
        &path,
        r#"issuer = "http://127.0.0.1:8080"
storage_key = { env = "K8S_STORAGE_KEY" }
[store]
url = { env = "K8S_DATABASE_URL" }
[[clients]]
id = "auth0"
secret = { env = "K8S_CLIENT_SECRET" }
redirect_uris = ["https://example.us.auth0.com/login/callback"]
[upstream]
adapter = "oauth2-password"
[upstream.oauth2-password]
token_url = "http://127.0.0.1:9/oauth/token"
userinfo_url = "http://127.0.0.1:9/oauth/userinfo"
client_id = "idp-bridge"
client_secret = "<the legacy client secret>"
[admin]
listen = "127.0.0.1:9091"
token = "change-me-admin-token-0123456789abcdef"
"#,
    )
    .expect("write");
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .env("K8S_STORAGE_KEY", "REPLACE-with-64-hex-digits")
        .env(
            "K8S_DATABASE_URL",
            "postgres://idp_bridge:REPLACE@postgres.example.svc:5432/idp_bridge?sslmode=require",
        )
        .env(
            "K8S_CLIENT_SECRET",
            "REPLACE-with-a-32-character-or-longer-secret",
        )
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for key in [
        "storage_key",
        "store.url",
        "clients[0].secret",
        "upstream.oauth2-password.client_secret",
        "admin.token",
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(key) && l.contains("placeholder")),
            "{key} not refused as a placeholder:\n{err}"
        );
    }
    assert!(
        err.contains("K8S_CLIENT_SECRET"),
        "names the variable: {err}"
    );
    assert!(!err.contains("32-character"), "no value echoed: {err}");
    assert!(
        !err.contains("postgres.example.svc"),
        "no URL echoed: {err}"
    );
}

#[test]
fn the_command_adapters_environment_is_checked_before_the_first_sign_in() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bridge.toml");
    std::fs::write(
        &path,
        r#"issuer = "http://127.0.0.1:8080"
[[clients]]
id = "auth0"
secret = "a-long-enough-client-secret-0123"
redirect_uris = ["https://example.us.auth0.com/login/callback"]
[upstream]
adapter = "command"
[upstream.command]
program = "/bin/true"
env = { API_KEY = { env = "IDP_BRIDGE_TEST_UNSET_API_KEY" }, TOKEN = "change-me", MODE = "plain" }
"#,
    )
    .expect("write");
    let (code, problems, err) = run_with(&["check-config", "--config"], &path, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(problems.len(), 2, "{err}");
    let file = path.display().to_string();
    assert!(
        problems[0].starts_with(&format!("{file}:10:"))
            && problems[0].contains("upstream.command.env.API_KEY")
            && problems[0].contains("IDP_BRIDGE_TEST_UNSET_API_KEY is not set"),
        "{err}"
    );
    assert!(
        problems[1].contains("upstream.command.env.TOKEN") && problems[1].contains("placeholder"),
        "{err}"
    );
}

/// `sha256:<64 hex>` values the manifests, the example config and the docs
/// publish, with the file each is in.
fn published_hashes() -> Vec<(String, [u8; 32])> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("config.example.toml"), root.join("README.md")];
    for dir in ["docs", "deploy", "deploy/kubernetes", "deploy/systemd"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("dir").flatten() {
            if entry.path().is_file() {
                files.push(entry.path());
            }
        }
    }
    let mut found = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (at, _) in text.match_indices("sha256:") {
            let hex: String = text[at + 7..]
                .chars()
                .take_while(char::is_ascii_hexdigit)
                .collect();
            if let Some(digest) = hex::decode(&hex)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
            {
                found.push((file.display().to_string(), digest));
            }
        }
    }
    found
}

#[test]
fn a_secret_hash_of_a_guessable_or_published_secret_is_refused() {
    use sha2::Digest as _;
    let sha = |s: &str| -> [u8; 32] { sha2::Sha256::digest(s.as_bytes()).into() };
    // What config.example.toml printed: the hash of "test", so a copy of
    // the example let a client in with the secret "test".
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bridge.toml");
    std::fs::write(
        &path,
        format!(
            r#"issuer = "http://127.0.0.1:8080"
[[clients]]
id = "auth0"
secret_hash = "sha256:{}"
redirect_uris = ["https://example.us.auth0.com/login/callback"]
[upstream]
adapter = "oauth2-password"
[upstream.oauth2-password]
token_url = "http://127.0.0.1:9/oauth/token"
userinfo_url = "http://127.0.0.1:9/oauth/userinfo"
client_id = "idp-bridge"
"#,
            hex::encode(sha("test"))
        ),
    )
    .expect("write");
    let (code, problems, err) = run_with(&["check-config", "--config"], &path, &[]);
    assert_eq!(code, Some(1), "{err}");
    let file = path.display().to_string();
    assert!(
        problems.len() == 1
            && problems[0].starts_with(&format!("{file}:4:"))
            && problems[0]
                .contains("clients[0].secret_hash: is the hash of a published or guessable secret"),
        "{err}"
    );
    assert!(!err.contains("\"test\""), "the secret is not named: {err}");

    // No hash the repository publishes is one of a secret anyone knows: a
    // guessable word, or a placeholder the manifests and docs print.
    let placeholders = published_placeholders();
    let hashes = published_hashes();
    assert!(
        hashes
            .iter()
            .any(|(f, _)| f.ends_with("config.example.toml")),
        "the scan finds the example's secret_hash"
    );
    for (file, digest) in &hashes {
        assert!(
            !idp_bridge::util::secret::guessable_hash(digest),
            "{file} publishes the hash of a guessable secret"
        );
        if let Some((_, p)) = placeholders.iter().find(|(_, p)| sha(p) == *digest) {
            panic!("{file} publishes the hash of the placeholder {p}");
        }
    }
    // The manifests' literal client-secret placeholders are in the list.
    for (file, p) in &placeholders {
        if p.starts_with("REPLACE") && !p.contains([':', '@', ' ']) {
            assert!(
                idp_bridge::util::secret::guessable_hash(&sha(p)),
                "{file}: {p} belongs in GUESSABLE_SECRETS"
            );
        }
    }
}

#[test]
fn a_bad_client_id_or_redirect_uri_is_reported_at_its_position_and_the_rest_still_checked() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bridge.toml");
    std::fs::write(
        &path,
        r#"issuer = "http://127.0.0.1:8080"
[branding]
accent_color = "red"
[[clients]]
id = "auth0:tenant"
secret = "a-long-enough-client-secret-0123"
redirect_uris = ["https://example.us.auth0.com/login/callback", "https://a.example/cb#frag"]
post_logout_redirect_uris = ["/signed-out"]
[upstream]
adapter = "oauth2-password"
[upstream.oauth2-password]
token_url = "http://127.0.0.1:9/oauth/token"
userinfo_url = "http://127.0.0.1:9/oauth/userinfo"
client_id = "idp-bridge"
"#,
    )
    .expect("write");
    let file = path.display().to_string();
    let (code, problems, err) = run_with(&["check-config", "--config"], &path, &[]);
    assert_eq!(code, Some(1), "{err}");
    for (key, line, why) in [
        ("branding.accent_color", 3, ""),
        (
            "clients[0].id",
            5,
            "expected a client id (must be non-empty and contain no ':'",
        ),
        (
            "clients[0].redirect_uris[1]",
            7,
            "expected an absolute URL (must not have a fragment",
        ),
        (
            "clients[0].post_logout_redirect_uris[0]",
            8,
            "expected an absolute URL (relative URL without a base)",
        ),
    ] {
        let found = problems
            .iter()
            .find(|p| p.contains(&format!("{key}:")))
            .unwrap_or_else(|| panic!("{key} missing from:\n{err}"));
        assert!(
            found.starts_with(&format!("{file}:{line}:")),
            "{key} should be at line {line}: {found}"
        );
        assert!(found.contains(why), "{found}");
    }
    assert_eq!(problems.len(), 4, "nothing about the stand-ins:\n{err}");
}

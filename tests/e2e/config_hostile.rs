//! Hostile `[[clients]]` values (brief E): a client id outside RFC 6749's
//! VSCHAR (a control character, a Cyrillic look-alike), two ids differing
//! only by case, and addresses a browser must never be sent to
//! (`javascript:`, `data:`, a scheme other than http on a loopback host)
//! in `redirect_uris` or `post_logout_redirect_uris`, and a guessable
//! `secret_hash` in upper-case hex: each refused by
//! `check-config` at its position, and the acceptable ones not. A `[store]
//! url` only `serve` refused.

use crate::config_check::run_with;

const HOSTILE: &str = r#"issuer = "http://127.0.0.1:8080"
[[clients]]
id = "Auth0"
secret = "a-long-enough-client-secret-0123"
redirect_uris = ["https://a.example/cb", "javascript://localhost/%0aalert(1)", "http://127.0.0.1:9/cb"]
post_logout_redirect_uris = ["javascript:alert(document.cookie)", "data:text/html,hi", "https://a.example/out", "http://localhost/out"]
[[clients]]
id = "auth0"
secret = "another-long-enough-client-secret-0123"
redirect_uris = ["https://a.example/cb"]
[[clients]]
id = "a\u0000b\nc"
secret = "a-long-enough-client-secret-0123"
redirect_uris = ["https://a.example/cb"]
[[clients]]
id = "аuth0"
secret = "a-long-enough-client-secret-0123"
redirect_uris = ["https://a.example/cb"]
[[clients]]
id = "e"
secret_hash = "sha256:5E884898DA28047151D0E56F8DC6292773603D0D6AABBDD62A11EF721D1542D8"
redirect_uris = ["https://a.example/cb"]
[upstream]
adapter = "oauth2-password"
[upstream.oauth2-password]
token_url = "http://127.0.0.1:9/oauth/token"
userinfo_url = "http://127.0.0.1:9/oauth/userinfo"
client_id = "idp-bridge"
"#;

/// HOSTILE's issuer and `[upstream]` with `middle` between them and one
/// acceptable client after them.
fn with_one_good_client(middle: &[&str]) -> String {
    HOSTILE
        .lines()
        .take(1)
        .chain(middle.iter().copied())
        .chain(HOSTILE.lines().skip_while(|l| !l.starts_with("[upstream]")))
        .chain([
            "[[clients]]",
            "id = \"auth0\"",
            "secret = \"a-long-enough-client-secret-0123\"",
            "redirect_uris = [\"https://a.example/cb\"]",
        ])
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn hostile_client_ids_and_browser_addresses_are_refused_at_their_positions() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, HOSTILE).expect("write");
    let (code, problems, err) = run_with(&["check-config", "--config"], &path, &[]);
    assert_eq!(code, Some(1), "{err}");
    let file = path.display().to_string();
    for (key, line, why) in [
        ("clients[0].redirect_uris[1]", 5, "must be https"),
        (
            "clients[0].post_logout_redirect_uris[0]",
            6,
            "must be https",
        ),
        (
            "clients[0].post_logout_redirect_uris[1]",
            6,
            "must be https",
        ),
        (
            "clients[1].id",
            8,
            "`auth0` differs from `Auth0` only by case",
        ),
        ("clients[2].id", 12, "printable ASCII only"),
        ("clients[3].id", 16, "printable ASCII only"),
        // sha256("password") in upper-case hex: read as the same hash.
        (
            "clients[4].secret_hash",
            21,
            "published or guessable secret",
        ),
    ] {
        let found = problems
            .iter()
            .find(|p| p.contains(&format!("{key}:")))
            .unwrap_or_else(|| panic!("{key} missing from:\n{err}"));
        assert!(
            found.starts_with(&format!("{file}:{line}:")),
            "{key}: {found}"
        );
        assert!(found.contains(why), "{found}");
    }
    assert_eq!(problems.len(), 7, "the acceptable addresses pass:\n{err}");
    assert!(
        !err.contains("password"),
        "the guessed word is not named:\n{err}"
    );
    assert!(
        !err.contains('\0') && !err.contains("b\nc"),
        "a raw control character echoed:\n{err}"
    );
}

/// A `[store] url` that parses as a URL but not as PostgreSQL's client
/// reads it (`sslmode=bogus`), which `serve` refused alone: `check-config`
/// refuses it too, at its position, and never echoes the password.
#[test]
fn a_store_url_serve_cannot_read_fails_check_config_without_its_password() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bridge.toml");
    let config = with_one_good_client(&[
        "[store]",
        "url = \"postgres://u:Pass-w0rd-never-shown@127.0.0.1:5432/test?sslmode=bogus\"",
    ]);
    std::fs::write(&path, config).expect("write");
    let (code, problems, err) = run_with(&["check-config", "--config"], &path, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(problems.len(), 1, "{err}");
    assert!(
        problems[0].starts_with(&format!("{}:3:", path.display()))
            && problems[0].contains("store.url: not a valid postgres:// URL"),
        "{err}"
    );
    assert!(!err.contains("Pass-w0rd"), "{err}");
}

/// A `[[clients]]` value set by a variable (`IDP_BRIDGE_CLIENTS__0__ID`)
/// is reported as set by it, not at the file's line for the value it
/// replaced; the escape sequence in it is shown escaped.
#[test]
fn a_bad_client_value_from_a_variable_names_the_variable() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, with_one_good_client(&[])).expect("write");
    let (code, problems, err) = run_with(
        &["check-config", "--config"],
        &path,
        &[
            ("IDP_BRIDGE_CLIENTS__0__ID", "Auth\u{1b}[31m0"),
            (
                "IDP_BRIDGE_CLIENTS__0__REDIRECT_URIS",
                "[\"javascript://localhost/%0aalert(1)\"]",
            ),
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(problems.len(), 2, "{err}");
    for (key, var) in [
        ("clients[0].id", "IDP_BRIDGE_CLIENTS__0__ID"),
        (
            "clients[0].redirect_uris[0]",
            "IDP_BRIDGE_CLIENTS__0__REDIRECT_URIS",
        ),
    ] {
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with(&format!("{key} (set by {var}): "))),
            "{key}: {err}"
        );
    }
    assert!(!err.contains('\u{1b}'), "{err}");
}

//! `check-config` on the shipped example and on a broken config, and
//! `hash-secret`, `init` and `healthcheck`.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_idp-bridge");

/// `check-config` on the shipped example (with `flags` before the path),
/// with the secrets it names set.
fn check_example(flags: &[&str]) -> std::process::Output {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
    Command::new(BIN)
        .arg("check-config")
        .args(flags)
        .arg(example)
        .env(
            "IDP_BRIDGE_STORAGE_KEY",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        )
        .env("AUTH0_OIDC_CLIENT_SECRET", "a-long-enough-client-secret")
        .output()
        .expect("runs")
}

#[test]
fn the_example_config_checks_out() {
    let out = check_example(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK (2 client(s)"));
}

#[test]
fn the_examples_header_command_works_as_written() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"))
            .expect("example");
    let command = example
        .lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| {
            l.strip_prefix("#   ")
                .filter(|c| c.contains("check-config"))
        })
        .expect("the header names the check-config command");
    let bin_dir = std::path::Path::new(BIN).parent().expect("bin dir");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut shell = Command::new("sh");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("IDP_BRIDGE_") {
            shell.env_remove(name);
        }
    }
    let out = shell
        .args(["-c", command])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", path)
        .env_remove("AUTH0_OIDC_CLIENT_SECRET")
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `check-config` on `text` (written to a temporary file), with the
/// example's secrets set; its combined output and success.
fn check_text(text: &str) -> (bool, String) {
    check_text_with(text, &[])
}

/// `check_text` with `env` set in the process too.
fn check_text_with(text: &str, env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, text).expect("write");
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .env(
            "IDP_BRIDGE_STORAGE_KEY",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        )
        .env("AUTH0_OIDC_CLIENT_SECRET", "a-long-enough-client-secret")
        .env("LEGACY_CLIENT_SECRET", "legacy-client-secret")
        .envs(env.iter().copied())
        .output()
        .expect("runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The keys a section accepts, as its parser names them for an unknown one.
fn accepted_keys(example: &str, section: &str) -> Vec<String> {
    let (_, text) = check_text(&format!("{example}\n[{section}]\nnot_a_key = 1\n"));
    let list = text
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("the parser lists {section}'s keys: {text}"));
    list.split(['`', ',', ' '])
        .take_while(|w| !w.contains('\n') && !w.contains(')'))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_examples_redirect_sections_check_out_and_name_every_key() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"))
            .expect("example");
    // The live [upstream] section, replaced by a commented-out one.
    let live = example
        .find("[upstream]\nadapter = \"http\"")
        .expect("[upstream]");
    let live_end = example[live..]
        .find("\n# With a redirect legacy IdP")
        .expect("the redirect examples")
        + live;
    for adapter in ["oidc", "oauth2"] {
        let begin = format!("# [upstream.{adapter}]");
        let start = example.find(&begin).expect("commented section");
        let section: String = example[start..]
            .lines()
            .take_while(|l| l.starts_with("# "))
            .flat_map(|l| [&l[2..], "\n"])
            .collect();
        let uncommented = format!(
            "{}[upstream]\nadapter = \"{adapter}\"\n{section}{}",
            &example[..live],
            &example[live_end..]
        );
        // The keys the parser accepts, each shown in the example.
        let head = format!("{}[upstream]\nadapter = \"{adapter}\"\n", &example[..live]);
        for table in [
            format!("upstream.{adapter}"),
            format!("upstream.{adapter}.claims"),
        ] {
            let keys = accepted_keys(&head, &table);
            assert!(keys.len() > 4, "{table}: {keys:?}");
            let body = section
                .split(&format!("[{table}]"))
                .nth(1)
                .expect("the table")
                .split("\n[")
                .next()
                .unwrap_or_default();
            for key in keys {
                let shown = body.lines().any(|l| l.starts_with(&format!("{key} = ")))
                    || section.contains(&format!("[{table}.{key}]"));
                assert!(shown, "{table}.{key} is in config.example.toml");
            }
        }
        let (ok, text) = check_text(&uncommented);
        assert!(ok, "[upstream.{adapter}] checks out: {text}");
    }
}

#[test]
fn check_config_reports_every_problem_at_once_naming_keys() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"
issuer = "http://bridge.example.com"
[tokens]
code_ttl_seconds = 600
[branding]
accent_color = "red"
[[clients]]
id = "a"
secret = "short"
redirect_uris = ["http://evil.example.com/cb"]
id_token_signed_response_alg = "HS256"
[upstream]
adapter = "http"
[upstream.http.login]
url = "https://legacy.example.com/login"
[upstream.http.claims]
subject = "no-slash"
"#,
    )
    .expect("write");
    let out = Command::new(BIN)
        .args(["check-config"])
        .arg(&path)
        .env("IDP_BRIDGE_LOG", "off")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for key in [
        "issuer",
        "tokens.code_ttl_seconds",
        "branding.accent_color",
        "clients[0].secret",
        "clients[0].redirect_uris[0]",
        "clients[0].id_token_signed_response_alg",
        "upstream.http.claims.subject",
    ] {
        assert!(err.contains(key), "{key} missing from:\n{err}");
    }
    assert!(err.contains("7 problem(s)"), "{err}");
    assert!(!err.contains("short"), "no secret echoed");
}

#[test]
fn check_config_catches_an_impossible_port_and_non_http_upstream_urls() {
    let dir = tempfile::tempdir().expect("dir");
    let check = |upstream_url: &str| {
        let path = dir.path().join("typos.toml");
        std::fs::write(
            &path,
            format!(
                r#"
issuer = "http://127.0.0.1:8080"
listen = "127.0.0.1:99999"
[[clients]]
id = "a"
secret = "a-long-enough-client-secret"
redirect_uris = ["https://example.us.auth0.com/login/callback"]
[upstream]
adapter = "http"
[upstream.http.login]
url = "{upstream_url}"
[upstream.http.claims]
subject = "/id"
"#
            ),
        )
        .expect("write");
        let out = Command::new(BIN)
            .args(["check-config"])
            .arg(&path)
            .env("IDP_BRIDGE_LOG", "off")
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for url in [
        "htp:/legacy example/login",
        "ftp://legacy.example.com/login",
    ] {
        let err = check(url);
        assert!(err.contains("listen: `127.0.0.1:99999`"), "{err}");
        assert!(err.contains("upstream.http.login.url"), "{url}: {err}");
    }
}

#[test]
fn check_config_takes_the_file_as_serve_does() {
    let out = check_example(&["--config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let none = Command::new(BIN)
        .arg("check-config")
        .output()
        .expect("runs");
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("--config"));
}

#[test]
fn hash_secret_prints_the_config_line_for_a_secret_and_refuses_short_ones() {
    use std::io::Write as _;
    let run = |input: &str| {
        let mut child = Command::new(BIN)
            .arg("hash-secret")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
        child.wait_with_output().expect("output")
    };
    let secret = "a-generated-secret-of-forty-two-characters";
    let out = run(&format!("{secret}\n"));
    assert!(out.status.success());
    let expected = hex::encode(idp_bridge::util::crypto::sha256(secret.as_bytes()));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("secret_hash = \"sha256:{expected}\"")
    );
    assert!(
        !run("short\n").status.success(),
        "a guessable secret is refused"
    );

    let generated = Command::new(BIN)
        .args(["hash-secret", "--generate"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&generated.stdout);
    let secret = text
        .lines()
        .nth(1)
        .and_then(|l| l.strip_prefix("# "))
        .expect("the secret");
    let hash = hex::encode(idp_bridge::util::crypto::sha256(secret.as_bytes()));
    assert!(text.contains(&format!("sha256:{hash}")), "{text}");
}

#[test]
fn check_config_reports_every_wrong_value_and_syntax_errors_with_line_and_column() {
    let dir = tempfile::tempdir().expect("dir");
    let check = |text: &str| {
        let path = dir.path().join("bridge.toml");
        std::fs::write(&path, text).expect("write");
        let out = Command::new(BIN)
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .expect("runs");
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let syntax = check("issuer = \"http://127.0.0.1:8080\"\nlisten = 127.0.0.1:8080\n");
    assert!(syntax.contains("bridge.toml:2:"), "{syntax}");
    let wrong = check(
        "issuer = \"http://127.0.0.1:8080\"\nlisten = 5\nmax_connections = \"x\"\n[store]\nbatch = 1\n[[clients]]\nid = 7\n[upstream]\nadapter = \"command\"\n",
    );
    for expected in [
        "bridge.toml:2:1: listen: invalid type",
        "bridge.toml:3:1: max_connections: invalid type",
        "bridge.toml:5:1: store.batch: unknown field",
        "bridge.toml:7:1: clients[0].id: invalid type",
        "bridge.toml:6:1: clients[0]: missing field `redirect_uris`",
        "adapter = \"command\" needs an [upstream.command] section",
    ] {
        assert!(
            wrong.contains(expected),
            "{expected} missing from:\n{wrong}"
        );
    }
    assert!(!wrong.contains("missing field `upstream`"), "{wrong}");
}

#[test]
fn init_writes_a_starter_that_checks_out_with_the_secret_only_hashed() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("dir");
    for adapter in ["http", "oauth2-password", "command"] {
        let sub = dir.path().join(adapter);
        std::fs::create_dir(&sub).expect("mkdir");
        let config = sub.join("bridge.toml");
        let out = Command::new(BIN)
            .args([
                "init",
                "--adapter",
                adapter,
                "--auth0-domain",
                "acme.eu.auth0.com",
                "--output",
            ])
            .arg(&config)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        let secret = printed
            .lines()
            .skip_while(|l| !l.starts_with("The client secret"))
            .nth(1)
            .expect("the secret line")
            .trim()
            .to_owned();
        let text = std::fs::read_to_string(&config).expect("config");
        let hash = hex::encode(idp_bridge::util::crypto::sha256(secret.as_bytes()));
        assert!(text.contains(&format!("sha256:{hash}")), "{text}");
        assert!(!text.contains(&secret), "only the hash is written");
        assert!(text.contains("https://acme.eu.auth0.com/login/callback"));
        for file in [&config, &sub.join("storage.key")] {
            let mode = std::fs::metadata(file).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        }
        let check = Command::new(BIN)
            .args(["check-config", "--config"])
            .arg(&config)
            .env("LEGACY_CLIENT_SECRET", "a-legacy-client-secret")
            .output()
            .expect("runs");
        assert!(
            check.status.success(),
            "{adapter}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        // Never over an existing file.
        let again = Command::new(BIN)
            .args(["init", "--output"])
            .arg(&config)
            .output()
            .expect("runs");
        assert!(!again.status.success());
    }
}

/// `healthcheck --url`'s exit code, run off the async threads.
pub async fn healthcheck(url: String) -> std::process::Output {
    healthcheck_with(vec!["--url".into(), url.into()]).await
}

/// `healthcheck` with `args` (and no `IDP_BRIDGE_*` of the test's own
/// environment), run off the async threads.
pub async fn healthcheck_with(args: Vec<std::ffi::OsString>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(BIN);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("IDP_BRIDGE_") {
                command.env_remove(name);
            }
        }
        command
            .arg("healthcheck")
            .args(args)
            .output()
            .expect("runs")
    })
    .await
    .expect("joins")
}

#[tokio::test]
async fn healthcheck_finds_a_bridge_on_another_port_from_its_config_alone() {
    let app = crate::support::TestApp::spawn().await;
    assert!(
        !app.issuer.ends_with(":8080"),
        "a port other than the default"
    );
    let by_flag = healthcheck_with(vec!["--config".into(), app.config_path().into()]).await;
    assert!(
        by_flag.status.success(),
        "{}",
        String::from_utf8_lossy(&by_flag.stderr)
    );
    // As in the image: the config named by IDP_BRIDGE_CONFIG, the listen
    // address overridden by IDP_BRIDGE_LISTEN.
    let config = app.config_path();
    let listen = app.issuer.trim_start_matches("http://").to_owned();
    let by_env = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .arg("healthcheck")
            .env("IDP_BRIDGE_CONFIG", &config)
            .env(
                "IDP_BRIDGE_LISTEN",
                listen.replacen("127.0.0.1", "0.0.0.0", 1),
            )
            .output()
            .expect("runs")
    })
    .await
    .expect("joins");
    assert!(
        by_env.status.success(),
        "{}",
        String::from_utf8_lossy(&by_env.stderr)
    );
    // --url still wins over the config.
    let dead = healthcheck_with(vec![
        "--config".into(),
        app.config_path().into(),
        "--url".into(),
        format!("{}/healthz", crate::support::closed_port_url().await).into(),
    ])
    .await;
    assert_eq!(dead.status.code(), Some(1));
}

#[tokio::test]
async fn a_piped_text_log_has_no_colour_codes() {
    use std::io::BufRead as _;
    let mut app = crate::support::TestApp::spawn().await;
    let config = app.config_path();
    app.stop().await;
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .env("IDP_BRIDGE_LOG", "info")
        .env_remove("IDP_BRIDGE_LOG_FORMAT")
        .env_remove("NO_COLOR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let lines = tokio::task::spawn_blocking(move || {
        let mut seen = String::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("listening") {
                break;
            }
        }
        seen
    });
    let seen = tokio::time::timeout(std::time::Duration::from_secs(20), lines)
        .await
        .ok()
        .and_then(Result::ok);
    let _ = child.kill();
    let _ = child.wait();
    let seen = seen.expect("serve logs within 20 s");
    assert!(seen.contains("INFO"), "the text log was read: {seen:?}");
    assert!(
        !seen.contains('\x1b'),
        "no escape codes in a pipe: {seen:?}"
    );
}

/// The `oauth2-password` starter config (`init`'s), for environment tests.
fn oauth2_password_config() -> String {
    r#"issuer = "http://127.0.0.1:8080"
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
client_secret = { env = "LEGACY_CLIENT_SECRET" }
"#
    .to_owned()
}

#[test]
fn overrides_of_dashed_keys_can_be_written_with_underscores() {
    let config = oauth2_password_config();
    let (ok, text) = check_text(&config);
    assert!(ok, "the config itself checks out: {text}");
    // What bash can export and systemd can set.
    let (ok, text) = check_text_with(
        &config,
        &[("IDP_BRIDGE_UPSTREAM__OAUTH2_PASSWORD__CLIENT_ID", "other")],
    );
    assert!(ok, "an underscore stands for the dash: {text}");
    // The variable reached the section in the file: a wrong value is
    // reported under the file's key, naming the variable.
    let (ok, text) = check_text_with(
        &config,
        &[("IDP_BRIDGE_UPSTREAM__OAUTH2_PASSWORD__TIMEOUT_MS", "soon")],
    );
    assert!(!ok, "{text}");
    assert!(
        text.contains("upstream.oauth2-password.timeout_ms")
            && text.contains("IDP_BRIDGE_UPSTREAM__OAUTH2_PASSWORD__TIMEOUT_MS"),
        "{text}"
    );
    // The older dashed form still works.
    let (ok, text) = check_text_with(
        &config,
        &[("IDP_BRIDGE_UPSTREAM__OAUTH2-PASSWORD__CLIENT_ID", "other")],
    );
    assert!(ok, "{text}");
}

#[tokio::test]
async fn healthcheck_exits_0_for_a_live_bridge_and_1_for_none() {
    let app = crate::support::TestApp::spawn().await;
    let live = healthcheck(format!("{}/healthz", app.issuer)).await;
    assert!(
        live.status.success(),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    let dead = healthcheck(format!(
        "{}/healthz",
        crate::support::closed_port_url().await
    ))
    .await;
    assert_eq!(dead.status.code(), Some(1));
    let missing = healthcheck(format!("{}/no-such-path", app.issuer)).await;
    assert_eq!(missing.status.code(), Some(1), "a 404 is not healthy");
}

/// A printing command whose reader stops early (`config schema | head`)
/// ends silently with status 141, as a program killed by `SIGPIPE` does,
/// not with a panic and a backtrace on stderr. The schema (about 75 KB) is
/// larger than a pipe's buffer, so the write meets the closed pipe.
#[test]
fn a_printing_command_piped_into_a_reader_that_stops_early_ends_quietly() {
    use std::io::Read as _;
    let mut child = Command::new(BIN)
        .args(["config", "schema"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut head = [0_u8; 100];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut head)
        .expect("the schema's first bytes");
    // The reader is gone now (its end of the pipe closed when dropped).
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

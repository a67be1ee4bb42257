//! `[branding]` a company owns: its logo, favicon and stylesheet served by
//! the bridge (typed, cached, allowed by the CSP), footer links, texts per
//! language, the failed-login state marked for assistive technology, and
//! `check-config` refusing bad branding with a message naming the key.

use std::process::Command;

use crate::support::TestApp;

const BIN: &str = env!("CARGO_BIN_EXE_idp-bridge");

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x60, 0x60, 0xf8,
    0x0f, 0x00, 0x01, 0x04, 0x01, 0x00, 0x5f, 0xe5, 0xc3, 0x4b, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];
const SVG: &str = r##"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><rect width="16" height="16" fill="#0b5cad"/></svg>"##;
const CSS: &str = ".card { border-width: 3px; }\n";

/// Writes the company's files into `dir` and returns the `[branding]` TOML.
fn branding_files(dir: &std::path::Path) -> String {
    std::fs::write(dir.join("logo.png"), PNG).unwrap();
    std::fs::write(dir.join("favicon.svg"), SVG).unwrap();
    std::fs::write(dir.join("company.css"), CSS).unwrap();
    format!(
        r#"[branding]
organization = "Example Corp"
username_label = "Employee ID"
logo = "{d}/logo.png"
favicon = "{d}/favicon.svg"
stylesheet = "{d}/company.css"
links = [
  {{ label = "Forgot your password?", url = "https://id.example.com/reset?from=sso&x=1" }},
  {{ label = "Help", url = "/help" }},
]

[branding.texts.de]
organization = "Beispiel GmbH"
username_label = "Personalnummer"
help_text = "Hilfe unter 1234."
link_labels = ["Passwort vergessen?", "Hilfe"]
"#,
        d = dir.display()
    )
}

/// The `href`/`src` that follows `marker` in `html`.
fn attribute_after<'a>(html: &'a str, marker: &str) -> &'a str {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} missing:\n{html}"))
        + marker.len();
    &html[start..start + html[start..].find('"').unwrap()]
}

#[tokio::test]
async fn logo_favicon_and_stylesheet_are_served_typed_cached_and_allowed_by_the_csp() {
    let files = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(&branding_files(files.path())).await;
    let browser = TestApp::browser();
    let page = app.authorize(&browser, &app.params()).await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    assert!(
        csp.contains("img-src 'self'") && csp.contains("style-src 'self'"),
        "{csp}"
    );
    let logo = attribute_after(&html, "<img class=\"logo\" src=\"");
    let favicon = attribute_after(&html, "<link rel=\"icon\" href=\"");
    assert!(
        html.contains("alt=\"Example Corp\""),
        "the logo has a text alternative"
    );
    // The company's stylesheet comes after the built-in ones, so it wins.
    let builtin = html.find("/static/style.css").unwrap();
    let accent = html.find("/branding.css").unwrap();
    let own = html.find("/branding/stylesheet.css?v=").unwrap();
    assert!(builtin < accent && accent < own, "{html}");
    let stylesheet = attribute_after(
        &html,
        "<link rel=\"stylesheet\" href=\"/branding/stylesheet",
    );
    let stylesheet = format!("/branding/stylesheet{stylesheet}");
    for (path, content_type, body) in [
        (logo, "image/png", PNG.to_vec()),
        (favicon, "image/svg+xml", SVG.as_bytes().to_vec()),
        (
            stylesheet.as_str(),
            "text/css; charset=utf-8",
            CSS.as_bytes().to_vec(),
        ),
    ] {
        // Same origin: a path of the bridge, which `'self'` covers.
        assert!(
            path.starts_with("/branding/") && path.contains("?v="),
            "{path}"
        );
        let response = browser
            .get(format!("{}{path}", app.issuer))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], content_type, "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["cache-control"], "public, max-age=86400", "{path}");
        if content_type == "image/svg+xml" {
            let own_csp = headers["content-security-policy"].to_str().unwrap();
            assert!(
                own_csp.contains("sandbox") && own_csp.contains("default-src 'none'"),
                "{own_csp}"
            );
        }
        assert_eq!(response.bytes().await.unwrap().as_ref(), body.as_slice());
        // Revalidation by ETag: 304, no body.
        let again = browser
            .get(format!("{}{path}", app.issuer))
            .header("if-none-match", headers["etag"].clone())
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
    }
    // Nothing configured: nothing served, nothing linked.
    let plain = TestApp::spawn().await;
    let html = plain
        .authorize(&TestApp::browser(), &plain.params())
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("class=\"logo\"")
            && !html.contains("rel=\"icon\"")
            && !html.contains("<footer")
    );
    for path in [
        "/branding/logo",
        "/branding/favicon",
        "/branding/stylesheet.css",
    ] {
        let response = reqwest::get(format!("{}{path}", plain.issuer))
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn footer_links_and_the_configured_texts_follow_the_page_language() {
    let files = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(&branding_files(files.path())).await;
    let english = app
        .authorize(&TestApp::browser(), &app.params())
        .await
        .text()
        .await
        .unwrap();
    assert!(
        english.contains(
            "<a href=\"https://id.example.com/reset?from=sso&#38;x=1\">Forgot your password?</a>"
        ) && english.contains("<a href=\"/help\">Help</a>"),
        "{english}"
    );
    assert!(english.contains("<h1>Example Corp</h1>") && english.contains(">Employee ID</label>"));

    let mut params = app.params();
    params.push(("ui_locales".into(), "de-CH".into()));
    let browser = TestApp::browser();
    let german = browser
        .get(app.authorize_url(&params))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(german.contains("<html lang=\"de\">"));
    for text in [
        "<h1>Beispiel GmbH</h1>",
        ">Personalnummer</label>",
        "Hilfe unter 1234.",
        ">Passwort vergessen?</a>",
        "<a href=\"/help\">Hilfe</a>",
        "Anmelden",
    ] {
        assert!(german.contains(text), "{text} missing:\n{german}");
    }
    // The same texts after a failed attempt (the language travels sealed).
    let again = app
        .submit_login(&browser, &german, "alice", "wrong")
        .await
        .text()
        .await
        .unwrap();
    assert!(again.contains(">Personalnummer</label>") && again.contains("Passwort vergessen?"));
    // French has no configured texts: the [branding] values.
    params.pop();
    params.push(("ui_locales".into(), "fr".into()));
    let french = TestApp::browser()
        .get(app.authorize_url(&params))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(french.contains("<h1>Example Corp</h1>") && french.contains(">Employee ID</label>"));
}

/// The `<input ...>` of `id` in `html`.
fn input<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("<input id=\"{id}\"")).unwrap();
    &html[start..start + html[start..].find('>').unwrap()]
}

#[tokio::test]
async fn a_wrong_password_marks_the_fields_invalid_and_points_at_the_message() {
    let app = TestApp::spawn().await;
    let browser = TestApp::browser();
    let html = app
        .authorize(&browser, &app.params())
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("aria-invalid"), "nothing is wrong yet");
    let wrong = app
        .submit_login(&browser, &html, "alice", "nope")
        .await
        .text()
        .await
        .unwrap();
    assert!(wrong.contains("<div class=\"alert\" role=\"alert\" id=\"form-error\">"));
    for id in ["username", "password"] {
        let field = input(&wrong, id);
        assert!(
            field.contains("aria-invalid=\"true\"")
                && field.contains("aria-describedby=\"form-error\""),
            "{field}"
        );
    }
    // A locked account: the message is announced, but the fields are not wrong.
    let browser = TestApp::browser();
    let html = app
        .authorize(&browser, &app.params())
        .await
        .text()
        .await
        .unwrap();
    let locked = app
        .submit_login(&browser, &html, "mallory", "locked-out")
        .await
        .text()
        .await
        .unwrap();
    assert!(locked.contains("role=\"alert\"") && !locked.contains("aria-invalid"));
}

#[test]
fn check_config_refuses_bad_branding_naming_each_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // An HTML page named .png, a GIF, an oversized favicon, a stylesheet of
    // the wrong kind.
    std::fs::write(d.join("logo.png"), "<html>not a png</html>").unwrap();
    std::fs::write(d.join("big.ico"), vec![0u8; 200 * 1024]).unwrap();
    std::fs::write(d.join("theme.txt"), "body{}").unwrap();
    let path = d.join("bridge.toml");
    std::fs::write(
        &path,
        format!(
            r##"
issuer = "http://127.0.0.1:9"
[branding]
accent_color = "#7fbfff"
logo = "{d}/logo.png"
favicon = "{d}/big.ico"
stylesheet = "{d}/theme.txt"
links = [
  {{ label = "Reset", url = "http://id.example.com/reset" }},
  {{ label = "Run", url = "javascript:alert(1)" }},
  {{ label = "Elsewhere", url = "//evil.example/x" }},
]
[branding.texts.xx]
organization = "?"
[branding.texts.de]
link_labels = ["Zurücksetzen"]
[[clients]]
id = "a"
secret = "a-long-enough-client-secret"
redirect_uris = ["https://example.us.auth0.com/login/callback"]
[upstream]
adapter = "http"
[upstream.http.login]
url = "https://legacy.example.com/login"
"##,
            d = d.display()
        ),
    )
    .unwrap();
    let missing = d.join("missing.toml");
    std::fs::write(
        &missing,
        std::fs::read_to_string(&path)
            .unwrap()
            .replace("logo.png", "no-such-logo.svg"),
    )
    .unwrap();
    let check = |config: &std::path::Path| {
        let out = Command::new(BIN)
            .arg("check-config")
            .arg(config)
            .env("IDP_BRIDGE_LOG", "off")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = check(&path);
    for expected in [
        "branding.accent_color: white text on #7fbfff has a contrast of",
        "branding.logo: ",
        "logo.png: the content is not a PNG image",
        "branding.favicon: ",
        "at most 131072 are allowed",
        "branding.stylesheet: ",
        "must end in .css",
        "branding.links[0].url: `http://id.example.com/reset` must be an https URL or a relative one",
        "branding.links[1].url: `javascript:alert(1)` must be an https URL",
        "branding.links[2].url: `//evil.example/x` must not start with //",
        "branding.texts.xx: unknown language `xx`; the pages speak en, de, fr",
        "branding.texts.de.link_labels: 1 label(s) for 3 [[branding.links]]",
    ] {
        assert!(err.contains(expected), "{expected:?} missing from:\n{err}");
    }
    let err = check(&missing);
    assert!(
        err.contains("branding.logo: cannot read") && err.contains("no-such-logo.svg"),
        "{err}"
    );
}

//! Route scopes against names that legacy servers normalize: with `/orders`
//! (read) and `/orders/admin` (read + admin), no spelling of `admin` that
//! IIS, .NET, Java or Spring would read as `admin` reaches the API under
//! `/orders`'s weaker scopes — unless the route says its API reads paths
//! literally (`strict_paths = false`).

use serde_json::{Value, json};

use super::{error_of, get, raw_get, sections, signed_in};
use crate::support::TestApp;
use crate::token_exchange::{AUDIENCE, Tenant};

/// `/orders` (with `orders_extra` among its keys) and `/orders/admin`,
/// which also needs `admin:orders`.
async fn two_routes(orders_extra: &str) -> (Tenant, TestApp) {
    let tenant = Tenant::start().await;
    let routes = format!(
        "{orders_extra}\n[[gateway.routes]]\nprefix = \"/orders/admin\"\nupstream = \"{{LEGACY_API}}/api/admin\"\naudiences = [\"{AUDIENCE}\"]\nscopes = [\"read:orders\", \"admin:orders\"]\n"
    );
    let app = TestApp::spawn_with(&sections(&tenant, "", "", &routes)).await;
    let _ = signed_in(&app).await;
    (tenant, app)
}

/// Each reads as `/orders/admin/...` (or `/orders/admin`) somewhere.
const NORMALIZED: [&str; 17] = [
    "/orders/admin./x",             // Windows drops trailing dots
    "/orders/admin../x",            // ...however many
    "/orders/admin%20/x",           // ...and trailing spaces
    "/orders/admin%09/x",           // Java's trim()
    "/orders/admin%00/x",           // C strings end at NUL
    "/orders/admin%0a/x",           // line ends, trimmed
    "/orders/admin%0D/x",           // ...either kind
    "/orders/%20admin/x",           // leading whitespace, trimmed
    "/orders/admin.json",           // Spring's suffix pattern matching
    "/orders/ADMIN.json/x",         // ...ignoring case
    "/orders/admin::$DATA/x",       // an NTFS stream name (IIS)
    "/orders/admin%3a%3a$DATA/x",   // ...percent-encoded
    "/orders/admin%c0%afx",         // an overlong UTF-8 `/`
    "/orders/%c0%ae%c0%ae/admin/x", // overlong UTF-8 dots
    "/orders/adm%C4%B1n/x",         // a dotless ı (.NET folds it to i)
    "/orders/%2561dmin/x",          // double decoding: %25 is `%`
    "/orders/admin%E2%80%A8/x",     // a Unicode line separator
];

#[tokio::test]
async fn names_a_legacy_server_would_normalize_into_a_longer_route_are_refused() {
    let (tenant, app) = two_routes("").await;
    let reader = tenant.token(&[]);
    for path in NORMALIZED {
        let answer = raw_get(&app, path, &reader).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
        assert!(answer.contains("invalid_request"), "{path}: {answer}");
    }
    // Raw UTF-8 never gets this far (hyper refuses it), but not forwarded either.
    let answer = raw_get(&app, "/orders/adm\u{131}n/x", &reader).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "raw ı: {answer}");
    // What the rules leave alone still passes.
    for (path, upstream) in [
        ("/orders/list.json", "/api/list.json"),
        ("/orders/v1.2/items", "/api/v1.2/items"),
        ("/orders/a%20b/x", "/api/a b/x"),
        ("/orders/~alice/x", "/api/~alice/x"),
        ("/orders/administrators", "/api/administrators"),
        ("/orders/admins.json", "/api/admins.json"),
    ] {
        let r = get(&app, path, &reader).await;
        assert_eq!(r.status(), 200, "{path}");
        let seen: Value = r.json().await.expect("json");
        assert_eq!(seen["path"], upstream, "{path} (shown percent-decoded)");
    }
    // The longer route itself: its scopes, and the same rules below it.
    let (status, error, _) = error_of(get(&app, "/orders/admin/x", &reader).await).await;
    assert_eq!((status, error.as_str()), (403, "insufficient_scope"));
    let admin = tenant.token(&[("scope", json!("read:orders admin:orders"))]);
    assert_eq!(get(&app, "/orders/admin/x", &admin).await.status(), 200);
    let answer = raw_get(&app, "/orders/admin/x./y", &admin).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

#[tokio::test]
async fn a_route_whose_api_reads_paths_literally_can_relax_the_name_rules() {
    let (tenant, app) = two_routes("strict_paths = false").await;
    let reader = tenant.token(&[]);
    for (path, upstream) in [
        ("/orders/admin.json", "/api/admin.json"),
        ("/orders/admin./x", "/api/admin./x"),
        ("/orders/admin%20/x", "/api/admin /x"),
        ("/orders/admin::$DATA/x", "/api/admin::$DATA/x"),
        ("/orders/adm%C4%B1n/x", "/api/adm\u{131}n/x"),
    ] {
        let r = get(&app, path, &reader).await;
        assert_eq!(r.status(), 200, "{path}");
        let seen: Value = r.json().await.expect("json");
        // (The reference API shows the path percent-decoded.)
        assert_eq!(seen["path"], upstream, "{path}");
    }
    // The structural rules hold on every route: they decide which route.
    for path in [
        "/orders/../orders/admin/x",
        "/orders/%61dmin/x",
        "/orders//admin",
    ] {
        let answer = raw_get(&app, path, &reader).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
    }
    // The strict route below keeps its own rules.
    let admin = tenant.token(&[("scope", json!("read:orders admin:orders"))]);
    let answer = raw_get(&app, "/orders/admin/x./y", &admin).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

#[tokio::test]
async fn a_longer_route_cannot_be_reached_through_a_shorter_ones_scopes() {
    let tenant = Tenant::start().await;
    let admin = format!(
        "\n[[gateway.routes]]\nprefix = \"/orders/admin\"\nupstream = \"{{LEGACY_API}}/api/admin\"\naudiences = [\"{AUDIENCE}\"]\nscopes = [\"admin:orders\"]\n"
    );
    let app = TestApp::spawn_with(&sections(&tenant, "", "", &admin)).await;
    let _ = signed_in(&app).await;
    let reader = tenant.token(&[]);
    assert_eq!(get(&app, "/orders/list", &reader).await.status(), 200);
    for path in ["/orders/admin/x", "/orders/ADMIN/x", "/Orders/Admin"] {
        let (status, error, _) = error_of(get(&app, path, &reader).await).await;
        assert_eq!(
            (status, error.as_str()),
            (403, "insufficient_scope"),
            "{path}"
        );
    }
    let admin_token = tenant.token(&[("scope", json!("read:orders admin:orders"))]);
    let seen: Value = get(&app, "/orders/admin/x", &admin_token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(seen["path"], "/api/admin/x");
}

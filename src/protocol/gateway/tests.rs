//! The gateway's routing and header rules, without a listener: which route
//! a path takes, the one Bearer token, the Auth0 caller's audience and
//! scopes per route (and the refusal each maps to), the legacy token's
//! header, and what `forward` removes, keeps and adds.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::body::Body;
use http::{HeaderMap, HeaderValue, Request, Version, header};

use super::answer::Refused;
use super::cache::Entry;
use super::{bearer, check_route, forward, legacy_header, route_index};
use crate::domain::config::Route;
use crate::util::secret::LegacyAccessToken;

fn route(prefix: &str) -> Route {
    Route {
        prefix: prefix.to_owned(),
        backend: url::Url::parse("http://api.internal:8080/base").expect("url"),
        strip_prefix: true,
        audiences: vec!["https://api.example".into()],
        scopes: vec!["orders:read".into()],
        header: header::AUTHORIZATION,
        scheme: "Bearer".into(),
        methods: vec![http::Method::GET],
        allow: HeaderValue::from_static("GET"),
        strict_paths: true,
    }
}

/// Routes as the configuration orders them: longest prefix first.
fn routes() -> Vec<Route> {
    vec![route("/orders/admin"), route("/orders"), route("")]
}

fn request(authorization: &[&str]) -> Request<Body> {
    let mut builder = Request::builder().uri("/orders/1");
    for value in authorization {
        builder = builder.header(header::AUTHORIZATION, *value);
    }
    builder.body(Body::empty()).expect("request")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn the_longest_prefix_wins_in_whole_segments_ignoring_case() {
    let routes = routes();
    assert_eq!(route_index(&routes, "/orders/admin/7"), Some(0));
    assert_eq!(route_index(&routes, "/ORDERS/Admin"), Some(0));
    assert_eq!(route_index(&routes, "/orders/1"), Some(1));
    assert_eq!(route_index(&routes, "/orders"), Some(1));
    // `/ordersX` is not under `/orders`: it falls to the catch-all.
    assert_eq!(route_index(&routes, "/ordersX"), Some(2));
    assert_eq!(route_index(&routes[..2], "/ordersX"), None);
    assert_eq!(route_index(&routes[..2], "/other"), None);
}

#[test]
fn one_bearer_token_from_one_authorization_header() {
    let one = request(&["Bearer abc.def"]);
    assert_eq!(bearer(&one).ok(), Some("abc.def"));
    let lower = request(&["bearer   abc"]);
    assert_eq!(bearer(&lower).ok(), Some("abc"));
    assert!(matches!(bearer(&request(&[])), Err(Refused::NoToken)));
    assert!(matches!(
        bearer(&request(&["Bearer a", "Bearer b"])),
        Err(Refused::InvalidRequest(_))
    ));
}

#[test]
fn another_scheme_is_no_token_and_an_empty_or_spaced_one_is_malformed() {
    assert!(matches!(
        bearer(&request(&["Basic YTpi"])),
        Err(Refused::NoToken)
    ));
    for value in ["Bearer ", "Bearer a b"] {
        let refused = bearer(&request(&[value])).err().map(|r| r.class());
        assert_eq!(refused, Some("malformed"), "{value}");
    }
}

#[test]
fn a_caller_needs_the_routes_audience_and_every_scope() {
    let route = route("/orders");
    let audience = strings(&["https://api.example"]);
    assert!(check_route(&route, &audience, &strings(&["orders:read", "x"])).is_ok());
    let other = check_route(
        &route,
        &strings(&["https://other.example"]),
        &strings(&["orders:read"]),
    );
    assert_eq!(other.err().map(|r| r.class()), Some("audience"));
    match check_route(&route, &audience, &strings(&["orders:write"])) {
        Err(Refused::InsufficientScope(required)) => assert_eq!(required, "orders:read"),
        other => panic!(
            "expected insufficient_scope, got {:?}",
            other.err().map(|r| r.class())
        ),
    }
}

#[test]
fn the_refusals_of_the_shared_caller_check_map_to_rfc_6750_answers() {
    use crate::domain::auth0::Auth0Error;
    use crate::domain::auth0::caller::CallerRefusal;
    let route = route("/orders");
    let unavailable = super::refused(
        &route,
        CallerRefusal::Token(Auth0Error::JwksUnavailable("down".into())),
    );
    assert!(matches!(unavailable, Refused::Unavailable(_)));
    let expired = super::refused(&route, CallerRefusal::Token(Auth0Error::Expired));
    assert!(matches!(expired, Refused::InvalidToken { .. }));
    assert_eq!(
        super::refused(&route, CallerRefusal::Subject).class(),
        "subject"
    );
    assert_eq!(
        super::refused(&route, CallerRefusal::Scope).class(),
        "scope"
    );
}

#[test]
fn the_legacy_token_goes_in_the_routes_header_with_its_scheme_and_is_sensitive() {
    let entry = Entry {
        subject: crate::domain::types::Subject::new("alice").expect("valid"),
        audiences: Vec::new(),
        scopes: Vec::new(),
        legacy: LegacyAccessToken::new("LEGACY"),
        cache_until: 0,
        loaded_at: 0,
        header: std::sync::OnceLock::new(),
    };
    let mut with_scheme = route("/orders");
    let value = legacy_header(&with_scheme, &entry).expect("header");
    assert_eq!(value, "Bearer LEGACY");
    assert!(value.is_sensitive());
    with_scheme.scheme = String::new();
    assert_eq!(
        legacy_header(&with_scheme, &entry).expect("header"),
        "LEGACY"
    );
    let broken = Entry {
        legacy: LegacyAccessToken::new("bad\ntoken"),
        header: std::sync::OnceLock::new(),
        ..entry
    };
    assert!(matches!(
        legacy_header(&with_scheme, &broken),
        Err(Refused::BadGateway(_))
    ));
}

#[test]
fn forwarding_removes_the_auth0_token_hop_by_hop_and_underscored_headers() {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer auth0"),
    );
    headers.insert(header::HOST, HeaderValue::from_static("gateway.example"));
    headers.insert(
        header::CONNECTION,
        HeaderValue::from_static("close, x-private"),
    );
    headers.insert("x-private", HeaderValue::from_static("1"));
    headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
    headers.insert("x_legacy_token", HeaderValue::from_static("forged"));
    headers.insert("x-kept", HeaderValue::from_static("yes"));
    forward::clean_request_headers(&mut headers, false, Version::HTTP_11);
    for gone in [
        "authorization",
        "host",
        "connection",
        "x-private",
        "keep-alive",
        "x_legacy_token",
    ] {
        assert!(!headers.contains_key(gone), "{gone} was forwarded");
    }
    assert_eq!(
        headers.get("x-kept").map(HeaderValue::as_bytes),
        Some(&b"yes"[..])
    );
    assert_eq!(
        headers.get(header::VIA).map(HeaderValue::as_bytes),
        Some(&b"1.1 idp-bridge"[..])
    );
}

#[test]
fn an_untrusted_peers_forwarding_claims_are_replaced_a_trusted_ones_extended() {
    let peer = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9));
    let claims = || {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.1"));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        headers.insert(
            header::FORWARDED,
            HeaderValue::from_static("for=203.0.113.1"),
        );
        headers
    };
    let mut untrusted = claims();
    forward::clean_request_headers(&mut untrusted, false, Version::HTTP_11);
    forward::set_forwarded(&mut untrusted, peer, false, None);
    assert_eq!(
        untrusted.get("x-forwarded-for").map(HeaderValue::as_bytes),
        Some(&b"192.0.2.9"[..])
    );
    assert!(!untrusted.contains_key(header::FORWARDED));
    let mut trusted = claims();
    forward::set_forwarded(&mut trusted, peer, true, None);
    assert_eq!(
        trusted.get("x-forwarded-for").map(HeaderValue::as_bytes),
        Some(&b"203.0.113.1, 192.0.2.9"[..])
    );
    assert_eq!(
        trusted.get("x-forwarded-proto").map(HeaderValue::as_bytes),
        Some(&b"https"[..])
    );
}

#[test]
fn the_upstream_target_strips_the_prefix_onto_the_base_path_and_keeps_the_query() {
    let route = route("/orders");
    let origin = forward::Origin::new(&route.backend).expect("origin");
    assert_eq!(origin.key(), "http://api.internal:8080");
    let uri = forward::target(&route, "/orders/7", Some("a=1")).expect("uri");
    assert_eq!(uri.to_string(), "/base/7?a=1");
    let root = forward::target(&route, "/orders", None).expect("uri");
    assert_eq!(root.to_string(), "/base");
    let mut kept = route.clone();
    kept.strip_prefix = false;
    let uri = forward::target(&kept, "/orders/7", None).expect("uri");
    assert_eq!(uri.to_string(), "/base/orders/7");
    let mut bare = route.clone();
    bare.backend = url::Url::parse("http://api.internal").expect("url");
    let uri = forward::target(&bare, "/orders", None).expect("uri");
    assert_eq!(uri.to_string(), "/");
}

#[test]
fn a_v4_mapped_peer_is_named_as_v4() {
    let mapped = SocketAddr::new(
        IpAddr::V6(Ipv4Addr::new(198, 51, 100, 4).to_ipv6_mapped()),
        1,
    );
    assert_eq!(
        forward::peer_ip(mapped),
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, 4))
    );
    let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 1);
    assert_eq!(forward::peer_ip(v6), IpAddr::V6(Ipv6Addr::LOCALHOST));
}

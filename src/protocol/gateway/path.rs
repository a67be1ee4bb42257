//! Which request paths the gateway forwards. A route's scopes protect
//! what the legacy API serves under its prefix only if the API reads the
//! path as the gateway does; legacy servers normalize names in ways the
//! gateway cannot see, so paths whose meaning depends on the server are
//! refused (400) instead of guessed at.
//!
//! Structural rules, on every route (they decide which route a path is):
//! no dot-segments (plain or percent-encoded), no empty segments (`//`,
//! which servers merge), no `;` parameters (`/admin;x=1`, which Java
//! servers strip), no backslashes, no encoded `/`, `\` or `;`, no
//! percent-encoded unreserved characters (`%61dmin`, which servers decode),
//! no malformed escapes.
//!
//! Name rules, on routes with `strict_paths` (the default), for the part of
//! the path after the route's prefix — the prefix itself is the operator's
//! — each segment, percent-decoded, must not hold:
//!
//! - a trailing dot (`admin.`, `admin..`: Windows and IIS drop them);
//! - whitespace at either end (`admin%20`, `%20admin`: Windows drops a
//!   trailing space, Java's `trim()` both), or a control character
//!   anywhere (`%00` ends a C string, `%09`, `%0a`, `%0d` are trimmed);
//! - `:` (`admin::$DATA`, an NTFS stream name IIS serves as the file);
//! - `%` (from `%25`: a server that decodes twice reads `%2561dmin` as
//!   `admin`);
//! - a byte outside ASCII (an overlong UTF-8 `/` or `.` such as `%c0%af`,
//!   a dotless `ı` that .NET folds to `i`, full-width letters NFKC folds):
//!   no folding of non-ASCII text is the same on every server;
//! - a longer route's name followed by a dot (`/api/admin.json` under
//!   `/api` when `/api/admin` is a route: Spring's suffix pattern matching
//!   serves it as `/api/admin`), ignoring ASCII case, as routes match.
//!
//! Spaces inside a segment (`a%20b`), dots inside it (`v1.2`, `list.json`)
//! and other names that only look like a route's (`administrators`) pass:
//! no server reads them as another name.

use std::borrow::Cow;

use crate::domain::config::Route;

/// Why a path is refused, for the client.
pub type Refusal = &'static str;

/// Checks `path` against the rules of `routes[index]`, the route it
/// matched (`routes` longest prefix first).
pub fn check(path: &str, routes: &[Route], index: usize) -> Result<(), Refusal> {
    check_structure(path)?;
    let route = &routes[index];
    if !route.strict_paths {
        return Ok(());
    }
    // The route matched: the path starts with its prefix, ignoring case.
    let rest = &path[route.prefix.len()..];
    for segment in segments(rest) {
        check_name(&segment)?;
    }
    for longer in &routes[..index] {
        if shadows(&longer.prefix, &route.prefix, rest) {
            return Err(
                "a path segment is a longer route's name with a suffix, which some servers read as that route",
            );
        }
    }
    Ok(())
}

/// The percent-decoded segments of `rest` (which starts with `/` or is
/// empty), borrowed unless a segment has an escape: no allocation per
/// request for a plain path.
fn segments(rest: &str) -> impl Iterator<Item = Cow<'_, [u8]>> {
    rest.split('/')
        .skip(1)
        .map(|s| Cow::from(percent_encoding::percent_decode_str(s)))
}

/// The structural rules (every route).
fn check_structure(path: &str) -> Result<(), Refusal> {
    const WHY: Refusal = "the path has a dot-segment, an empty segment, a `;`, a backslash or an ambiguous percent escape";
    if path.contains(['\\', ';']) || path.contains("//") {
        return Err(WHY);
    }
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |b: Option<&u8>| b.and_then(|b| char::from(*b).to_digit(16));
            let (Some(hi), Some(lo)) = (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) else {
                return Err(WHY);
            };
            let decoded = u8::try_from(hi * 16 + lo).unwrap_or(0);
            let unreserved = decoded.is_ascii_alphanumeric() || b"-._~".contains(&decoded);
            if unreserved || decoded == b'/' || decoded == b'\\' || decoded == b';' {
                return Err(WHY);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(WHY);
    }
    Ok(())
}

/// The name rules for one decoded segment.
fn check_name(segment: &[u8]) -> Result<(), Refusal> {
    if segment.last() == Some(&b'.') {
        return Err("a path segment ends with a dot, which some servers drop");
    }
    if segment.first() == Some(&b' ') || segment.last() == Some(&b' ') {
        return Err("a path segment starts or ends with a space, which some servers drop");
    }
    if segment.iter().any(u8::is_ascii_control) {
        return Err("a path segment holds a control character");
    }
    if segment.contains(&b':') {
        return Err("a path segment holds a `:`, which IIS reads as a stream name");
    }
    if segment.contains(&b'%') {
        return Err("a path segment holds an encoded `%`, which some servers decode again");
    }
    if !segment.is_ascii() {
        return Err("a path segment holds non-ASCII text, which servers fold differently");
    }
    Ok(())
}

/// Whether the request's path after `prefix` (`rest`) names the longer
/// route `longer` with a suffix: its remaining segments, the last followed
/// by a dot (`admin.json` for `admin`).
fn shadows(longer: &str, prefix: &str, rest: &str) -> bool {
    let Some(tail) = longer
        .get(prefix.len()..)
        .filter(|_| longer[..prefix.len()].eq_ignore_ascii_case(prefix))
        .and_then(|t| t.strip_prefix('/'))
    else {
        return false;
    };
    let (before, last) = match tail.rsplit_once('/') {
        Some((before, last)) => (Some(before), last.as_bytes()),
        None => (None, tail.as_bytes()),
    };
    let mut segments = segments(rest);
    for name in before.into_iter().flat_map(|b| b.split('/')) {
        match segments.next() {
            Some(segment) if name.as_bytes().eq_ignore_ascii_case(&segment) => {}
            _ => return false,
        }
    }
    let Some(candidate) = segments.next() else {
        return false;
    };
    candidate.len() > last.len()
        && candidate[..last.len()].eq_ignore_ascii_case(last)
        && candidate[last.len()] == b'.'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(prefixes: &[(&str, bool)]) -> Vec<Route> {
        prefixes
            .iter()
            .map(|(prefix, strict)| Route {
                prefix: (*prefix).to_owned(),
                backend: url::Url::parse("http://api.internal").expect("url"),
                strip_prefix: true,
                audiences: vec!["a".into()],
                scopes: Vec::new(),
                header: http::header::AUTHORIZATION,
                scheme: "Bearer".into(),
                methods: vec![http::Method::GET],
                allow: http::HeaderValue::from_static("GET"),
                strict_paths: *strict,
            })
            .collect()
    }

    #[test]
    fn a_longer_route_s_name_with_a_suffix_is_refused_under_a_shorter_one() {
        let routes = routes(&[("/api/v1/admin", true), ("/api", true), ("", true)]);
        for (path, index) in [
            ("/api/v1/admin.json", 1),
            ("/api/V1/ADMIN.x/y", 1),
            ("/api.json", 2),
            ("/API.html/x", 2),
        ] {
            assert!(check(path, &routes, index).is_err(), "{path}");
        }
        for (path, index) in [
            ("/api/v1/administrators", 1),
            ("/api/v2/admin.json", 1),
            ("/api/v1", 1),
            ("/apis.json", 2),
            ("/other/api.json", 2),
        ] {
            assert_eq!(check(path, &routes, index), Ok(()), "{path}");
        }
    }

    #[test]
    fn the_name_rules_apply_after_the_prefix_and_only_on_strict_routes() {
        let strict = routes(&[("/a.", true)]);
        assert_eq!(
            check("/a./x", &strict, 0),
            Ok(()),
            "the prefix is the operator's"
        );
        assert!(check("/a./x.", &strict, 0).is_err());
        let loose = routes(&[("/a", false)]);
        for path in ["/a/x.", "/a/x%20", "/a/x:y", "/a/%C4%B1", "/a/%2561"] {
            assert_eq!(check(path, &loose, 0), Ok(()), "{path}");
            assert!(check(path, &routes(&[("/a", true)]), 0).is_err(), "{path}");
        }
        assert!(
            check("/a/../b", &loose, 0).is_err(),
            "structure holds everywhere"
        );
    }
}

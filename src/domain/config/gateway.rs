//! `[gateway]`: a reverse proxy on its own listener in front of legacy
//! APIs, swapping a user's Auth0 access token for their legacy token. Its
//! routes (path prefix → upstream base URL, the Auth0 audience and scopes
//! the route requires, how the legacy token is sent, the methods it
//! forwards, how strictly it reads paths), the proxies whose forwarding
//! headers (and request ids) are trusted, the timeouts, the request body's
//! minimum rate and the cache.

use serde::Deserialize;

/// `[gateway]` as written.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Listen address, never the provider's (`127.0.0.1:8081`).
    pub listen: String,
    /// Addresses or networks (`10.0.0.0/8`) whose `X-Forwarded-*` headers
    /// are believed; from anyone else they are replaced.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Connecting to an upstream, milliseconds (default 2000): past it, 502.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// From the request sent to the upstream's response headers,
    /// milliseconds (default 30000): past it, 504.
    #[serde(default = "default_response_timeout")]
    pub response_timeout_ms: u64,
    /// The longest pause in a body, either way, milliseconds (default
    /// 60000): past it the transfer is cut.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_ms: u64,
    /// A request body, once it has had `body_read_timeout_ms` (the
    /// provider's), must keep up this many bytes a second on average
    /// (default 500; 0: only `idle_timeout_ms` applies): each this many
    /// bytes buy it one more second.
    #[serde(default = "default_body_min_rate")]
    pub body_min_bytes_per_second: u64,
    /// Idle pooled upstream connections kept per host (default 64).
    #[serde(default = "default_pool_per_host")]
    pub pool_max_idle_per_host: usize,
    /// Tokens kept in the cache at most (default 10000); the least recently
    /// used go first.
    #[serde(default = "default_cache_entries")]
    pub cache_max_entries: u64,
    /// A cached token is dropped this long before the earlier of the Auth0
    /// token's and the legacy token's expiry (default 30).
    #[serde(default = "default_cache_skew")]
    pub cache_skew_seconds: i64,
    /// How often the store is asked for revocations, milliseconds (default
    /// 2000): a revocation at any bridge reaches this gateway within this
    /// (plus one query).
    #[serde(default = "default_revocation_poll")]
    pub revocation_poll_ms: u64,
    /// The routes; the longest matching prefix wins.
    pub routes: Vec<RouteConfig>,
}

/// `[[gateway.routes]]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The path prefix (`/orders`), matched on whole segments.
    pub prefix: String,
    /// The legacy API's base URL (`http://orders.internal:8080/api`).
    pub upstream: url::Url,
    /// Remove the prefix before appending the path to the base URL
    /// (default true).
    #[serde(default = "default_true")]
    pub strip_prefix: bool,
    /// The Auth0 API audiences accepted on this route (one is enough).
    pub audiences: Vec<String>,
    /// Scopes the Auth0 token must carry (all of them).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The header carrying the legacy token (default `Authorization`).
    #[serde(default = "default_header")]
    pub header: String,
    /// The scheme before the token (default `Bearer`; empty for the token
    /// alone).
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// The methods forwarded (default GET, HEAD, POST, PUT, PATCH, DELETE,
    /// OPTIONS); others are answered 405. Never `CONNECT`, `TRACE` or
    /// `TRACK`.
    #[serde(default = "default_methods")]
    pub methods: Vec<String>,
    /// Refuse path segments that legacy servers normalize into other names
    /// (trailing dots or whitespace, control characters, `:`, non-ASCII,
    /// `%25`, a longer route's name with a suffix) (default true). Set
    /// false only for an API that reads paths literally.
    #[serde(default = "default_true")]
    pub strict_paths: bool,
}

/// The methods a route forwards unless it names its own.
pub const DEFAULT_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Methods never forwarded: a tunnel, and echoes of the request (with its
/// legacy token).
const NEVER_FORWARDED: [&str; 3] = ["CONNECT", "TRACE", "TRACK"];

/// Headers that frame or route the message, which cannot carry the token.
const FRAMING: [&str; 10] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
    "proxy-authorization",
];

fn default_true() -> bool {
    true
}
fn default_header() -> String {
    "Authorization".into()
}
fn default_scheme() -> String {
    "Bearer".into()
}
fn default_connect_timeout() -> u64 {
    2000
}
fn default_response_timeout() -> u64 {
    30_000
}
fn default_idle_timeout() -> u64 {
    60_000
}
fn default_body_min_rate() -> u64 {
    500
}
fn default_methods() -> Vec<String> {
    DEFAULT_METHODS.iter().map(|m| (*m).to_owned()).collect()
}
fn default_pool_per_host() -> usize {
    64
}
fn default_cache_entries() -> u64 {
    10_000
}
fn default_cache_skew() -> i64 {
    30
}
fn default_revocation_poll() -> u64 {
    2000
}

/// `[gateway]` validated.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Listen address.
    pub listen: String,
    /// Trusted proxies.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Upstream connect timeout.
    pub connect_timeout: std::time::Duration,
    /// Upstream response-header timeout.
    pub response_timeout: std::time::Duration,
    /// Body idle timeout.
    pub idle_timeout: std::time::Duration,
    /// The time a request body gets before its minimum rate applies (the
    /// provider's `body_read_timeout_ms`).
    pub body_read_timeout: std::time::Duration,
    /// A request body's minimum rate, bytes a second (0: none).
    pub body_min_bytes_per_second: u64,
    /// Idle pooled connections per host.
    pub pool_max_idle_per_host: usize,
    /// Cache size.
    pub cache_max_entries: u64,
    /// Cache skew, seconds.
    pub cache_skew_seconds: i64,
    /// Revocation poll interval.
    pub revocation_poll: std::time::Duration,
    /// Routes, longest prefix first.
    pub routes: Vec<Route>,
}

/// A validated route.
#[derive(Debug, Clone)]
pub struct Route {
    /// The prefix, without a trailing slash (`""` for the root).
    pub prefix: String,
    /// The legacy API's base URL (the route's `upstream` key).
    pub backend: url::Url,
    /// Whether the prefix is removed.
    pub strip_prefix: bool,
    /// Accepted audiences.
    pub audiences: Vec<String>,
    /// Required scopes.
    pub scopes: Vec<String>,
    /// The legacy token's header.
    pub header: http::HeaderName,
    /// Its scheme, empty for none.
    pub scheme: String,
    /// The methods forwarded.
    pub methods: Vec<http::Method>,
    /// The same, as an `Allow` header.
    pub allow: http::HeaderValue,
    /// Whether the segment-name rules apply (`gateway::path`).
    pub strict_paths: bool,
}

impl GatewayConfig {
    /// Validates the section; `listen` is the provider's, which the
    /// gateway must not share; `body_read_timeout` is the provider's too.
    pub fn validate(
        &self,
        provider_listen: &str,
        body_read_timeout: std::time::Duration,
    ) -> Result<GatewaySettings, Vec<String>> {
        let mut problems = Vec::new();
        if self.listen == provider_listen {
            problems.push(
                "gateway.listen: must differ from `listen` (the gateway has its own listener)"
                    .into(),
            );
        }
        crate::util::net::check_address("gateway.listen", &self.listen, &mut problems);
        let trusted = crate::util::net::check_networks(
            "gateway.trusted_proxies",
            &self.trusted_proxies,
            &mut problems,
        );
        for (key, value) in [
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("response_timeout_ms", self.response_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("revocation_poll_ms", self.revocation_poll_ms),
        ] {
            if !(10..=3_600_000).contains(&value) {
                problems.push(format!(
                    "gateway.{key}: must be between 10 and 3600000 milliseconds"
                ));
            }
        }
        if !(0..=3600).contains(&self.cache_skew_seconds) {
            problems.push("gateway.cache_skew_seconds: must be between 0 and 3600".into());
        }
        if self.routes.is_empty() {
            problems.push("gateway.routes: at least one [[gateway.routes]] is required".into());
        }
        let mut routes = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            match r.validate(i) {
                Ok(route) => {
                    if routes.iter().any(|o: &Route| o.prefix == route.prefix) {
                        problems.push(format!(
                            "gateway.routes[{i}].prefix: `{}` appears twice",
                            r.prefix
                        ));
                    }
                    routes.push(route);
                }
                Err(mut p) => problems.append(&mut p),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Ok(GatewaySettings {
            listen: self.listen.clone(),
            trusted_proxies: trusted,
            connect_timeout: std::time::Duration::from_millis(self.connect_timeout_ms),
            response_timeout: std::time::Duration::from_millis(self.response_timeout_ms),
            idle_timeout: std::time::Duration::from_millis(self.idle_timeout_ms),
            body_read_timeout,
            body_min_bytes_per_second: self.body_min_bytes_per_second,
            pool_max_idle_per_host: self.pool_max_idle_per_host,
            cache_max_entries: self.cache_max_entries.max(1),
            cache_skew_seconds: self.cache_skew_seconds,
            revocation_poll: std::time::Duration::from_millis(self.revocation_poll_ms),
            routes,
        })
    }
}

impl RouteConfig {
    fn validate(&self, i: usize) -> Result<Route, Vec<String>> {
        let key = format!("gateway.routes[{i}]");
        let mut problems = Vec::new();
        let prefix = self.prefix.trim_end_matches('/');
        if !self.prefix.starts_with('/')
            || self.prefix.contains(['?', '#', '%'])
            || self.prefix.split('/').any(|s| s == "." || s == "..")
        {
            problems.push(format!(
                "{key}.prefix: must be a plain path starting with `/` (`/orders`)"
            ));
        }
        let u = &self.upstream;
        if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
            problems.push(format!(
                "{key}.upstream: must be an http(s) URL with a host"
            ));
        }
        if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
            problems.push(format!(
                "{key}.upstream: must have no query, fragment or credentials"
            ));
        }
        if self.audiences.is_empty() {
            problems.push(format!(
                "{key}.audiences: name the Auth0 API audience(s) this route accepts"
            ));
        }
        let header = http::HeaderName::from_bytes(self.header.as_bytes())
            .ok()
            .filter(|h| !FRAMING.contains(&h.as_str()) && !h.as_str().contains('_'));
        if header.is_none() {
            problems.push(format!(
                "{key}.header: `{}` is not a header name that can carry the token (no `_`, not a framing or hop-by-hop header)",
                self.header
            ));
        }
        if self
            .scheme
            .contains(|c: char| !c.is_ascii_alphanumeric() && c != '-')
        {
            problems.push(format!(
                "{key}.scheme: letters, digits and `-` only (or empty)"
            ));
        }
        let methods = self.check_methods(&key, &mut problems);
        let allow = http::HeaderValue::from_str(
            &methods
                .iter()
                .map(http::Method::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        );
        match (problems.is_empty(), header, allow) {
            (true, Some(header), Ok(allow)) => Ok(Route {
                prefix: prefix.to_owned(),
                backend: self.upstream.clone(),
                strip_prefix: self.strip_prefix,
                audiences: self.audiences.clone(),
                scopes: self.scopes.clone(),
                header,
                scheme: self.scheme.clone(),
                methods,
                allow,
                strict_paths: self.strict_paths,
            }),
            _ => Err(problems),
        }
    }

    /// The methods as written: tokens (RFC 9110 §9.1, case-sensitive), not
    /// one of [`NEVER_FORWARDED`] in any case (a legacy server may not care
    /// about case), each once, at least one.
    fn check_methods(&self, key: &str, problems: &mut Vec<String>) -> Vec<http::Method> {
        let mut methods: Vec<http::Method> = Vec::new();
        if self.methods.is_empty() {
            problems.push(format!("{key}.methods: name at least one method"));
        }
        for name in &self.methods {
            if NEVER_FORWARDED.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                problems.push(format!(
                    "{key}.methods: `{name}` is never forwarded (a tunnel, or an echo of the legacy token)"
                ));
                continue;
            }
            match http::Method::from_bytes(name.as_bytes()) {
                Ok(method) if !methods.contains(&method) => methods.push(method),
                Ok(_) => problems.push(format!("{key}.methods: `{name}` appears twice")),
                Err(_) => problems.push(format!("{key}.methods: `{name}` is not a method name")),
            }
        }
        methods
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> GatewayConfig {
        toml::from_str(text).expect("toml")
    }

    const GOOD_ROUTE: &str = r#"
[[routes]]
prefix = "/orders/"
upstream = "http://orders.internal:8080/api"
audiences = ["https://orders.example.com"]
"#;

    #[test]
    fn a_good_section_validates_with_routes_longest_first() {
        let config = parse(&format!(
            "listen = \"127.0.0.1:8081\"\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\"]\n{GOOD_ROUTE}\n[[routes]]\nprefix = \"/orders/archive\"\nupstream = \"https://archive.internal\"\naudiences = [\"a\"]\nheader = \"X-Legacy-Token\"\nscheme = \"\"\n"
        ));
        let gateway = config
            .validate("127.0.0.1:8080", std::time::Duration::from_secs(10))
            .expect("valid");
        assert_eq!(gateway.routes[0].prefix, "/orders/archive");
        assert_eq!(
            gateway.routes[1].prefix, "/orders",
            "a trailing slash is dropped"
        );
        assert_eq!(gateway.routes[0].header.as_str(), "x-legacy-token");
        assert_eq!(gateway.trusted_proxies.len(), 2);
    }

    #[test]
    fn every_mistake_is_named_at_once() {
        let config = parse(
            r#"
listen = "127.0.0.1:8080"
trusted_proxies = ["ten.0.0.0/8"]
connect_timeout_ms = 0
[[routes]]
prefix = "orders"
upstream = "ftp://orders.internal/api"
audiences = []
header = "Bad Header"
scheme = "Bearer x"
[[routes]]
prefix = "/a/../b"
upstream = "http://user:pw@orders.internal/?q=1"
audiences = ["a"]
methods = ["trace", "PROPFIND", "PROPFIND", "BAD METHOD", "CONNECT", "TRACK"]
[[routes]]
prefix = "/c"
upstream = "http://c.internal"
audiences = ["a"]
methods = []
"#,
        );
        let problems = config
            .validate("127.0.0.1:8080", std::time::Duration::from_secs(10))
            .expect_err("invalid");
        for expected in [
            "gateway.listen: must differ",
            "gateway.trusted_proxies[0]",
            "gateway.connect_timeout_ms",
            "gateway.routes[0].prefix",
            "gateway.routes[0].upstream: must be an http(s) URL",
            "gateway.routes[0].audiences",
            "gateway.routes[0].header",
            "gateway.routes[0].scheme",
            "gateway.routes[1].prefix",
            "gateway.routes[1].upstream: must have no query",
            "gateway.routes[1].methods: `trace` is never forwarded",
            "gateway.routes[1].methods: `CONNECT` is never forwarded",
            "gateway.routes[1].methods: `TRACK` is never forwarded",
            "gateway.routes[1].methods: `PROPFIND` appears twice",
            "gateway.routes[1].methods: `BAD METHOD` is not a method name",
            "gateway.routes[2].methods: name at least one method",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "{expected} missing from {problems:#?}"
            );
        }
    }

    #[test]
    fn routes_forward_the_common_methods_and_read_paths_strictly_by_default() {
        let config = parse(&format!(
            "listen = \"127.0.0.1:8081\"\n{GOOD_ROUTE}\n[[routes]]\nprefix = \"/dav\"\nupstream = \"http://dav.internal\"\naudiences = [\"a\"]\nmethods = [\"GET\", \"PROPFIND\"]\nstrict_paths = false\n"
        ));
        let gateway = config
            .validate("127.0.0.1:8080", std::time::Duration::from_secs(7))
            .expect("valid");
        let (orders, dav) = (&gateway.routes[0], &gateway.routes[1]);
        assert_eq!(orders.prefix, "/orders");
        assert_eq!(orders.allow, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
        assert!(orders.strict_paths);
        assert_eq!(dav.allow, "GET, PROPFIND");
        assert!(!dav.strict_paths);
        assert_eq!(gateway.body_read_timeout, std::time::Duration::from_secs(7));
        assert_eq!(gateway.body_min_bytes_per_second, 500);
    }

    #[test]
    fn a_prefix_given_twice_is_refused() {
        let config = parse(&format!(
            "listen = \"127.0.0.1:8081\"\n{GOOD_ROUTE}{GOOD_ROUTE}"
        ));
        let problems = config
            .validate("127.0.0.1:8080", std::time::Duration::from_secs(10))
            .expect_err("invalid");
        assert!(
            problems.iter().any(|p| p.contains("appears twice")),
            "{problems:?}"
        );
    }
}

# shellcheck shell=bash
# Shared by scripts/bench/run.sh and scripts/bench/soak.sh (sourced): the
# reference legacy IdP as upstream and an idp-bridge in front of it, as
# child processes of the calling script.

# bridge_config FILE BRIDGE_PORT UPSTREAM_PORT DATA_DIR STORE_SECTION EXTRA_TOML
# (the client's ID tokens are signed with BENCH_ALG: RS256, the default, or ES256)
bridge_config() {
  local file=$1 port=$2 upstream=$3 data=$4 store=$5 extra=$6
  cat >"$file" <<EOF
issuer = "http://127.0.0.1:$port"
listen = "127.0.0.1:$port"
data_dir = "$data"
$store
# One user logging in from one address many times at once: in-flight
# attempts count toward the throttle, which these runs do not measure.
[throttle]
max_failures_per_user_and_address = 1000000
max_failures_per_address = 1000000
max_failures_per_user = 1000001
$extra
[[clients]]
id = "bench"
secret = "bench-client-secret-0123456789"
redirect_uris = ["https://example-tenant.us.auth0.com/login/callback"]
token_endpoint_auth_methods = ["client_secret_post"]
require_pkce = true
id_token_signed_response_alg = "${BENCH_ALG:-RS256}"
scopes = ["openid", "profile", "email", "offline_access"]
refresh_tokens = { rotation = true, absolute_lifetime_seconds = 120, idle_lifetime_seconds = 60 }
[upstream]
adapter = "http"
[upstream.http]
timeout_ms = 5000
[upstream.http.login]
url = "http://127.0.0.1:$upstream/api/v1/login"
[upstream.http.renew]
url = "http://127.0.0.1:$upstream/api/v1/renew"
[upstream.http.claims]
subject = "/user/id"
email = "/user/email"
name = "/user/name"
extra = { roles = "/user/roles" }
EOF
}

# store_section NAME SCHEMA [EXTRA_LINE]: the [store] section for sqlite
# (SQLite in data_dir) or postgres (schema SCHEMA on BENCH_PG_URL).
store_section() {
  printf '[store]\n%s\n' "${3:-}"
  if [ "$1" = postgres ]; then
    printf 'url = "%s"\nschema = "%s"\nmax_connections = 16\n' \
      "${BENCH_PG_URL:-postgres://root@127.0.0.1:5432/test}" "$2"
  fi
}

# wait_up URL LOGDIR: waits up to 20 s for URL to answer 2xx.
wait_up() {
  for _ in $(seq 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done
  echo "bench: $1 did not come up; logs in $2" >&2
  tail -n 5 "$2"/*.log >&2
  return 1
}

rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

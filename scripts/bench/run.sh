#!/usr/bin/env bash
# Side-by-side benchmark: idp-bridge beside node-oidc-provider 8 doing the
# bridge's job (scripts/bench/node-op/), both checking the password against
# the same upstream (the reference legacy IdP over HTTP), driven by one load
# generator (examples/bench_load.rs) in the same run; each server's CPU time
# comes from /proc/<pid>/stat. Writes the results JSON and draws the chart
# (examples/bench_chart.rs).
#
#   scripts/bench/run.sh                    # 3 rounds of 5 s phases
#   BENCH_ROUNDS=1 BENCH_SECONDS=3 scripts/bench/run.sh
#   BENCH_STORE=postgres scripts/bench/run.sh   # the bridge on PostgreSQL
#   BENCH_PERF=login|userinfo|exchange scripts/bench/run.sh  # also records a perf profile of the bridge
#   BENCH_ALG=ES256 scripts/bench/run.sh     # both sides sign the client's ID tokens with ES256
#   BENCH_WARMUP=1000 scripts/bench/run.sh   # logins per server before the first round (default
#                                            # 50; node-oidc-provider's JIT needs hundreds)
#
# Token exchange (RFC 8693) is the bridge's alone: the load generator serves
# a stand-in Auth0 tenant's JWKS on BENCH_TENANT_PORT (default BENCH_PORT + 7),
# mints RS256 access tokens for several users who signed in first, and checks
# every answer is that user's legacy token (phases `exchange`, a token seen
# before, and `exchange_fresh`, never-seen tokens).
#
# Needs node and npm (node-oidc-provider is installed with `npm ci` into
# $BENCH_WORK, default /tmp/idpb-bench), openssl, curl; BENCH_PERF needs perf
# (Debian: linux-perf). Ports: BENCH_PORT (default 18000) and the next two.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/scripts/bench
work=${BENCH_WORK:-/tmp/idpb-bench}
out=${BENCH_OUT:-$work/results.json}
chart=${BENCH_CHART:-$root/docs/images/bench.svg}
port=${BENCH_PORT:-18000}
bridge_port=$port node_port=$((port + 1)) upstream_port=$((port + 2))
target_dir=${CARGO_TARGET_DIR:-$root/target}
# shellcheck source=scripts/bench/lib.sh
. "$here/lib.sh"

for tool in node npm openssl curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install nodejs npm openssl curl)" >&2; exit 1; }
done
alg=${BENCH_ALG:-RS256}
case $alg in RS256|ES256) ;; *) echo "bench: BENCH_ALG must be RS256 or ES256, not $alg" >&2; exit 1 ;; esac
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || { echo "bench: node-oidc-provider 8 needs Node.js 18 or later (have $(node --version))" >&2; exit 1; }

# BENCH_NO_BUILD=1: use the binaries already built.
[ -n "${BENCH_NO_BUILD:-}" ] || (cd "$root" && cargo build --release --locked --quiet --bin idp-bridge --example bench_load --example bench_chart)
# BIN: another build of the bridge to measure (a "before" binary, say).
bin=${BIN:-$target_dir/release/idp-bridge}
load=$target_dir/release/examples/bench_load

mkdir -p "$work/node-op"
cp "$here/node-op/package.json" "$here/node-op/package-lock.json" "$here/node-op/server.mjs" "$work/node-op/"
if ! cmp -s "$here/node-op/package-lock.json" "$work/node-op/node_modules/.package-lock.json.bench" 2>/dev/null; then
  (cd "$work/node-op" && npm ci --no-audit --no-fund --silent)
  cp "$here/node-op/package-lock.json" "$work/node-op/node_modules/.package-lock.json.bench"
fi

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${BENCH_STORE:-sqlite}" = postgres ]; then
    psql -q "${BENCH_PG_URL:-postgres://root@127.0.0.1:5432/test}" -c "DROP SCHEMA IF EXISTS idpb_bench_$$ CASCADE" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

"$load" --write-users "$work/users.json"
lt1_key=$(openssl rand -hex 32)
LT1_KEYS="bench=$lt1_key" "$bin" reference legacy-idp --listen "127.0.0.1:$upstream_port" \
  --users "$work/users.json" 2>"$work/upstream.log" &
upstream_pid=$!; pids+=("$upstream_pid")

rm -rf "$work/bridge-data"; mkdir -p "$work/bridge-data"
# Token exchange: the stand-in tenant and the exchanging client.
tenant_port=${BENCH_TENANT_PORT:-$((port + 7))}
exchange_toml="[token_exchange]
issuers = [\"http://127.0.0.1:$tenant_port/\"]
connections = [\"legacy\"]
[[clients]]
id = \"exchanger\"
secret = \"bench-exchanger-secret-0123456789\"
redirect_uris = [\"https://orders.example.com/unused\"]
token_exchange = { audiences = [\"https://orders.example.com\"], scopes = [\"read:orders\"] }"
bridge_config "$work/bridge.toml" "$bridge_port" "$upstream_port" "$work/bridge-data" \
  "$(store_section "${BENCH_STORE:-sqlite}" "idpb_bench_$$")" "$exchange_toml"
IDP_BRIDGE_LOG=warn "$bin" serve --config "$work/bridge.toml" 2>"$work/bridge.log" &
bridge_pid=$!; pids+=("$bridge_pid")

(cd "$work/node-op" && NODE_ENV=production NODE_OP_ALG=$alg NODE_OP_PORT=$node_port NODE_OP_ISSUER="http://127.0.0.1:$node_port" \
  NODE_OP_UPSTREAM="http://127.0.0.1:$upstream_port" NODE_OP_CLIENT_SECRET=bench-client-secret-0123456789 \
  NODE_OP_REDIRECT_URI=https://example-tenant.us.auth0.com/login/callback exec node server.mjs) 2>"$work/node-op.log" &
node_pid=$!; pids+=("$node_pid")

wait_up "http://127.0.0.1:$upstream_port/healthz" "$work"
wait_up "http://127.0.0.1:$bridge_port/.well-known/openid-configuration" "$work"
wait_up "http://127.0.0.1:$node_port/.well-known/openid-configuration" "$work"
sleep 1
idle_bridge=$(rss_kib "$bridge_pid")
idle_node=$(rss_kib "$node_pid")

# One RSA-2048 signature through OpenSSL on this machine, same run.
openssl_us=$(openssl speed -seconds 3 rsa2048 2>/dev/null | awk '$1=="rsa" && $2=="2048" {printf "%.1f", $4*1e6}')
bridge_sign_us=$("$load" --sign-cost)
ring_sign_us=$("$load" --sign-cost-ring)
bridge_es256_sign_us=$("$load" --sign-cost-es256)

if [ -n "${BENCH_PERF:-}" ]; then
  command -v perf >/dev/null || { echo "bench: BENCH_PERF needs perf (apt-get install linux-perf)" >&2; exit 1; }
  perf record -F 999 -g -e cpu-clock -p "$bridge_pid" -o "$work/bridge-$BENCH_PERF.perf" 2>/dev/null &
  perf_pid=$!; pids+=("$perf_pid")
fi

"$load" --out "$out" --rounds "${BENCH_ROUNDS:-3}" --seconds "${BENCH_SECONDS:-5}" \
  ${BENCH_PERF:+--only "$BENCH_PERF"} --alg "$alg" --note "alg=$alg" --warmup "${BENCH_WARMUP:-50}" \
  --target "idp-bridge=http://127.0.0.1:$bridge_port,$bridge_pid" \
  --target "node-oidc-provider=http://127.0.0.1:$node_port,$node_pid" \
  --upstream-pid "$upstream_pid" --tenant-listen "127.0.0.1:$tenant_port" \
  --note "openssl_rsa2048_sign_us=$openssl_us" --note "bridge_rs256_sign_us=$bridge_sign_us" --note "ring_rs256_sign_us=$ring_sign_us" \
  --note "bridge_es256_sign_us=$bridge_es256_sign_us" \
  --note "idle_rss_kib_idp-bridge=$idle_bridge" --note "idle_rss_kib_node-oidc-provider=$idle_node" \
  --note "store=${BENCH_STORE:-sqlite}" --note "cores=$(nproc)"

if [ -n "${BENCH_PERF:-}" ]; then
  kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
  echo "perf profile of the bridge: $work/bridge-$BENCH_PERF.perf"
fi
echo "RSA-2048 signature: openssl speed $openssl_us µs; the bridge (aws-lc-rs) $bridge_sign_us µs; jsonwebtoken 9 + ring $ring_sign_us µs"
echo "P-256 signature (ES256): the bridge $bridge_es256_sign_us µs"
echo "idle RSS: idp-bridge $idle_bridge KiB, node-oidc-provider $idle_node KiB"
echo "results: $out"
mkdir -p "$(dirname "$chart")"
"$target_dir/release/examples/bench_chart" "$out" "$chart"
echo "chart: $chart"

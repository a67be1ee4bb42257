#!/usr/bin/env bash
# Token exchange, two builds of the bridge side by side in one run: each on
# its own SQLite store in front of the same reference legacy IdP, driven by
# one load generator (examples/bench_load.rs) in alternating rounds, so a
# change is judged by a same-run comparison of CPU per exchange.
#
#   scripts/bench/exchange-ab.sh BEFORE_BIN AFTER_BIN [ROUNDS] [SECONDS] [PHASES]
#   EXAB_PERF=1 ...   # also records a perf profile of AFTER_BIN ($work/after.perf)
#
# PHASES default `exchange,exchange_fresh`. Ports: EXAB_PORT (default 19300)
# to EXAB_PORT + 7; scratch in EXAB_WORK (default /tmp/idpb-exab).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
before=$1 after=$2 rounds=${3:-3} seconds=${4:-5} phases=${5:-exchange,exchange_fresh}
work=${EXAB_WORK:-/tmp/idpb-exab} port=${EXAB_PORT:-19300}
b1=$port b2=$((port + 1)) up=$((port + 2)) tenant=$((port + 7))
load=${CARGO_TARGET_DIR:-$root/target}/release/examples/bench_load
# shellcheck source=scripts/bench/lib.sh
. "$root/scripts/bench/lib.sh"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
rm -rf "$work"; mkdir -p "$work/d1" "$work/d2"
"$load" --write-users "$work/users.json"
LT1_KEYS="bench=$(openssl rand -hex 32)" "$after" reference legacy-idp --listen "127.0.0.1:$up" \
  --users "$work/users.json" 2>"$work/upstream.log" &
upstream_pid=$!; pids+=("$upstream_pid")
exchange_toml="[token_exchange]
issuers = [\"http://127.0.0.1:$tenant/\"]
connections = [\"legacy\"]
[[clients]]
id = \"exchanger\"
secret = \"bench-exchanger-secret-0123456789\"
redirect_uris = [\"https://orders.example.com/unused\"]
token_exchange = { audiences = [\"https://orders.example.com\"], scopes = [\"read:orders\"] }"
bridge_config "$work/b1.toml" "$b1" "$up" "$work/d1" "$(store_section sqlite x)" "$exchange_toml"
bridge_config "$work/b2.toml" "$b2" "$up" "$work/d2" "$(store_section sqlite x)" "$exchange_toml"
IDP_BRIDGE_LOG=warn "$before" serve --config "$work/b1.toml" 2>"$work/b1.log" &
p1=$!; pids+=("$p1")
IDP_BRIDGE_LOG=warn "$after" serve --config "$work/b2.toml" 2>"$work/b2.log" &
p2=$!; pids+=("$p2")
wait_up "http://127.0.0.1:$up/healthz" "$work"
wait_up "http://127.0.0.1:$b1/.well-known/openid-configuration" "$work"
wait_up "http://127.0.0.1:$b2/.well-known/openid-configuration" "$work"
if [ -n "${EXAB_PERF:-}" ]; then
  perf record -F 999 -g -e cpu-clock -p "$p2" -o "$work/after.perf" 2>/dev/null &
  perf_pid=$!; pids+=("$perf_pid")
fi
"$load" --out "$work/results.json" --rounds "$rounds" --seconds "$seconds" --only "$phases" \
  --target "before=http://127.0.0.1:$b1,$p1" --target "after=http://127.0.0.1:$b2,$p2" \
  --upstream-pid "$upstream_pid" --tenant-listen "127.0.0.1:$tenant"
if [ -n "${EXAB_PERF:-}" ]; then
  kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
  echo "perf profile of $after: $work/after.perf"
fi

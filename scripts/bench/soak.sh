#!/usr/bin/env bash
# Soak: mixed load (logins asking for offline_access, refreshes, userinfo)
# at a fixed pace, about half of what the 2-core machine serves, against
# the bridge on SQLite and then on PostgreSQL. Reports errors (target 0),
# the bridge's RSS every 10 s (target: flat within 10 %) and the row counts
# of every table at the end (bounded by the cleanup: refresh families live
# 120 s here, the upstream's tokens 120 s, cleanup every 10 s). Not in CI.
#
#   scripts/bench/soak.sh                       # 30 minutes per store
#   SOAK_SECONDS=180 scripts/bench/soak.sh      # a short run
#   SOAK_RATES=200,100,2000 (logins,refreshes,userinfo per second)
#   SOAK_STORES="sqlite postgres"
#   SOAK_LOG=warn,idp_bridge::domain::store=debug   # the bridge's log filter (its log
#                                            # is $BENCH_WORK/bridge-<store>.log)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/scripts/bench
work=${BENCH_WORK:-/tmp/idpb-soak}
port=${BENCH_PORT:-18010}
bridge_port=$port upstream_port=$((port + 2))
target_dir=${CARGO_TARGET_DIR:-$root/target}
seconds=${SOAK_SECONDS:-1800}
rates=${SOAK_RATES:-200,100,2000}
pg=${BENCH_PG_URL:-postgres://root@127.0.0.1:5432/test}
# shellcheck source=scripts/bench/lib.sh
. "$here/lib.sh"
for tool in openssl curl sqlite3 psql; do
  command -v "$tool" >/dev/null || { echo "soak: $tool is missing (apt-get install openssl curl sqlite3 postgresql-client)" >&2; exit 1; }
done

# BENCH_NO_BUILD=1: use the binaries already built.
[ -n "${BENCH_NO_BUILD:-}" ] || (cd "$root" && cargo build --release --locked --quiet --bin idp-bridge --example bench_load)
bin=${BIN:-$target_dir/release/idp-bridge}
load=$target_dir/release/examples/bench_load
mkdir -p "$work"
pids=()
schema=idpb_soak_$$
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$pg" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$load" --write-users "$work/users.json"
LT1_KEYS="soak=$(openssl rand -hex 32)" "$bin" reference legacy-idp --listen "127.0.0.1:$upstream_port" \
  --users "$work/users.json" --token-ttl 120 2>"$work/upstream.log" &
upstream_pid=$!; pids+=("$upstream_pid")
wait_up "http://127.0.0.1:$upstream_port/healthz" "$work"

for store in ${SOAK_STORES:-sqlite postgres}; do
  rm -rf "$work/data-$store"; mkdir -p "$work/data-$store"
  bridge_config "$work/bridge-$store.toml" "$bridge_port" "$upstream_port" "$work/data-$store" \
    "$(store_section "$store" "$schema" "cleanup_interval_seconds = 10")" \
    "[session]
idle_timeout_seconds = 120"
  IDP_BRIDGE_LOG=${SOAK_LOG:-warn} "$bin" serve --config "$work/bridge-$store.toml" 2>"$work/bridge-$store.log" &
  bridge_pid=$!; pids+=("$bridge_pid")
  wait_up "http://127.0.0.1:$bridge_port/.well-known/openid-configuration" "$work"
  echo "soak: $store, $seconds s at $rates (logins,refreshes,userinfo)/s, bridge pid $bridge_pid"
  BENCH_SCOPE="openid profile email offline_access" "$load" --out "$work/soak-$store.json" \
    --seconds "$seconds" --soak "$rates" --target "idp-bridge=http://127.0.0.1:$bridge_port,$bridge_pid"
  echo "soak: $store row counts at the end:"
  if [ "$store" = sqlite ]; then
    for t in $(sqlite3 "$work/data-$store"/*.db "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE '\_%' ESCAPE '\' AND name NOT LIKE 'sqlite%'"); do
      printf '  %-20s %s\n' "$t" "$(sqlite3 "$work/data-$store"/*.db "SELECT count(*) FROM $t")"
    done
  else
    for t in $(psql -At "$pg" -c "SELECT table_name FROM information_schema.tables WHERE table_schema='$schema' AND table_name NOT LIKE '\_%'"); do
      printf '  %-20s %s\n' "$t" "$(psql -At "$pg" -c "SELECT count(*) FROM $schema.$t")"
    done
  fi
  python3 - "$work/soak-$store.json" <<'PY' || true
import json, sys
r = json.load(open(sys.argv[1]))
lo, hi = r["rss_kib_min_after_first_sample"], r["rss_kib_max"]
print(f"  errors: logins {r['logins']['failed']}, refreshes {r['refreshes']['failed']}, userinfo {r['userinfo']['failed']}"
      f" (done: {r['logins']['ok']}, {r['refreshes']['ok']}, {r['userinfo']['ok']})")
print(f"  RSS after the first sample: {lo/1024:.1f}..{hi/1024:.1f} MiB ({(hi-lo)/lo*100:.1f} % spread)")
# From minute 10 on every table is at its bound (the longest lifetime here
# is the login form's, 10 minutes): what should be flat.
steady = [s["rss_kib"] for s in r["samples"] if s["t"] >= 600]
if steady:
    lo, hi = min(steady), max(steady)
    print(f"  RSS from minute 10: {lo/1024:.1f}..{hi/1024:.1f} MiB ({(hi-lo)/lo*100:.1f} % spread)")
PY
  kill "$bridge_pid"; wait "$bridge_pid" 2>/dev/null || true
done
echo "soak: results in $work/soak-*.json"

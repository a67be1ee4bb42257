#!/usr/bin/env bash
# Two builds of the bridge side by side in one run (a change, or a whole
# issue, judged by a same-run comparison): each on its own SQLite store in
# front of the same reference legacy IdP, driven by one load generator
# (examples/bench_load.rs) in alternating rounds (round 1 before, round 1
# after, round 2 before, ...), each server's CPU time read from /proc.
# Prints the load generator's medians, then a before/after table: every
# round's figure, the medians and after ÷ before, with the load average at
# the start and the end.
#
#   scripts/bench/ab.sh BEFORE_BIN AFTER_BIN [ROUNDS] [SECONDS] [PHASES]
#   AB_PERF=1 ...   # also records a perf profile of AFTER_BIN ($work/after.perf)
#   AB_ALSO=NAME=BIN ...   # a third build, measured between the two (each
#                          # figure's ratio is still over BEFORE_BIN's)
#
# PHASES default `login,token,userinfo,exchange,exchange_fresh` (bench_load's
# phases: complete logins at 16 concurrent, 2,000 code redemptions at 32,
# userinfo at 32, token exchange with a token seen before and with 3,000
# never-seen tokens, at 32). Ports: AB_PORT (default 19300) to AB_PORT + 7;
# scratch in AB_WORK (default /tmp/idpb-ab). The load generator is
# $CARGO_TARGET_DIR/release/examples/bench_load (build it first).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -ge 2 ] || { sed -n '2,21p' "$0" >&2; exit 2; }
before=$1 after=$2 rounds=${3:-3} seconds=${4:-5} phases=${5:-login,token,userinfo,exchange,exchange_fresh}
work=${AB_WORK:-/tmp/idpb-ab} port=${AB_PORT:-19300}
b1=$port b2=$((port + 1)) up=$((port + 2)) b3=$((port + 3)) tenant=$((port + 7))
also_name=${AB_ALSO:-} also_name=${also_name%%=*} also_bin=${AB_ALSO:-} also_bin=${also_bin#*=}
load=${CARGO_TARGET_DIR:-$root/target}/release/examples/bench_load
for bin in "$before" "$after" "$load" ${AB_ALSO:+"$also_bin"}; do
  [ -x "$bin" ] || { echo "ab: $bin is missing" >&2; exit 1; }
done
# shellcheck source=scripts/bench/lib.sh
. "$root/scripts/bench/lib.sh"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
rm -rf "$work"; mkdir -p "$work/d1" "$work/d2" "$work/d3"
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
also=()
if [ -n "${AB_ALSO:-}" ]; then
  bridge_config "$work/b3.toml" "$b3" "$up" "$work/d3" "$(store_section sqlite x)" "$exchange_toml"
  IDP_BRIDGE_LOG=warn "$also_bin" serve --config "$work/b3.toml" 2>"$work/b3.log" &
  p3=$!; pids+=("$p3")
  wait_up "http://127.0.0.1:$b3/.well-known/openid-configuration" "$work"
  also=(--target "$also_name=http://127.0.0.1:$b3,$p3")
fi
wait_up "http://127.0.0.1:$up/healthz" "$work"
wait_up "http://127.0.0.1:$b1/.well-known/openid-configuration" "$work"
wait_up "http://127.0.0.1:$b2/.well-known/openid-configuration" "$work"
if [ -n "${AB_PERF:-}" ]; then
  perf record -F 999 -g -e cpu-clock -p "$p2" -o "$work/after.perf" 2>/dev/null &
  perf_pid=$!; pids+=("$perf_pid")
fi
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%H:%M)
"$load" --out "$work/results.json" --rounds "$rounds" --seconds "$seconds" --only "$phases" \
  --target "before=http://127.0.0.1:$b1,$p1" "${also[@]}" --target "after=http://127.0.0.1:$b2,$p2" \
  --upstream-pid "$upstream_pid" --tenant-listen "127.0.0.1:$tenant" 2>"$work/load.log" \
  || { tail -n 20 "$work/load.log" >&2; exit 1; }
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
if [ -n "${AB_PERF:-}" ]; then
  kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
  echo "perf profile of $after: $work/after.perf"
fi
echo
echo "before: $before"
[ -z "${AB_ALSO:-}" ] || echo "$also_name: $also_bin"
echo "after:  $after"
echo "$(nproc) cores, $started–$(date -u +%H:%M) UTC, load average (1, 5, 15 min) at the start $load_start, at the end $load_end"
python3 - "$work/results.json" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))
rows = [
    ("cpu_us_per_login", "CPU per login, µs"),
    ("cpu_us_per_token", "CPU per token request, µs"),
    ("cpu_us_per_userinfo", "CPU per userinfo, µs"),
    ("cpu_us_per_exchange", "CPU per exchange (seen), µs"),
    ("cpu_us_per_exchange_fresh", "CPU per exchange (fresh), µs"),
    ("login_per_s", "logins/s"),
    ("token_p99_ms", "token p99, ms"),
    ("userinfo_per_s", "userinfo/s"),
    ("exchange_per_s", "exchanges/s (seen)"),
    ("rss_kib", "RSS after the round, KiB"),
]
names = list(dict.fromkeys(x["target"] for x in r["results"]))
def series(target, key):
    return [x[key] for x in r["results"] if x["target"] == target and isinstance(x.get(key), (int, float))]
def fmt(v):
    return f"{v:,.1f}" if v < 100 else f"{v:,.0f}"
print(f"{r['rounds']} alternating rounds of {r['seconds']} s phases; medians; ratio over before's median (each round's over before's same round in brackets)")
print("| figure | " + " | ".join(f"{n} (rounds) | median" for n in names) + " | "
      + " | ".join(f"{n} ÷ before" for n in names[1:]) + " |")
print("|---" * (1 + 2 * len(names) + len(names) - 1) + "|")
for key, label in rows:
    s = {n: series(n, key) for n in names}
    if not all(s.values()):
        continue
    med = {n: statistics.median(v) for n, v in s.items()}
    cells = [f"{', '.join(fmt(v) for v in s[n])} | {fmt(med[n])}" for n in names]
    b = s["before"]
    for n in names[1:]:
        per = ", ".join(f"{y / x:.2f}" for x, y in zip(b, s[n]) if x)
        cells.append(f"{med[n] / med['before']:.2f} ({per})" if med["before"] else "")
    print(f"| {label} | " + " | ".join(cells) + " |")
PY

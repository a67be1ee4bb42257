#!/usr/bin/env bash
# Instructions the bridge runs per complete login and per userinfo, counted
# by valgrind's callgrind: user space only (no kernel), but repeatable on a
# shared, busy machine where CPU time is not, so it is how a code change is
# judged before and after (scripts/bench/run.sh then gives the same-run
# ratios against node-oidc-provider). The bridge runs under callgrind (about
# 50 times slower), the reference legacy IdP and the load generator
# natively; after a warm-up the counters are zeroed, one phase runs, and
# they are dumped.
#
#   scripts/bench/instructions.sh                      # the release build
#   BIN=/tmp/before/idp-bridge scripts/bench/instructions.sh
#   INSN_PHASES="login" INSN_SECONDS=30 BENCH_ALG=ES256 scripts/bench/instructions.sh
#
# Needs valgrind (apt-get install valgrind) and jq. Ports: BENCH_PORT
# (default 18040) and the next one.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/scripts/bench
work=${BENCH_WORK:-/tmp/idpb-insn}
port=${BENCH_PORT:-18040}
bridge_port=$port upstream_port=$((port + 1))
target_dir=${CARGO_TARGET_DIR:-$root/target}
bin=${BIN:-$target_dir/release/idp-bridge}
load=${LOAD:-$target_dir/release/examples/bench_load}
seconds=${INSN_SECONDS:-20}
# shellcheck source=scripts/bench/lib.sh
. "$here/lib.sh"
for tool in valgrind callgrind_control jq curl; do
  command -v "$tool" >/dev/null || { echo "instructions: $tool is missing (apt-get install valgrind jq curl)" >&2; exit 1; }
done
[ -x "$bin" ] && [ -x "$load" ] || { echo "instructions: build first (cargo build --release --bin idp-bridge --example bench_load)" >&2; exit 1; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
mkdir -p "$work"; rm -f "$work"/callgrind.*
"$load" --write-users "$work/users.json"
LT1_KEYS="bench=$(openssl rand -hex 32)" "$bin" reference legacy-idp --listen "127.0.0.1:$upstream_port" \
  --users "$work/users.json" 2>"$work/upstream.log" &
pids+=($!)
rm -rf "$work/bridge-data"; mkdir -p "$work/bridge-data"
bridge_config "$work/bridge.toml" "$bridge_port" "$upstream_port" "$work/bridge-data" "$(store_section sqlite x)" ""
IDP_BRIDGE_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
  "$bin" serve --config "$work/bridge.toml" 2>"$work/bridge.log" &
bridge_pid=$!; pids+=("$bridge_pid")
wait_up "http://127.0.0.1:$upstream_port/healthz" "$work"
for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$bridge_port/.well-known/openid-configuration" && break; sleep 1; done
target="idp-bridge=http://127.0.0.1:$bridge_port,$bridge_pid"
alg=${BENCH_ALG:-RS256}
"$load" --out "$work/warmup.json" --rounds 0 --warmup 30 --alg "$alg" --target "$target" >/dev/null

# totals of the newest dump
dump() {
  callgrind_control -d "$bridge_pid" >/dev/null 2>&1
  sleep 1
  # shellcheck disable=SC2012
  awk '/^(summary|totals):/ {print $2; exit}' "$(ls -t "$work"/callgrind.out.* | head -n 1)"
}
login_insn=
for phase in ${INSN_PHASES:-login userinfo}; do
  callgrind_control -z "$bridge_pid" >/dev/null 2>&1
  "$load" --out "$work/$phase.json" --rounds 1 --seconds "$seconds" --warmup 0 --alg "$alg" \
    --only "$phase" --target "$target" >/dev/null
  total=$(dump)
  ops=$(jq ".results[0].${phase}s" "$work/$phase.json")
  # The userinfo phase signs in once for its token: that login is taken out.
  extra=0
  [ "$phase" = userinfo ] && [ -n "$login_insn" ] && extra=$login_insn
  per=$(awk -v t="$total" -v o="$ops" -v e="$extra" 'BEGIN { printf "%.0f", (t - e) / o }')
  [ "$phase" = login ] && login_insn=$per
  echo "$phase: $per instructions each ($ops in ${seconds} s under callgrind, $total in all; $bin, $alg)"
done

#!/usr/bin/env bash
# Idle memory of `idp-bridge serve`, as scripts/bench/run.sh measures it
# (started on SQLite, one discovery request, a second's rest, VmRSS), for the
# `release` build the benchmark runs and the `dist` build that ships (fat
# LTO, one codegen unit, stripped: less code, so fewer of the executable's
# pages mapped). Five starts each, alternating; prints each and the medians.
#
#   cargo build --release && cargo build --profile dist && scripts/bench/idle-rss.sh
#   IDLE_BINS="/path/a /path/b" scripts/bench/idle-rss.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/scripts/bench
work=${BENCH_WORK:-/tmp/idpb-idle}
port=${BENCH_PORT:-18020}
target_dir=${CARGO_TARGET_DIR:-$root/target}
bins=${IDLE_BINS:-"$target_dir/release/idp-bridge $target_dir/dist/idp-bridge"}
# shellcheck source=scripts/bench/lib.sh
. "$here/lib.sh"
for bin in $bins; do
  [ -x "$bin" ] || { echo "idle-rss: $bin is missing (cargo build --release; cargo build --profile dist)" >&2; exit 1; }
done
mkdir -p "$work"
declare -A seen
for round in 1 2 3 4 5; do
  for bin in $bins; do
    rm -rf "$work/data"; mkdir -m 700 "$work/data"
    # The upstream is never called at idle; its port only has to parse.
    bridge_config "$work/bridge.toml" "$port" "$((port + 1))" "$work/data" "$(store_section sqlite x)" ""
    IDP_BRIDGE_LOG=warn "$bin" serve --config "$work/bridge.toml" 2>"$work/bridge.log" &
    pid=$!
    wait_up "http://127.0.0.1:$port/.well-known/openid-configuration" "$work"
    sleep 1
    kib=$(rss_kib "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "round $round: $bin $kib KiB"
    seen[$bin]="${seen[$bin]:-} $kib"
  done
done
for bin in $bins; do
  # shellcheck disable=SC2086
  median=$(printf '%s\n' ${seen[$bin]} | sort -n | sed -n 3p)
  echo "median idle RSS: $bin $median KiB ($(awk -v k="$median" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }') MB)"
done

#!/usr/bin/env bash
# The gateway beside nginx in one run, in front of two upstreams — a static
# nginx `return 200` (the proxies' own cost) and the reference legacy API —
# with the same external load generator (wrk); then 1 GiB each way through
# the gateway with its memory. Installs nginx and wrk (Debian packages) when
# missing. What it prints, and its other modes: see benches/gateway.rs.
#
#   scripts/bench/gateway.sh                              # 3 rounds of 8 s
#   GATEWAY_BENCH_ROUNDS=1 GATEWAY_BENCH_SECONDS=3 scripts/bench/gateway.sh
#   GATEWAY_BENCH_PERF=/tmp/gw.perf scripts/bench/gateway.sh       # perf profile
#   GATEWAY_BENCH_CALLGRIND=/tmp/gw-cg scripts/bench/gateway.sh    # instructions/request
#   BIN=/path/to/other/idp-bridge BENCH_NO_BUILD=1 scripts/bench/gateway.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ -n "${GATEWAY_BENCH_CALLGRIND:-}" ]; then command -v valgrind >/dev/null || missing+=(valgrind); fi
if [ -n "${GATEWAY_BENCH_PERF:-}" ]; then command -v perf >/dev/null || missing+=(linux-perf); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "install: apt-get install ${missing[*]}" >&2; exit 1
  fi
fi
# Not NGINX: nginx reads that variable as sockets to inherit.
export NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
target_dir=${CARGO_TARGET_DIR:-$root/target}
export BIN=${BIN:-$target_dir/release/idp-bridge}
# BENCH_NO_BUILD=1: use the binaries already built.
[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release --locked --quiet --bin idp-bridge
cargo bench --locked --bench gateway --quiet

#!/usr/bin/env bash
# The gateway beside nginx in one run, both in front of the same reference
# legacy API, with the same external load generator (wrk); then 1 GiB each
# way through the gateway with its memory. Installs nginx and wrk (Debian
# packages) when missing. Figures: see benches/gateway.rs.
#   scripts/gateway-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "install: apt-get install ${missing[*]}" >&2; exit 1
  fi
fi
export NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
cargo build --release --quiet
cargo bench --bench gateway --quiet

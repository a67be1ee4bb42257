#!/usr/bin/env bash
# Userinfo throughput with an external load generator (wrk, Debian package
# `wrk`) against `idp-bridge demo` built in release mode:
#   cargo build --release && scripts/userinfo-wrk.sh
set -euo pipefail
bin=${BIN:-target/release/idp-bridge}
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)"; exit 1; }
out=$(mktemp); jar=$(mktemp)
IDP_BRIDGE_LOG=warn "$bin" demo >"$out" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$out" "$jar"' EXIT
for _ in $(seq 50); do grep -q 'bridge (issuer)' "$out" && break; sleep 0.2; done
rp=$(grep -o 'Open http://[^ ]*' "$out" | cut -d' ' -f2)
issuer=$(grep 'bridge (issuer)' "$out" | grep -o 'http://[^ ]*')
page=$(curl -s -c "$jar" -b "$jar" -L "$rp/login")
field() { printf '%s' "$page" | grep -o "name=\"$1\" value=\"[^\"]*\"" | sed 's/.*value="//;s/"$//'; }
result=$(curl -s -c "$jar" -b "$jar" -L "$issuer/login" --data-urlencode "request=$(field request)" \
  --data-urlencode "csrf=$(field csrf)" -d username=alice -d password=correct-horse)
token=$(printf '%s' "$result" | grep -o 'LT1\.demo\.[A-Za-z0-9_-]*' | head -1)
[ -n "$token" ] || { echo "login failed"; exit 1; }
curl -sf -H "Authorization: Bearer $token" "$issuer/userinfo" >/dev/null
for round in 1 2 3; do
  wrk -t1 -c32 -d5s -H "Authorization: Bearer $token" "$issuer/userinfo" | grep -E 'Requests/sec|Latency'
done

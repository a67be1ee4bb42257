#!/usr/bin/env bash
# Moved to scripts/bench/gateway.sh (kept so old notes still work).
exec "$(dirname "$0")/bench/gateway.sh" "$@"

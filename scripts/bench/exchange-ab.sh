#!/usr/bin/env bash
# Token exchange, two builds of the bridge side by side in one run: the
# exchange phases of scripts/bench/ab.sh (each build on its own SQLite store
# in front of the same reference legacy IdP, one load generator alternating
# rounds between them), so a change is judged by a same-run comparison of
# CPU per exchange.
#
#   scripts/bench/exchange-ab.sh BEFORE_BIN AFTER_BIN [ROUNDS] [SECONDS] [PHASES]
#   EXAB_PERF=1 ...   # also records a perf profile of AFTER_BIN ($work/after.perf)
#
# PHASES default `exchange,exchange_fresh`. Ports: EXAB_PORT (default 19300)
# to EXAB_PORT + 7; scratch in EXAB_WORK (default /tmp/idpb-exab).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 2 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
AB_WORK=${EXAB_WORK:-/tmp/idpb-exab} AB_PORT=${EXAB_PORT:-19300} AB_PERF=${EXAB_PERF:-} \
  exec "$here/ab.sh" "$1" "$2" "${3:-3}" "${4:-5}" "${5:-exchange,exchange_fresh}"

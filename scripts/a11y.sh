#!/usr/bin/env bash
# The accessibility check (WCAG 2.2 AA, judged by axe-core in Debian's
# Chromium; see scripts/a11y/check.mjs). Installs Chromium when it is
# missing (apt-get; as a non-root user through sudo), the pinned npm
# packages (npm ci), builds the binary when it is missing, then runs the
# check against `idp-bridge demo`. .ci/run calls it after the tests.
# `scripts/a11y.sh screenshots` takes the README's screenshots instead.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ! -x /usr/bin/chromium ]; then
  echo "a11y: installing Debian's chromium" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
command -v npm >/dev/null || { echo "a11y: npm is required (apt-get install npm)" >&2; exit 1; }
(cd scripts/a11y && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

target="${CARGO_TARGET_DIR:-target}"
bin="$target/debug/idp-bridge"
# cargo decides whether the binary is up to date (a no-op when it is).
cargo build --locked --quiet --bin idp-bridge
export A11Y_BRIDGE_BIN="$(cd "$(dirname "$bin")" && pwd)/idp-bridge"

case "${1:-check}" in
  check) exec node scripts/a11y/check.mjs ;;
  screenshots) exec node scripts/a11y/screenshots.mjs ;;
  *) echo "usage: scripts/a11y.sh [check|screenshots]" >&2; exit 2 ;;
esac

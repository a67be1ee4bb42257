#!/usr/bin/env bash
# The accessibility check (WCAG 2.2 AA, judged by axe-core in Debian's
# Chromium; see scripts/a11y/check.mjs). Installs Chromium when it is
# missing (apt-get; as a non-root user through sudo), the pinned npm
# packages (npm ci), builds the binary when it is missing, then runs the
# check against `idp-bridge demo`. .ci/run runs it beside clippy and the
# tests.
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
# npm ci only when the pinned packages are not already installed from this
# lock file (scripts/ci-tools.sh installs them beside CI's compile).
if [ ! -f scripts/a11y/node_modules/.package-lock.json ] \
  || [ scripts/a11y/package-lock.json -nt scripts/a11y/node_modules/.package-lock.json ]; then
  (cd scripts/a11y && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

target="${CARGO_TARGET_DIR:-target}"
bin="$target/debug/idp-bridge"
# cargo decides whether the binary is up to date (a no-op when it is); .ci/run
# has built it and sets CI_BINARY_BUILT, so this does not wait on cargo's
# lock while clippy runs beside it.
[ -n "${CI_BINARY_BUILT:-}" ] || cargo build --locked --quiet --bin idp-bridge
[ -x "$bin" ] || { echo "a11y: no binary at $bin" >&2; exit 1; }
export A11Y_BRIDGE_BIN="$(cd "$(dirname "$bin")" && pwd)/idp-bridge"

case "${1:-check}" in
  check) exec node scripts/a11y/check.mjs ;;
  screenshots) exec node scripts/a11y/screenshots.mjs ;;
  *) echo "usage: scripts/a11y.sh [check|screenshots]" >&2; exit 2 ;;
esac

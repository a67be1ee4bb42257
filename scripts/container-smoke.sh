#!/usr/bin/env bash
# Builds deploy/Containerfile with podman and runs it: the demo (a login
# through the stand-in relying party, end to end, inside the container), then
# `serve` as the image's non-root user with a volume, its HEALTHCHECK, and a
# graceful stop on SIGTERM. Not part of .ci/run: it needs a base image.
#
#   scripts/container-smoke.sh BINARY [RUNTIME_IMAGE]
#
# BINARY is an idp-bridge built for Debian 12 (or static musl); it goes into
# the image through the Containerfile's `prebuilt` stage. RUNTIME_IMAGE
# defaults to docker.io/library/debian:bookworm-slim; where no registry is
# reachable, make one from Debian's archive:
#   debootstrap --variant=minbase --include=ca-certificates bookworm ROOT
#   tar -C ROOT -c . | podman import - localhost/debian:bookworm-minbase
# PODMAN_FLAGS adds run/build flags (this VM: "--runtime runc --ulimit
# nofile=1024:1024 --ulimit nproc=1024:1024"). Ports 20080-20082 are used.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:?usage: $0 BINARY [RUNTIME_IMAGE]}
runtime_image=${2:-docker.io/library/debian:bookworm-slim}
read -r -a flags <<<"${PODMAN_FLAGS:-}"
tag=localhost/idp-bridge:smoke

ctx=$(mktemp -d)
trap 'podman rm -f idp-bridge-smoke idp-bridge-smoke-demo idp-bridge-smoke-tls >/dev/null 2>&1 || true; podman volume rm -f idp-bridge-smoke >/dev/null 2>&1 || true; rm -rf "$ctx"' EXIT
cp "$binary" "$ctx/idp-bridge"
podman build "${flags[@]}" --network host --format docker --pull=never \
  -f deploy/Containerfile --build-arg BINARY=prebuilt \
  --build-arg RUNTIME_IMAGE="$runtime_image" -t "$tag" "$ctx" >/dev/null
echo "built $tag: $(podman image inspect "$tag" --format '{{.Size}}') bytes," \
  "user $(podman image inspect "$tag" --format '{{.Config.User}}')," \
  "volumes $(podman image inspect "$tag" --format '{{json .Config.Volumes}}')"

echo "== the demo, inside the container"
# --health-interval=disable: no systemd timers here; the check is run below by hand.
podman run -d --name idp-bridge-smoke-demo "${flags[@]}" --health-interval=disable --network host "$tag" \
  demo --listen 127.0.0.1:20080 >/dev/null
python3 - <<'PY'
import re, sys, time, requests
rp = "http://127.0.0.1:20080"
for _ in range(100):
    try:
        if requests.get(rp, timeout=1).ok:
            break
    except requests.RequestException:
        time.sleep(0.1)
s = requests.Session()
authorize = s.get(f"{rp}/login", allow_redirects=False).headers["location"]
issuer = authorize.split("/authorize?")[0]
page = s.get(authorize).text
field = lambda n: re.search(rf'name="{n}" value="([^"]*)"', page).group(1)
back = s.post(f"{issuer}/login", data={"request": field("request"), "csrf": field("csrf"),
              "username": "alice", "password": "correct-horse"}, allow_redirects=False)
assert back.status_code == 303, back.status_code
result = s.get(back.headers["location"]).text
assert "Signed in." in result and "the legacy API accepted the token" in result, result
print(f"demo: alice signed in through {issuer} in the container; the legacy API accepted her token")
PY
podman stop -t 10 idp-bridge-smoke-demo >/dev/null

echo "== serve: non-root, volume, healthcheck, SIGTERM"
key=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
python3 - "$ctx/bridge.toml" <<'PY'
import sys
open(sys.argv[1], "w").write('''issuer = "http://127.0.0.1:20081"
[[clients]]
id = "auth0-oidc"
secret = { env = "AUTH0_OIDC_CLIENT_SECRET" }
redirect_uris = ["https://example.us.auth0.com/login/callback"]
[upstream]
adapter = "http"
[upstream.http.login]
url = "http://127.0.0.1:9/login"
[upstream.http.claims]
subject = "/user/id"
''')
PY
chmod 644 "$ctx/bridge.toml"
podman volume create idp-bridge-smoke >/dev/null
# The image's own port (8080) and HEALTHCHECK, published on 20081.
podman run -d --name idp-bridge-smoke "${flags[@]}" --health-interval=disable -p 127.0.0.1:20081:8080 \
  --read-only --tmpfs /tmp \
  -v idp-bridge-smoke:/var/lib/idp-bridge -v "$ctx/bridge.toml:/etc/idp-bridge/bridge.toml:ro" \
  -e IDP_BRIDGE_STORAGE_KEY="$key" \
  -e AUTH0_OIDC_CLIENT_SECRET=a-client-secret-that-is-long-enough-0123 "$tag" >/dev/null
for _ in $(seq 50); do
  curl -fsS http://127.0.0.1:20081/readyz >/dev/null 2>&1 && break; sleep 0.2
done
curl -fsS http://127.0.0.1:20081/.well-known/openid-configuration | python3 -c \
  'import json,sys; print("discovery: issuer", json.load(sys.stdin)["issuer"])'
echo "process user: $(podman exec idp-bridge-smoke /usr/local/bin/idp-bridge --version) as uid" \
  "$(podman top idp-bridge-smoke huser user | tail -1)"
podman healthcheck run idp-bridge-smoke || { echo "container-smoke: FAIL: unhealthy" >&2; exit 1; }
echo "healthcheck: healthy"
podman exec idp-bridge-smoke ls -ln /var/lib/idp-bridge | tail -n +2
start=$(date +%s%N)
podman stop -t 35 idp-bridge-smoke >/dev/null
echo "stopped in $(( ($(date +%s%N) - start) / 1000000 )) ms, exit code" \
  "$(podman inspect idp-bridge-smoke --format '{{.State.ExitCode}}')"
podman logs idp-bridge-smoke 2>&1 | grep -q '"shutting down"' && echo "log: shutting down (graceful)"
echo "== native TLS: https, plain HTTP refused, renewal, a broken file"
tls="$ctx/tls"
mkdir -p "$tls"
chmod 755 "$ctx" "$tls"
cert() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=$1" -addext "subjectAltName=IP:127.0.0.1" -keyout "$2.key" -out "$2.crt" 2>/dev/null
  chmod 644 "$2.key" "$2.crt"; }
cert first "$tls/tls"
sed -e 's#^issuer = .*#issuer = "https://127.0.0.1:20082"\n[tls]\ncertificate = "/etc/idp-bridge/tls/tls.crt"\nprivate_key = "/etc/idp-bridge/tls/tls.key"\nreload_interval_seconds = 1#' \
  "$ctx/bridge.toml" > "$ctx/bridge-tls.toml"
chmod 644 "$ctx/bridge-tls.toml"
podman run -d --name idp-bridge-smoke-tls "${flags[@]}" --health-interval=disable -p 127.0.0.1:20082:8080 \
  --read-only --tmpfs /tmp -v "$ctx/bridge-tls.toml:/etc/idp-bridge/bridge.toml:ro" \
  -v "$tls:/etc/idp-bridge/tls:ro" -e IDP_BRIDGE_STORAGE_KEY="$key" \
  -e AUTH0_OIDC_CLIENT_SECRET=a-client-secret-that-is-long-enough-0123 "$tag" >/dev/null
for _ in $(seq 50); do
  curl -fsS --cacert "$tls/tls.crt" https://127.0.0.1:20082/readyz >/dev/null 2>&1 && break; sleep 0.2
done
curl -fsS --cacert "$tls/tls.crt" https://127.0.0.1:20082/.well-known/openid-configuration \
  | python3 -c 'import json,sys; print("https discovery: issuer", json.load(sys.stdin)["issuer"])'
[ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:20082/healthz)" = 400 ] \
  || { echo "container-smoke: FAIL: plain HTTP on the TLS port is not a 400" >&2; exit 1; }
echo "plain http: 400"
podman exec idp-bridge-smoke-tls idp-bridge healthcheck   # https, from the config alone
echo "healthcheck over https (from the config): healthy"
subject() { echo | openssl s_client -connect 127.0.0.1:20082 2>/dev/null | sed -n 's/^subject=//p' | head -1; }
cert renewed "$ctx/new"; cp "$ctx/new.key" "$tls/tls.key"; cp "$ctx/new.crt" "$tls/tls.crt"
for _ in $(seq 50); do [[ "$(subject)" == *renewed* ]] && break; sleep 0.1; done
[[ "$(subject)" == *renewed* ]] || { echo "container-smoke: FAIL: renewal not served" >&2; exit 1; }
echo "renewed certificate served: $(subject)"
echo garbage > "$tls/tls.crt"; sleep 3
[[ "$(subject)" == *renewed* ]] || { echo "container-smoke: FAIL: a broken file replaced the certificate" >&2; exit 1; }
echo "broken file ignored: still $(subject)"
podman stop -t 35 idp-bridge-smoke-tls >/dev/null
echo "container-smoke: ok"

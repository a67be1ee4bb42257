#!/bin/sh
# A skeleton for the `command` adapter (see docs/command-adapter.md).
# Reads one JSON request on stdin and answers on stdout. Requires jq.
set -eu
request=$(cat)
action=$(printf '%s' "$request" | jq -r .action)
case "$action" in
  authenticate)
    user=$(printf '%s' "$request" | jq -r .username)
    pass=$(printf '%s' "$request" | jq -r .password)
    # Replace with the call to your legacy system.
    if [ "$user" = "demo" ] && [ "$pass" = "demo" ]; then
      jq -n --arg t "opaque-token-for-$user" '{status:"ok",access_token:$t,expires_in:3600,profile:{sub:"demo-1",name:"Demo User"}}'
    else
      exit 1
    fi
    ;;
  *) echo '{"status":"unsupported"}' ;;
esac

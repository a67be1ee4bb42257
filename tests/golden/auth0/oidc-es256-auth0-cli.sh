# The Auth0 CLI (after `auth0 login`) and jq: the secret is read from $IDP_BRIDGE_CLIENT_SECRET
# and put into the JSON by jq, so any character in it arrives intact.
: "${IDP_BRIDGE_CLIENT_SECRET:?set IDP_BRIDGE_CLIENT_SECRET to the client secret}" &&
  data=$(printf '%s' '{"name":"legacy-oidc","strategy":"oidc","options":{"type":"back_channel","discovery_url":"https://bridge.example.com/.well-known/openid-configuration","issuer":"https://bridge.example.com","authorization_endpoint":"https://bridge.example.com/authorize","token_endpoint":"https://bridge.example.com/token","userinfo_endpoint":"https://bridge.example.com/userinfo","jwks_uri":"https://bridge.example.com/jwks","client_id":"auth0-es256","client_secret":"${IDP_BRIDGE_CLIENT_SECRET}","scope":"openid profile email","token_endpoint_auth_method":"client_secret_post","id_token_signed_response_algs":["ES256"],"connection_settings":{"pkce":"S256"},"attribute_map":{"mapping_mode":"bind_all"}}}' |
    jq -c --arg secret "$IDP_BRIDGE_CLIENT_SECRET" '.options.client_secret = $secret') &&
  auth0 api post connections --data "$data"

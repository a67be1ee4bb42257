terraform {
  required_providers {
    auth0 = {
      source  = "auth0/auth0"
      version = ">= 1.47"
    }
  }
}

variable "idp_bridge_client_secret" {
  description = "The secret of the bridge client `auth0-es256`"
  type        = string
  sensitive   = true
}

resource "auth0_connection" "legacy_oidc" {
  name     = "legacy-oidc"
  strategy = "oidc"

  options {
    type                          = "back_channel"
    discovery_url                 = "https://bridge.example.com/.well-known/openid-configuration"
    issuer                        = "https://bridge.example.com"
    authorization_endpoint        = "https://bridge.example.com/authorize"
    token_endpoint                = "https://bridge.example.com/token"
    userinfo_endpoint             = "https://bridge.example.com/userinfo"
    jwks_uri                      = "https://bridge.example.com/jwks"
    client_id                     = "auth0-es256"
    client_secret                 = var.idp_bridge_client_secret
    scopes                        = ["openid", "profile", "email"]
    token_endpoint_auth_method    = "client_secret_post"
    id_token_signed_response_algs = ["ES256"]

    connection_settings {
      pkce = "S256"
    }

    attribute_map {
      mapping_mode = "bind_all"
    }
  }
}

# Enable the connection for your Auth0 applications:
# resource "auth0_connection_clients" "legacy_oidc" {
#   connection_id   = auth0_connection.legacy_oidc.id
#   enabled_clients = [auth0_client.my_app.id]
# }

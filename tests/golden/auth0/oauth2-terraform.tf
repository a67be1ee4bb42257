terraform {
  required_providers {
    auth0 = {
      source  = "auth0/auth0"
      version = ">= 1.47"
    }
  }
}

variable "idp_bridge_client_secret" {
  description = "The secret of the bridge client `auth0-vault`"
  type        = string
  sensitive   = true
}

resource "auth0_connection" "legacy_oauth2" {
  name     = "legacy-oauth2"
  strategy = "oauth2"

  options {
    authorization_endpoint = "https://bridge.example.com/authorize"
    token_endpoint         = "https://bridge.example.com/token"
    client_id              = "auth0-vault"
    client_secret          = var.idp_bridge_client_secret
    scopes                 = ["openid", "profile", "email", "offline_access"]
    pkce_enabled           = true
    scripts = {
      fetchUserProfile = <<-EOT
        function fetchUserProfile(accessToken, context, callback) {
          request.get(
            {
              url: "https://bridge.example.com/userinfo",
              headers: { Authorization: "Bearer " + accessToken },
              timeout: 10000
            },
            function (err, resp, body) {
              if (err) return callback(err);
              if (resp.statusCode !== 200) {
                return callback(new Error("the bridge's userinfo answered " + resp.statusCode));
              }
              var profile;
              try {
                profile = JSON.parse(body);
              } catch (e) {
                return callback(new Error("the bridge's userinfo answered no JSON"));
              }
              if (!profile.sub) return callback(new Error("the bridge's userinfo answered no sub"));
              callback(null, {
                user_id: profile.sub,
                name: profile.name,
                email: profile.email,
                email_verified: profile.email_verified === true
              });
            }
          );
        }
      EOT
    }
  }
}

# Enable the connection for your Auth0 applications:
# resource "auth0_connection_clients" "legacy_oauth2" {
#   connection_id   = auth0_connection.legacy_oauth2.id
#   enabled_clients = [auth0_client.my_app.id]
# }

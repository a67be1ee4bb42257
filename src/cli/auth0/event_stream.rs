//! The Auth0 Event Stream that revokes users at the bridge (`[auth0_events]`):
//! a webhook destination at `ISSUER/events/auth0` subscribed to
//! `user.deleted` and `user.updated`, authorized as the config says (bearer
//! or basic), as the Management API body (`POST /api/v2/event-streams`) and
//! an Auth0 CLI command (`auth0 events create`). Names as Auth0 documents
//! them: `subscriptions[].event_type`, `destination.type = "webhook"`,
//! `destination.configuration.webhook_endpoint` and
//! `webhook_authorization` (`method`, `token` | `username`, `password`).
//!
//! No secret is resolved: the credential is `${IDP_BRIDGE_EVENTS_TOKEN}`
//! (or `${IDP_BRIDGE_EVENTS_PASSWORD}`), put in by jq (in the printed
//! command; docs/tokens.md gives the line for the JSON), never spliced
//! into JSON text.

use serde::Deserialize;
use serde_json::{Value, json};

use super::render::shell_quote;

/// The variable naming the bearer token.
const TOKEN_VAR: &str = "IDP_BRIDGE_EVENTS_TOKEN";
/// The variable naming the basic password.
const PASSWORD_VAR: &str = "IDP_BRIDGE_EVENTS_PASSWORD";

/// What the printer reads of `[auth0_events]` (no secret).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct EventsSource {
    /// The basic user name, when basic authorization is configured.
    pub username: Option<String>,
}

/// The Management API body for `POST /api/v2/event-streams`.
pub(crate) fn body(issuer: &str, name: &str, events: &EventsSource) -> Value {
    let authorization = match &events.username {
        Some(username) => json!({
            "method": "basic",
            "username": username,
            "password": format!("${{{PASSWORD_VAR}}}"),
        }),
        None => json!({"method": "bearer", "token": format!("${{{TOKEN_VAR}}}")}),
    };
    json!({
        "name": format!("{name}-revocations"),
        "subscriptions": [{"event_type": "user.deleted"}, {"event_type": "user.updated"}],
        "destination": {
            "type": "webhook",
            "configuration": {
                "webhook_endpoint": format!("{issuer}{}", crate::app::admin::events::PATH),
                "webhook_authorization": authorization,
            }
        }
    })
}

/// Both forms, each under a heading.
pub(crate) fn output(issuer: &str, name: &str, events: &EventsSource) -> String {
    let body = body(issuer, name, events);
    let pretty = serde_json::to_string_pretty(&body).unwrap_or_default();
    let var = if events.username.is_some() {
        PASSWORD_VAR
    } else {
        TOKEN_VAR
    };
    let field = if events.username.is_some() {
        "password"
    } else {
        "token"
    };
    let configuration =
        serde_json::to_string(&body["destination"]["configuration"]).unwrap_or_default();
    // jq puts the credential in (a `"` or `\` in it arrives intact); `:?`
    // and `&&` keep `auth0` from running without it.
    format!(
        "==== Event Stream: POST /api/v2/event-streams ([auth0_events]; jq fills ${{{var}}}) ====\n\n{pretty}\n\n\
         ==== Event Stream, Auth0 CLI ====\n\n\
         : \"${{{var}:?set {var} to the [auth0_events] credential}}\" &&\n  \
         configuration=$(printf '%s' {quoted} |\n    \
         jq -c --arg secret \"${var}\" '.webhook_authorization.{field} = $secret') &&\n  \
         auth0 events create --name {name} --type webhook --subscriptions user.deleted,user.updated --configuration \"$configuration\"\n",
        quoted = shell_quote(&configuration),
        name = shell_quote(body["name"].as_str().unwrap_or_default()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_points_at_the_bridge_and_never_holds_the_credential() {
        let bearer = body(
            "https://bridge.example.com",
            "legacy",
            &EventsSource::default(),
        );
        assert_eq!(
            bearer["destination"]["configuration"]["webhook_endpoint"],
            "https://bridge.example.com/events/auth0"
        );
        assert_eq!(
            bearer["destination"]["configuration"]["webhook_authorization"],
            json!({"method": "bearer", "token": "${IDP_BRIDGE_EVENTS_TOKEN}"})
        );
        let basic = body(
            "https://bridge.example.com",
            "legacy",
            &EventsSource {
                username: Some("auth0\"x".into()),
            },
        );
        assert_eq!(
            basic["destination"]["configuration"]["webhook_authorization"]["username"],
            "auth0\"x"
        );
        let printed = output(
            "https://bridge.example.com",
            "legacy",
            &EventsSource::default(),
        );
        assert!(printed.contains("--subscriptions user.deleted,user.updated"));
        assert!(printed.contains("${IDP_BRIDGE_EVENTS_TOKEN:?set"));
    }
}

//! The legacy IdP's token endpoint: the authorization code grant with PKCE
//! (RFC 6749 §4.1.3, RFC 7636) and the refresh grant (§6), through the
//! `oauth2` crate and the bounded [`Fetcher`]. Client authentication is
//! Basic, in the body, `private_key_jwt` (RFC 7523 §2.2, a fresh assertion
//! per request) or none.

use std::borrow::Cow;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, StandardRevocableToken,
    StandardTokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

use super::config::{RedirectClientAuth, RedirectConfig};
use crate::domain::upstream::UpstreamError;
use crate::domain::upstream::fetch::Fetcher;
use crate::util::clock::now_unix;
use crate::util::crypto::random_token;

/// The token answer's extra field: the ID token, when there is one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdTokenField {
    /// The compact ID token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl oauth2::ExtraTokenFields for IdTokenField {}

/// A token endpoint answer.
pub type TokenAnswer = StandardTokenResponse<IdTokenField, BasicTokenType>;

type BaseClient = oauth2::Client<
    BasicErrorResponse,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
>;

type TokenClient = oauth2::Client<
    BasicErrorResponse,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// How the bridge proves who it is at the token endpoint.
pub enum Credentials {
    /// A client secret, sent Basic or in the body.
    Secret(ClientSecret, AuthType),
    /// A private key signing a fresh assertion per request.
    PrivateKey {
        /// The key.
        key: EncodingKey,
        /// Its algorithm (RS256 or ES256).
        alg: Algorithm,
        /// The `kid` for the assertion's header.
        kid: Option<String>,
    },
    /// A public client.
    None,
}

impl Credentials {
    /// From the configuration, reading the secret or key.
    pub fn from_config(config: &RedirectConfig) -> Result<Self, String> {
        Ok(match config.client_auth {
            RedirectClientAuth::Basic | RedirectClientAuth::Post => {
                let secret = config
                    .client_secret
                    .as_ref()
                    .ok_or("client_secret is missing")?
                    .resolve()?;
                let auth = if config.client_auth == RedirectClientAuth::Basic {
                    AuthType::BasicAuth
                } else {
                    AuthType::RequestBody
                };
                Self::Secret(ClientSecret::new(secret.secret().to_owned()), auth)
            }
            RedirectClientAuth::PrivateKeyJwt => {
                let pem = config
                    .private_key
                    .as_ref()
                    .ok_or("private_key is missing")?
                    .resolve()?;
                let pem = pem.secret().as_bytes();
                let (key, alg) = EncodingKey::from_rsa_pem(pem)
                    .map(|k| (k, Algorithm::RS256))
                    .or_else(|_| EncodingKey::from_ec_pem(pem).map(|k| (k, Algorithm::ES256)))
                    .map_err(|_| "private_key is not an RSA or P-256 private key in PEM")?;
                Self::PrivateKey {
                    key,
                    alg,
                    kid: config.private_key_id.clone(),
                }
            }
            RedirectClientAuth::None => Self::None,
        })
    }
}

/// Talks to one token endpoint.
pub struct TokenEndpoint<'a> {
    /// The bridge's client id there.
    pub client_id: &'a str,
    /// The endpoint.
    pub url: &'a Url,
    /// How to authenticate.
    pub credentials: &'a Credentials,
    /// The bounded HTTP client.
    pub fetch: &'a Fetcher,
}

impl TokenEndpoint<'_> {
    fn client(&self) -> TokenClient {
        let client = BaseClient::new(ClientId::new(self.client_id.to_owned()))
            .set_token_uri(TokenUrl::from_url(self.url.clone()));
        match self.credentials {
            Credentials::Secret(secret, auth) => client
                .set_client_secret(secret.clone())
                .set_auth_type(auth.clone()),
            Credentials::PrivateKey { .. } | Credentials::None => {
                client.set_auth_type(AuthType::RequestBody)
            }
        }
    }

    /// A `private_key_jwt` assertion for this endpoint (RFC 7523 §3: `iss`
    /// and `sub` the client, `aud` the token endpoint, a one-minute life and
    /// a unique `jti`), or nothing for the other methods.
    fn assertion(&self) -> Result<Option<String>, UpstreamError> {
        let Credentials::PrivateKey { key, alg, kid } = self.credentials else {
            return Ok(None);
        };
        let now = now_unix();
        let claims = json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.url.as_str(),
            "jti": random_token(),
            "iat": now,
            "exp": now + 60,
        });
        let mut header = Header::new(*alg);
        header.kid.clone_from(kid);
        jsonwebtoken::encode(&header, &claims, key)
            .map(Some)
            .map_err(|_| UpstreamError::Protocol("cannot sign the client assertion".into()))
    }

    /// Redeems an authorization code.
    pub async fn redeem(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &Url,
    ) -> Result<TokenAnswer, UpstreamError> {
        let client = self.client();
        let mut request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .set_redirect_uri(Cow::Owned(RedirectUrl::from_url(redirect_uri.clone())));
        if let Some(assertion) = self.assertion()? {
            request = request
                .add_extra_param("client_assertion_type", ASSERTION_TYPE)
                .add_extra_param("client_assertion", assertion);
        }
        request
            .request_async(self.fetch)
            .await
            .map_err(|e| map_error(e, "the authorization code"))
    }

    /// Renews with a refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenAnswer, UpstreamError> {
        let client = self.client();
        let token = RefreshToken::new(refresh_token.to_owned());
        let mut request = client.exchange_refresh_token(&token);
        if let Some(assertion) = self.assertion()? {
            request = request
                .add_extra_param("client_assertion_type", ASSERTION_TYPE)
                .add_extra_param("client_assertion", assertion);
        }
        request
            .request_async(self.fetch)
            .await
            .map_err(|e| map_error(e, "the refresh token"))
    }
}

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `invalid_grant` means the grant was refused (a wrong or spent code, a
/// revoked refresh token): [`UpstreamError::InvalidCredentials`]. A refused
/// client is the operator's to fix and says so.
fn map_error(
    error: RequestTokenError<UpstreamError, BasicErrorResponse>,
    what: &str,
) -> UpstreamError {
    match error {
        RequestTokenError::Request(e) => e,
        RequestTokenError::ServerResponse(response) => match response.error() {
            BasicErrorResponseType::InvalidGrant => UpstreamError::InvalidCredentials,
            BasicErrorResponseType::InvalidClient | BasicErrorResponseType::UnauthorizedClient => {
                UpstreamError::Protocol(
                    "the legacy IdP refused the bridge's client credentials (invalid_client): check client_id, client_secret or private_key".into(),
                )
            }
            other => UpstreamError::Protocol(format!(
                "the legacy IdP answered the OAuth error {} for {what}",
                other.as_ref()
            )),
        },
        RequestTokenError::Parse(_, _) => {
            UpstreamError::Protocol("the token answer does not parse".into())
        }
        RequestTokenError::Other(_) => {
            UpstreamError::Protocol("the token answer is not usable".into())
        }
    }
}

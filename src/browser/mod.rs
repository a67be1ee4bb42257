//! The browser side of signing in: everything that needs a cookie, a page
//! or a person. `/authorize` shows the form ([`authorize`]), `POST /login`
//! checks the password ([`submit`]), `/logout` ends the session
//! ([`logout`]). It owns the sealed pending request ([`pending`]), the
//! double-submit CSRF cookie ([`csrf`]), the login session ([`session`]),
//! the hand-off to a redirect legacy IdP and its callback ([`upstream`],
//! with the sealed transaction cookie in [`transaction`]),
//! the pages and their languages ([`pages`], [`locale`]) and login
//! throttling ([`throttle`]).
//!
//! The axum handlers and [`routes`] are in `handlers`, the only module here
//! that sees the application state: each builds its body's narrow input
//! (`Authorize`, `PasswordSignIn`, `Logout`, `Callback`) from it.
//!
//! It depends on [`crate::protocol::provider`] for the protocol (validating the
//! request, issuing the code, shaping the authorization response); the
//! provider never depends back on it.

pub mod attempt;
pub mod authorize;
pub mod csrf;
mod handlers;
pub mod locale;
pub mod logout;
pub mod pages;
pub mod pending;
pub mod session;
pub mod submit;
pub mod throttle;
pub mod transaction;
#[cfg(test)]
mod unit_tests;
pub mod upstream;

pub use handlers::routes;

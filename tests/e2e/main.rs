//! End-to-end tests: one binary, one module per capability, everything over
//! real HTTP on port 0 against the in-process reference legacy stack.

#![allow(clippy::unwrap_used)]

mod adapter_command;
mod adapter_http;
mod adapter_oauth2;
mod attack_revocation;
mod auth0_connection;
mod authorize_rules;
mod branding;
mod check_probe;
mod claims_request;
mod cli;
mod cluster;
mod config_check;
mod config_schema;
mod connections;
mod db_faults;
mod demo;
mod es256;
mod fuzz_regressions;
mod gateway;
mod key_rotation;
mod key_schedule;
mod legacy_validation;
mod limits;
mod login_page;
mod logout;
mod lt1_minting;
mod lt1_vectors;
mod metrics;
mod migration;
mod oauth2_connection;
mod oidc_connection;
mod ops_metrics;
mod private_key_jwt;
mod prompt;
mod redirect_upstream;
mod reference_stack;
mod refresh;
mod restart;
mod shared_token;
mod sqlite_wal;
mod storage_key;
mod store_suite;
mod support;
mod throttle;
mod tls;
mod token_exchange;
mod token_exchange_jose;
mod token_exchange_policy;
mod token_rules;
mod upstream_renewal;
mod user_revocation;
mod userinfo_and_discovery;
mod writes;

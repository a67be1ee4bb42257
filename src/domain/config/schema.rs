//! The configuration's JSON Schema, derived (`schemars`) from the very
//! types serde reads the file into, so it cannot drift from what `serve`
//! accepts: `idp-bridge config schema` prints it, `docs/bridge.schema.json`
//! is the committed copy editors load (Taplo / Even Better TOML), and a
//! test checks the example config and every TOML block of the docs
//! against it. Draft-07, the newest draft Taplo's validator reads;
//! `additionalProperties: false` wherever serde denies unknown fields.
//!
//! The schema says what the file may contain (keys, types, enums, the
//! ranges that are easy to state); what spans keys (listener clashes,
//! files that must load, placeholders) is `check-config`'s.

use super::BridgeConfig;

/// The JSON Schema of `bridge.toml`.
pub fn json_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<BridgeConfig>();
    let mut value = schema.to_value();
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "title".into(),
            "idp-bridge configuration (bridge.toml)".into(),
        );
    }
    value
}

/// [`json_schema`] as the committed file spells it (pretty, one newline at
/// the end).
pub fn json_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    text.push('\n');
    text
}

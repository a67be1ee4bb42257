//! The configuration's JSON Schema: the committed `docs/bridge.schema.json`
//! is what `idp-bridge config schema` prints (so a change to the config
//! types that forgets it fails here), and `config.example.toml` and every
//! ```toml block in `docs/*.md` and the README match it, so the examples
//! cannot drift from what the bridge reads. A block preceded by the line
//! `<!-- fragment -->` is skipped (a deliberately broken or elided one).

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_idp-bridge");
const FRAGMENT: &str = "<!-- fragment -->";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn schema() -> serde_json::Value {
    idp_bridge::domain::config::schema::json_schema()
}

/// The schema for a part of a file: the top level's `required` dropped (a
/// block may show one section), everything else as strict.
fn part_schema() -> serde_json::Value {
    let mut schema = schema();
    if let Some(object) = schema.as_object_mut() {
        object.remove("required");
    }
    schema
}

/// What `validator` says is wrong with `toml`, one line per problem.
fn violations(validator: &jsonschema::Validator, toml: &str) -> Result<Vec<String>, String> {
    let table: toml::Table = toml.parse().map_err(|e| format!("not TOML: {e}"))?;
    let json = serde_json::to_value(table).map_err(|e| e.to_string())?;
    Ok(validator
        .iter_errors(&json)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect())
}

/// Every ```toml block of `text` not marked as a fragment, with its line.
fn toml_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    let mut previous = "";
    while let Some((n, line)) = lines.next() {
        if line.trim_start().starts_with("```toml") {
            let mut block = String::new();
            for (_, inner) in lines.by_ref() {
                if inner.trim_start().starts_with("```") {
                    break;
                }
                block.push_str(inner);
                block.push('\n');
            }
            if previous.trim() != FRAGMENT {
                blocks.push((n + 1, block));
            }
        }
        if !line.trim().is_empty() {
            previous = line;
        }
    }
    blocks
}

fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

#[test]
fn the_committed_schema_is_what_config_schema_prints() {
    let committed = std::fs::read_to_string(root().join("docs/bridge.schema.json"))
        .expect("docs/bridge.schema.json is committed");
    let out = Command::new(BIN)
        .args(["config", "schema"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(
        printed,
        idp_bridge::domain::config::schema::json_schema_text()
    );
    assert!(
        committed == printed,
        "docs/bridge.schema.json is stale: run `idp-bridge config schema > docs/bridge.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&committed).expect("JSON");
    assert_eq!(
        schema["$schema"], "http://json-schema.org/draft-07/schema#",
        "Taplo reads draft-07"
    );
    assert_eq!(schema["additionalProperties"], false);
    // Enums, descriptions and ranges come from the types.
    let text = committed.as_str();
    for expected in ["\"oauth2-password\"", "\"RS256\"", "\"maximum\": 60"] {
        assert!(text.contains(expected), "{expected} not in the schema");
    }
}

#[test]
fn the_example_config_and_every_toml_block_in_the_docs_match_the_schema() {
    let whole = jsonschema::draft7::new(&schema()).expect("the schema compiles");
    let example = std::fs::read_to_string(root().join("config.example.toml")).expect("example");
    let found = violations(&whole, &example).expect("the example parses");
    assert!(
        found.is_empty(),
        "config.example.toml:\n{}",
        found.join("\n")
    );

    let part = jsonschema::draft7::new(&part_schema()).expect("the schema compiles");
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).expect("read");
        let name = file
            .strip_prefix(root())
            .unwrap_or(&file)
            .display()
            .to_string();
        for (line, block) in toml_blocks(&text) {
            checked += 1;
            match violations(&part, &block) {
                Ok(found) if found.is_empty() => {}
                Ok(found) => failures.push(format!("{name}:{line}: {}", found.join("; "))),
                Err(e) => failures.push(format!(
                    "{name}:{line}: {e} (mark it {FRAGMENT} if it is one)"
                )),
            }
        }
    }
    assert!(checked >= 15, "the scan finds the docs' blocks ({checked})");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_schema_check_catches_an_unknown_key_a_wrong_type_and_a_bad_enum() {
    let part = jsonschema::draft7::new(&part_schema()).expect("compiles");
    for (block, path) in [
        ("[store]\nbatch = 1\n", "/store"),
        ("max_connections = \"many\"\n", "/max_connections"),
        ("[upstream]\nadapter = \"ldap\"\n", "/upstream/adapter"),
        (
            "[tokens]\ncode_ttl_seconds = 600\n",
            "/tokens/code_ttl_seconds",
        ),
        (
            "[session]\nlogout_ends = \"everything\"\n",
            "/session/logout_ends",
        ),
        ("[[clients]]\nid = 7\n", "/clients/0/id"),
    ] {
        let found = violations(&part, block).expect("TOML");
        assert!(
            found.iter().any(|f| f.starts_with(path)),
            "{block:?} not refused at {path}: {found:?}"
        );
    }
    let blocks =
        toml_blocks("text\n<!-- fragment -->\n\n```toml\nx = ...\n```\n```toml\na = 1\n```\n");
    assert_eq!(blocks, vec![(7, "a = 1\n".to_owned())]);
}

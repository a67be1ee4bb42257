//! The layer table, enforced (rust-analyzer's tidy tests, `xtask/src/tidy.rs`,
//! guard its architecture the same way). Every `.rs` file under `src/` is
//! read, every `crate::…` path in its code (a `use`, an expression, a type;
//! grouped `crate::{a, b::c}` imports included; comments and strings
//! skipped) is resolved to the module it names, and both ends are placed in
//! the table of `docs/ARCHITECTURE.md`:
//!
//! ```text
//! edge      cli  app  fuzzing  reference
//! browser   browser
//! protocol  protocol::provider  protocol::gateway
//! domain    legacy_source  user_revocation  auth0  sealed_grant  keys  audit  metrics  upstream  store  config  types
//! leaves    util::*
//! ```
//!
//! An import may run down the table, never up. Within a layer: the edge is
//! free (`module-cycles` keeps it without circles); the protocol's two
//! modules do not import each other; a domain module imports only those
//! listed after it; a leaf imports no other leaf but `util::secret`. Nobody
//! imports `cli` or `fuzzing`, and `reference` (test support) is imported
//! only by `cli` and `app::demo`. The known wrong-way imports are listed in
//! `EXCEPTIONS`, each with why; an exception no longer used fails the test, so
//! the list only shrinks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// How the modules of one layer may import each other.
#[derive(Clone, Copy)]
enum Within {
    /// Any sibling.
    Free,
    /// None, except the listed ones.
    Apart(&'static [&'static str]),
    /// Only the siblings listed after the importer.
    Downward,
}

struct Layer {
    name: &'static str,
    /// The layer's modules ("units"), top-level path under `crate`.
    units: &'static [&'static str],
    within: Within,
}

/// The table, top to bottom. A unit ending in `::*` covers every module of
/// that folder, each a unit of its own.
const LAYERS: &[Layer] = &[
    Layer {
        name: "edge",
        units: &["cli", "app", "fuzzing", "reference"],
        within: Within::Free,
    },
    Layer {
        name: "browser",
        units: &["browser"],
        within: Within::Free,
    },
    Layer {
        name: "protocol",
        units: &["protocol::provider", "protocol::gateway"],
        within: Within::Apart(&[]),
    },
    Layer {
        name: "domain",
        units: &[
            "domain::legacy_source",
            "domain::legacy_validation",
            "domain::user_revocation",
            "domain::key_rotation",
            "domain::storage_rotation",
            "domain::auth0",
            "domain::sealed_grant",
            "domain::keys",
            "domain::audit",
            "domain::metrics",
            "domain::ops_metrics",
            "domain::upstream",
            "domain::store",
            "domain::config",
            "domain::types",
        ],
        within: Within::Downward,
    },
    Layer {
        name: "leaves",
        units: &["util::*"],
        within: Within::Apart(&["util::secret"]),
    },
];

/// Modules only the listed modules (by path prefix) may import.
const RESTRICTED: &[(&str, &[&str], &str)] = &[
    (
        "cli",
        &[],
        "the commands are the binary's; the library never imports them",
    ),
    (
        "fuzzing",
        &[],
        "the cargo-fuzz entry points; nothing calls them",
    ),
    (
        "reference",
        &["cli", "app::demo"],
        "test support (the reference legacy IdP): no production path uses it",
    ),
];

/// The exported macros, at the crate root, and the module that owns each.
const MACROS: &[(&str, &str)] = &[
    ("audit", "domain::audit"),
    ("audit_warn", "domain::audit"),
    ("audit_debug", "domain::audit"),
];

/// Known wrong-way imports: (file, imported module path, why it is still
/// there).
/// Each must still occur; delete the line when the import goes.
const EXCEPTIONS: &[(&str, &str, &str)] = &[
    // config validates `[upstream]` with the adapters' own types and code.
    (
        "src/domain/config/checks.rs",
        "domain::upstream",
        "UpstreamConfig: [migration] needs an adapter that sees a password",
    ),
    (
        "src/domain/config/mod.rs",
        "domain::upstream",
        "UpstreamConfig, and the adapter built once to validate it",
    ),
    // The axum handlers, which extract the whole AppState and hand their
    // bodies narrow inputs built by their types' `new`; nothing below a
    // handler takes it. In browser/ they are all in one module.
    ("src/browser/handlers.rs", "app::state", "AppState"),
    (
        "src/protocol/provider/discovery.rs",
        "app::state",
        "AppState",
    ),
    (
        "src/protocol/provider/introspection.rs",
        "app::state",
        "AppState",
    ),
    (
        "src/protocol/provider/legacy_introspect.rs",
        "app::state",
        "AppState",
    ),
    ("src/protocol/provider/mod.rs", "app::state", "AppState"),
    (
        "src/protocol/provider/revocation.rs",
        "app::state",
        "AppState",
    ),
    ("src/protocol/provider/token.rs", "app::state", "AppState"),
    (
        "src/protocol/provider/userinfo.rs",
        "app::state",
        "AppState",
    ),
];

/// Where a path sits in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    unit: String,
    layer: usize,
    /// Position of the unit within its layer's list.
    rank: usize,
}

/// Places a module path (segments after `crate`), or `None` when the table
/// does not know it.
fn place(segments: &[String]) -> Option<Place> {
    for (layer, l) in LAYERS.iter().enumerate() {
        for (rank, unit) in l.units.iter().enumerate() {
            let parts: Vec<&str> = unit.split("::").collect();
            if segments.len() < parts.len() {
                continue;
            }
            let matches = parts.iter().zip(segments).all(|(p, s)| *p == "*" || p == s);
            if matches {
                let unit = segments[..parts.len()].join("::");
                return Some(Place { unit, layer, rank });
            }
        }
    }
    None
}

/// The module path of a file under `src/` (`src/domain/store/sql.rs` →
/// `domain::store::sql`).
fn module_of(relative: &Path) -> Vec<String> {
    let mut segments: Vec<String> = relative
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let last = segments.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" {
        segments.push(stem.to_owned());
    }
    segments
}

/// One `crate::` path found in code.
#[derive(Debug)]
struct Import {
    line: usize,
    segments: Vec<String>,
    is_macro: bool,
}

/// The code of a Rust file with comments, strings and character literals
/// blanked (newlines kept, so lines still count).
fn code_only(text: &str) -> Vec<char> {
    let c: Vec<char> = text.chars().collect();
    let mut out = c.clone();
    let blank = |out: &mut Vec<char>, from: usize, to: usize| {
        for ch in &mut out[from..to.min(c.len())] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
    };
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            let end = c[i..]
                .iter()
                .position(|&x| x == '\n')
                .map_or(c.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if c[i] == '/' && next == Some('*') {
            let (mut depth, mut j) = (1, i + 2);
            while j < c.len() && depth > 0 {
                if c[j] == '/' && c.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if c[i] == 'r'
            && (next == Some('"') || next == Some('#'))
            && (i == 0
                || !is_ident(c[i - 1])
                || (c[i - 1] == 'b' && (i < 2 || !is_ident(c[i - 2]))))
        {
            // A raw string: r"…", r#"…"#, …
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            blank(&mut out, i, j);
            i = j;
        } else if c[i] == '"' {
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if c[i] == '\'' {
            // A character literal, or a lifetime (left alone).
            if next == Some('\\') {
                let mut j = i + 2;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                blank(&mut out, i, j + 1);
                i = j + 1;
            } else if c.get(i + 2) == Some(&'\'') {
                blank(&mut out, i, i + 3);
                i += 3;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
}

fn is_ident(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

/// Every `crate::` path in `text`, groups expanded.
fn imports(text: &str) -> Vec<Import> {
    let code = code_only(text);
    let mut found = Vec::new();
    let needle: Vec<char> = "crate::".chars().collect();
    let mut i = 0;
    while i + needle.len() <= code.len() {
        let boundary = i == 0 || !is_ident(code[i - 1]);
        if boundary && code[i..i + needle.len()] == needle[..] {
            let mut p = Parser {
                code: &code,
                at: i + needle.len(),
            };
            p.tree(Vec::new(), &mut found);
            i = p.at.max(i + 1);
        } else {
            i += 1;
        }
    }
    found
}

struct Parser<'a> {
    code: &'a [char],
    at: usize,
}

impl Parser<'_> {
    fn line(&self) -> usize {
        1 + self.code[..self.at].iter().filter(|&&c| c == '\n').count()
    }

    fn skip_space(&mut self) {
        while self.at < self.code.len() && self.code[self.at].is_whitespace() {
            self.at += 1;
        }
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.at;
        while self.at < self.code.len() && is_ident(self.code[self.at]) {
            self.at += 1;
        }
        (self.at > start).then(|| self.code[start..self.at].iter().collect())
    }

    fn eat(&mut self, s: &str) -> bool {
        let s: Vec<char> = s.chars().collect();
        if self.code[self.at..].starts_with(&s) {
            self.at += s.len();
            true
        } else {
            false
        }
    }

    /// A use tree after `prefix::`: `a::b`, `a::{…}`, `{…}`, `*`.
    fn tree(&mut self, mut prefix: Vec<String>, found: &mut Vec<Import>) {
        self.skip_space();
        let line = self.line();
        loop {
            self.skip_space();
            if self.eat("{") {
                loop {
                    self.skip_space();
                    if self.eat("}") || self.at >= self.code.len() {
                        return;
                    }
                    self.tree(prefix.clone(), found);
                    self.skip_space();
                    self.eat(",");
                }
            }
            if self.eat("*") {
                break;
            }
            match self.ident() {
                Some(id) if id == "self" => {}
                Some(id) => prefix.push(id),
                None => break,
            }
            let before = self.at;
            self.skip_space();
            if !self.eat("::") {
                self.at = before;
                break;
            }
        }
        // A rename (`as x`) or anything else after the path is not part of it.
        let is_macro = self.code.get(self.at) == Some(&'!');
        if !prefix.is_empty() {
            found.push(Import {
                line,
                segments: prefix,
                is_macro,
            });
        }
    }
}

/// Checks one file; each problem is a line of the failure message.
fn check(file: &str, module: &[String], text: &str, used: &mut BTreeSet<usize>) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(from) = place(module) else {
        // A layer folder's `mod.rs` only lists the layer's modules.
        let folder = matches!(module, [m] if ["protocol", "domain", "util"].contains(&m.as_str()));
        if folder && imports(text).is_empty() {
            return problems;
        }
        if !module.is_empty() && module != ["main"] && module != ["lib"] {
            problems.push(format!(
                "{file}: module `{}` is in no layer of the table (tests/layers.rs LAYERS)",
                module.join("::")
            ));
        }
        return problems;
    };
    for import in imports(text) {
        let target = match (import.is_macro, import.segments.as_slice()) {
            (true, [name]) => match MACROS.iter().find(|(m, _)| m == name) {
                Some((_, owner)) => {
                    place(&owner.split("::").map(str::to_owned).collect::<Vec<_>>())
                }
                None => None,
            },
            _ => place(&import.segments),
        };
        let where_ = format!("{file}:{}", import.line);
        let path = import.segments.join("::");
        let Some(to) = target else {
            problems.push(format!(
                "{where_}: `crate::{path}` is in no layer of the table"
            ));
            continue;
        };
        if to.unit == from.unit {
            continue;
        }
        let mut wrong = None;
        for (unit, allowed, why) in RESTRICTED {
            if to.unit == *unit && !allowed.iter().any(|a| module.join("::").starts_with(a)) {
                wrong = Some(format!(
                    "`{unit}` may be imported only by {allowed:?} ({why})"
                ));
            }
        }
        let (lf, lt) = (LAYERS[from.layer].name, LAYERS[to.layer].name);
        if wrong.is_none() {
            if to.layer < from.layer {
                wrong = Some(format!("{lf} imports {lt}, which is above it"));
            } else if to.layer == from.layer {
                wrong = match LAYERS[from.layer].within {
                    Within::Free => None,
                    Within::Apart(shared) if shared.contains(&to.unit.as_str()) => None,
                    Within::Apart(_) => Some(format!("{lf} modules do not import each other")),
                    Within::Downward if to.rank > from.rank => None,
                    Within::Downward => Some(format!(
                        "in {lf}, a module imports only those listed after it, and `{}` is listed before `{}`",
                        to.unit, from.unit
                    )),
                };
            }
        }
        let Some(why) = wrong else { continue };
        if let Some(i) = EXCEPTIONS
            .iter()
            .position(|(f, u, _)| *f == file && (path == *u || path.starts_with(&format!("{u}::"))))
        {
            used.insert(i);
            continue;
        }
        problems.push(format!(
            "{where_}: {lf} (`{}`) imports {lt} (`crate::{path}`): {why}",
            from.unit
        ));
    }
    problems
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn imports_run_down_the_layer_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    for path in &files {
        let relative = path.strip_prefix(&src).expect("under src");
        let file = format!("src/{}", relative.display());
        let text = std::fs::read_to_string(path).expect("read file");
        problems.extend(check(&file, &module_of(relative), &text, &mut used));
    }
    for (i, (file, unit, why)) in EXCEPTIONS.iter().enumerate() {
        if !used.contains(&i) {
            problems.push(format!(
                "stale exception: {file} no longer imports `{unit}` ({why}); delete it from EXCEPTIONS"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "imports against the layer table (docs/ARCHITECTURE.md):\n{}",
        problems.join("\n")
    );
}

fn check_one(file: &str, text: &str) -> Vec<String> {
    let relative = Path::new(file.strip_prefix("src/").expect("src/"));
    check(file, &module_of(relative), text, &mut BTreeSet::new())
}

#[test]
fn a_wrong_way_import_is_named_with_file_line_and_both_layers() {
    let text = "//! crate::app in a comment is not an import\n\
                use crate::domain::store::Store;\n\
                fn f() { let _ = \"crate::app::state\"; }\n\
                use crate::{util::clock, app::server::Protocols};\n";
    let problems = check_one("src/protocol/gateway/forward.rs", text);
    assert_eq!(
        problems,
        [
            "src/protocol/gateway/forward.rs:4: protocol (`protocol::gateway`) imports edge \
          (`crate::app::server::Protocols`): protocol imports edge, which is above it"
        ]
    );
}

#[test]
fn siblings_follow_their_layer_rule() {
    // Domain: downward along the list only.
    assert!(check_one("src/domain/keys.rs", "use crate::domain::store::Store;").is_empty());
    let up = check_one(
        "src/domain/store/sql.rs",
        "fn f(k: &crate::domain::keys::SigningKeys) {}",
    );
    assert_eq!(up.len(), 1, "{up:?}");
    assert!(
        up[0].starts_with("src/domain/store/sql.rs:1: domain"),
        "{up:?}"
    );
    // Protocol: provider and gateway apart.
    assert_eq!(
        check_one(
            "src/protocol/gateway/mod.rs",
            "use crate::protocol::provider::x;"
        )
        .len(),
        1
    );
    // Leaves: only util::secret.
    assert!(check_one("src/util/crypto.rs", "use crate::util::secret::Secret;").is_empty());
    assert_eq!(
        check_one("src/util/crypto.rs", "use crate::util::clock::now;").len(),
        1
    );
    // Test support stays out of production paths.
    assert_eq!(
        check_one("src/app/mod.rs", "use crate::reference::users;").len(),
        1
    );
    assert!(check_one("src/app/demo.rs", "use crate::reference::users;").is_empty());
    // Macros belong to their module; unknown modules are named.
    assert!(
        check_one(
            "src/domain/store/mod.rs",
            "fn f() { crate::audit!(m, \"x\"); }"
        )
        .len()
            == 1
    );
    assert_eq!(
        check_one("src/app/mod.rs", "use crate::nowhere::X;").len(),
        1
    );
}

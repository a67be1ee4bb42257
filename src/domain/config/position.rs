//! Where a configuration problem comes from: `file:line:column` of its key
//! in the TOML file, or the `IDP_BRIDGE_*` variable that set it. Both the
//! reading (wrong types, unknown keys) and the validation (ranges, clashes,
//! files, placeholders) name a key first (`clients[0].secret: …`); this
//! module turns that key into a place, so every line of one report says
//! where to look.

use std::path::{Path, PathBuf};

/// The file a configuration was read from and the overrides applied to it.
pub(super) struct Origin {
    file: Option<PathBuf>,
    document: Option<toml_edit::ImDocument<String>>,
    /// `(key path, variable)` for each override, in the order applied.
    overridden: Vec<(String, String)>,
}

impl Origin {
    pub(super) fn new(
        file: Option<&Path>,
        text: Option<String>,
        overridden: Vec<(String, String)>,
    ) -> Self {
        Self {
            file: file.map(Path::to_path_buf),
            document: text.and_then(|t| toml_edit::ImDocument::parse(t).ok()),
            overridden,
        }
    }

    /// The variable that set `key` or a table above it (the last one wins,
    /// as it did when applied).
    pub(super) fn variable(&self, key: &str) -> Option<&str> {
        self.overridden
            .iter()
            .rev()
            .find(|(path, _)| {
                key == path
                    || key.starts_with(&format!("{path}."))
                    || key.starts_with(&format!("{path}["))
            })
            .map(|(_, var)| var.as_str())
    }

    /// `file:line:column` of the key at `segments`, or of the nearest key
    /// above it that the file writes (a missing key is reported where its
    /// table is).
    pub(super) fn position(&self, segments: &[String]) -> Option<String> {
        let document = self.document.as_ref()?;
        let file = self.file.as_ref()?;
        (1..=segments.len()).rev().find_map(|n| {
            locate(document, &segments[..n])
                .map(|(line, column)| format!("{}:{line}:{column}", file.display()))
        })
    }

    /// `problem` (`key: message`) with where the key is set put in front:
    /// `file:line:column: key: message`, or `key (set by VAR): message`.
    /// A problem naming no key is returned as it is.
    pub(super) fn annotate(&self, problem: &str) -> String {
        let Some((key, message)) = problem.split_once(": ") else {
            return problem.to_owned();
        };
        let Some(segments) = self.segments(key) else {
            return problem.to_owned();
        };
        let dotted = dotted(&segments);
        if let Some(var) = self.variable(&dotted) {
            return format!("{key} (set by {var}): {message}");
        }
        match self.position(&segments) {
            Some(at) => format!("{at}: {problem}"),
            None => problem.to_owned(),
        }
    }

    /// The path a problem's key names: `a.b[0].c`, or ``clients `id`.c``
    /// (an array of tables entry named by its `id`, found in the file).
    fn segments(&self, key: &str) -> Option<Vec<String>> {
        if let Some((array, tail)) = key.split_once(" `") {
            let (id, tail) = tail.split_once('`')?;
            let index = self.index_of(array, id)?;
            let mut segments = vec![array.to_owned(), index.to_string()];
            segments.extend(parse_key(tail.trim_start_matches('.'))?);
            return Some(segments);
        }
        parse_key(key)
    }

    /// Which entry of the array of tables `array` has `id = "id"`.
    fn index_of(&self, array: &str, id: &str) -> Option<usize> {
        let tables = self.document.as_ref()?.get(array)?.as_array_of_tables()?;
        tables
            .iter()
            .position(|t| t.get("id").and_then(toml_edit::Item::as_str) == Some(id))
    }
}

/// `a.b[0].c` as `["a", "b", "0", "c"]`; `None` when it is not a key path
/// (a word of a sentence).
pub(super) fn parse_key(key: &str) -> Option<Vec<String>> {
    if key.is_empty() {
        return Some(Vec::new());
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || "_-.[]".contains(c);
    if !key.chars().all(ok) {
        return None;
    }
    let mut segments = Vec::new();
    for part in key.split('.') {
        let mut pieces = part.split('[');
        let name = pieces.next()?;
        if name.is_empty() {
            return None;
        }
        segments.push(name.to_owned());
        for index in pieces {
            let index = index.strip_suffix(']')?;
            index.parse::<usize>().ok()?;
            segments.push(index.to_owned());
        }
    }
    Some(segments)
}

/// `["a", "0", "b"]` as `a[0].b`, the way `serde_path_to_error` writes it.
pub(super) fn dotted(segments: &[String]) -> String {
    let mut out = String::new();
    for s in segments {
        if s.parse::<usize>().is_ok() {
            out.push('[');
            out.push_str(s);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(s);
        }
    }
    out
}

/// The 1-based line and column of byte `offset` in `text`.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Where the key at `segments` is written in the file.
fn locate(document: &toml_edit::ImDocument<String>, segments: &[String]) -> Option<(usize, usize)> {
    enum Node<'a> {
        Item(&'a toml_edit::Item),
        Table(&'a toml_edit::Table),
    }
    let mut node = Node::Table(document.as_table());
    let mut span = None;
    for segment in segments {
        node = match node {
            Node::Table(table) => {
                let (key, item) = table.get_key_value(segment)?;
                span = key.span().or(span);
                Node::Item(item)
            }
            Node::Item(item) => match (segment.parse::<usize>(), item) {
                (Ok(index), toml_edit::Item::ArrayOfTables(tables)) => {
                    let table = tables.get(index)?;
                    span = table.span().or(span);
                    Node::Table(table)
                }
                (Ok(index), toml_edit::Item::Value(toml_edit::Value::Array(values))) => {
                    span = values.get(index).and_then(toml_edit::Value::span).or(span);
                    break;
                }
                _ => {
                    let (key, item) = item.as_table_like()?.get_key_value(segment)?;
                    span = key.span().or(span);
                    Node::Item(item)
                }
            },
        };
    }
    span.map(|s| line_column(document.raw(), s.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(text: &str, overridden: &[(&str, &str)]) -> Origin {
        Origin::new(
            Some(Path::new("bridge.toml")),
            Some(text.to_owned()),
            overridden
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn keys_become_positions_or_variables() {
        let o = origin(
            "issuer = \"x\"\n[tokens]\ncode_ttl_seconds = 600\n[[clients]]\nid = \"a\"\nredirect_uris = [\"x\", \"y\"]\n",
            &[(
                "header_read_timeout_ms",
                "IDP_BRIDGE_HEADER_READ_TIMEOUT_MS",
            )],
        );
        assert_eq!(
            o.annotate("tokens.code_ttl_seconds: must be between 1 and 60"),
            "bridge.toml:3:1: tokens.code_ttl_seconds: must be between 1 and 60"
        );
        assert_eq!(
            o.annotate("clients[0].redirect_uris[1]: not a URL"),
            "bridge.toml:6:23: clients[0].redirect_uris[1]: not a URL"
        );
        // A key the file lacks: where its table is.
        assert_eq!(
            o.annotate("tokens.id_token_ttl_seconds: too short"),
            "bridge.toml:2:2: tokens.id_token_ttl_seconds: too short"
        );
        assert_eq!(
            o.annotate("clients `a`.token_exchange: needs a section"),
            "bridge.toml:4:1: clients `a`.token_exchange: needs a section"
        );
        assert_eq!(
            o.annotate("header_read_timeout_ms: must be between 100 and 120000"),
            "header_read_timeout_ms (set by IDP_BRIDGE_HEADER_READ_TIMEOUT_MS): must be between 100 and 120000"
        );
        let sentence = "adapter = \"command\" needs an [upstream.command] section";
        assert_eq!(o.annotate(sentence), sentence);
    }

    #[test]
    fn key_paths_parse_and_print_alike() {
        let s = parse_key("clients[0].redirect_uris[12]").expect("a key");
        assert_eq!(s, ["clients", "0", "redirect_uris", "12"]);
        assert_eq!(dotted(&s), "clients[0].redirect_uris[12]");
        assert_eq!(parse_key("the file"), None);
        assert_eq!(line_column("a\nbc", 3), (2, 2));
        assert_eq!(line_column("a", 99), (1, 2));
    }
}

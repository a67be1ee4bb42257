//! Repairs of a configuration table that did not deserialize: a wrong
//! value is replaced by a stand-in of the expected type (or taken out), a
//! missing one is given a stand-in, so the reading can go on and report
//! every wrong value in one run, and the validation can still run on the
//! rest. The stand-ins never reach the operator: their keys are reported
//! already and the validation's complaints about them are dropped.

/// A stand-in of the type serde's `message` ("invalid type: …, expected
/// …") asks for, or none (the value is then taken out).
fn stand_in(message: &str) -> Option<toml::Value> {
    let expected = message.rsplit_once("expected ")?.1;
    let value = if expected.contains("URL") {
        // One that parses, so the URL's own complaint is not repeated.
        toml::Value::String("https://stand-in.invalid/".to_owned())
    } else if expected.contains("client id") {
        // One that passes `ClientId::new`, for the same reason.
        toml::Value::String("stand-in".to_owned())
    } else if expected.contains("string") {
        toml::Value::String(String::new())
    } else if ["integer", "u8", "u16", "u32", "u64", "i32", "i64", "usize"]
        .iter()
        .any(|t| expected.contains(t))
    {
        toml::Value::Integer(0)
    } else if expected.contains("bool") {
        toml::Value::Boolean(false)
    } else if expected.contains("sequence") {
        toml::Value::Array(Vec::new())
    } else {
        return None;
    };
    Some(value)
}

/// Replaces (or takes out) the value at `segments` in `table`, inside array
/// elements too; false when it cannot (the value is an array element).
pub(super) fn replace(table: &mut toml::Table, segments: &[String], message: &str) -> bool {
    match segments {
        [] => false,
        [last] if last.parse::<usize>().is_ok() => false,
        [last] => match stand_in(message) {
            Some(value) => table.insert(last.clone(), value).is_some(),
            None => table.remove(last.as_str()).is_some(),
        },
        [first, rest @ ..] => match table.get_mut(first.as_str()) {
            Some(value) => replace_in(value, rest, message),
            None => false,
        },
    }
}

/// Inserts `value` at `segments` (whose parents exist).
pub(super) fn insert(table: &mut toml::Table, segments: &[String], value: toml::Value) -> bool {
    match segments {
        [] => false,
        [last] => {
            table.insert(last.clone(), value);
            true
        }
        [first, rest @ ..] => match table.get_mut(first.as_str()) {
            Some(toml::Value::Table(t)) => insert(t, rest, value),
            Some(toml::Value::Array(items)) => match rest.split_first() {
                Some((index, rest)) => match (
                    index.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
                    rest.is_empty(),
                ) {
                    (Some(toml::Value::Table(t)), false) => insert(t, rest, value),
                    _ => false,
                },
                None => false,
            },
            _ => false,
        },
    }
}

fn replace_in(value: &mut toml::Value, segments: &[String], message: &str) -> bool {
    match value {
        toml::Value::Table(table) => replace(table, segments, message),
        toml::Value::Array(items) => match segments.split_first() {
            Some((index, rest)) if !rest.is_empty() => index
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get_mut(i))
                .is_some_and(|item| replace_in(item, rest, message)),
            // An element: a stand-in of the expected type keeps the later
            // elements' indexes; one with none (a CIDR, a URL) is taken out.
            Some((index, _)) => match index.parse::<usize>().ok().filter(|i| *i < items.len()) {
                Some(i) => {
                    match stand_in(message) {
                        Some(value) => items[i] = value,
                        None => drop(items.remove(i)),
                    }
                    true
                }
                None => false,
            },
            None => false,
        },
        _ => false,
    }
}

//! How text log lines write their fields: like `tracing-subscriber`'s
//! default, `name=value` separated by spaces, but with every control
//! character (newline, carriage return, NUL, escape…), every bidirectional
//! control and the line separators escaped, in the message and in every
//! field, however the field was recorded (`%display` values are written
//! raw by the default formatter). So no value — a username, a legacy id, a
//! client id, a cause quoted from a legacy IdP — can end an audit line and
//! forge the next one, or make a line read differently from what it holds.
//! JSON lines need none of this: JSON escapes them already. It imports
//! nothing of the crate.

use std::fmt;

use tracing_subscriber::field::MakeExt as _;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{Writer, debug_fn};

/// The field formatter for text logs (`fmt().fmt_fields(escaped_fields())`).
pub fn escaped_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    debug_fn(
        |writer: &mut Writer<'_>, field: &tracing::field::Field, value: &dyn fmt::Debug| {
            let text = format!("{value:?}");
            if field.name() != "message" {
                write!(writer, "{}=", field.name())?;
            }
            write_escaped(writer, &text)
        },
    )
    .delimited(" ")
}

/// Writes `text` with each character a line could be forged or disguised
/// with written as a Rust escape (`\n`, `\u{202e}`).
fn write_escaped(writer: &mut Writer<'_>, text: &str) -> fmt::Result {
    for c in text.chars() {
        if needs_escape(c) {
            write!(writer, "{}", c.escape_default())?;
        } else {
            writer.write_char(c)?;
        }
    }
    Ok(())
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn no_field_can_end_a_line() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .fmt_fields(escaped_fields())
            .with_writer(move || writer.clone())
            .finish();
        let forged = "alice\n2026-01-01T00:00:00Z  INFO audit: event=\"user_unlocked\"";
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "audit", event = "token_exchanged", subject = %forged, user = forged, "audit");
            tracing::info!(target: "audit", "a message\r\nwith \u{202E}reversed text");
        });
        let text = String::from_utf8(buffer.0.lock().expect("buffer").clone()).expect("utf8");
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("subject=alice\\n2026"), "{text}");
        assert!(text.contains("user=\"alice\\n2026"), "{text}");
        assert!(
            text.contains("a message\\r\\nwith \\u{202e}reversed"),
            "{text}"
        );
        assert!(text.contains("event=\"token_exchanged\""), "{text}");
    }
}

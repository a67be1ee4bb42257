//! Which legacy user ids the bridge will put in a token it has a token
//! made for (minted as LT1 or asked of the adapter): at most
//! [`MAX_SUBJECT_LEN`] bytes, no control characters (NUL, newline, tab,
//! DEL, C1), no bidirectional-text controls or other invisible formatting,
//! no line or paragraph separators, no space at either end. Such an id is
//! refused before any token exists, with its own class, never a 500.
//!
//! Why: a minted token is trusted by legacy APIs as whatever its `sub`
//! says, an id that displays differently from what it is (a bidi
//! override, a trailing space) names someone else to a human reading a
//! log or an admin screen, and a control character breaks the lines of
//! every text log downstream. It imports nothing of the crate.

/// The longest legacy id minted for, in bytes of UTF-8 (Auth0's `user_id`
/// for a connection user is short; a legacy id is shorter still).
pub const MAX_SUBJECT_LEN: usize = 255;

/// Why a legacy id is refused: a fixed class for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfit {
    /// Empty.
    Empty,
    /// Longer than [`MAX_SUBJECT_LEN`] bytes.
    TooLong,
    /// A control, format (bidi, zero-width) or separator character.
    Invisible,
    /// White space at either end.
    Padded,
}

impl Unfit {
    /// A fixed label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Empty => "subject_empty",
            Self::TooLong => "subject_too_long",
            Self::Invisible => "subject_control_character",
            Self::Padded => "subject_padded",
        }
    }
}

/// Checks a legacy id before a token is made for it.
pub fn check(subject: &str) -> Result<(), Unfit> {
    if subject.is_empty() {
        return Err(Unfit::Empty);
    }
    if subject.len() > MAX_SUBJECT_LEN {
        return Err(Unfit::TooLong);
    }
    if subject.chars().any(invisible) {
        return Err(Unfit::Invisible);
    }
    if subject.starts_with(char::is_whitespace) || subject.ends_with(char::is_whitespace) {
        return Err(Unfit::Padded);
    }
    Ok(())
}

/// Control characters (C0, DEL, C1), the bidirectional controls, zero-width
/// and byte-order marks, and the line and paragraph separators.
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_ids_pass() {
        for id in [
            "u-1001",
            "alice",
            "Zoë Müller",
            "CN=Alice Smith,OU=corp",
            "用户42",
        ] {
            assert_eq!(check(id), Ok(()), "{id}");
        }
        assert_eq!(check(&"a".repeat(MAX_SUBJECT_LEN)), Ok(()));
    }

    #[test]
    fn hostile_ids_are_refused() {
        assert_eq!(check(""), Err(Unfit::Empty));
        assert_eq!(check(&"a".repeat(7000)), Err(Unfit::TooLong));
        assert_eq!(
            check(&"é".repeat(128)),
            Err(Unfit::TooLong),
            "bytes, not chars"
        );
        for id in [
            "alice\0",
            "alice\nevent=user_revoked",
            "alice\r",
            "al\tice",
            "alice\u{7f}",
            "alice\u{85}",
            "\u{202E}ecila",
            "alice\u{2066}",
            "ali\u{200B}ce",
            "alice\u{2028}",
            "\u{FEFF}alice",
        ] {
            assert_eq!(check(id), Err(Unfit::Invisible), "{id:?}");
        }
        for id in ["alice ", " alice", "alice\u{3000}"] {
            assert_eq!(check(id), Err(Unfit::Padded), "{id:?}");
        }
    }
}

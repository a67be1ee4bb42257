//! Every column that holds a value sealed under the storage key, for
//! `idp-bridge keys rotate-storage-key`: the rows are walked in key order, a
//! batch at a time, and each value is replaced only if it is still the one
//! read, so a running bridge that changed it meanwhile is never overwritten
//! (its new value is already under the current key).

/// A column of sealed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    /// `signing_keys.private_sealed`.
    SigningKey,
    /// `grants.token_sealed`: the legacy access token.
    GrantToken,
    /// `grants.legacy_refresh_sealed`: the legacy refresh token.
    GrantRefreshToken,
    /// `grants.id_token_sealed`: the ID token kept beside its code.
    GrantIdToken,
    /// `refresh_tokens.successor_sealed`: a rotated refresh token's successor.
    RefreshSuccessor,
}

impl SealedColumn {
    /// Every sealed column.
    pub const ALL: [Self; 5] = [
        Self::SigningKey,
        Self::GrantToken,
        Self::GrantRefreshToken,
        Self::GrantIdToken,
        Self::RefreshSuccessor,
    ];

    /// Table, key column, sealed column, and whether the key is text.
    const fn parts(self) -> (&'static str, &'static str, &'static str, bool) {
        match self {
            Self::SigningKey => ("signing_keys", "kid", "private_sealed", true),
            Self::GrantToken => ("grants", "id", "token_sealed", true),
            Self::GrantRefreshToken => ("grants", "id", "legacy_refresh_sealed", true),
            Self::GrantIdToken => ("grants", "id", "id_token_sealed", true),
            Self::RefreshSuccessor => ("refresh_tokens", "token_hash", "successor_sealed", false),
        }
    }

    /// `table.column`, for people.
    pub fn name(self) -> String {
        let (table, _, column, _) = self.parts();
        format!("{table}.{column}")
    }

    /// The key before every row's.
    pub fn first_key(self) -> RowKey {
        if self.parts().3 {
            RowKey::Text(String::new())
        } else {
            RowKey::Blob(Vec::new())
        }
    }

    /// Up to `$2` rows after key `$1` with a value, in key order.
    pub(super) fn select_batch(self) -> String {
        let (table, key, column, _) = self.parts();
        format!(
            "SELECT {key}, {column} FROM {table} WHERE {key} > $1 AND {column} IS NOT NULL ORDER BY {key} LIMIT $2"
        )
    }

    /// Sets the value to `$1` where the key is `$2` and the value still `$3`.
    pub(super) fn replace(self) -> String {
        let (table, key, column, _) = self.parts();
        format!("UPDATE {table} SET {column} = $1 WHERE {key} = $2 AND {column} = $3")
    }

    /// Whether the key column is text (else bytes).
    pub(super) fn text_key(self) -> bool {
        self.parts().3
    }
}

/// A row's key: text ids, or a hash's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowKey {
    /// A text key (kid, grant id).
    Text(String),
    /// A binary key (a token's hash).
    Blob(Vec<u8>),
}

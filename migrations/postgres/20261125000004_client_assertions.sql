-- private_key_jwt: each assertion's jti may be used once (until it expires).
CREATE TABLE client_assertions (
    key TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Signed-in console browsers. The browser holds a random secret (in a
-- signed cookie); only its SHA-256 is stored, so reading this table gives
-- no usable session. Sign-out deletes the row on every replica at once.
CREATE TABLE console_sessions (
    id_digest    TEXT PRIMARY KEY,
    principal    TEXT NOT NULL,
    -- SHA-256 of the token signed in with: the session ends when a reload
    -- of the tokens file revokes it.
    token_digest TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);

-- Secrets every replica must share, created by the first server that needs
-- one (for example the key that signs page tokens, so a token issued by one
-- replica is honoured by another and cannot be forged by a caller).
CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- A console session started by signing in with an identity provider keeps
-- the provider's verified claims (JSON: the issuer and the ID token's
-- claims), so every request maps them through the claim rules as they are
-- now. NULL for sessions started with a static token, which are checked
-- against the tokens file by token_digest.
ALTER TABLE console_sessions ADD COLUMN identity TEXT NULL;

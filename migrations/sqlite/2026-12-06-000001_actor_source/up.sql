-- Where an event's actor came from when an identity provider's token named
-- it: "ISSUER SUBJECT" (the token's iss and sub). NULL for static tokens,
-- client certificates and anonymous callers, whose name says it all.
ALTER TABLE events ADD COLUMN actor_source TEXT NULL;

-- A version's verified model signature. The summary (method, signer, who
-- vouched, when verified, how many files, the manifest's digest) is JSON on
-- the version's row, so every read of the version shows it; the files with
-- their digests and the bundle itself, which can be large, live in their
-- own table and are read only when asked for.
ALTER TABLE model_versions ADD COLUMN signature TEXT NULL;
CREATE TABLE version_signatures (
    version_id TEXT PRIMARY KEY REFERENCES model_versions (id),
    -- JSON: [{"name": ..., "sha256": ...}], sorted by name.
    files      TEXT NOT NULL,
    -- The model-signing bundle as attached (Sigstore bundle JSON).
    bundle     TEXT NOT NULL
);

-- Attaching a signature is an event of the version's model.
ALTER TABLE events DROP CONSTRAINT events_event_type_check;
ALTER TABLE events DROP CONSTRAINT alias_events_name_their_alias;
ALTER TABLE events
    ADD CONSTRAINT events_event_type_check CHECK (event_type IN (
        'MODEL_CREATED', 'MODEL_UPDATED', 'VERSION_REGISTERED', 'VERSION_UPDATED',
        'STATUS_CHANGED', 'ALIAS_SET', 'ALIAS_DELETED', 'ALIAS_ROLLED_BACK',
        'ALIAS_POLICY_SET', 'ALIAS_POLICY_DELETED', 'CHANGE_REQUESTED', 'CHANGE_APPROVED',
        'CHANGE_REJECTED', 'CHANGE_CANCELLED', 'CHANGE_FAILED', 'ALIAS_FROZEN', 'ALIAS_UNFROZEN',
        'VERSION_FROZEN', 'VERSION_UNFROZEN', 'WEBHOOK_CREATED', 'WEBHOOK_DELETED',
        'WEBHOOK_RESUMED', 'WEBHOOK_UPDATED', 'WEBHOOK_SECRET_ROTATED', 'WEBHOOK_REPLAYED',
        'SIGNATURE_ATTACHED')),
    -- Every event about an alias names it; only moves name a new version.
    ADD CONSTRAINT alias_events_name_their_alias CHECK (
        (alias IS NOT NULL) = (event_type NOT IN (
            'MODEL_CREATED', 'MODEL_UPDATED', 'VERSION_REGISTERED', 'VERSION_UPDATED',
            'STATUS_CHANGED', 'VERSION_FROZEN', 'VERSION_UNFROZEN', 'WEBHOOK_CREATED',
            'WEBHOOK_DELETED', 'WEBHOOK_RESUMED', 'WEBHOOK_UPDATED', 'WEBHOOK_SECRET_ROTATED',
            'WEBHOOK_REPLAYED', 'SIGNATURE_ATTACHED')));

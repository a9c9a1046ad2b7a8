//! The diesel schema, shared by both backends: every column uses a SQL type
//! both PostgreSQL and SQLite map to the same Rust type (JSON as text,
//! timestamps as UTC `TIMESTAMP`/text).

diesel::table! {
    /// Registered models.
    models (id) {
        /// Surrogate key.
        id -> BigInt,
        /// Unique model name.
        name -> Text,
        /// The number the next registered version gets.
        next_version -> BigInt,
        /// Creation time (UTC).
        created_at -> Timestamp,
        /// Last change time (UTC).
        updated_at -> Timestamp,
        /// Description of the model.
        description -> Text,
        /// Labels of the model (JSON object of strings).
        tags -> Text,
        /// The model has (or had) an alias policy or a freeze.
        governed -> Bool,
    }
}

diesel::table! {
    /// The aliases of each model and the version each points at.
    aliases (model_id, alias) {
        model_id -> BigInt,
        alias -> Text,
        version -> BigInt,
        /// The event that last moved the alias.
        event_id -> BigInt,
    }
}

diesel::table! {
    /// Registered model versions.
    model_versions (id) {
        id -> Text,
        model_id -> BigInt,
        version -> BigInt,
        algorithm -> Text,
        status -> Text,
        artifact_uri -> Text,
        artifact_metadata_uri -> Text,
        artifact_sha256 -> Text,
        artifact_size_bytes -> BigInt,
        metrics -> Text,
        params -> Text,
        tags -> Text,
        metadata -> Text,
        description -> Text,
        training_started_at -> Nullable<Timestamp>,
        training_finished_at -> Nullable<Timestamp>,
        training_duration_seconds -> Double,
        train_samples -> BigInt,
        test_samples -> BigInt,
        feature_count -> BigInt,
        feature_names -> Text,
        dataset_uri -> Text,
        code_version -> Text,
        request_id -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        signature -> Nullable<Text>,
    }
}

diesel::table! {
    /// One row per metric of a version, for filtering and ordering.
    version_metrics (version_id, name) {
        version_id -> Text,
        model_id -> BigInt,
        name -> Text,
        value -> Double,
    }
}

diesel::table! {
    /// One row per tag of a version, for filtering.
    version_tags (version_id, key) {
        version_id -> Text,
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    /// The append-only audit trail.
    events (id) {
        id -> BigInt,
        occurred_at -> Timestamp,
        event_type -> Text,
        /// NULL for an event of a prefix policy.
        model_id -> Nullable<BigInt>,
        version -> Nullable<BigInt>,
        alias -> Nullable<Text>,
        previous_version -> Nullable<BigInt>,
        new_version -> Nullable<BigInt>,
        previous_status -> Nullable<Text>,
        new_status -> Nullable<Text>,
        actor -> Text,
        reason -> Text,
        request_id -> Text,
        rollback_event_id -> Nullable<BigInt>,
        correlation_id -> Nullable<Text>,
        tx -> BigInt,
        emergency -> Bool,
        change_request_id -> Nullable<BigInt>,
        detail -> Nullable<Text>,
        /// The prefix an event of a prefix policy is about.
        model_prefix -> Nullable<Text>,
        /// The subscription a webhook's event is about.
        webhook_id -> Nullable<BigInt>,
        /// "ISSUER SUBJECT" of the identity provider's token that named the actor.
        actor_source -> Nullable<Text>,
    }
}

diesel::table! {
    /// Policies inherited by every model whose name starts with `prefix`.
    prefix_alias_policies (alias, prefix) {
        prefix -> Text,
        alias -> Text,
        revision -> BigInt,
        rules -> Text,
        updated_by -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// One policy per (model, alias): its rules as a JSON object.
    alias_policies (model_id, alias) {
        model_id -> BigInt,
        alias -> Text,
        revision -> BigInt,
        rules -> Text,
        updated_by -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Requests to move a protected alias, and their approvals.
    change_requests (id) {
        id -> BigInt,
        model_id -> BigInt,
        alias -> Text,
        version -> BigInt,
        from_version -> Nullable<BigInt>,
        from_event_id -> Nullable<BigInt>,
        required_approvals -> BigInt,
        reason -> Text,
        requester -> Text,
        state -> Text,
        approvals -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
        decided_by -> Nullable<Text>,
        decision_note -> Text,
    }
}

diesel::table! {
    /// Secrets every replica shares (the page token key).
    server_secrets (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    /// Idempotency keys of changes, per principal.
    request_keys (principal, request_id) {
        principal -> Text,
        request_id -> Text,
        method -> Text,
        fingerprint -> Text,
        outcome -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// Verified signatures' files and bundles, by version.
    version_signatures (version_id) {
        version_id -> Text,
        files -> Text,
        bundle -> Text,
    }
}

diesel::table! {
    /// Signed-in console browsers, by the digest of their secret.
    console_sessions (id_digest) {
        id_digest -> Text,
        principal -> Text,
        token_digest -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        identity -> Nullable<Text>,
    }
}

diesel::table! {
    /// Frozen aliases (`version` 0) and versions (`alias` '').
    freezes (model_id, alias, version) {
        model_id -> BigInt,
        alias -> Text,
        version -> BigInt,
        reason -> Text,
        frozen_by -> Text,
        frozen_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Webhook subscriptions, each with its cursor in the trail and its lease.
    webhooks (id) {
        id -> BigInt,
        url -> Text,
        description -> Text,
        model_prefix -> Text,
        aliases -> Text,
        event_types -> Text,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamp>,
        generation -> BigInt,
        state -> Text,
        failure -> Text,
        retrying_event_id -> Nullable<BigInt>,
        retrying_since -> Nullable<Timestamp>,
        attempts -> BigInt,
        cursor_tx -> BigInt,
        cursor_id -> BigInt,
        last_delivered_at -> Nullable<Timestamp>,
        lease_holder -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        created_by -> Text,
        ordered -> Bool,
    }
}

diesel::table! {
    /// Events an unordered subscription set aside to retry on their own.
    webhook_retries (webhook_id, event_id) {
        webhook_id -> BigInt,
        event_id -> BigInt,
        attempts -> BigInt,
        since -> Timestamp,
        failure -> Text,
        next_at -> Timestamp,
    }
}

diesel::table! {
    /// Attempts to deliver events to webhook subscriptions (the latest kept).
    webhook_deliveries (id) {
        id -> BigInt,
        webhook_id -> BigInt,
        event_id -> BigInt,
        attempt -> BigInt,
        attempted_at -> Timestamp,
        http_status -> Nullable<BigInt>,
        latency_ms -> BigInt,
        response_excerpt -> Text,
        error -> Text,
        delivered -> Bool,
    }
}

diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(webhook_retries -> webhooks (webhook_id));
diesel::joinable!(model_versions -> models (model_id));
diesel::joinable!(events -> models (model_id));
diesel::joinable!(version_metrics -> model_versions (version_id));
diesel::joinable!(version_tags -> model_versions (version_id));
diesel::joinable!(version_signatures -> model_versions (version_id));
diesel::joinable!(version_metrics -> models (model_id));
diesel::joinable!(aliases -> models (model_id));
diesel::joinable!(aliases -> events (event_id));
diesel::joinable!(alias_policies -> models (model_id));
diesel::joinable!(change_requests -> models (model_id));
diesel::allow_tables_to_appear_in_same_query!(
    models,
    aliases,
    model_versions,
    version_metrics,
    version_tags,
    events,
    request_keys,
    console_sessions,
    version_signatures,
    alias_policies,
    prefix_alias_policies,
    change_requests,
    freezes,
    webhooks,
    webhook_retries,
    webhook_deliveries
);

-- A trail that holds a webhook's events cannot be expressed in the previous
-- schema: restore a backup taken before the upgrade instead.
SELECT the_webhooks_migration_cannot_be_reverted_restore_a_backup();

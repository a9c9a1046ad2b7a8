-- Aliases other than `production` and their history cannot be expressed in the
-- previous schema: restore a backup taken before the upgrade instead.
SELECT the_aliases_migration_cannot_be_reverted_restore_a_backup();

-- A trail that may hold events of no model cannot be expressed in the
-- previous schema: restore a backup taken before the upgrade instead.
SELECT the_prefix_policies_migration_cannot_be_reverted_restore_a_backup();

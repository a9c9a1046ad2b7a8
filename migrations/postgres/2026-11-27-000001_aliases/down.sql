-- Aliases other than `production` and their history cannot be expressed in the
-- previous schema: restore a backup taken before the upgrade instead.
DO $$ BEGIN
    RAISE EXCEPTION 'the aliases migration cannot be reverted; restore a backup taken before it';
END $$;

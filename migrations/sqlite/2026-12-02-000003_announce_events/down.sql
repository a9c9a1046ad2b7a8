-- PostgreSQL announces appended events with a trigger; SQLite has one
-- process writing, which wakes its own feed after each commit. Kept so
-- both databases have the same migrations.
SELECT 1;

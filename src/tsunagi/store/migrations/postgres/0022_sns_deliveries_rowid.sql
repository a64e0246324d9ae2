-- Records are swept oldest first in id order (see the SQLite migration of the same number), so the
-- index on `at` is no longer read; it only cost every publish a write.
DROP INDEX IF EXISTS sns_deliveries_at;

-- Shared limits (see store/leases.py): a lease per execution running under a limit that holds across
-- every server on the database (a mapping's MaximumConcurrency, reserved and account concurrency).
-- A server renews its leases while it runs; a killed server's leases expire and free their share.
CREATE TABLE IF NOT EXISTS leases (
    scope       TEXT NOT NULL,
    holder      TEXT NOT NULL,
    node        TEXT NOT NULL,
    expires_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (scope, holder)
);
CREATE INDEX IF NOT EXISTS leases_node ON leases (node);

-- Shared limits (see store/leases.py).

-- name: lock_scope
-- Takers of one scope take turns across servers until commit.
SELECT pg_advisory_xact_lock(hashtext(?));

-- name: drop_expired
DELETE FROM leases WHERE scope = ? AND expires_at <= ?;

-- name: held
SELECT count(*) FROM leases WHERE scope = ?;

-- name: take
INSERT INTO leases (scope, holder, node, expires_at) VALUES (?, ?, ?, ?);

-- name: give
DELETE FROM leases WHERE scope = ? AND holder = ?;

-- name: renew
UPDATE leases SET expires_at = ? WHERE node = ?;

-- name: give_node
DELETE FROM leases WHERE node = ?;

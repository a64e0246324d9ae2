-- Shared limits (see store/leases.py).

-- name: lock_scope
-- One server, one writer: its write transactions already take turns (a statement that reads nothing).
SELECT CAST(? AS TEXT) WHERE 0;

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

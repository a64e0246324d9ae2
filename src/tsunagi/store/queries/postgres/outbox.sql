-- The outbox (see pipes/outbox.py): deliveries written in the transaction of the change that caused
-- them, claimed by the dispatcher with a lease.

-- name: add
INSERT INTO outbox (kind, target, payload, next_attempt_at, created_at, trace_id) VALUES (?, ?, ?, ?, ?, ?);

-- name: claim
-- Claim up to n due rows, pushing next_attempt_at forward by the lease: a row whose claimer died is
-- claimed again once the lease runs out.
-- SKIP LOCKED: dispatchers on several servers never claim the same row.
UPDATE outbox SET next_attempt_at = ?, attempts = attempts + 1
WHERE id IN (SELECT id FROM outbox WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED)
RETURNING id, kind, target, payload, attempts, created_at, trace_id;

-- name: done
DELETE FROM outbox WHERE id IN ({marks});

-- name: retry
UPDATE outbox SET next_attempt_at = ?, last_error = ? WHERE id = ?;

-- name: next_due
SELECT MIN(next_attempt_at) FROM outbox;

-- name: pending
SELECT id, kind, target, attempts, next_attempt_at, last_error, trace_id FROM outbox ORDER BY id;

-- name: pending_of_kind
SELECT id, kind, target, attempts, next_attempt_at, last_error, trace_id FROM outbox WHERE kind = ? ORDER BY id;

-- Delivery records (see migrations/*/0003_deliveries.sql).

-- name: insert
-- row: (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
INSERT INTO deliveries (trace_id, at, account, region, pipe, source_arn, message_id, target_arn, protocol, outcome,
                        reason)
VALUES {rows};

-- name: by_trace
SELECT id, trace_id, at, account, region, pipe, source_arn, message_id, target_arn, protocol, outcome, reason
FROM deliveries WHERE trace_id = ? AND id > ? ORDER BY id LIMIT ?;

-- name: by_message
SELECT id, trace_id, at, account, region, pipe, source_arn, message_id, target_arn, protocol, outcome, reason
FROM deliveries WHERE message_id = ? AND id > ? ORDER BY id LIMIT ?;

-- name: by_source
SELECT id, trace_id, at, account, region, pipe, source_arn, message_id, target_arn, protocol, outcome, reason
FROM deliveries WHERE source_arn = ? AND id > ? ORDER BY id LIMIT ?;

-- name: recent_by_source
-- The most recent first.
SELECT id, trace_id, at, account, region, pipe, source_arn, message_id, target_arn, protocol, outcome, reason
FROM deliveries WHERE source_arn = ? ORDER BY id DESC LIMIT ?;

-- name: recent_of_pipe
-- The most recent first.
SELECT id, trace_id, at, account, region, pipe, source_arn, message_id, target_arn, protocol, outcome, reason
FROM deliveries WHERE pipe = ? ORDER BY id DESC LIMIT ?;

-- name: by_account
SELECT id, trace_id, at, account, region, pipe, source_arn, message_id, target_arn, protocol, outcome, reason
FROM deliveries WHERE account = ? AND id > ? ORDER BY id LIMIT ?;

-- name: sweep
-- Delete the oldest records written before a time, a bounded number at a time: records are written in
-- time order, so the lowest ids are the oldest and no index on `at` is needed.
DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries ORDER BY id LIMIT ?) AND at < ?;

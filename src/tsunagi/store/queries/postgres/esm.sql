-- Event source mappings and async invoke configs (see store/esm.py).

-- name: lock_source
-- Creating mappings for one source one at a time (two nodes could both find no duplicate).
SELECT pg_advisory_xact_lock(hashtext(?));

-- name: find_mapping
SELECT uuid FROM lambda_esm WHERE source_arn = ? AND function_arn = ?;

-- name: insert_mapping
INSERT INTO lambda_esm (uuid, account, region, function_name, function_arn, source_arn, enabled, state,
                        state_reason, config, last_result, modified_at, generation)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1);

-- name: get
SELECT uuid, account, region, function_name, function_arn, source_arn, enabled, state, state_reason, config,
       last_result, modified_at, generation
FROM lambda_esm WHERE uuid = ?;

-- name: list
-- Mappings of an account and region after a UUID, optionally of one function and/or one source (NULL: any).
SELECT uuid, account, region, function_name, function_arn, source_arn, enabled, state, state_reason, config,
       last_result, modified_at, generation
FROM lambda_esm
WHERE account = ? AND region = ? AND uuid > ?
  AND (CAST(? AS TEXT) IS NULL OR function_name = ?)
  AND (CAST(? AS TEXT) IS NULL OR source_arn = ?)
ORDER BY uuid LIMIT ?;

-- name: all
SELECT uuid, account, region, function_name, function_arn, source_arn, enabled, state, state_reason, config,
       last_result, modified_at, generation
FROM lambda_esm;

-- name: update
UPDATE lambda_esm SET function_name = ?, function_arn = ?, enabled = ?, state = ?, state_reason = ?, config = ?,
                      modified_at = ?, generation = generation + 1
WHERE uuid = ?
RETURNING uuid, account, region, function_name, function_arn, source_arn, enabled, state, state_reason, config,
          last_result, modified_at, generation;

-- name: settle
-- A transitional state to its final one, if nothing changed since the generation the poller saw.
UPDATE lambda_esm SET state = ? WHERE uuid = ? AND generation = ? AND state <> ?;

-- name: set_last_result
UPDATE lambda_esm SET last_result = ? WHERE uuid = ?;

-- name: mark_deleting
UPDATE lambda_esm SET state = 'Deleting', generation = generation + 1 WHERE uuid = ?
RETURNING uuid, account, region, function_name, function_arn, source_arn, enabled, state, state_reason, config,
          last_result, modified_at, generation;

-- name: delete
DELETE FROM lambda_esm WHERE uuid = ?;

-- == event invoke configs ====================================================================

-- name: invoke_config
SELECT qualifier, config, modified_at FROM lambda_event_invoke_configs
WHERE account = ? AND region = ? AND function_name = ? AND qualifier = ?;

-- name: invoke_configs
SELECT qualifier, config, modified_at FROM lambda_event_invoke_configs
WHERE account = ? AND region = ? AND function_name = ? ORDER BY qualifier;

-- name: put_invoke_config
INSERT INTO lambda_event_invoke_configs (account, region, function_name, qualifier, config, modified_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (account, region, function_name, qualifier)
DO UPDATE SET config = excluded.config, modified_at = excluded.modified_at;

-- name: delete_invoke_config
DELETE FROM lambda_event_invoke_configs WHERE account = ? AND region = ? AND function_name = ? AND qualifier = ?;

-- == async invocations =======================================================================

-- name: uncount_async
-- A throttled attempt: due again later, not counted as an invocation.
UPDATE lambda_async SET attempts = attempts - 1, next_attempt_at = ?, claimed_until = 0, last_error = ?
WHERE id = ?;

-- name: finish_async
DELETE FROM lambda_async WHERE id = ?;

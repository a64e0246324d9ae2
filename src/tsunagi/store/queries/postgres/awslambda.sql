-- Lambda (see store/awslambda.py).

-- name: next_version_locked
-- The function's next version number, its row locked until the transaction ends.
SELECT next_version FROM lambda_functions WHERE id = ? FOR UPDATE;

-- name: next_layer_version_locked
SELECT next_version FROM lambda_layer_names WHERE account = ? AND region = ? AND name = ? FOR UPDATE;

-- name: claim_due
-- Claim up to n due invocations for a lease (another node may take them after it); rows another
-- node is claiming are skipped, not waited for.
UPDATE lambda_async SET claimed_until = ?, attempts = attempts + 1
WHERE id IN (SELECT id FROM lambda_async WHERE next_attempt_at <= ? AND claimed_until <= ?
             ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED)
RETURNING id, account, region, function_name, qualifier, request_id, payload, client_context, attempts, created_at,
          trace_id, trace_header;

-- name: next_due
SELECT MIN(GREATEST(next_attempt_at, claimed_until)) FROM lambda_async;

-- == code ======================================================================================

-- name: put_code
INSERT INTO lambda_code (sha, size, unzipped, zip) VALUES (?, ?, ?, ?) ON CONFLICT (sha) DO NOTHING;

-- name: get_code
SELECT zip FROM lambda_code WHERE sha = ?;

-- name: code_exists
SELECT 1 FROM lambda_code WHERE sha = ?;

-- name: gc_code
-- A package no version and no layer uses any more.
DELETE FROM lambda_code WHERE sha = ?
  AND NOT EXISTS (SELECT 1 FROM lambda_versions WHERE code_sha = ?)
  AND NOT EXISTS (SELECT 1 FROM lambda_layers WHERE code_sha = ?);

-- == functions =================================================================================

-- name: function
SELECT id, account, region, name, arn, tags, policy, policy_rev, reserved, next_version, created_at
FROM lambda_functions WHERE account = ? AND region = ? AND name = ?;

-- name: insert_function
INSERT INTO lambda_functions (account, region, name, arn, tags, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id;

-- name: insert_latest
INSERT INTO lambda_versions (function_id, version, config, code_sha, revision_id, modified_at)
VALUES (?, '$LATEST', ?, ?, ?, ?);

-- name: function_code_shas
SELECT code_sha FROM lambda_versions WHERE function_id = ?;

-- name: delete_function_aliases
DELETE FROM lambda_aliases WHERE function_id = ?;

-- name: delete_function_versions
DELETE FROM lambda_versions WHERE function_id = ?;

-- name: delete_function
DELETE FROM lambda_functions WHERE id = ?;

-- name: list_functions
SELECT f.name, v.config, v.code_sha, v.revision_id, v.modified_at
FROM lambda_functions f JOIN lambda_versions v ON v.function_id = f.id AND v.version = '$LATEST'
WHERE f.account = ? AND f.region = ? AND f.name > ? ORDER BY f.name LIMIT ?;

-- name: set_tags
UPDATE lambda_functions SET tags = ? WHERE id = ?;

-- name: set_policy
UPDATE lambda_functions SET policy = ?, policy_rev = ? WHERE id = ?;

-- name: set_policy_if
-- Only if the policy is still at the revision the caller read (RevisionId).
UPDATE lambda_functions SET policy = ?, policy_rev = ? WHERE id = ? AND policy_rev = ?;

-- name: set_reserved
UPDATE lambda_functions SET reserved = ? WHERE id = ?;

-- name: reserved_total
SELECT COALESCE(SUM(reserved), 0) FROM lambda_functions
WHERE account = ? AND region = ? AND reserved IS NOT NULL AND id <> ?;

-- name: usage
-- (number of functions, total code size of every version)
SELECT COUNT(DISTINCT f.id), COALESCE(SUM(c.size), 0)
FROM lambda_functions f JOIN lambda_versions v ON v.function_id = f.id JOIN lambda_code c ON c.sha = v.code_sha
WHERE f.account = ? AND f.region = ?;

-- == versions ==================================================================================

-- name: version
SELECT version, config, code_sha, revision_id, modified_at FROM lambda_versions WHERE function_id = ? AND version = ?;

-- name: versions
SELECT version, config, code_sha, revision_id, modified_at FROM lambda_versions WHERE function_id = ?;

-- name: latest_code
SELECT code_sha, revision_id FROM lambda_versions WHERE function_id = ? AND version = '$LATEST';

-- name: update_latest
UPDATE lambda_versions SET config = ?, code_sha = ?, revision_id = ?, modified_at = ?
WHERE function_id = ? AND version = '$LATEST';

-- name: bump_version
UPDATE lambda_functions SET next_version = next_version + 1 WHERE id = ?;

-- name: insert_version
INSERT INTO lambda_versions (function_id, version, config, code_sha, revision_id, modified_at)
VALUES (?, ?, ?, ?, ?, ?);

-- name: version_code
SELECT code_sha FROM lambda_versions WHERE function_id = ? AND version = ?;

-- name: delete_version
DELETE FROM lambda_versions WHERE function_id = ? AND version = ?;

-- == aliases ===================================================================================

-- name: alias
SELECT name, version, description, routing, revision_id FROM lambda_aliases WHERE function_id = ? AND name = ?;

-- name: aliases
SELECT name, version, description, routing, revision_id FROM lambda_aliases WHERE function_id = ? ORDER BY name;

-- name: create_alias
INSERT INTO lambda_aliases (function_id, name, version, description, routing, revision_id) VALUES (?, ?, ?, ?, ?, ?);

-- name: update_alias
UPDATE lambda_aliases SET version = ?, description = ?, routing = ?, revision_id = ? WHERE function_id = ? AND name = ?;

-- name: delete_alias
DELETE FROM lambda_aliases WHERE function_id = ? AND name = ?;

-- name: aliases_using
-- Aliases pointing at a version, or routing some of their traffic to it.
SELECT name, routing FROM lambda_aliases WHERE function_id = ? AND (version = ? OR routing LIKE ?);

-- == layers ====================================================================================

-- name: add_layer_name
INSERT INTO lambda_layer_names (account, region, name) VALUES (?, ?, ?) ON CONFLICT (account, region, name) DO NOTHING;

-- name: bump_layer_version
UPDATE lambda_layer_names SET next_version = next_version + 1 WHERE account = ? AND region = ? AND name = ?;

-- name: insert_layer
INSERT INTO lambda_layers (account, region, name, version, arn, config, code_sha, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?);

-- name: layer
SELECT l.name, l.version, l.arn, l.config, l.code_sha, c.size
FROM lambda_layers l JOIN lambda_code c ON c.sha = l.code_sha
WHERE l.account = ? AND l.region = ? AND l.name = ? AND l.version = ?;

-- name: set_layer_config
-- A layer version's configuration replaced, only if it is still ``config`` (its policy changes by compare-and-set).
UPDATE lambda_layers SET config = ? WHERE arn = ? AND config = ?;

-- name: layer_by_arn
SELECT l.name, l.version, l.arn, l.config, l.code_sha, c.size
FROM lambda_layers l JOIN lambda_code c ON c.sha = l.code_sha WHERE l.arn = ?;

-- name: layer_versions
SELECT l.name, l.version, l.arn, l.config, l.code_sha, c.size
FROM lambda_layers l JOIN lambda_code c ON c.sha = l.code_sha
WHERE l.account = ? AND l.region = ? AND l.name = ? ORDER BY l.version DESC;

-- name: layers
-- The latest version of every layer.
SELECT l.name, l.version, l.arn, l.config, l.code_sha, c.size
FROM lambda_layers l JOIN lambda_code c ON c.sha = l.code_sha
WHERE l.account = ? AND l.region = ?
  AND l.version = (SELECT MAX(version) FROM lambda_layers m
                   WHERE m.account = l.account AND m.region = l.region AND m.name = l.name)
ORDER BY l.name;

-- name: layer_code
SELECT code_sha FROM lambda_layers WHERE account = ? AND region = ? AND name = ? AND version = ?;

-- name: delete_layer
DELETE FROM lambda_layers WHERE account = ? AND region = ? AND name = ? AND version = ?;

-- == asynchronous invocations ==================================================================

-- name: enqueue
INSERT INTO lambda_async (account, region, function_name, qualifier, request_id, payload, client_context,
                          next_attempt_at, created_at, trace_id, trace_header)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id;

-- name: finish_async
DELETE FROM lambda_async WHERE id = ?;

-- name: retry_async
UPDATE lambda_async SET next_attempt_at = ?, claimed_until = 0, last_error = ? WHERE id = ?;

-- name: pending_async
SELECT COUNT(*) FROM lambda_async WHERE account = ? AND region = ?;

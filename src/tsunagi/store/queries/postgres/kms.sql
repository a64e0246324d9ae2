-- KMS (see store/kms.py): keys, key material versions, aliases, grants, tags, the master key check.

-- == keys ====================================================================================
-- name: insert_key
INSERT INTO kms_keys (key_id, account, region, created_at, description, key_usage, key_spec, key_manager, state,
                      deletion_at, pending_days, multi_region, policy, rotation_days, next_rotation_at, material_version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: key
SELECT key_id, account, region, created_at, description, key_usage, key_spec, key_manager, state, deletion_at,
       pending_days, multi_region, policy, rotation_days, next_rotation_at, material_version
FROM kms_keys WHERE key_id = ?;

-- name: key_ids_page
-- ListKeys: the account's keys in one region, in key id order, after a marker.
SELECT key_id FROM kms_keys WHERE account = ? AND region = ? AND key_id > ? ORDER BY key_id LIMIT ?;

-- name: set_state
UPDATE kms_keys SET state = ?, deletion_at = ?, pending_days = ? WHERE key_id = ?;

-- name: set_description
UPDATE kms_keys SET description = ? WHERE key_id = ?;

-- name: set_policy
UPDATE kms_keys SET policy = ? WHERE key_id = ?;

-- name: set_rotation
UPDATE kms_keys SET rotation_days = ?, next_rotation_at = ? WHERE key_id = ?;

-- name: advance_material
-- Make version ? + 1 current, if version ? still is (a concurrent rotation on another server wins otherwise).
UPDATE kms_keys SET material_version = material_version + 1 WHERE key_id = ? AND material_version = ?;

-- name: advance_material_scheduled
-- The same for an automatic rotation, which also moves the next rotation date.
UPDATE kms_keys SET material_version = material_version + 1, next_rotation_at = ?
WHERE key_id = ? AND material_version = ? AND next_rotation_at = ?;

-- name: due_deletions
SELECT key_id FROM kms_keys WHERE deletion_at IS NOT NULL AND deletion_at <= ? ORDER BY deletion_at LIMIT ?;

-- name: due_rotations
SELECT key_id, material_version, next_rotation_at, rotation_days FROM kms_keys
WHERE next_rotation_at IS NOT NULL AND next_rotation_at <= ? ORDER BY next_rotation_at LIMIT ?;

-- name: delete_key
DELETE FROM kms_keys WHERE key_id = ?;

-- == key material ============================================================================
-- name: insert_material
INSERT INTO kms_materials (key_id, version, sealed, created_at, rotation_type) VALUES (?, ?, ?, ?, ?);

-- name: material
SELECT key_id, version, sealed, created_at, rotation_type FROM kms_materials WHERE key_id = ? AND version = ?;

-- name: materials
SELECT key_id, version, sealed, created_at, rotation_type FROM kms_materials WHERE key_id = ? ORDER BY version;

-- name: delete_materials
DELETE FROM kms_materials WHERE key_id = ?;

-- == aliases =================================================================================
-- name: insert_alias
INSERT INTO kms_aliases (account, region, name, key_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?);

-- name: alias
SELECT account, region, name, key_id, created_at, updated_at FROM kms_aliases
WHERE account = ? AND region = ? AND name = ?;

-- name: retarget_alias
UPDATE kms_aliases SET key_id = ?, updated_at = ? WHERE account = ? AND region = ? AND name = ?;

-- name: delete_alias
DELETE FROM kms_aliases WHERE account = ? AND region = ? AND name = ?;

-- name: aliases_page
SELECT account, region, name, key_id, created_at, updated_at FROM kms_aliases
WHERE account = ? AND region = ? AND name > ? ORDER BY name LIMIT ?;

-- name: aliases_of_key
SELECT account, region, name, key_id, created_at, updated_at FROM kms_aliases WHERE key_id = ? ORDER BY name;

-- name: delete_aliases_of_key
DELETE FROM kms_aliases WHERE key_id = ?;

-- == grants ==================================================================================
-- name: insert_grant
INSERT INTO kms_grants (grant_id, key_id, account, region, name, grantee, retiring, issuing_account, operations,
                        constraints, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: grant
SELECT grant_id, key_id, account, region, name, grantee, retiring, issuing_account, operations, constraints,
       created_at
FROM kms_grants WHERE grant_id = ?;

-- name: grants_named
SELECT grant_id, key_id, account, region, name, grantee, retiring, issuing_account, operations, constraints,
       created_at
FROM kms_grants WHERE key_id = ? AND name = ? ORDER BY grant_id;

-- name: grants_page
SELECT grant_id, key_id, account, region, name, grantee, retiring, issuing_account, operations, constraints,
       created_at
FROM kms_grants WHERE key_id = ? AND grant_id > ? ORDER BY grant_id LIMIT ?;

-- name: grants_of_grantee_page
SELECT grant_id, key_id, account, region, name, grantee, retiring, issuing_account, operations, constraints,
       created_at
FROM kms_grants WHERE key_id = ? AND grantee = ? AND grant_id > ? ORDER BY grant_id LIMIT ?;

-- name: retirable_page
SELECT grant_id, key_id, account, region, name, grantee, retiring, issuing_account, operations, constraints,
       created_at
FROM kms_grants WHERE account = ? AND region = ? AND retiring = ? AND grant_id > ? ORDER BY grant_id LIMIT ?;

-- name: delete_grant
DELETE FROM kms_grants WHERE grant_id = ?;

-- name: delete_grants_of_key
DELETE FROM kms_grants WHERE key_id = ?;

-- == tags ====================================================================================
-- name: tags
SELECT tag_key, tag_value FROM kms_tags WHERE key_id = ? ORDER BY tag_key;

-- name: tags_page
SELECT tag_key, tag_value FROM kms_tags WHERE key_id = ? AND tag_key > ? ORDER BY tag_key LIMIT ?;

-- name: put_tag
INSERT INTO kms_tags (key_id, tag_key, tag_value) VALUES (?, ?, ?)
ON CONFLICT (key_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value;

-- name: delete_tags
DELETE FROM kms_tags WHERE key_id = ? AND tag_key IN ({marks});

-- name: delete_tags_of_key
DELETE FROM kms_tags WHERE key_id = ?;

-- == the master key check ====================================================================
-- name: master_check
SELECT check_value FROM kms_master WHERE id = 1;

-- name: set_master_check
INSERT INTO kms_master (id, check_value) VALUES (1, ?) ON CONFLICT (id) DO NOTHING;

-- IAM and STS credentials (see store/iam.py). Names are matched by name_key (lower case).

-- == users ===================================================================================
-- name: insert_user
INSERT INTO iam_users (account, name_key, name, user_id, path, created_at, boundary_arn) VALUES (?, ?, ?, ?, ?, ?, ?);

-- name: user
SELECT account, name_key, name, user_id, path, created_at, boundary_arn FROM iam_users WHERE account = ? AND name_key = ?;

-- name: users_page
-- ListUsers: by name, after a marker, under a path prefix.
SELECT account, name_key, name, user_id, path, created_at, boundary_arn FROM iam_users
WHERE account = ? AND name_key > ? AND substr(path, 1, ?) = ? ORDER BY name_key LIMIT ?;

-- name: rename_user
UPDATE iam_users SET name_key = ?, name = ?, path = ? WHERE account = ? AND name_key = ?;

-- name: set_user_boundary
UPDATE iam_users SET boundary_arn = ? WHERE account = ? AND name_key = ?;

-- name: delete_user
DELETE FROM iam_users WHERE account = ? AND name_key = ?;

-- == groups ==================================================================================
-- name: insert_group
INSERT INTO iam_groups (account, name_key, name, group_id, path, created_at) VALUES (?, ?, ?, ?, ?, ?);

-- name: group
SELECT account, name_key, name, group_id, path, created_at FROM iam_groups WHERE account = ? AND name_key = ?;

-- name: groups_page
SELECT account, name_key, name, group_id, path, created_at FROM iam_groups
WHERE account = ? AND name_key > ? AND substr(path, 1, ?) = ? ORDER BY name_key LIMIT ?;

-- name: rename_group
UPDATE iam_groups SET name_key = ?, name = ?, path = ? WHERE account = ? AND name_key = ?;

-- name: delete_group
DELETE FROM iam_groups WHERE account = ? AND name_key = ?;

-- name: add_member
INSERT INTO iam_group_members (account, group_key, user_key) VALUES (?, ?, ?) ON CONFLICT DO NOTHING;

-- name: remove_member
DELETE FROM iam_group_members WHERE account = ? AND group_key = ? AND user_key = ?;

-- name: members_page
-- GetGroup: the group's users, by name.
SELECT u.account, u.name_key, u.name, u.user_id, u.path, u.created_at, u.boundary_arn
FROM iam_group_members m JOIN iam_users u ON u.account = m.account AND u.name_key = m.user_key
WHERE m.account = ? AND m.group_key = ? AND u.name_key > ? ORDER BY u.name_key LIMIT ?;

-- name: groups_of_user_page
SELECT g.account, g.name_key, g.name, g.group_id, g.path, g.created_at
FROM iam_group_members m JOIN iam_groups g ON g.account = m.account AND g.name_key = m.group_key
WHERE m.account = ? AND m.user_key = ? AND g.name_key > ? ORDER BY g.name_key LIMIT ?;

-- name: count_groups_of_user
SELECT COUNT(*) FROM iam_group_members WHERE account = ? AND user_key = ?;

-- name: count_members
SELECT COUNT(*) FROM iam_group_members WHERE account = ? AND group_key = ?;

-- name: rename_member_user
UPDATE iam_group_members SET user_key = ? WHERE account = ? AND user_key = ?;

-- name: rename_member_group
UPDATE iam_group_members SET group_key = ? WHERE account = ? AND group_key = ?;

-- == access keys =============================================================================
-- name: insert_key
INSERT INTO iam_access_keys (access_key_id, account, user_key, secret, status, created_at, last_used_at,
                             last_used_service, last_used_region)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: key
SELECT access_key_id, account, user_key, secret, status, created_at, last_used_at, last_used_service,
       last_used_region
FROM iam_access_keys WHERE access_key_id = ?;

-- name: keys_of_user
SELECT access_key_id, account, user_key, secret, status, created_at, last_used_at, last_used_service,
       last_used_region
FROM iam_access_keys WHERE account = ? AND user_key = ? AND access_key_id > ? ORDER BY access_key_id LIMIT ?;

-- name: count_keys_of_user
SELECT COUNT(*) FROM iam_access_keys WHERE account = ? AND user_key = ?;

-- name: set_key_status
UPDATE iam_access_keys SET status = ? WHERE access_key_id = ? AND account = ? AND user_key = ?;

-- name: key_used
UPDATE iam_access_keys SET last_used_at = ?, last_used_service = ?, last_used_region = ? WHERE access_key_id = ?;

-- name: delete_key
DELETE FROM iam_access_keys WHERE access_key_id = ? AND account = ? AND user_key = ?;

-- name: rename_key_user
UPDATE iam_access_keys SET user_key = ? WHERE account = ? AND user_key = ?;

-- == login profiles ==========================================================================
-- name: insert_login
INSERT INTO iam_login_profiles (account, user_key, password_hash, reset_required, created_at) VALUES (?, ?, ?, ?, ?);

-- name: login
SELECT account, user_key, password_hash, reset_required, created_at FROM iam_login_profiles
WHERE account = ? AND user_key = ?;

-- name: update_login
UPDATE iam_login_profiles SET password_hash = COALESCE(?, password_hash), reset_required = COALESCE(?, reset_required)
WHERE account = ? AND user_key = ?;

-- name: delete_login
DELETE FROM iam_login_profiles WHERE account = ? AND user_key = ?;

-- name: rename_login_user
UPDATE iam_login_profiles SET user_key = ? WHERE account = ? AND user_key = ?;

-- == roles ===================================================================================
-- name: insert_role
INSERT INTO iam_roles (account, name_key, name, role_id, path, created_at, trust_policy, description, max_session,
                       boundary_arn, service, last_used_at, last_used_region)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: role
SELECT account, name_key, name, role_id, path, created_at, trust_policy, description, max_session, boundary_arn,
       service, last_used_at, last_used_region
FROM iam_roles WHERE account = ? AND name_key = ?;

-- name: roles_page
SELECT account, name_key, name, role_id, path, created_at, trust_policy, description, max_session, boundary_arn,
       service, last_used_at, last_used_region
FROM iam_roles WHERE account = ? AND name_key > ? AND substr(path, 1, ?) = ? ORDER BY name_key LIMIT ?;

-- name: update_role
-- UpdateRole / UpdateRoleDescription: each value NULL keeps the one stored.
UPDATE iam_roles SET description = COALESCE(?, description), max_session = COALESCE(?, max_session)
WHERE account = ? AND name_key = ?;

-- name: set_trust_policy
UPDATE iam_roles SET trust_policy = ? WHERE account = ? AND name_key = ?;

-- name: set_role_boundary
UPDATE iam_roles SET boundary_arn = ? WHERE account = ? AND name_key = ?;

-- name: role_used
UPDATE iam_roles SET last_used_at = ?, last_used_region = ? WHERE account = ? AND name_key = ?;

-- name: delete_role
DELETE FROM iam_roles WHERE account = ? AND name_key = ?;

-- == instance profiles =======================================================================
-- name: insert_profile
INSERT INTO iam_instance_profiles (account, name_key, name, profile_id, path, created_at) VALUES (?, ?, ?, ?, ?, ?);

-- name: profile
SELECT account, name_key, name, profile_id, path, created_at FROM iam_instance_profiles
WHERE account = ? AND name_key = ?;

-- name: profiles_page
SELECT account, name_key, name, profile_id, path, created_at FROM iam_instance_profiles
WHERE account = ? AND name_key > ? AND substr(path, 1, ?) = ? ORDER BY name_key LIMIT ?;

-- name: profiles_of_role_page
SELECT p.account, p.name_key, p.name, p.profile_id, p.path, p.created_at
FROM iam_profile_roles r JOIN iam_instance_profiles p ON p.account = r.account AND p.name_key = r.profile_key
WHERE r.account = ? AND r.role_key = ? AND p.name_key > ? ORDER BY p.name_key LIMIT ?;

-- name: delete_profile
DELETE FROM iam_instance_profiles WHERE account = ? AND name_key = ?;

-- name: profile_role_keys
SELECT role_key FROM iam_profile_roles WHERE account = ? AND profile_key = ? ORDER BY role_key;

-- name: add_profile_role
INSERT INTO iam_profile_roles (account, profile_key, role_key) VALUES (?, ?, ?);

-- name: remove_profile_role
DELETE FROM iam_profile_roles WHERE account = ? AND profile_key = ? AND role_key = ?;

-- name: count_profiles_of_role
SELECT COUNT(*) FROM iam_profile_roles WHERE account = ? AND role_key = ?;

-- == inline policies =========================================================================
-- name: put_inline
INSERT INTO iam_inline_policies (account, owner_kind, owner_key, policy_name, document) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (account, owner_kind, owner_key, policy_name) DO UPDATE SET document = excluded.document;

-- name: inline
SELECT document FROM iam_inline_policies WHERE account = ? AND owner_kind = ? AND owner_key = ? AND policy_name = ?;

-- name: inline_names_page
SELECT policy_name FROM iam_inline_policies WHERE account = ? AND owner_kind = ? AND owner_key = ? AND policy_name > ?
ORDER BY policy_name LIMIT ?;

-- name: inline_documents
SELECT policy_name, document FROM iam_inline_policies WHERE account = ? AND owner_kind = ? AND owner_key = ?
ORDER BY policy_name;

-- name: count_inline
SELECT COUNT(*) FROM iam_inline_policies WHERE account = ? AND owner_kind = ? AND owner_key = ?;

-- name: delete_inline
DELETE FROM iam_inline_policies WHERE account = ? AND owner_kind = ? AND owner_key = ? AND policy_name = ?;

-- name: rename_inline_owner
UPDATE iam_inline_policies SET owner_key = ? WHERE account = ? AND owner_kind = ? AND owner_key = ?;

-- == managed policies ========================================================================
-- name: insert_policy
INSERT INTO iam_policies (arn, account, name_key, name, policy_id, path, description, created_at, updated_at,
                          default_version, next_version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: policy
SELECT arn, account, name_key, name, policy_id, path, description, created_at, updated_at, default_version,
       next_version
FROM iam_policies WHERE arn = ?;

-- name: policies_page
SELECT arn, account, name_key, name, policy_id, path, description, created_at, updated_at, default_version,
       next_version
FROM iam_policies WHERE account = ? AND name_key > ? AND substr(path, 1, ?) = ? ORDER BY name_key LIMIT ?;

-- name: delete_policy
DELETE FROM iam_policies WHERE arn = ?;

-- name: insert_version
INSERT INTO iam_policy_versions (arn, version, document, created_at) VALUES (?, ?, ?, ?);

-- name: version
SELECT arn, version, document, created_at FROM iam_policy_versions WHERE arn = ? AND version = ?;

-- name: versions
SELECT arn, version, document, created_at FROM iam_policy_versions WHERE arn = ? ORDER BY version DESC;

-- name: count_versions
SELECT COUNT(*) FROM iam_policy_versions WHERE arn = ?;

-- name: delete_version
DELETE FROM iam_policy_versions WHERE arn = ? AND version = ?;

-- name: delete_versions
DELETE FROM iam_policy_versions WHERE arn = ?;

-- name: advance_version
-- Claim version number ? for a new version (compare-and-set: two creations at once get two numbers).
UPDATE iam_policies SET next_version = next_version + 1, updated_at = ? WHERE arn = ? AND next_version = ?;

-- name: set_default_version
UPDATE iam_policies SET default_version = ?, updated_at = ? WHERE arn = ?;

-- == attachments =============================================================================
-- name: attach
INSERT INTO iam_attachments (account, owner_kind, owner_key, policy_arn) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING;

-- name: detach
DELETE FROM iam_attachments WHERE account = ? AND owner_kind = ? AND owner_key = ? AND policy_arn = ?;

-- name: attached_page
SELECT policy_arn FROM iam_attachments WHERE account = ? AND owner_kind = ? AND owner_key = ? AND policy_arn > ?
ORDER BY policy_arn LIMIT ?;

-- name: attached_all
SELECT policy_arn FROM iam_attachments WHERE account = ? AND owner_kind = ? AND owner_key = ? ORDER BY policy_arn;

-- name: count_attached
SELECT COUNT(*) FROM iam_attachments WHERE account = ? AND owner_kind = ? AND owner_key = ?;

-- name: count_attachments
-- How many users, groups and roles of the account a managed policy is attached to.
SELECT COUNT(*) FROM iam_attachments WHERE account = ? AND policy_arn = ?;

-- name: attached_policy_arns
-- Every managed policy the account attached somewhere, with its count (ListPolicies' AttachmentCount, OnlyAttached).
SELECT policy_arn, COUNT(*) FROM iam_attachments WHERE account = ? GROUP BY policy_arn ORDER BY policy_arn;

-- name: entities_of_policy
-- ListEntitiesForPolicy: who a managed policy is attached to.
SELECT owner_kind, owner_key FROM iam_attachments WHERE account = ? AND policy_arn = ? ORDER BY owner_kind, owner_key;

-- name: count_boundary_users
SELECT COUNT(*) FROM iam_users WHERE account = ? AND boundary_arn = ?;

-- name: count_boundary_roles
SELECT COUNT(*) FROM iam_roles WHERE account = ? AND boundary_arn = ?;

-- name: rename_attachment_owner
UPDATE iam_attachments SET owner_key = ? WHERE account = ? AND owner_kind = ? AND owner_key = ?;

-- == tags ====================================================================================
-- name: put_tag
INSERT INTO iam_tags (account, owner_kind, owner_key, key_lower, tag_key, tag_value) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (account, owner_kind, owner_key, key_lower) DO UPDATE SET tag_key = excluded.tag_key,
    tag_value = excluded.tag_value;

-- name: tags
SELECT tag_key, tag_value FROM iam_tags WHERE account = ? AND owner_kind = ? AND owner_key = ? ORDER BY key_lower;

-- name: tags_page
SELECT tag_key, tag_value, key_lower FROM iam_tags WHERE account = ? AND owner_kind = ? AND owner_key = ?
AND key_lower > ? ORDER BY key_lower LIMIT ?;

-- name: count_tags
SELECT COUNT(*) FROM iam_tags WHERE account = ? AND owner_kind = ? AND owner_key = ?;

-- name: delete_tag
DELETE FROM iam_tags WHERE account = ? AND owner_kind = ? AND owner_key = ? AND key_lower = ?;

-- name: delete_tags_of
DELETE FROM iam_tags WHERE account = ? AND owner_kind = ? AND owner_key = ?;

-- name: rename_tags_owner
UPDATE iam_tags SET owner_key = ? WHERE account = ? AND owner_kind = ? AND owner_key = ?;

-- == OpenID Connect providers ================================================================
-- name: insert_oidc
INSERT INTO iam_oidc_providers (arn, account, url, client_ids, thumbprints, created_at) VALUES (?, ?, ?, ?, ?, ?);

-- name: oidc
SELECT arn, account, url, client_ids, thumbprints, created_at FROM iam_oidc_providers WHERE arn = ?;

-- name: oidc_of_account
SELECT arn, account, url, client_ids, thumbprints, created_at FROM iam_oidc_providers WHERE account = ? ORDER BY arn;

-- name: update_oidc
UPDATE iam_oidc_providers SET client_ids = ?, thumbprints = ? WHERE arn = ?;

-- name: delete_oidc
DELETE FROM iam_oidc_providers WHERE arn = ?;

-- == STS sessions ============================================================================
-- name: insert_session
INSERT INTO iam_sessions (access_key_id, account, secret, session_token, principal_arn, user_id, role_arn, source_key,
                          session_policy, created_at, expires_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: session
SELECT access_key_id, account, secret, session_token, principal_arn, user_id, role_arn, source_key, session_policy,
       created_at, expires_at
FROM iam_sessions WHERE access_key_id = ?;

-- name: delete_expired_sessions
-- Sessions expired for a day (kept that long so that a late request gets ExpiredToken, not an unknown key).
DELETE FROM iam_sessions WHERE expires_at < ?;

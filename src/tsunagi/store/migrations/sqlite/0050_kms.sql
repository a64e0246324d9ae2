-- KMS: keys, their key material (sealed under the server's master key), aliases, grants, tags.
-- Times are milliseconds since the epoch.
CREATE TABLE IF NOT EXISTS kms_keys (
    key_id            TEXT PRIMARY KEY,               -- a UUID, or mrk-<32 hex> for a multi-Region key
    account           TEXT NOT NULL,
    region            TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    key_usage         TEXT NOT NULL,                  -- ENCRYPT_DECRYPT | SIGN_VERIFY | GENERATE_VERIFY_MAC
    key_spec          TEXT NOT NULL,                  -- SYMMETRIC_DEFAULT | RSA_2048 | ECC_NIST_P256 | HMAC_256 | ...
    key_manager       TEXT NOT NULL,                  -- CUSTOMER | AWS
    state             TEXT NOT NULL,                  -- Enabled | Disabled | PendingDeletion
    deletion_at       INTEGER,                        -- when a key pending deletion is deleted
    pending_days      INTEGER,                        -- the waiting period it was scheduled with
    multi_region      INTEGER NOT NULL DEFAULT 0,
    policy            TEXT NOT NULL,                  -- the key policy, as given (or the default one)
    rotation_days     INTEGER,                        -- automatic rotation period; NULL: rotation disabled
    next_rotation_at  INTEGER,
    material_version  INTEGER NOT NULL                -- the key material new ciphertexts use (1, 2, ...)
);
CREATE INDEX IF NOT EXISTS kms_keys_account ON kms_keys (account, region, key_id);
CREATE INDEX IF NOT EXISTS kms_keys_deletion ON kms_keys (deletion_at);
CREATE INDEX IF NOT EXISTS kms_keys_rotation ON kms_keys (next_rotation_at);

-- Every version of a key's material, kept so that ciphertexts made before a rotation still decrypt.
-- `sealed` is the material encrypted (AES-256-GCM) under the master key; it never leaves the server.
CREATE TABLE IF NOT EXISTS kms_materials (
    key_id         TEXT NOT NULL,
    version        INTEGER NOT NULL,
    sealed         BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    rotation_type  TEXT,                              -- NULL for the key's first material; AUTOMATIC | ON_DEMAND
    PRIMARY KEY (key_id, version)
);

CREATE TABLE IF NOT EXISTS kms_aliases (
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    name        TEXT NOT NULL,                        -- alias/...
    key_id      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (account, region, name)
);
CREATE INDEX IF NOT EXISTS kms_aliases_key ON kms_aliases (key_id);

CREATE TABLE IF NOT EXISTS kms_grants (
    grant_id         TEXT PRIMARY KEY,
    key_id           TEXT NOT NULL,
    account          TEXT NOT NULL,                   -- the key's account and region
    region           TEXT NOT NULL,
    name             TEXT,
    grantee          TEXT NOT NULL,
    retiring         TEXT,
    issuing_account  TEXT NOT NULL,
    operations       TEXT NOT NULL,                   -- JSON list of operation names
    constraints      TEXT,                            -- JSON GrantConstraints, NULL when none
    created_at       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS kms_grants_key ON kms_grants (key_id, grant_id);
CREATE INDEX IF NOT EXISTS kms_grants_retiring ON kms_grants (account, region, retiring, grant_id);

CREATE TABLE IF NOT EXISTS kms_tags (
    key_id     TEXT NOT NULL,
    tag_key    TEXT NOT NULL,
    tag_value  TEXT NOT NULL,
    PRIMARY KEY (key_id, tag_key)
);

-- One row: a check value of the master key that sealed this database's key material, so that a server
-- started with another master key says so instead of failing every call.
CREATE TABLE IF NOT EXISTS kms_master (
    id           INTEGER PRIMARY KEY,
    check_value  TEXT NOT NULL
);

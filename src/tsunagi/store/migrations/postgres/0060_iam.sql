-- IAM: users, groups, access keys, login profiles, roles, instance profiles, inline and managed policies
-- (with their versions), attachments and tags; and the temporary credentials STS issues. IAM is global:
-- rows are scoped by account, never by region. Names are unique per account whatever their case
-- (`name_key` is the name in lower case; `name` keeps the case it was created with).
-- Times are milliseconds since the epoch.
CREATE TABLE IF NOT EXISTS iam_users (
    account       TEXT NOT NULL,
    name_key      TEXT NOT NULL,
    name          TEXT NOT NULL,
    user_id       TEXT NOT NULL,                     -- AIDA…
    path          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    boundary_arn  TEXT,                              -- the permissions boundary (a managed policy's ARN)
    PRIMARY KEY (account, name_key)
);

CREATE TABLE IF NOT EXISTS iam_groups (
    account     TEXT NOT NULL,
    name_key    TEXT NOT NULL,
    name        TEXT NOT NULL,
    group_id    TEXT NOT NULL,                       -- AGPA…
    path        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (account, name_key)
);

CREATE TABLE IF NOT EXISTS iam_group_members (
    account    TEXT NOT NULL,
    group_key  TEXT NOT NULL,
    user_key   TEXT NOT NULL,
    PRIMARY KEY (account, group_key, user_key)
);
CREATE INDEX IF NOT EXISTS iam_group_members_user ON iam_group_members (account, user_key);

-- Long-term access keys (AKIA…): a user's, or the account root's (user_key '').
CREATE TABLE IF NOT EXISTS iam_access_keys (
    access_key_id      TEXT PRIMARY KEY,
    account            TEXT NOT NULL,
    user_key           TEXT NOT NULL,
    secret             TEXT NOT NULL,
    status             TEXT NOT NULL,                -- Active | Inactive
    created_at         BIGINT NOT NULL,
    last_used_at       BIGINT,
    last_used_service  TEXT,
    last_used_region   TEXT
);
CREATE INDEX IF NOT EXISTS iam_access_keys_user ON iam_access_keys (account, user_key);

CREATE TABLE IF NOT EXISTS iam_login_profiles (
    account         TEXT NOT NULL,
    user_key        TEXT NOT NULL,
    password_hash   TEXT NOT NULL,                   -- scrypt, salted; the password itself is not kept
    reset_required  BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (account, user_key)
);

CREATE TABLE IF NOT EXISTS iam_roles (
    account           TEXT NOT NULL,
    name_key          TEXT NOT NULL,
    name              TEXT NOT NULL,
    role_id           TEXT NOT NULL,                 -- AROA…
    path              TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    trust_policy      TEXT NOT NULL,                 -- AssumeRolePolicyDocument, as given
    description       TEXT,
    max_session       BIGINT NOT NULL,              -- seconds, 3600..43200
    boundary_arn      TEXT,
    service           TEXT,                          -- set for a service-linked role: the service it is linked to
    last_used_at      BIGINT,
    last_used_region  TEXT,
    PRIMARY KEY (account, name_key)
);

CREATE TABLE IF NOT EXISTS iam_instance_profiles (
    account     TEXT NOT NULL,
    name_key    TEXT NOT NULL,
    name        TEXT NOT NULL,
    profile_id  TEXT NOT NULL,                       -- AIPA…
    path        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (account, name_key)
);

CREATE TABLE IF NOT EXISTS iam_profile_roles (
    account      TEXT NOT NULL,
    profile_key  TEXT NOT NULL,
    role_key     TEXT NOT NULL,
    PRIMARY KEY (account, profile_key, role_key)
);
CREATE INDEX IF NOT EXISTS iam_profile_roles_role ON iam_profile_roles (account, role_key);

-- Inline policies of a user, group or role (owner_kind), by the owner's name_key.
CREATE TABLE IF NOT EXISTS iam_inline_policies (
    account      TEXT NOT NULL,
    owner_kind   TEXT NOT NULL,                      -- user | group | role
    owner_key    TEXT NOT NULL,
    policy_name  TEXT NOT NULL,
    document     TEXT NOT NULL,
    PRIMARY KEY (account, owner_kind, owner_key, policy_name)
);

-- Customer managed policies (AWS managed ones are documents in the code, never rows).
CREATE TABLE IF NOT EXISTS iam_policies (
    arn              TEXT PRIMARY KEY,
    account          TEXT NOT NULL,
    name_key         TEXT NOT NULL,
    name             TEXT NOT NULL,
    policy_id        TEXT NOT NULL,                  -- ANPA…
    path             TEXT NOT NULL,
    description      TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    default_version  BIGINT NOT NULL,               -- vN of the default version
    next_version     BIGINT NOT NULL                -- the N of the next version created (never reused)
);
CREATE UNIQUE INDEX IF NOT EXISTS iam_policies_name ON iam_policies (account, name_key);

CREATE TABLE IF NOT EXISTS iam_policy_versions (
    arn         TEXT NOT NULL,
    version     BIGINT NOT NULL,
    document    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (arn, version)
);

-- Managed policies (customer or AWS managed, by ARN) attached to a user, group or role.
CREATE TABLE IF NOT EXISTS iam_attachments (
    account     TEXT NOT NULL,
    owner_kind  TEXT NOT NULL,                       -- user | group | role
    owner_key   TEXT NOT NULL,
    policy_arn  TEXT NOT NULL,
    PRIMARY KEY (account, owner_kind, owner_key, policy_arn)
);
CREATE INDEX IF NOT EXISTS iam_attachments_policy ON iam_attachments (account, policy_arn);

-- Tags of users, roles, managed policies and instance profiles. IAM tag keys are unique whatever their case.
CREATE TABLE IF NOT EXISTS iam_tags (
    account     TEXT NOT NULL,
    owner_kind  TEXT NOT NULL,                       -- user | role | policy | instance-profile | oidc-provider
    owner_key   TEXT NOT NULL,                       -- the name_key (a policy, a provider: its ARN)
    key_lower   TEXT NOT NULL,
    tag_key     TEXT NOT NULL,
    tag_value   TEXT NOT NULL,
    PRIMARY KEY (account, owner_kind, owner_key, key_lower)
);

-- OpenID Connect identity providers (the issuers web identity tokens come from), by ARN.
CREATE TABLE IF NOT EXISTS iam_oidc_providers (
    arn          TEXT PRIMARY KEY,                   -- arn:aws:iam::<account>:oidc-provider/<host and path>
    account      TEXT NOT NULL,
    url          TEXT NOT NULL,
    client_ids   TEXT NOT NULL,                      -- JSON list
    thumbprints  TEXT NOT NULL,                      -- JSON list
    created_at   BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS iam_oidc_providers_account ON iam_oidc_providers (account, arn);

-- Temporary credentials (ASIA…) from STS: AssumeRole, AssumeRoleWithWebIdentity, GetSessionToken.
CREATE TABLE IF NOT EXISTS iam_sessions (
    access_key_id  TEXT PRIMARY KEY,
    account        TEXT NOT NULL,
    secret         TEXT NOT NULL,
    session_token  TEXT NOT NULL,
    principal_arn  TEXT NOT NULL,                    -- arn:aws:sts::…:assumed-role/R/S, or the user's ARN
    user_id        TEXT NOT NULL,                    -- AROA…:session, or the user's AIDA…
    role_arn       TEXT,                             -- the role of an assumed-role session
    source_key     TEXT,                             -- the access key that asked for it
    session_policy TEXT,                             -- the Policy given to AssumeRole (it limits the session)
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS iam_sessions_expiry ON iam_sessions (expires_at);

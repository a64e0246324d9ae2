-- Lambda: functions, their versions and aliases, code packages, layers, queued async invocations.
-- Times are integer milliseconds since the epoch.
CREATE TABLE IF NOT EXISTS lambda_code (
    sha        TEXT PRIMARY KEY,             -- base64 SHA-256, as CodeSha256 reports it
    size       INTEGER NOT NULL,
    unzipped   INTEGER NOT NULL,
    zip        BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS lambda_functions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account       TEXT NOT NULL,
    region        TEXT NOT NULL,
    name          TEXT NOT NULL,
    arn           TEXT NOT NULL,
    tags          TEXT NOT NULL DEFAULT '{}',
    policy        TEXT NOT NULL DEFAULT '[]',   -- JSON list of resource-policy statements
    policy_rev    TEXT,
    reserved      INTEGER,                      -- reserved concurrency, NULL when none
    next_version  INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    UNIQUE (account, region, name)
);
CREATE INDEX IF NOT EXISTS lambda_functions_arn ON lambda_functions (arn);

CREATE TABLE IF NOT EXISTS lambda_versions (
    function_id   INTEGER NOT NULL REFERENCES lambda_functions (id) ON DELETE CASCADE,
    version       TEXT NOT NULL,                -- '$LATEST' or '1', '2', …
    config        TEXT NOT NULL,                -- JSON: the stored part of FunctionConfiguration
    code_sha      TEXT NOT NULL,
    revision_id   TEXT NOT NULL,
    modified_at   INTEGER NOT NULL,
    PRIMARY KEY (function_id, version)
);
CREATE INDEX IF NOT EXISTS lambda_versions_code ON lambda_versions (code_sha);

CREATE TABLE IF NOT EXISTS lambda_aliases (
    function_id   INTEGER NOT NULL REFERENCES lambda_functions (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    routing       TEXT,                         -- JSON RoutingConfig or NULL
    revision_id   TEXT NOT NULL,
    PRIMARY KEY (function_id, name)
);

CREATE TABLE IF NOT EXISTS lambda_layer_names (
    account       TEXT NOT NULL,
    region        TEXT NOT NULL,
    name          TEXT NOT NULL,
    next_version  INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (account, region, name)
);

CREATE TABLE IF NOT EXISTS lambda_layers (
    account       TEXT NOT NULL,
    region        TEXT NOT NULL,
    name          TEXT NOT NULL,
    version       INTEGER NOT NULL,
    arn           TEXT NOT NULL,                -- the layer version ARN
    config        TEXT NOT NULL,                -- JSON: description, runtimes, architectures, license, created date
    code_sha      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (account, region, name, version)
);
CREATE INDEX IF NOT EXISTS lambda_layers_arn ON lambda_layers (arn);

-- Invocations with InvocationType=Event, run in the background by whichever node claims them.
-- attempts / next_attempt_at leave room for retries with backoff; claimed_until lets another node
-- take over an invocation whose node died.
CREATE TABLE IF NOT EXISTS lambda_async (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account         TEXT NOT NULL,
    region          TEXT NOT NULL,
    function_name   TEXT NOT NULL,
    qualifier       TEXT,
    request_id      TEXT NOT NULL,
    payload         BLOB NOT NULL,
    client_context  TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    last_error      TEXT
);
CREATE INDEX IF NOT EXISTS lambda_async_due ON lambda_async (next_attempt_at, claimed_until);

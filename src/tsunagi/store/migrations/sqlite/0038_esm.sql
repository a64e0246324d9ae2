-- Lambda event source mappings (queue → function pollers) and per-function async invoke configs.
-- Times are integer milliseconds since the epoch.
CREATE TABLE IF NOT EXISTS lambda_esm (
    uuid            TEXT PRIMARY KEY,
    account         TEXT NOT NULL,
    region          TEXT NOT NULL,
    function_name   TEXT NOT NULL,              -- unqualified name
    function_arn    TEXT NOT NULL,              -- as reported (qualified when created with a qualifier)
    source_arn      TEXT NOT NULL,
    enabled         INTEGER NOT NULL,
    state           TEXT NOT NULL,              -- Creating, Enabled, Enabling, Updating, Disabling, Disabled, Deleting
    state_reason    TEXT NOT NULL,
    config          TEXT NOT NULL,              -- JSON: BatchSize, MaximumBatchingWindowInSeconds, FilterCriteria, …
    last_result     TEXT NOT NULL,
    modified_at     INTEGER NOT NULL,
    generation      INTEGER NOT NULL DEFAULT 1  -- bumped on every change; pollers apply a generation once
);
CREATE INDEX IF NOT EXISTS lambda_esm_function ON lambda_esm (account, region, function_name);
CREATE INDEX IF NOT EXISTS lambda_esm_source ON lambda_esm (source_arn);

CREATE TABLE IF NOT EXISTS lambda_event_invoke_configs (
    account         TEXT NOT NULL,
    region          TEXT NOT NULL,
    function_name   TEXT NOT NULL,
    qualifier       TEXT NOT NULL,              -- '$LATEST', a version or an alias
    config          TEXT NOT NULL,              -- JSON: MaximumRetryAttempts, MaximumEventAgeInSeconds, DestinationConfig
    modified_at     INTEGER NOT NULL,
    PRIMARY KEY (account, region, function_name, qualifier)
);

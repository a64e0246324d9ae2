-- CloudWatch Logs Insights: queries (kept a week, like AWS's query results) and saved query definitions.
-- Times are integer milliseconds since the epoch; lists and results are JSON text.
CREATE TABLE IF NOT EXISTS logs_queries (
    id            TEXT PRIMARY KEY,                 -- the queryId (a UUID)
    account       TEXT NOT NULL,
    region        TEXT NOT NULL,
    query_string  TEXT NOT NULL,
    group_names   TEXT NOT NULL,                    -- JSON list of the log group names queried
    status        TEXT NOT NULL,                    -- Scheduled, Running, Complete, Failed, Cancelled, Timeout
    created_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    results       TEXT,                             -- JSON rows once Complete
    statistics    TEXT                              -- JSON QueryStatistics once finished
);
CREATE INDEX IF NOT EXISTS logs_queries_created ON logs_queries (account, region, created_at);

CREATE TABLE IF NOT EXISTS logs_query_definitions (
    id             TEXT PRIMARY KEY,                -- the queryDefinitionId (a UUID)
    account        TEXT NOT NULL,
    region         TEXT NOT NULL,
    name           TEXT COLLATE "C" NOT NULL,
    query_string   TEXT NOT NULL,
    group_names    TEXT NOT NULL,                   -- JSON list
    parameters     TEXT NOT NULL,                   -- JSON list of {name, defaultValue, description}
    language       TEXT NOT NULL,
    last_modified  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_query_definitions_name ON logs_query_definitions (account, region, name);

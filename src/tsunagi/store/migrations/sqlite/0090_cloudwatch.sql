-- CloudWatch metrics and alarms (see store/cloudwatch.py). Times are milliseconds since the epoch.

-- Every metric ever written (ListMetrics): a namespace, a name and a set of dimensions, the last time
-- a datum arrived (RecentlyActive=PT3H). `dims` is the canonical form: a JSON list of [name, value]
-- pairs sorted by name.
CREATE TABLE IF NOT EXISTS cw_metrics (
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    namespace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    dims        TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (account, region, namespace, name, dims)
);

-- The data of a metric as aggregates: one row per period bucket (`period` seconds: 1 for
-- high-resolution data, 60, then 300 and 3600 after the retention roll-ups) and unit. `vals` is a
-- JSON object value -> count, bounded, for percentiles.
CREATE TABLE IF NOT EXISTS cw_data (
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    namespace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    dims        TEXT NOT NULL,
    period      INTEGER NOT NULL,
    ts          INTEGER NOT NULL,               -- the bucket's start
    unit        TEXT NOT NULL,
    n           REAL NOT NULL,                  -- sample count
    total       REAL NOT NULL,
    lo          REAL NOT NULL,
    hi          REAL NOT NULL,
    vals        TEXT NOT NULL,
    PRIMARY KEY (account, region, namespace, name, dims, period, ts, unit)
);
CREATE INDEX IF NOT EXISTS cw_data_age ON cw_data (period, ts);

-- Alarms, metric and composite. `doc` is the alarm's configuration as PutMetricAlarm or
-- PutCompositeAlarm took it (JSON); the state lives in its own columns, written by the evaluator.
CREATE TABLE IF NOT EXISTS cw_alarms (
    account          TEXT NOT NULL,
    region           TEXT NOT NULL,
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL,             -- MetricAlarm | CompositeAlarm
    doc              TEXT NOT NULL,
    actions_enabled  INTEGER NOT NULL DEFAULT 1,
    state            TEXT NOT NULL,             -- OK | ALARM | INSUFFICIENT_DATA
    reason           TEXT NOT NULL,
    reason_data      TEXT,
    state_at         INTEGER NOT NULL,          -- StateUpdatedTimestamp
    transitioned_at  INTEGER NOT NULL,          -- StateTransitionedTimestamp
    configured_at    INTEGER NOT NULL,
    PRIMARY KEY (account, region, name)
);

CREATE TABLE IF NOT EXISTS cw_alarm_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    alarm_name  TEXT NOT NULL,
    alarm_type  TEXT NOT NULL,
    ts          INTEGER NOT NULL,
    item_type   TEXT NOT NULL,                  -- ConfigurationUpdate | StateUpdate | Action
    summary     TEXT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cw_alarm_history_by_alarm ON cw_alarm_history (account, region, alarm_name, ts);

CREATE TABLE IF NOT EXISTS cw_tags (
    arn    TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);

-- Who runs the alarm evaluator and the retention sweep when several servers share a database.
CREATE TABLE IF NOT EXISTS cw_leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);

-- CloudWatch Logs: subscription filters and metric filters of a log group (they go with it).
-- `doc` is the rest of the filter as JSON: a subscription's destination, role and distribution; a
-- metric filter's transformations.
CREATE TABLE IF NOT EXISTS logs_filters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id    INTEGER NOT NULL REFERENCES logs_groups (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,                         -- 'subscription' or 'metric'
    name        TEXT NOT NULL,
    pattern     TEXT NOT NULL,
    doc         TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (group_id, kind, name)
);

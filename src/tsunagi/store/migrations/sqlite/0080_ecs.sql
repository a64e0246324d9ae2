-- ECS: clusters, task definitions (every revision), tasks, services, tags. Times are milliseconds since
-- the epoch. Each row keeps the columns it is looked up or filtered by, and the rest of what the API
-- returns for it as JSON (`doc`).
CREATE TABLE IF NOT EXISTS ecs_clusters (
    arn         TEXT PRIMARY KEY,                 -- arn:aws:ecs:<region>:<account>:cluster/<name>
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,                    -- ACTIVE | INACTIVE (deleted)
    created_at  INTEGER NOT NULL,
    doc         TEXT NOT NULL                     -- settings, configuration, capacity providers
);
CREATE INDEX IF NOT EXISTS ecs_clusters_account ON ecs_clusters (account, region, name);

CREATE TABLE IF NOT EXISTS ecs_task_definitions (
    arn              TEXT PRIMARY KEY,            -- arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>
    account          TEXT NOT NULL,
    region           TEXT NOT NULL,
    family           TEXT NOT NULL,
    revision         INTEGER NOT NULL,
    status           TEXT NOT NULL,               -- ACTIVE | INACTIVE | DELETE_IN_PROGRESS
    registered_at    INTEGER NOT NULL,
    deregistered_at  INTEGER,
    doc              TEXT NOT NULL                -- the task definition as registered
);
CREATE UNIQUE INDEX IF NOT EXISTS ecs_task_definitions_family ON ecs_task_definitions (account, region, family, revision);

-- A task: the node that runs it (`node`, host:port of the server), its process ids, and a secret token that
-- names it in the metadata and credentials endpoints. desired_status and the stop_* columns are written by
-- StopTask (any server) and the runner alike, first one wins; the runner alone writes the rest.
CREATE TABLE IF NOT EXISTS ecs_tasks (
    arn                  TEXT PRIMARY KEY,        -- arn:aws:ecs:<region>:<account>:task/<cluster>/<id>
    account              TEXT NOT NULL,
    region               TEXT NOT NULL,
    cluster_arn          TEXT NOT NULL,
    task_id              TEXT NOT NULL,
    family               TEXT NOT NULL,
    task_definition_arn  TEXT NOT NULL,
    last_status          TEXT NOT NULL,
    desired_status       TEXT NOT NULL,
    started_by           TEXT,
    task_group           TEXT,
    service_name         TEXT,
    launch_type          TEXT,
    created_at           INTEGER NOT NULL,
    started_at           INTEGER,
    stopping_at          INTEGER,
    stopped_at           INTEGER,
    stop_code            TEXT,
    stopped_reason       TEXT,
    node                 TEXT NOT NULL,
    token                TEXT NOT NULL,
    heartbeat_at         INTEGER NOT NULL,
    version              INTEGER NOT NULL DEFAULT 1,
    doc                  TEXT NOT NULL            -- containers, overrides, cpu, memory, pids, ...
);
CREATE INDEX IF NOT EXISTS ecs_tasks_cluster ON ecs_tasks (cluster_arn, desired_status, created_at);
CREATE INDEX IF NOT EXISTS ecs_tasks_node ON ecs_tasks (node, last_status);
CREATE INDEX IF NOT EXISTS ecs_tasks_token ON ecs_tasks (token);
CREATE INDEX IF NOT EXISTS ecs_tasks_stopped ON ecs_tasks (stopped_at);

CREATE TABLE IF NOT EXISTS ecs_services (
    arn            TEXT PRIMARY KEY,              -- arn:aws:ecs:<region>:<account>:service/<cluster>/<name>
    account        TEXT NOT NULL,
    region         TEXT NOT NULL,
    cluster_arn    TEXT NOT NULL,
    name           TEXT NOT NULL,
    status         TEXT NOT NULL,                 -- ACTIVE | DRAINING | INACTIVE
    desired_count  INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    doc            TEXT NOT NULL                  -- the service as DescribeServices returns it, events included
);
CREATE INDEX IF NOT EXISTS ecs_services_cluster ON ecs_services (cluster_arn, name);

CREATE TABLE IF NOT EXISTS ecs_tags (
    arn        TEXT NOT NULL,
    tag_key    TEXT NOT NULL,
    tag_value  TEXT NOT NULL,
    PRIMARY KEY (arn, tag_key)
);

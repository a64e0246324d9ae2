-- ECS (see store/ecs.py): clusters, task definitions, tasks, services, tags.

-- == clusters ================================================================================
-- name: cluster
SELECT arn, account, region, name, status, created_at, doc FROM ecs_clusters WHERE arn = ?;

-- name: upsert_cluster
-- CreateCluster: a new cluster, or an INACTIVE (deleted) one of the same name made ACTIVE again.
INSERT INTO ecs_clusters (arn, account, region, name, status, created_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (arn) DO UPDATE SET status = excluded.status, created_at = excluded.created_at, doc = excluded.doc;

-- name: update_cluster
UPDATE ecs_clusters SET status = ?, doc = ? WHERE arn = ?;

-- name: cluster_arns_page
SELECT arn FROM ecs_clusters WHERE account = ? AND region = ? AND status = 'ACTIVE' AND arn > ? ORDER BY arn LIMIT ?;

-- name: cluster_counts
-- Tasks by last status, and active services, of one cluster.
SELECT
  (SELECT COUNT(*) FROM ecs_tasks WHERE cluster_arn = ? AND last_status = 'RUNNING'),
  (SELECT COUNT(*) FROM ecs_tasks WHERE cluster_arn = ? AND last_status IN ('PROVISIONING', 'PENDING', 'ACTIVATING')),
  (SELECT COUNT(*) FROM ecs_services WHERE cluster_arn = ? AND status = 'ACTIVE');

-- name: active_task_count
SELECT COUNT(*) FROM ecs_tasks WHERE cluster_arn = ? AND last_status <> 'STOPPED';

-- == task definitions ========================================================================
-- name: task_definition
SELECT arn, account, region, family, revision, status, registered_at, deregistered_at, doc
FROM ecs_task_definitions WHERE account = ? AND region = ? AND family = ? AND revision = ?;

-- name: latest_task_definition
-- The latest ACTIVE revision of a family.
SELECT arn, account, region, family, revision, status, registered_at, deregistered_at, doc
FROM ecs_task_definitions WHERE account = ? AND region = ? AND family = ? AND status = 'ACTIVE'
ORDER BY revision DESC LIMIT 1;

-- name: last_revision
SELECT MAX(revision) FROM ecs_task_definitions WHERE account = ? AND region = ? AND family = ?;

-- name: insert_task_definition
INSERT INTO ecs_task_definitions (arn, account, region, family, revision, status, registered_at, deregistered_at, doc)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: set_task_definition_status
UPDATE ecs_task_definitions SET status = ?, deregistered_at = ? WHERE arn = ?;

-- name: delete_task_definition
DELETE FROM ecs_task_definitions WHERE arn = ?;

-- name: task_definitions_page
-- ListTaskDefinitions: by family (or all: family prefix ''), status, revision order either way, after a
-- (family, revision) position.
SELECT arn, family, revision FROM ecs_task_definitions
WHERE account = ? AND region = ? AND (? = '' OR family = ?) AND status = ?
  AND (family > ? OR (family = ? AND revision > ?))
ORDER BY family, revision LIMIT ?;

-- name: task_definitions_page_desc
SELECT arn, family, revision FROM ecs_task_definitions
WHERE account = ? AND region = ? AND (? = '' OR family = ?) AND status = ?
  AND (family < ? OR (family = ? AND revision < ?))
ORDER BY family DESC, revision DESC LIMIT ?;

-- name: families_page
-- ListTaskDefinitionFamilies: families starting with a prefix, that have a revision in a status ('' for any).
SELECT DISTINCT family FROM ecs_task_definitions
WHERE account = ? AND region = ? AND family LIKE ? ESCAPE '\' AND (? = '' OR status = ?)
  AND family > ?
ORDER BY family LIMIT ?;

-- == tasks ===================================================================================
-- name: insert_task
INSERT INTO ecs_tasks (arn, account, region, cluster_arn, task_id, family, task_definition_arn, last_status,
                       desired_status, started_by, task_group, service_name, launch_type, created_at, started_at,
                       stopping_at, stopped_at, stop_code, stopped_reason, node, token, heartbeat_at, version, doc)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: task
SELECT arn, account, region, cluster_arn, task_id, family, task_definition_arn, last_status, desired_status,
       started_by, task_group, service_name, launch_type, created_at, started_at, stopping_at, stopped_at,
       stop_code, stopped_reason, node, token, heartbeat_at, version, doc
FROM ecs_tasks WHERE arn = ?;

-- name: task_by_token
SELECT arn, account, region, cluster_arn, task_id, family, task_definition_arn, last_status, desired_status,
       started_by, task_group, service_name, launch_type, created_at, started_at, stopping_at, stopped_at,
       stop_code, stopped_reason, node, token, heartbeat_at, version, doc
FROM ecs_tasks WHERE token = ?;

-- name: update_task_progress
-- The runner: where the task is in its life, and what its containers did.
UPDATE ecs_tasks SET last_status = ?, started_at = ?, stopped_at = ?, heartbeat_at = ?, version = version + 1,
                     doc = ?
WHERE arn = ?;

-- name: request_stop
-- StopTask (or the runner, when an essential container exits): the first stop request wins.
UPDATE ecs_tasks SET desired_status = 'STOPPED', stopping_at = ?, stop_code = ?, stopped_reason = ?,
                     version = version + 1
WHERE arn = ? AND desired_status <> 'STOPPED';

-- name: heartbeat
UPDATE ecs_tasks SET heartbeat_at = ? WHERE node = ? AND last_status <> 'STOPPED';

-- name: node_tasks_alive
-- The tasks a server left behind (its earlier run on the same host and port), not yet STOPPED.
SELECT arn, account, region, cluster_arn, task_id, family, task_definition_arn, last_status, desired_status,
       started_by, task_group, service_name, launch_type, created_at, started_at, stopping_at, stopped_at,
       stop_code, stopped_reason, node, token, heartbeat_at, version, doc
FROM ecs_tasks WHERE node = ? AND last_status <> 'STOPPED';

-- name: orphaned_tasks
-- Tasks of other servers whose heartbeat stopped long ago (that server is gone).
SELECT arn, account, region, cluster_arn, task_id, family, task_definition_arn, last_status, desired_status,
       started_by, task_group, service_name, launch_type, created_at, started_at, stopping_at, stopped_at,
       stop_code, stopped_reason, node, token, heartbeat_at, version, doc
FROM ecs_tasks WHERE last_status <> 'STOPPED' AND heartbeat_at < ? AND node <> ? LIMIT 100;

-- name: tasks_page
-- ListTasks: a cluster's tasks with a desired status, optionally of one family, started by, service or
-- launch type ('' for any), in ARN order after a position.
SELECT arn FROM ecs_tasks
WHERE cluster_arn = ? AND desired_status = ? AND (? = '' OR family = ?) AND (? = '' OR started_by = ?)
  AND (? = '' OR service_name = ?) AND (? = '' OR launch_type = ?) AND arn > ?
ORDER BY arn LIMIT ?;

-- name: service_tasks
-- A service's tasks not yet asked to stop, oldest first.
SELECT arn, last_status, started_by, created_at FROM ecs_tasks
WHERE cluster_arn = ? AND service_name = ? AND desired_status = 'RUNNING' ORDER BY created_at, arn;

-- name: service_failed_tasks
-- A service's tasks that stopped on their own (not asked to) since a time, by deployment.
SELECT started_by, COUNT(*) FROM ecs_tasks
WHERE cluster_arn = ? AND service_name = ? AND stopped_at >= ? AND stop_code IN ('EssentialContainerExited', 'TaskFailedToStart')
GROUP BY started_by;

-- name: purge_stopped_tasks
DELETE FROM ecs_tasks WHERE stopped_at IS NOT NULL AND stopped_at < ?;

-- == services ================================================================================
-- name: service
SELECT arn, account, region, cluster_arn, name, status, desired_count, created_at, updated_at, doc
FROM ecs_services WHERE arn = ?;

-- name: upsert_service
INSERT INTO ecs_services (arn, account, region, cluster_arn, name, status, desired_count, created_at, updated_at, doc)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (arn) DO UPDATE SET status = excluded.status, desired_count = excluded.desired_count,
  created_at = excluded.created_at, updated_at = excluded.updated_at, doc = excluded.doc;

-- name: update_service_progress
-- The scheduler: counts, deployments, events; only if nobody updated the service meanwhile.
UPDATE ecs_services SET status = ?, doc = ? WHERE arn = ? AND updated_at = ?;

-- name: services_page
SELECT arn FROM ecs_services WHERE cluster_arn = ? AND status <> 'INACTIVE' AND arn > ? ORDER BY arn LIMIT ?;

-- name: active_services
SELECT arn, account, region, cluster_arn, name, status, desired_count, created_at, updated_at, doc
FROM ecs_services WHERE status <> 'INACTIVE';

-- name: delete_service
DELETE FROM ecs_services WHERE arn = ?;

-- == tags ====================================================================================
-- name: tags
SELECT tag_key, tag_value FROM ecs_tags WHERE arn = ? ORDER BY tag_key;

-- name: put_tag
INSERT INTO ecs_tags (arn, tag_key, tag_value) VALUES (?, ?, ?)
ON CONFLICT (arn, tag_key) DO UPDATE SET tag_value = excluded.tag_value;

-- name: delete_tag
DELETE FROM ecs_tags WHERE arn = ? AND tag_key = ?;

-- name: delete_tags
DELETE FROM ecs_tags WHERE arn = ?;

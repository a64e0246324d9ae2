-- API Gateway (see store/apigateway.py): REST APIs, resources, deployments, stages, other documents.

-- == REST APIs ===============================================================================
-- name: insert_api
INSERT INTO apigw_rest_apis (api_id, account, region, name, created_at, doc) VALUES (?, ?, ?, ?, ?, ?);

-- name: api
SELECT api_id, account, region, name, created_at, doc FROM apigw_rest_apis WHERE api_id = ?;

-- name: apis_page
-- GetRestApis: the account's APIs in one region, in id order, after a position.
SELECT api_id, account, region, name, created_at, doc FROM apigw_rest_apis
WHERE account = ? AND region = ? AND api_id > ? ORDER BY api_id LIMIT ?;

-- name: update_api
UPDATE apigw_rest_apis SET name = ?, doc = ? WHERE api_id = ?;

-- name: delete_api
DELETE FROM apigw_rest_apis WHERE api_id = ?;

-- == resources ===============================================================================
-- name: insert_resource
INSERT INTO apigw_resources (api_id, resource_id, parent_id, path, doc) VALUES (?, ?, ?, ?, ?);

-- name: resource
SELECT api_id, resource_id, parent_id, path, doc FROM apigw_resources WHERE api_id = ? AND resource_id = ?;

-- name: resources
SELECT api_id, resource_id, parent_id, path, doc FROM apigw_resources WHERE api_id = ? ORDER BY path;

-- name: update_resource
UPDATE apigw_resources SET parent_id = ?, path = ?, doc = ? WHERE api_id = ? AND resource_id = ?;

-- name: delete_resource
DELETE FROM apigw_resources WHERE api_id = ? AND resource_id = ?;

-- name: delete_resources
DELETE FROM apigw_resources WHERE api_id = ?;

-- == deployments =============================================================================
-- name: insert_deployment
INSERT INTO apigw_deployments (api_id, deployment_id, created_at, doc, snapshot) VALUES (?, ?, ?, ?, ?);

-- name: deployment
SELECT api_id, deployment_id, created_at, doc, snapshot FROM apigw_deployments
WHERE api_id = ? AND deployment_id = ?;

-- name: deployments
SELECT api_id, deployment_id, created_at, doc, snapshot FROM apigw_deployments WHERE api_id = ?
ORDER BY created_at, deployment_id;

-- name: delete_deployment
DELETE FROM apigw_deployments WHERE api_id = ? AND deployment_id = ?;

-- name: delete_deployments
DELETE FROM apigw_deployments WHERE api_id = ?;

-- == stages ==================================================================================
-- name: insert_stage
INSERT INTO apigw_stages (api_id, stage_name, deployment_id, doc) VALUES (?, ?, ?, ?);

-- name: stage
SELECT api_id, stage_name, deployment_id, doc FROM apigw_stages WHERE api_id = ? AND stage_name = ?;

-- name: stages
SELECT api_id, stage_name, deployment_id, doc FROM apigw_stages WHERE api_id = ? ORDER BY stage_name;

-- name: update_stage
UPDATE apigw_stages SET deployment_id = ?, doc = ? WHERE api_id = ? AND stage_name = ?;

-- name: delete_stage
DELETE FROM apigw_stages WHERE api_id = ? AND stage_name = ?;

-- name: delete_stages
DELETE FROM apigw_stages WHERE api_id = ?;

-- name: stages_of_deployment
SELECT stage_name FROM apigw_stages WHERE api_id = ? AND deployment_id = ? ORDER BY stage_name;

-- == other documents =========================================================================
-- name: insert_object
INSERT INTO apigw_objects (scope, kind, object_id, account, region, lookup, created_at, doc)
VALUES (?, ?, ?, ?, ?, ?, ?, ?);

-- name: object
SELECT scope, kind, object_id, account, region, lookup, created_at, doc FROM apigw_objects
WHERE scope = ? AND kind = ? AND object_id = ?;

-- name: objects
SELECT scope, kind, object_id, account, region, lookup, created_at, doc FROM apigw_objects
WHERE scope = ? AND kind = ? ORDER BY created_at, object_id;

-- name: objects_of_account
SELECT scope, kind, object_id, account, region, lookup, created_at, doc FROM apigw_objects
WHERE account = ? AND region = ? AND kind = ? ORDER BY created_at, object_id;

-- name: objects_by_lookup
SELECT scope, kind, object_id, account, region, lookup, created_at, doc FROM apigw_objects
WHERE kind = ? AND lookup = ?;

-- name: update_object
UPDATE apigw_objects SET lookup = ?, doc = ? WHERE scope = ? AND kind = ? AND object_id = ?;

-- name: delete_object
DELETE FROM apigw_objects WHERE scope = ? AND kind = ? AND object_id = ?;

-- name: delete_objects_of_scope
DELETE FROM apigw_objects WHERE scope = ?;

-- API Gateway (REST APIs, v1): APIs, their resource trees, deployments (each a frozen copy of the tree
-- as it was deployed), stages, and the other things an API or an account owns (authorizers, models,
-- request validators, gateway responses, API keys, usage plans) as JSON documents in the shapes of
-- the API's own output. Times are seconds since the epoch, as the API shows them.
CREATE TABLE IF NOT EXISTS apigw_rest_apis (
    api_id      TEXT PRIMARY KEY,                     -- 10 lower-case letters and digits
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    doc         TEXT NOT NULL                         -- the RestApi, as GetRestApi answers it
);
CREATE INDEX IF NOT EXISTS apigw_rest_apis_account ON apigw_rest_apis (account, region, api_id);

CREATE TABLE IF NOT EXISTS apigw_resources (
    api_id      TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    parent_id   TEXT,                                 -- NULL for the root resource "/"
    path        TEXT NOT NULL,
    doc         TEXT NOT NULL,                        -- the Resource with its resourceMethods
    PRIMARY KEY (api_id, resource_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS apigw_resources_path ON apigw_resources (api_id, path);

CREATE TABLE IF NOT EXISTS apigw_deployments (
    api_id        TEXT NOT NULL,
    deployment_id TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    doc           TEXT NOT NULL,                      -- the Deployment (id, description, createdDate)
    snapshot      TEXT NOT NULL,                      -- the API and its resources as deployed
    PRIMARY KEY (api_id, deployment_id)
);

CREATE TABLE IF NOT EXISTS apigw_stages (
    api_id        TEXT NOT NULL,
    stage_name    TEXT NOT NULL,
    deployment_id TEXT NOT NULL,
    doc           TEXT NOT NULL,                      -- the Stage, as GetStage answers it
    PRIMARY KEY (api_id, stage_name)
);

-- scope: the API's id for what an API owns; '' for what an account owns (API keys, usage plans).
-- lookup: a second name to find a document by (an API key's value), '' when it has none.
CREATE TABLE IF NOT EXISTS apigw_objects (
    scope       TEXT NOT NULL,
    kind        TEXT NOT NULL,                        -- authorizer | model | validator | gatewayresponse | apikey | usageplan | usageplankey
    object_id   TEXT NOT NULL,
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    lookup      TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    doc         TEXT NOT NULL,
    PRIMARY KEY (scope, kind, object_id)
);
CREATE INDEX IF NOT EXISTS apigw_objects_account ON apigw_objects (account, region, kind, object_id);
CREATE INDEX IF NOT EXISTS apigw_objects_lookup ON apigw_objects (kind, lookup);

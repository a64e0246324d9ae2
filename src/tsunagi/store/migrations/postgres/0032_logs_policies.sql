-- CloudWatch Logs' account-wide documents: resource policies, destinations, account policies and
-- data protection policies, one row each, keyed by kind and name (a data protection policy's name is
-- its log group's). `doc` is the rest as JSON, shaped by the service.
CREATE TABLE IF NOT EXISTS logs_documents (
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    doc         TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (account, region, kind, name)
);

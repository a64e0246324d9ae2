-- Core tables shared by every service.
-- Resource tags for services that keep them apart from the resource row (ARN-keyed).
CREATE TABLE IF NOT EXISTS tags (
    arn   TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);

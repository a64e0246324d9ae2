-- Which node waits for notifications of which key on a targeted channel (PostgreSQL: long polls
-- parked on a queue). A sender notifies only the nodes listed here, each on its own channel; a row
-- is a lease the node renews while it still waits, and one that ran out is ignored. A store of its
-- own (SQLite) keeps the table empty. Node state, not data: a reset leaves it alone.
CREATE TABLE IF NOT EXISTS tsunagi_interest (
    node        TEXT NOT NULL,
    channel     TEXT NOT NULL,
    key         TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (channel, key, node)
);

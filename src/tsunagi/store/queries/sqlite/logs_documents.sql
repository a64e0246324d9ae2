-- CloudWatch Logs' account-wide documents (see store/logs_documents.py).

-- name: get
SELECT name, doc, created_at, updated_at FROM logs_documents
WHERE account = ? AND region = ? AND kind = ? AND name = ?;

-- name: upsert
INSERT INTO logs_documents (account, region, kind, name, doc, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account, region, kind, name) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at;

-- name: delete
DELETE FROM logs_documents WHERE account = ? AND region = ? AND kind = ? AND name = ?;

-- name: count
SELECT count(*) FROM logs_documents WHERE account = ? AND region = ? AND kind = ?;

-- name: list
-- Documents of a kind by name, after a name, optionally with a name prefix (NULL: any).
SELECT name, doc, created_at, updated_at FROM logs_documents
WHERE account = ? AND region = ? AND kind = ?
  AND (CAST(? AS TEXT) IS NULL OR substr(name, 1, length(CAST(? AS TEXT))) = ?)
  AND name > ?
ORDER BY name LIMIT ?;

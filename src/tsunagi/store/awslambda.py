"""The Lambda repository: every SQL statement the Lambda service runs, for both dialects.

Functions live in ``lambda_functions`` (function-wide settings: tags, resource policy, reserved
concurrency, the next version number) and ``lambda_versions`` (one row per ``$LATEST`` and per
published version, with its configuration as JSON and its code's SHA-256). Code packages are
content-addressed in ``lambda_code`` so several servers on one PostgreSQL share them; each node
unpacks them into its own cache. ``lambda_async`` is the durable queue of Event invocations.
"""

from __future__ import annotations

from typing import Any

from tsunagi.store.base import IntegrityError, Row, Store, Tx

ASYNC_CHANNEL = "lambda-async"     # payload: the invocation id (work may be due)
META_CHANNEL = "lambda-meta"       # a function, version, alias or limit changed (drop cached rows)

FN_COLS = "id, account, region, name, arn, tags, policy, policy_rev, reserved, next_version, created_at"
VER_COLS = "version, config, code_sha, revision_id, modified_at"


class FunctionExists(IntegrityError):
    pass


class LambdaRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.pg = store.dialect == "postgresql"
        self._skip = " FOR UPDATE SKIP LOCKED" if self.pg else ""

    # == code ==================================================================================
    @staticmethod
    async def _put_code(tx: Tx, sha: str, data: bytes, unzipped: int) -> None:
        await tx.execute("INSERT INTO lambda_code (sha, size, unzipped, zip) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT (sha) DO NOTHING", (sha, len(data), unzipped, data))

    async def put_code(self, sha: str, data: bytes, unzipped: int) -> None:
        await self._put_code(self.store, sha, data, unzipped)

    async def get_code(self, sha: str) -> bytes | None:
        row = await self.store.fetchone("SELECT zip FROM lambda_code WHERE sha = ?", (sha,))
        return bytes(row[0]) if row else None

    async def code_exists(self, sha: str) -> bool:
        return await self.store.fetchone("SELECT 1 FROM lambda_code WHERE sha = ?", (sha,)) is not None

    @staticmethod
    async def _gc_code(tx: Tx, shas: set[str]) -> None:
        for sha in shas:
            await tx.execute(
                "DELETE FROM lambda_code WHERE sha = ? AND NOT EXISTS (SELECT 1 FROM lambda_versions WHERE "
                "code_sha = ?) AND NOT EXISTS (SELECT 1 FROM lambda_layers WHERE code_sha = ?)", (sha, sha, sha))

    # == functions =============================================================================
    async def function(self, account: str, region: str, name: str) -> Row | None:
        return await self.store.fetchone(
            f"SELECT {FN_COLS} FROM lambda_functions WHERE account = ? AND region = ? AND name = ?",
            (account, region, name))

    async def create_function(self, account: str, region: str, name: str, arn: str, tags: str, now: int,
                              config: str, sha: str, data: bytes | None, unzipped: int, revision: str) -> int:
        try:
            async with self.store.transaction() as tx:
                if data is not None:
                    await self._put_code(tx, sha, data, unzipped)
                row = await tx.fetchone(
                    "INSERT INTO lambda_functions (account, region, name, arn, tags, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) RETURNING id", (account, region, name, arn, tags, now))
                assert row is not None
                fid = int(row[0])
                await tx.execute(
                    "INSERT INTO lambda_versions (function_id, version, config, code_sha, revision_id, modified_at) "
                    "VALUES (?, '$LATEST', ?, ?, ?, ?)", (fid, config, sha, revision, now))
                return fid
        except IntegrityError:
            raise FunctionExists(name) from None

    async def delete_function(self, function_id: int) -> None:
        async with self.store.transaction() as tx:
            shas = {r[0] for r in await tx.fetchall(
                "SELECT code_sha FROM lambda_versions WHERE function_id = ?", (function_id,))}
            await tx.execute("DELETE FROM lambda_aliases WHERE function_id = ?", (function_id,))
            await tx.execute("DELETE FROM lambda_versions WHERE function_id = ?", (function_id,))
            await tx.execute("DELETE FROM lambda_functions WHERE id = ?", (function_id,))
            await self._gc_code(tx, shas)

    async def list_functions(self, account: str, region: str, after: str, limit: int) -> list[Row]:
        return await self.store.fetchall(
            "SELECT f.name, v.config, v.code_sha, v.revision_id, v.modified_at FROM lambda_functions f "
            "JOIN lambda_versions v ON v.function_id = f.id AND v.version = '$LATEST' "
            "WHERE f.account = ? AND f.region = ? AND f.name > ? ORDER BY f.name LIMIT ?",
            (account, region, after, limit))

    async def set_tags(self, function_id: int, tags: str) -> None:
        await self.store.execute("UPDATE lambda_functions SET tags = ? WHERE id = ?", (tags, function_id))

    async def set_policy(self, function_id: int, policy: str, revision: str | None,
                         expected_revision: str | None) -> bool:
        if expected_revision is None:
            n = await self.store.execute("UPDATE lambda_functions SET policy = ?, policy_rev = ? WHERE id = ?",
                                         (policy, revision, function_id))
        else:
            n = await self.store.execute(
                "UPDATE lambda_functions SET policy = ?, policy_rev = ? WHERE id = ? AND policy_rev = ?",
                (policy, revision, function_id, expected_revision))
        return n > 0

    async def set_reserved(self, function_id: int, reserved: int | None) -> None:
        await self.store.execute("UPDATE lambda_functions SET reserved = ? WHERE id = ?", (reserved, function_id))

    async def reserved_total(self, account: str, region: str, exclude_id: int | None = None) -> int:
        row = await self.store.fetchone(
            "SELECT COALESCE(SUM(reserved), 0) FROM lambda_functions WHERE account = ? AND region = ? "
            "AND reserved IS NOT NULL AND id <> ?", (account, region, exclude_id or -1))
        return int(row[0]) if row else 0

    async def usage(self, account: str, region: str) -> tuple[int, int]:
        """(number of functions, total code size of every version)."""
        row = await self.store.fetchone(
            "SELECT COUNT(DISTINCT f.id), COALESCE(SUM(c.size), 0) FROM lambda_functions f "
            "JOIN lambda_versions v ON v.function_id = f.id JOIN lambda_code c ON c.sha = v.code_sha "
            "WHERE f.account = ? AND f.region = ?", (account, region))
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def notify_changed(self) -> None:
        async with self.store.transaction() as tx:
            tx.notify(META_CHANNEL, "")

    # == versions ==============================================================================
    async def version(self, function_id: int, version: str) -> Row | None:
        return await self.store.fetchone(
            f"SELECT {VER_COLS} FROM lambda_versions WHERE function_id = ? AND version = ?",
            (function_id, version))

    async def versions(self, function_id: int) -> list[Row]:
        rows = await self.store.fetchall(
            f"SELECT {VER_COLS} FROM lambda_versions WHERE function_id = ?", (function_id,))
        return sorted(rows, key=lambda r: (r[0] != "$LATEST", int(r[0]) if r[0].isdigit() else 0))

    async def update_latest(self, function_id: int, config: str, sha: str, revision: str, now: int,
                            expected_revision: str | None, data: bytes | None = None, unzipped: int = 0) -> bool:
        async with self.store.transaction() as tx:
            old = await tx.fetchone("SELECT code_sha, revision_id FROM lambda_versions WHERE function_id = ? "
                                    "AND version = '$LATEST'", (function_id,))
            if old is None or (expected_revision is not None and old[1] != expected_revision):
                return False
            if data is not None:
                await self._put_code(tx, sha, data, unzipped)
            await tx.execute(
                "UPDATE lambda_versions SET config = ?, code_sha = ?, revision_id = ?, modified_at = ? "
                "WHERE function_id = ? AND version = '$LATEST'", (config, sha, revision, now, function_id))
            if old[0] != sha:
                await self._gc_code(tx, {old[0]})
            return True

    async def publish_version(self, function_id: int, config_for: Any, sha: str, revision: str,
                              now: int) -> str:
        """Insert the next version; ``config_for(version)`` gives its configuration JSON."""
        async with self.store.transaction() as tx:
            lock = " FOR UPDATE" if self.pg else ""
            row = await tx.fetchone(f"SELECT next_version FROM lambda_functions WHERE id = ?{lock}", (function_id,))
            assert row is not None
            version = str(row[0])
            await tx.execute("UPDATE lambda_functions SET next_version = next_version + 1 WHERE id = ?",
                             (function_id,))
            await tx.execute(
                "INSERT INTO lambda_versions (function_id, version, config, code_sha, revision_id, modified_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", (function_id, version, config_for(version), sha, revision, now))
            return version

    async def delete_version(self, function_id: int, version: str) -> None:
        async with self.store.transaction() as tx:
            row = await tx.fetchone("SELECT code_sha FROM lambda_versions WHERE function_id = ? AND version = ?",
                                    (function_id, version))
            await tx.execute("DELETE FROM lambda_versions WHERE function_id = ? AND version = ?",
                             (function_id, version))
            if row:
                await self._gc_code(tx, {row[0]})

    # == aliases ===============================================================================
    async def alias(self, function_id: int, name: str) -> Row | None:
        return await self.store.fetchone(
            "SELECT name, version, description, routing, revision_id FROM lambda_aliases "
            "WHERE function_id = ? AND name = ?", (function_id, name))

    async def aliases(self, function_id: int) -> list[Row]:
        return await self.store.fetchall(
            "SELECT name, version, description, routing, revision_id FROM lambda_aliases WHERE function_id = ? "
            "ORDER BY name", (function_id,))

    async def create_alias(self, function_id: int, name: str, version: str, description: str,
                           routing: str | None, revision: str) -> bool:
        try:
            await self.store.execute(
                "INSERT INTO lambda_aliases (function_id, name, version, description, routing, revision_id) "
                "VALUES (?, ?, ?, ?, ?, ?)", (function_id, name, version, description, routing, revision))
            return True
        except IntegrityError:
            return False

    async def update_alias(self, function_id: int, name: str, version: str, description: str,
                           routing: str | None, revision: str) -> None:
        await self.store.execute(
            "UPDATE lambda_aliases SET version = ?, description = ?, routing = ?, revision_id = ? "
            "WHERE function_id = ? AND name = ?", (version, description, routing, revision, function_id, name))

    async def delete_alias(self, function_id: int, name: str) -> None:
        await self.store.execute("DELETE FROM lambda_aliases WHERE function_id = ? AND name = ?",
                                 (function_id, name))

    async def version_in_aliases(self, function_id: int, version: str) -> list[str]:
        rows = await self.store.fetchall(
            "SELECT name, routing FROM lambda_aliases WHERE function_id = ? AND (version = ? OR routing LIKE ?)",
            (function_id, version, f'%"{version}"%'))
        return [r[0] for r in rows]

    # == layers ================================================================================
    async def publish_layer(self, account: str, region: str, name: str, arn_for: Any, config: str, sha: str,
                            data: bytes, unzipped: int, now: int) -> tuple[int, str]:
        async with self.store.transaction() as tx:
            await self._put_code(tx, sha, data, unzipped)
            await tx.execute("INSERT INTO lambda_layer_names (account, region, name) VALUES (?, ?, ?) "
                             "ON CONFLICT (account, region, name) DO NOTHING", (account, region, name))
            lock = " FOR UPDATE" if self.pg else ""
            row = await tx.fetchone("SELECT next_version FROM lambda_layer_names WHERE account = ? AND region = ? "
                                    f"AND name = ?{lock}", (account, region, name))
            assert row is not None
            version = int(row[0])
            await tx.execute("UPDATE lambda_layer_names SET next_version = next_version + 1 WHERE account = ? "
                             "AND region = ? AND name = ?", (account, region, name))
            arn = arn_for(version)
            await tx.execute(
                "INSERT INTO lambda_layers (account, region, name, version, arn, config, code_sha, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (account, region, name, version, arn, config, sha, now))
            return version, arn

    async def layer(self, account: str, region: str, name: str, version: int) -> Row | None:
        return await self.store.fetchone(
            "SELECT l.name, l.version, l.arn, l.config, l.code_sha, c.size FROM lambda_layers l "
            "JOIN lambda_code c ON c.sha = l.code_sha WHERE l.account = ? AND l.region = ? AND l.name = ? "
            "AND l.version = ?", (account, region, name, version))

    async def layer_by_arn(self, arn: str) -> Row | None:
        return await self.store.fetchone(
            "SELECT l.name, l.version, l.arn, l.config, l.code_sha, c.size FROM lambda_layers l "
            "JOIN lambda_code c ON c.sha = l.code_sha WHERE l.arn = ?", (arn,))

    async def layer_versions(self, account: str, region: str, name: str) -> list[Row]:
        return await self.store.fetchall(
            "SELECT l.name, l.version, l.arn, l.config, l.code_sha, c.size FROM lambda_layers l "
            "JOIN lambda_code c ON c.sha = l.code_sha WHERE l.account = ? AND l.region = ? AND l.name = ? "
            "ORDER BY l.version DESC", (account, region, name))

    async def layers(self, account: str, region: str) -> list[Row]:
        """The latest version of every layer."""
        return await self.store.fetchall(
            "SELECT l.name, l.version, l.arn, l.config, l.code_sha, c.size FROM lambda_layers l "
            "JOIN lambda_code c ON c.sha = l.code_sha WHERE l.account = ? AND l.region = ? AND l.version = "
            "(SELECT MAX(version) FROM lambda_layers m WHERE m.account = l.account AND m.region = l.region "
            "AND m.name = l.name) ORDER BY l.name", (account, region))

    async def delete_layer(self, account: str, region: str, name: str, version: int) -> None:
        async with self.store.transaction() as tx:
            row = await tx.fetchone("SELECT code_sha FROM lambda_layers WHERE account = ? AND region = ? "
                                    "AND name = ? AND version = ?", (account, region, name, version))
            await tx.execute("DELETE FROM lambda_layers WHERE account = ? AND region = ? AND name = ? "
                             "AND version = ?", (account, region, name, version))
            if row:
                await self._gc_code(tx, {row[0]})

    # == asynchronous invocations =================================================================
    async def enqueue(self, account: str, region: str, function_name: str, qualifier: str | None,
                      request_id: str, payload: bytes, client_context: str | None, now: int, trace_id: str,
                      trace_header: str | None) -> int:
        async with self.store.transaction() as tx:
            row = await tx.fetchone(
                "INSERT INTO lambda_async (account, region, function_name, qualifier, request_id, payload, "
                "client_context, next_attempt_at, created_at, trace_id, trace_header) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (account, region, function_name, qualifier, request_id, payload, client_context, now, now, trace_id,
                 trace_header))
            assert row is not None
            tx.notify(ASYNC_CHANNEL, str(row[0]))
            return int(row[0])

    async def claim_due(self, now: int, lease_ms: int, limit: int) -> list[Row]:
        """Claim up to ``limit`` due invocations for ``lease_ms`` (another node may take them after)."""
        return await self.store.fetchall(
            "UPDATE lambda_async SET claimed_until = ?, attempts = attempts + 1 WHERE id IN ("
            "SELECT id FROM lambda_async WHERE next_attempt_at <= ? AND claimed_until <= ? "
            f"ORDER BY next_attempt_at, id LIMIT ?{self._skip}) RETURNING id, account, region, function_name, "
            "qualifier, request_id, payload, client_context, attempts, created_at, trace_id, trace_header",
            (now + lease_ms, now, now, limit))

    async def next_due(self) -> int | None:
        row = await self.store.fetchone("SELECT MIN(MAX(next_attempt_at, claimed_until)) FROM lambda_async"
                                        if not self.pg else
                                        "SELECT MIN(GREATEST(next_attempt_at, claimed_until)) FROM lambda_async")
        return int(row[0]) if row and row[0] is not None else None

    async def finish_async(self, invocation_id: int) -> None:
        await self.store.execute("DELETE FROM lambda_async WHERE id = ?", (invocation_id,))

    async def retry_async(self, invocation_id: int, next_at: int, error: str) -> None:
        await self.store.execute(
            "UPDATE lambda_async SET next_attempt_at = ?, claimed_until = 0, last_error = ? WHERE id = ?",
            (next_at, error, invocation_id))

    async def pending_async(self, account: str, region: str) -> int:
        row = await self.store.fetchone("SELECT COUNT(*) FROM lambda_async WHERE account = ? AND region = ?",
                                        (account, region))
        return int(row[0]) if row else 0

"""The Lambda repository: the statements the Lambda service runs (``queries/*/awslambda.sql``).

Functions live in ``lambda_functions`` (function-wide settings: tags, resource policy, reserved
concurrency, the next version number) and ``lambda_versions`` (one row per ``$LATEST`` and per
published version, with its configuration as JSON and its code's SHA-256). Code packages are
content-addressed in ``lambda_code`` so several servers on one PostgreSQL share them; each node
unpacks them into its own cache. ``lambda_async`` is the durable queue of Event invocations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from tsunagi.store import queries
from tsunagi.store.base import IntegrityError, Store, Tx

ASYNC_CHANNEL = "lambda-async"     # payload: the invocation id (work may be due)
META_CHANNEL = "lambda-meta"       # a function, version, alias or limit changed (drop cached rows)


class FunctionRow(NamedTuple):
    id: int
    account: str
    region: str
    name: str
    arn: str
    tags: str
    policy: str | None
    policy_rev: str | None
    reserved: int | None
    next_version: int
    created_at: int


class VersionRow(NamedTuple):
    version: str
    config: str
    code_sha: str
    revision_id: str
    modified_at: int


class ListedFunction(NamedTuple):
    name: str
    config: str
    code_sha: str
    revision_id: str
    modified_at: int


class AliasRow(NamedTuple):
    name: str
    version: str
    description: str
    routing: str | None
    revision_id: str


class LayerRow(NamedTuple):
    name: str
    version: int
    arn: str
    config: str
    code_sha: str
    size: int


class AsyncRow(NamedTuple):
    """A claimed Event invocation."""

    id: int
    account: str
    region: str
    function_name: str
    qualifier: str | None
    request_id: str
    payload: bytes
    client_context: str | None
    attempts: int
    created_at: int
    trace_id: str
    trace_header: str | None


class FunctionExists(IntegrityError):
    pass


class LambdaRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.q = queries.load("awslambda", store.dialect)

    # == code ==================================================================================
    async def _put_code(self, tx: Tx | Store, sha: str, data: bytes, unzipped: int) -> None:
        await tx.execute(self.q.put_code, (sha, len(data), unzipped, data))

    async def put_code(self, sha: str, data: bytes, unzipped: int) -> None:
        await self._put_code(self.store, sha, data, unzipped)

    async def get_code(self, sha: str) -> bytes | None:
        row = await self.store.fetchone(self.q.get_code, (sha,))
        return bytes(row[0]) if row else None

    async def code_exists(self, sha: str) -> bool:
        return await self.store.fetchone(self.q.code_exists, (sha,)) is not None

    async def _gc_code(self, tx: Tx, shas: set[str]) -> None:
        for sha in shas:
            await tx.execute(self.q.gc_code, (sha, sha, sha))

    # == functions =============================================================================
    async def function(self, account: str, region: str, name: str) -> FunctionRow | None:
        row = await self.store.fetchone(self.q.function, (account, region, name))
        return FunctionRow._make(row) if row else None

    async def create_function(self, account: str, region: str, name: str, arn: str, tags: str, now: int,
                              config: str, sha: str, data: bytes | None, unzipped: int, revision: str) -> int:
        try:
            async with self.store.transaction() as tx:
                if data is not None:
                    await self._put_code(tx, sha, data, unzipped)
                row = await tx.fetchone(self.q.insert_function, (account, region, name, arn, tags, now))
                assert row is not None
                fid = int(row[0])
                await tx.execute(self.q.insert_latest, (fid, config, sha, revision, now))
                return fid
        except IntegrityError:
            raise FunctionExists(name) from None

    async def delete_function(self, function_id: int) -> None:
        async with self.store.transaction() as tx:
            shas = {r[0] for r in await tx.fetchall(self.q.function_code_shas, (function_id,))}
            await tx.execute(self.q.delete_function_aliases, (function_id,))
            await tx.execute(self.q.delete_function_versions, (function_id,))
            await tx.execute(self.q.delete_function, (function_id,))
            await self._gc_code(tx, shas)

    async def list_functions(self, account: str, region: str, after: str, limit: int) -> list[ListedFunction]:
        rows = await self.store.fetchall(self.q.list_functions, (account, region, after, limit))
        return [ListedFunction._make(r) for r in rows]

    async def set_tags(self, function_id: int, tags: str) -> None:
        await self.store.execute(self.q.set_tags, (tags, function_id))

    async def set_policy(self, function_id: int, policy: str, revision: str | None,
                         expected_revision: str | None) -> bool:
        if expected_revision is None:
            n = await self.store.execute(self.q.set_policy, (policy, revision, function_id))
        else:
            n = await self.store.execute(self.q.set_policy_if, (policy, revision, function_id, expected_revision))
        return n > 0

    async def set_reserved(self, function_id: int, reserved: int | None) -> None:
        await self.store.execute(self.q.set_reserved, (reserved, function_id))

    async def reserved_total(self, account: str, region: str, exclude_id: int | None = None) -> int:
        row = await self.store.fetchone(self.q.reserved_total, (account, region, exclude_id or -1))
        return int(row[0]) if row else 0

    async def usage(self, account: str, region: str) -> tuple[int, int]:
        """(number of functions, total code size of every version)."""
        row = await self.store.fetchone(self.q.usage, (account, region))
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def notify_changed(self) -> None:
        async with self.store.transaction() as tx:
            tx.notify(META_CHANNEL, "")

    # == versions ==============================================================================
    async def version(self, function_id: int, version: str) -> VersionRow | None:
        row = await self.store.fetchone(self.q.version, (function_id, version))
        return VersionRow._make(row) if row else None

    async def versions(self, function_id: int) -> list[VersionRow]:
        rows = [VersionRow._make(r) for r in await self.store.fetchall(self.q.versions, (function_id,))]
        return sorted(rows, key=lambda r: (r.version != "$LATEST", int(r.version) if r.version.isdigit() else 0))

    async def update_latest(self, function_id: int, config: str, sha: str, revision: str, now: int,
                            expected_revision: str | None, data: bytes | None = None, unzipped: int = 0) -> bool:
        async with self.store.transaction() as tx:
            old = await tx.fetchone(self.q.latest_code, (function_id,))
            if old is None or (expected_revision is not None and old[1] != expected_revision):
                return False
            if data is not None:
                await self._put_code(tx, sha, data, unzipped)
            await tx.execute(self.q.update_latest, (config, sha, revision, now, function_id))
            if old[0] != sha:
                await self._gc_code(tx, {old[0]})
            return True

    async def publish_version(self, function_id: int, config_for: Callable[[str], str], sha: str, revision: str,
                              now: int) -> str:
        """Insert the next version; ``config_for(version)`` gives its configuration JSON."""
        async with self.store.transaction() as tx:
            row = await tx.fetchone(self.q.next_version_locked, (function_id,))
            assert row is not None
            version = str(row[0])
            await tx.execute(self.q.bump_version, (function_id,))
            await tx.execute(self.q.insert_version, (function_id, version, config_for(version), sha, revision, now))
            return version

    async def delete_version(self, function_id: int, version: str) -> None:
        async with self.store.transaction() as tx:
            row = await tx.fetchone(self.q.version_code, (function_id, version))
            await tx.execute(self.q.delete_version, (function_id, version))
            if row:
                await self._gc_code(tx, {row[0]})

    # == aliases ===============================================================================
    async def alias(self, function_id: int, name: str) -> AliasRow | None:
        row = await self.store.fetchone(self.q.alias, (function_id, name))
        return AliasRow._make(row) if row else None

    async def aliases(self, function_id: int) -> list[AliasRow]:
        return [AliasRow._make(r) for r in await self.store.fetchall(self.q.aliases, (function_id,))]

    async def create_alias(self, function_id: int, name: str, version: str, description: str,
                           routing: str | None, revision: str) -> bool:
        try:
            await self.store.execute(self.q.create_alias, (function_id, name, version, description, routing, revision))
            return True
        except IntegrityError:
            return False

    async def update_alias(self, function_id: int, name: str, version: str, description: str,
                           routing: str | None, revision: str) -> None:
        await self.store.execute(self.q.update_alias, (version, description, routing, revision, function_id, name))

    async def delete_alias(self, function_id: int, name: str) -> None:
        await self.store.execute(self.q.delete_alias, (function_id, name))

    async def version_in_aliases(self, function_id: int, version: str) -> list[str]:
        rows = await self.store.fetchall(self.q.aliases_using, (function_id, version, f'%"{version}"%'))
        return [r[0] for r in rows]

    # == layers ================================================================================
    async def publish_layer(self, account: str, region: str, name: str, arn_for: Callable[[int], str], config: str,
                            sha: str, data: bytes, unzipped: int, now: int) -> tuple[int, str]:
        async with self.store.transaction() as tx:
            await self._put_code(tx, sha, data, unzipped)
            await tx.execute(self.q.add_layer_name, (account, region, name))
            row = await tx.fetchone(self.q.next_layer_version_locked, (account, region, name))
            assert row is not None
            version = int(row[0])
            await tx.execute(self.q.bump_layer_version, (account, region, name))
            arn = arn_for(version)
            await tx.execute(self.q.insert_layer, (account, region, name, version, arn, config, sha, now))
            return version, arn

    async def layer(self, account: str, region: str, name: str, version: int) -> LayerRow | None:
        row = await self.store.fetchone(self.q.layer, (account, region, name, version))
        return LayerRow._make(row) if row else None

    async def set_layer_config(self, arn: str, config: str, expected: str) -> bool:
        """Replace a layer version's configuration if it is still ``expected``; False if it changed."""
        return bool(await self.store.execute(self.q.set_layer_config, (config, arn, expected)))

    async def layer_by_arn(self, arn: str) -> LayerRow | None:
        row = await self.store.fetchone(self.q.layer_by_arn, (arn,))
        return LayerRow._make(row) if row else None

    async def layer_versions(self, account: str, region: str, name: str) -> list[LayerRow]:
        return [LayerRow._make(r) for r in await self.store.fetchall(self.q.layer_versions, (account, region, name))]

    async def layers(self, account: str, region: str) -> list[LayerRow]:
        """The latest version of every layer."""
        return [LayerRow._make(r) for r in await self.store.fetchall(self.q.layers, (account, region))]

    async def delete_layer(self, account: str, region: str, name: str, version: int) -> None:
        async with self.store.transaction() as tx:
            row = await tx.fetchone(self.q.layer_code, (account, region, name, version))
            await tx.execute(self.q.delete_layer, (account, region, name, version))
            if row:
                await self._gc_code(tx, {row[0]})

    # == asynchronous invocations =================================================================
    async def enqueue(self, account: str, region: str, function_name: str, qualifier: str | None,
                      request_id: str, payload: bytes, client_context: str | None, now: int, trace_id: str,
                      trace_header: str | None) -> int:
        async with self.store.transaction() as tx:
            row = await tx.fetchone(self.q.enqueue, (account, region, function_name, qualifier, request_id, payload,
                                                     client_context, now, now, trace_id, trace_header))
            assert row is not None
            tx.notify(ASYNC_CHANNEL, str(row[0]))
            return int(row[0])

    async def claim_due(self, now: int, lease_ms: int, limit: int) -> list[AsyncRow]:
        """Claim up to ``limit`` due invocations for ``lease_ms`` (another node may take them after)."""
        rows = await self.store.fetchall(self.q.claim_due, (now + lease_ms, now, now, limit))
        return [AsyncRow._make(r) for r in rows]

    async def next_due(self) -> int | None:
        row = await self.store.fetchone(self.q.next_due)
        return int(row[0]) if row and row[0] is not None else None

    async def finish_async(self, invocation_id: int) -> None:
        await self.store.execute(self.q.finish_async, (invocation_id,))

    async def retry_async(self, invocation_id: int, next_at: int, error: str) -> None:
        await self.store.execute(self.q.retry_async, (next_at, error, invocation_id))

    async def pending_async(self, account: str, region: str) -> int:
        row = await self.store.fetchone(self.q.pending_async, (account, region))
        return int(row[0]) if row else 0

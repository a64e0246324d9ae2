"""The event source mapping repository: mappings (queue → function) and async invoke configs.

``lambda_esm`` holds one row per mapping; ``generation`` grows with every change so that the
pollers of every node (told through the ``lambda-esm`` notification) apply each change once and
move a transitional state (Creating, Enabling, Updating, Disabling) to its final one.
``lambda_event_invoke_configs`` holds PutFunctionEventInvokeConfig's settings per function and
qualifier. Async invocations themselves stay in the Lambda repository's ``lambda_async``; the one
statement here that touches it finishes an invocation in the same transaction as the deliveries
(destinations, dead-letter queue) it causes.
"""

from __future__ import annotations

import builtins

from tsunagi.store.base import IntegrityError, Row, Store, Tx

ESM_CHANNEL = "lambda-esm"         # payload: the mapping's UUID (it changed or was deleted)

ESM_COLS = ("uuid, account, region, function_name, function_arn, source_arn, enabled, state, state_reason, "
            "config, last_result, modified_at, generation")


class MappingExists(IntegrityError):
    """A mapping for this source and function exists; ``args[0]`` is its UUID."""


class EsmRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    # == mappings ================================================================================
    async def create(self, uuid: str, account: str, region: str, function_name: str, function_arn: str,
                     source_arn: str, enabled: bool, state: str, reason: str, config: str, last_result: str,
                     now_ms: int) -> None:
        async with self.store.transaction() as tx:
            if self.store.dialect == "postgresql":
                await tx.fetchone("SELECT pg_advisory_xact_lock(hashtext(?))", (source_arn,))
            dup = await tx.fetchone("SELECT uuid FROM lambda_esm WHERE source_arn = ? AND function_arn = ?",
                                    (source_arn, function_arn))
            if dup is not None:
                raise MappingExists(str(dup[0]))
            await tx.execute(
                f"INSERT INTO lambda_esm ({ESM_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (uuid, account, region, function_name, function_arn, source_arn, int(enabled), state, reason,
                 config, last_result, now_ms))
            tx.notify(ESM_CHANNEL, uuid)

    async def get(self, uuid: str) -> Row | None:
        return await self.store.fetchone(f"SELECT {ESM_COLS} FROM lambda_esm WHERE uuid = ?", (uuid,))

    async def list(self, account: str, region: str, function_name: str | None, source_arn: str | None,
                   after: str, limit: int) -> builtins.list[Row]:
        sql = f"SELECT {ESM_COLS} FROM lambda_esm WHERE account = ? AND region = ? AND uuid > ?"
        params: list[object] = [account, region, after]
        if function_name is not None:
            sql += " AND function_name = ?"
            params.append(function_name)
        if source_arn is not None:
            sql += " AND source_arn = ?"
            params.append(source_arn)
        return await self.store.fetchall(sql + " ORDER BY uuid LIMIT ?", (*params, limit))

    async def all(self) -> builtins.list[Row]:
        return await self.store.fetchall(f"SELECT {ESM_COLS} FROM lambda_esm")

    async def update(self, uuid: str, function_name: str, function_arn: str, enabled: bool, state: str,
                     reason: str, config: str, now_ms: int) -> Row | None:
        async with self.store.transaction() as tx:
            row = await tx.fetchone(
                "UPDATE lambda_esm SET function_name = ?, function_arn = ?, enabled = ?, state = ?, "
                "state_reason = ?, config = ?, modified_at = ?, generation = generation + 1 WHERE uuid = ? "
                f"RETURNING {ESM_COLS}",
                (function_name, function_arn, int(enabled), state, reason, config, now_ms, uuid))
            tx.notify(ESM_CHANNEL, uuid)
            return row

    async def settle(self, uuid: str, generation: int, state: str) -> bool:
        """Move a transitional state to ``state`` if nothing changed since ``generation``."""
        n = await self.store.execute(
            "UPDATE lambda_esm SET state = ? WHERE uuid = ? AND generation = ? AND state <> ?",
            (state, uuid, generation, state))
        return n > 0

    async def set_last_result(self, uuid: str, result: str) -> None:
        await self.store.execute("UPDATE lambda_esm SET last_result = ? WHERE uuid = ?", (result, uuid))

    async def mark_deleting(self, uuid: str, now_ms: int) -> Row | None:
        async with self.store.transaction() as tx:
            row = await tx.fetchone(
                "UPDATE lambda_esm SET state = 'Deleting', generation = generation + 1 WHERE uuid = ? "
                f"RETURNING {ESM_COLS}", (uuid,))
            tx.notify(ESM_CHANNEL, uuid)
            return row

    async def delete(self, uuid: str) -> None:
        async with self.store.transaction() as tx:
            await tx.execute("DELETE FROM lambda_esm WHERE uuid = ?", (uuid,))
            tx.notify(ESM_CHANNEL, uuid)

    # == event invoke configs ====================================================================
    async def invoke_config(self, account: str, region: str, function_name: str, qualifier: str) -> Row | None:
        return await self.store.fetchone(
            "SELECT qualifier, config, modified_at FROM lambda_event_invoke_configs WHERE account = ? AND "
            "region = ? AND function_name = ? AND qualifier = ?", (account, region, function_name, qualifier))

    async def invoke_configs(self, account: str, region: str, function_name: str) -> builtins.list[Row]:
        return await self.store.fetchall(
            "SELECT qualifier, config, modified_at FROM lambda_event_invoke_configs WHERE account = ? AND "
            "region = ? AND function_name = ? ORDER BY qualifier", (account, region, function_name))

    async def put_invoke_config(self, account: str, region: str, function_name: str, qualifier: str, config: str,
                                now_ms: int) -> None:
        await self.store.execute(
            "INSERT INTO lambda_event_invoke_configs (account, region, function_name, qualifier, config, "
            "modified_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account, region, function_name, qualifier) "
            "DO UPDATE SET config = excluded.config, modified_at = excluded.modified_at",
            (account, region, function_name, qualifier, config, now_ms))

    async def delete_invoke_config(self, account: str, region: str, function_name: str, qualifier: str) -> int:
        return await self.store.execute(
            "DELETE FROM lambda_event_invoke_configs WHERE account = ? AND region = ? AND function_name = ? "
            "AND qualifier = ?", (account, region, function_name, qualifier))

    # == async invocations =======================================================================
    async def uncount_async(self, invocation_id: int, next_at: int, error: str) -> None:
        """A throttled attempt: try again at ``next_at`` without counting it as an invocation."""
        await self.store.execute(
            "UPDATE lambda_async SET attempts = attempts - 1, next_attempt_at = ?, claimed_until = 0, "
            "last_error = ? WHERE id = ?", (next_at, error[:1000], invocation_id))

    @staticmethod
    async def finish_async_in(tx: Tx, invocation_id: int) -> None:
        """Delete a finished async invocation inside ``tx`` (which also writes its deliveries)."""
        await tx.execute("DELETE FROM lambda_async WHERE id = ?", (invocation_id,))

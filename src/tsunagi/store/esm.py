"""The event source mapping repository (``queries/*/esm.sql``): mappings (queue → function) and async invoke configs.

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
from typing import NamedTuple

from tsunagi.store import queries
from tsunagi.store.base import IntegrityError, Store, Tx

ESM_CHANNEL = "lambda-esm"         # payload: the mapping's UUID (it changed or was deleted)


class MappingRow(NamedTuple):
    uuid: str
    account: str
    region: str
    function_name: str
    function_arn: str
    source_arn: str
    enabled: int
    state: str
    state_reason: str
    config: str
    last_result: str
    modified_at: int
    generation: int


class InvokeConfigRow(NamedTuple):
    qualifier: str
    config: str
    modified_at: int


class MappingExists(IntegrityError):
    """A mapping for this source and function exists; ``args[0]`` is its UUID."""


class EsmRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.q = queries.load("esm", store.dialect)

    # == mappings ================================================================================
    async def create(self, uuid: str, account: str, region: str, function_name: str, function_arn: str,
                     source_arn: str, enabled: bool, state: str, reason: str, config: str, last_result: str,
                     now_ms: int) -> None:
        async with self.store.transaction() as tx:
            await tx.fetchone(self.q.lock_source, (source_arn,))
            dup = await tx.fetchone(self.q.find_mapping, (source_arn, function_arn))
            if dup is not None:
                raise MappingExists(str(dup[0]))
            await tx.execute(self.q.insert_mapping, (uuid, account, region, function_name, function_arn, source_arn,
                                                     int(enabled), state, reason, config, last_result, now_ms))
            tx.notify(ESM_CHANNEL, uuid)

    async def get(self, uuid: str) -> MappingRow | None:
        row = await self.store.fetchone(self.q.get, (uuid,))
        return MappingRow._make(row) if row else None

    async def list(self, account: str, region: str, function_name: str | None, source_arn: str | None,
                   after: str, limit: int) -> builtins.list[MappingRow]:
        rows = await self.store.fetchall(self.q.list, (account, region, after, function_name, function_name,
                                                       source_arn, source_arn, limit))
        return [MappingRow._make(r) for r in rows]

    async def all(self) -> builtins.list[MappingRow]:
        return [MappingRow._make(r) for r in await self.store.fetchall(self.q.all)]

    async def update(self, uuid: str, function_name: str, function_arn: str, enabled: bool, state: str,
                     reason: str, config: str, now_ms: int) -> MappingRow | None:
        async with self.store.transaction() as tx:
            row = await tx.fetchone(self.q.update, (function_name, function_arn, int(enabled), state, reason, config,
                                                    now_ms, uuid))
            tx.notify(ESM_CHANNEL, uuid)
            return MappingRow._make(row) if row else None

    async def settle(self, uuid: str, generation: int, state: str) -> bool:
        """Move a transitional state to ``state`` if nothing changed since ``generation``."""
        return await self.store.execute(self.q.settle, (state, uuid, generation, state)) > 0

    async def set_last_result(self, uuid: str, result: str) -> None:
        await self.store.execute(self.q.set_last_result, (result, uuid))

    async def mark_deleting(self, uuid: str, now_ms: int) -> MappingRow | None:
        async with self.store.transaction() as tx:
            row = await tx.fetchone(self.q.mark_deleting, (uuid,))
            tx.notify(ESM_CHANNEL, uuid)
            return MappingRow._make(row) if row else None

    async def delete(self, uuid: str) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.delete, (uuid,))
            tx.notify(ESM_CHANNEL, uuid)

    # == event invoke configs ====================================================================
    async def invoke_config(self, account: str, region: str, function_name: str,
                            qualifier: str) -> InvokeConfigRow | None:
        row = await self.store.fetchone(self.q.invoke_config, (account, region, function_name, qualifier))
        return InvokeConfigRow._make(row) if row else None

    async def invoke_configs(self, account: str, region: str, function_name: str) -> builtins.list[InvokeConfigRow]:
        rows = await self.store.fetchall(self.q.invoke_configs, (account, region, function_name))
        return [InvokeConfigRow._make(r) for r in rows]

    async def put_invoke_config(self, account: str, region: str, function_name: str, qualifier: str, config: str,
                                now_ms: int) -> None:
        await self.store.execute(self.q.put_invoke_config, (account, region, function_name, qualifier, config,
                                                             now_ms))

    async def delete_invoke_config(self, account: str, region: str, function_name: str, qualifier: str) -> int:
        return await self.store.execute(self.q.delete_invoke_config, (account, region, function_name, qualifier))

    # == async invocations =======================================================================
    async def uncount_async(self, invocation_id: int, next_at: int, error: str) -> None:
        """A throttled attempt: try again at ``next_at`` without counting it as an invocation."""
        await self.store.execute(self.q.uncount_async, (next_at, error[:1000], invocation_id))

    async def finish_async_in(self, tx: Tx, invocation_id: int) -> None:
        """Delete a finished async invocation inside ``tx`` (which also writes its deliveries)."""
        await tx.execute(self.q.finish_async, (invocation_id,))

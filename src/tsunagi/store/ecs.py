"""The ECS repository: the statements the ECS service runs (``queries/*/ecs.sql``).

Rows keep the columns they are found or filtered by, and the rest of what the API returns as a JSON
document (``doc``), decoded here: the service gets named rows with plain dicts in them.

A task's row is written by two parties: the runner on the server that runs it (``last_status``, the
times, the containers in ``doc``), and StopTask on any server (``desired_status`` and the ``stop_*``
columns, :meth:`EcsRepo.request_stop`, where the first request wins). Neither overwrites the other's
columns. A stop request is announced on :data:`STOP_CHANNEL` so that the server running the task
acts on it at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson

from tsunagi.store import queries
from tsunagi.store.base import ConstraintViolation, Store

STOP_CHANNEL = "tsunagi_ecs_stop"           # payload: a task ARN whose stop was requested
SERVICE_CHANNEL = "tsunagi_ecs_service"     # payload: a service ARN that changed


def _doc(raw: Any) -> dict[str, Any]:
    return dict(orjson.loads(raw)) if raw else {}


def _dump(doc: dict[str, Any]) -> str:
    return orjson.dumps(doc).decode()


class ClusterRow(NamedTuple):
    arn: str
    account: str
    region: str
    name: str
    status: str
    created_at: int
    doc: dict[str, Any]


class TaskDefinitionRow(NamedTuple):
    arn: str
    account: str
    region: str
    family: str
    revision: int
    status: str
    registered_at: int
    deregistered_at: int | None
    doc: dict[str, Any]


class TaskRow(NamedTuple):
    arn: str
    account: str
    region: str
    cluster_arn: str
    task_id: str
    family: str
    task_definition_arn: str
    last_status: str
    desired_status: str
    started_by: str | None
    task_group: str | None
    service_name: str | None
    launch_type: str | None
    created_at: int
    started_at: int | None
    stopping_at: int | None
    stopped_at: int | None
    stop_code: str | None
    stopped_reason: str | None
    node: str
    token: str
    heartbeat_at: int
    version: int
    doc: dict[str, Any]


class ServiceRow(NamedTuple):
    arn: str
    account: str
    region: str
    cluster_arn: str
    name: str
    status: str
    desired_count: int
    created_at: int
    updated_at: int
    doc: dict[str, Any]


def _cluster(row: Sequence[Any]) -> ClusterRow:
    return ClusterRow._make((*row[:6], _doc(row[6])))


def _taskdef(row: Sequence[Any]) -> TaskDefinitionRow:
    return TaskDefinitionRow._make((*row[:8], _doc(row[8])))


def _task(row: Sequence[Any]) -> TaskRow:
    return TaskRow._make((*row[:23], _doc(row[23])))


def _service(row: Sequence[Any]) -> ServiceRow:
    return ServiceRow._make((*row[:9], _doc(row[9])))


class EcsRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.q = queries.load("ecs", store.dialect)

    # == clusters ==============================================================================
    async def cluster(self, arn: str) -> ClusterRow | None:
        row = await self.store.fetchone(self.q.cluster, (arn,))
        return _cluster(row) if row else None

    async def save_cluster(self, c: ClusterRow, tags: dict[str, str] | None = None) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.upsert_cluster, (c.arn, c.account, c.region, c.name, c.status, c.created_at,
                                                     _dump(c.doc)))
            if tags is not None:
                await tx.execute(self.q.delete_tags, (c.arn,))
                if tags:
                    await tx.executemany(self.q.put_tag, [(c.arn, k, v) for k, v in tags.items()])

    async def update_cluster(self, arn: str, status: str, doc: dict[str, Any]) -> None:
        await self.store.execute(self.q.update_cluster, (status, _dump(doc), arn))

    async def cluster_arns(self, account: str, region: str, after: str, limit: int) -> list[str]:
        return [str(r[0]) for r in await self.store.fetchall(self.q.cluster_arns_page, (account, region, after,
                                                                                        limit))]

    async def cluster_counts(self, arn: str) -> tuple[int, int, int]:
        row = await self.store.fetchone(self.q.cluster_counts, (arn, arn, arn))
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])

    async def active_task_count(self, cluster_arn: str) -> int:
        row = await self.store.fetchone(self.q.active_task_count, (cluster_arn,))
        return int(row[0]) if row else 0

    # == task definitions ======================================================================
    async def task_definition(self, account: str, region: str, family: str, revision: int | None
                              ) -> TaskDefinitionRow | None:
        if revision is None:
            row = await self.store.fetchone(self.q.latest_task_definition, (account, region, family))
        else:
            row = await self.store.fetchone(self.q.task_definition, (account, region, family, revision))
        return _taskdef(row) if row else None

    async def register(self, account: str, region: str, family: str, make: Any, now_ms: int,
                       tags: dict[str, str]) -> TaskDefinitionRow:
        """The next revision of ``family``: ``make(revision)`` gives (arn, doc). Two servers registering
        at once cannot take the same revision (the unique index; the loser retries)."""
        for _attempt in range(5):
            try:
                async with self.store.transaction() as tx:
                    row = await tx.fetchone(self.q.last_revision, (account, region, family))
                    revision = int(row[0]) + 1 if row and row[0] is not None else 1
                    arn, doc = make(revision)
                    await tx.execute(self.q.insert_task_definition, (arn, account, region, family, revision,
                                                                     "ACTIVE", now_ms, None, _dump(doc)))
                    await tx.execute(self.q.delete_tags, (arn,))
                    if tags:
                        await tx.executemany(self.q.put_tag, [(arn, k, v) for k, v in tags.items()])
            except ConstraintViolation:       # another server took that revision meanwhile
                continue
            return TaskDefinitionRow(arn, account, region, family, revision, "ACTIVE", now_ms, None, doc)
        raise RuntimeError(f"could not register a revision of {family}: other servers kept taking it")

    async def set_task_definition_status(self, arn: str, status: str, at: int | None) -> None:
        await self.store.execute(self.q.set_task_definition_status, (status, at, arn))

    async def task_definitions(self, account: str, region: str, family: str, status: str, after: tuple[str, int],
                               limit: int, descending: bool) -> list[tuple[str, str, int]]:
        sql = self.q.task_definitions_page_desc if descending else self.q.task_definitions_page
        rows = await self.store.fetchall(sql, (account, region, family, family, status, after[0], after[0],
                                               after[1], limit))
        return [(str(a), str(f), int(r)) for a, f, r in rows]

    async def families(self, account: str, region: str, like: str, status: str, after: str,
                       limit: int) -> list[str]:
        rows = await self.store.fetchall(self.q.families_page, (account, region, like, status, status, after, limit))
        return [str(r[0]) for r in rows]

    # == tasks =================================================================================
    async def insert_tasks(self, tasks: Sequence[TaskRow], tags: dict[str, str]) -> None:
        async with self.store.transaction() as tx:
            await tx.executemany(self.q.insert_task, [(*t[:23], _dump(t.doc)) for t in tasks])
            if tags:
                await tx.executemany(self.q.put_tag, [(t.arn, k, v) for t in tasks for k, v in tags.items()])

    async def task(self, arn: str) -> TaskRow | None:
        row = await self.store.fetchone(self.q.task, (arn,))
        return _task(row) if row else None

    async def task_by_token(self, token: str) -> TaskRow | None:
        row = await self.store.fetchone(self.q.task_by_token, (token,))
        return _task(row) if row else None

    async def progress(self, arn: str, last_status: str, started_at: int | None, stopped_at: int | None,
                       now_ms: int, doc: dict[str, Any]) -> None:
        await self.store.execute(self.q.update_task_progress, (last_status, started_at, stopped_at, now_ms,
                                                               _dump(doc), arn))

    async def request_stop(self, arn: str, now_ms: int, code: str, reason: str) -> bool:
        """Ask for a task to stop; False when a stop was asked for already. Announced to every server."""
        async with self.store.transaction() as tx:
            n = await tx.execute(self.q.request_stop, (now_ms, code, reason, arn))
            if n:
                tx.notify(STOP_CHANNEL, arn)
            return n > 0

    async def heartbeat(self, node: str, now_ms: int) -> None:
        await self.store.execute(self.q.heartbeat, (now_ms, node))

    async def node_tasks(self, node: str) -> list[TaskRow]:
        return [_task(r) for r in await self.store.fetchall(self.q.node_tasks_alive, (node,))]

    async def orphaned_tasks(self, before_ms: int, node: str) -> list[TaskRow]:
        return [_task(r) for r in await self.store.fetchall(self.q.orphaned_tasks, (before_ms, node))]

    async def task_arns(self, cluster_arn: str, desired: str, family: str, started_by: str, service: str,
                        launch_type: str, after: str, limit: int) -> list[str]:
        rows = await self.store.fetchall(self.q.tasks_page, (cluster_arn, desired, family, family, started_by,
                                                             started_by, service, service, launch_type,
                                                             launch_type, after, limit))
        return [str(r[0]) for r in rows]

    async def service_tasks(self, cluster_arn: str, service: str) -> list[tuple[str, str, str, int]]:
        """(task ARN, last status, started by (the deployment id), created at) of a service's tasks not
        asked to stop, oldest first."""
        rows = await self.store.fetchall(self.q.service_tasks, (cluster_arn, service))
        return [(str(a), str(ls), str(sb or ""), int(c)) for a, ls, sb, c in rows]

    async def service_failed_tasks(self, cluster_arn: str, service: str, since_ms: int) -> dict[str, int]:
        rows = await self.store.fetchall(self.q.service_failed_tasks, (cluster_arn, service, since_ms))
        return {str(sb or ""): int(n) for sb, n in rows}

    async def purge_stopped(self, before_ms: int) -> None:
        await self.store.execute(self.q.purge_stopped_tasks, (before_ms,))

    # == services ==============================================================================
    async def service(self, arn: str) -> ServiceRow | None:
        row = await self.store.fetchone(self.q.service, (arn,))
        return _service(row) if row else None

    async def save_service(self, s: ServiceRow, tags: dict[str, str] | None = None) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.upsert_service, (*s[:9], _dump(s.doc)))
            if tags is not None:
                await tx.execute(self.q.delete_tags, (s.arn,))
                if tags:
                    await tx.executemany(self.q.put_tag, [(s.arn, k, v) for k, v in tags.items()])
            tx.notify(SERVICE_CHANNEL, s.arn)

    async def update_service_quietly(self, s: ServiceRow) -> bool:
        """The scheduler's write (status, counts, deployments, events), unannounced; False when an update of
        the service came in between (the scheduler looks again on its next round)."""
        n = await self.store.execute(self.q.update_service_progress, (s.status, _dump(s.doc), s.arn, s.updated_at))
        return n > 0

    async def service_arns(self, cluster_arn: str, after: str, limit: int) -> list[str]:
        return [str(r[0]) for r in await self.store.fetchall(self.q.services_page, (cluster_arn, after, limit))]

    async def active_services(self) -> list[ServiceRow]:
        return [_service(r) for r in await self.store.fetchall(self.q.active_services)]

    async def delete_service(self, arn: str) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.delete_service, (arn,))
            await tx.execute(self.q.delete_tags, (arn,))

    # == tags ==================================================================================
    async def tags(self, arn: str) -> dict[str, str]:
        return {str(k): str(v) for k, v in await self.store.fetchall(self.q.tags, (arn,))}

    async def put_tags(self, arn: str, tags: dict[str, str]) -> None:
        async with self.store.transaction() as tx:
            await tx.executemany(self.q.put_tag, [(arn, k, v) for k, v in tags.items()])

    async def remove_tags(self, arn: str, keys: Sequence[str]) -> None:
        if keys:
            async with self.store.transaction() as tx:
                await tx.executemany(self.q.delete_tag, [(arn, k) for k in keys])

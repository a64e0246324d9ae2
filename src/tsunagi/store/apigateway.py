"""The API Gateway repository (``queries/*/apigateway.sql``): REST APIs, their resources (each with its
methods, integrations and responses), deployments (a frozen copy of the API as it was deployed),
stages, and the other documents an API or an account owns.

Documents are JSON in the shapes of the API's own output, so that a read is a decode. Every change that
the invoke path caches (a stage, a deployment, an API's settings, an API key, a usage plan, an
authorizer) notifies :data:`NOTIFY_CHANNEL` with the API's id (or :data:`ACCOUNT_SCOPE_CHANGED`) so that
the servers sharing a PostgreSQL database drop what they cached.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import orjson

from tsunagi.store import queries
from tsunagi.store.base import Row, Store

NOTIFY_CHANNEL = "apigateway"
ACCOUNT_SCOPE_CHANGED = "*"          # the payload after an account-level document (API key, usage plan) changed

Doc = dict[str, Any]


def _load(text: Any) -> Doc:
    loaded = orjson.loads(text)
    assert isinstance(loaded, dict)
    return loaded


def dump(doc: Any) -> str:
    return orjson.dumps(doc).decode()


class ApiRow(NamedTuple):
    api_id: str
    account: str
    region: str
    name: str
    created_at: int
    doc: Doc


class ResourceRow(NamedTuple):
    api_id: str
    resource_id: str
    parent_id: str | None
    path: str
    doc: Doc


class DeploymentRow(NamedTuple):
    api_id: str
    deployment_id: str
    created_at: int
    doc: Doc
    snapshot: Doc


class StageRow(NamedTuple):
    api_id: str
    stage_name: str
    deployment_id: str
    doc: Doc


class ObjectRow(NamedTuple):
    scope: str
    kind: str
    object_id: str
    account: str
    region: str
    lookup: str
    created_at: int
    doc: Doc


def _api(r: Row) -> ApiRow:
    return ApiRow(r[0], r[1], r[2], r[3], r[4], _load(r[5]))


def _resource(r: Row) -> ResourceRow:
    return ResourceRow(r[0], r[1], r[2], r[3], _load(r[4]))


def _deployment(r: Row) -> DeploymentRow:
    return DeploymentRow(r[0], r[1], r[2], _load(r[3]), _load(r[4]))


def _stage(r: Row) -> StageRow:
    return StageRow(r[0], r[1], r[2], _load(r[3]))


def _object(r: Row) -> ObjectRow:
    return ObjectRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _load(r[7]))


class ApiGatewayRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.q = queries.load("apigateway", store.dialect)

    # == REST APIs =============================================================================
    async def create_api(self, api: ApiRow, resources: Iterable[ResourceRow]) -> None:
        """The API and its first resources (the root "/", or an imported tree) together."""
        async with self.store.transaction() as tx:
            await tx.execute(self.q.insert_api, (api.api_id, api.account, api.region, api.name, api.created_at,
                                                 dump(api.doc)))
            await tx.executemany(self.q.insert_resource, [
                (r.api_id, r.resource_id, r.parent_id, r.path, dump(r.doc)) for r in resources])

    async def api(self, api_id: str) -> ApiRow | None:
        row = await self.store.fetchone(self.q.api, (api_id,))
        return _api(row) if row is not None else None

    async def apis(self, account: str, region: str, after: str, limit: int) -> list[ApiRow]:
        return [_api(r) for r in await self.store.fetchall(self.q.apis_page, (account, region, after, limit))]

    async def update_api(self, api_id: str, name: str, doc: Doc) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.update_api, (name, dump(doc), api_id))
            tx.notify(NOTIFY_CHANNEL, api_id)

    async def replace_api(self, api_id: str, name: str, doc: Doc, resources: Iterable[ResourceRow],
                          objects: Iterable[ObjectRow] = (), replace_kinds: Iterable[str] = ()) -> None:
        """PutRestApi in overwrite mode: the API's settings, its whole resource tree and the documents of
        ``replace_kinds`` (models, authorizers, …) replaced in one transaction."""
        async with self.store.transaction() as tx:
            await tx.execute(self.q.update_api, (name, dump(doc), api_id))
            await tx.execute(self.q.delete_resources, (api_id,))
            await tx.executemany(self.q.insert_resource, [
                (r.api_id, r.resource_id, r.parent_id, r.path, dump(r.doc)) for r in resources])
            for kind in replace_kinds:
                for old in await tx.fetchall(self.q.objects, (api_id, kind)):
                    await tx.execute(self.q.delete_object, (api_id, kind, old[2]))
            await tx.executemany(self.q.insert_object, [
                (o.scope, o.kind, o.object_id, o.account, o.region, o.lookup, o.created_at, dump(o.doc))
                for o in objects])
            tx.notify(NOTIFY_CHANNEL, api_id)

    async def delete_api(self, api_id: str) -> int:
        async with self.store.transaction() as tx:
            n = await tx.execute(self.q.delete_api, (api_id,))
            for sql in (self.q.delete_resources, self.q.delete_deployments, self.q.delete_stages,
                        self.q.delete_objects_of_scope):
                await tx.execute(sql, (api_id,))
            tx.notify(NOTIFY_CHANNEL, api_id)
        return n

    # == resources =============================================================================
    async def resource(self, api_id: str, resource_id: str) -> ResourceRow | None:
        row = await self.store.fetchone(self.q.resource, (api_id, resource_id))
        return _resource(row) if row is not None else None

    async def resources(self, api_id: str) -> list[ResourceRow]:
        return [_resource(r) for r in await self.store.fetchall(self.q.resources, (api_id,))]

    async def add_resource(self, r: ResourceRow) -> None:
        """ConstraintViolation when the API has a resource at that path already."""
        await self.store.execute(self.q.insert_resource, (r.api_id, r.resource_id, r.parent_id, r.path, dump(r.doc)))

    async def save_resources(self, rows: Iterable[ResourceRow]) -> None:
        """Write resources back (a changed method, a moved subtree), together."""
        async with self.store.transaction() as tx:
            for r in rows:
                await tx.execute(self.q.update_resource, (r.parent_id, r.path, dump(r.doc), r.api_id, r.resource_id))

    async def delete_resources(self, api_id: str, resource_ids: Iterable[str]) -> None:
        async with self.store.transaction() as tx:
            for rid in resource_ids:
                await tx.execute(self.q.delete_resource, (api_id, rid))

    # == deployments ===========================================================================
    async def add_deployment(self, d: DeploymentRow, stage: StageRow | None = None, *, new_stage: bool = False) -> None:
        """The deployment, and the stage it goes to (created with ``new_stage``, else pointed at it)."""
        async with self.store.transaction() as tx:
            await tx.execute(self.q.insert_deployment, (d.api_id, d.deployment_id, d.created_at, dump(d.doc),
                                                        dump(d.snapshot)))
            if stage is not None:
                if new_stage:
                    await tx.execute(self.q.insert_stage, (stage.api_id, stage.stage_name, stage.deployment_id,
                                                           dump(stage.doc)))
                else:
                    await tx.execute(self.q.update_stage, (stage.deployment_id, dump(stage.doc), stage.api_id,
                                                           stage.stage_name))
            tx.notify(NOTIFY_CHANNEL, d.api_id)

    async def deployment(self, api_id: str, deployment_id: str) -> DeploymentRow | None:
        row = await self.store.fetchone(self.q.deployment, (api_id, deployment_id))
        return _deployment(row) if row is not None else None

    async def deployments(self, api_id: str) -> list[DeploymentRow]:
        return [_deployment(r) for r in await self.store.fetchall(self.q.deployments, (api_id,))]

    async def delete_deployment(self, api_id: str, deployment_id: str) -> int:
        return await self.store.execute(self.q.delete_deployment, (api_id, deployment_id))

    # == stages ================================================================================
    async def stage(self, api_id: str, name: str) -> StageRow | None:
        row = await self.store.fetchone(self.q.stage, (api_id, name))
        return _stage(row) if row is not None else None

    async def stages(self, api_id: str) -> list[StageRow]:
        return [_stage(r) for r in await self.store.fetchall(self.q.stages, (api_id,))]

    async def stages_of_deployment(self, api_id: str, deployment_id: str) -> list[str]:
        return [str(r[0]) for r in await self.store.fetchall(self.q.stages_of_deployment, (api_id, deployment_id))]

    async def add_stage(self, s: StageRow) -> None:
        """ConstraintViolation when the stage exists already."""
        async with self.store.transaction() as tx:
            await tx.execute(self.q.insert_stage, (s.api_id, s.stage_name, s.deployment_id, dump(s.doc)))
            tx.notify(NOTIFY_CHANNEL, s.api_id)

    async def save_stage(self, s: StageRow) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.update_stage, (s.deployment_id, dump(s.doc), s.api_id, s.stage_name))
            tx.notify(NOTIFY_CHANNEL, s.api_id)

    async def delete_stage(self, api_id: str, name: str) -> int:
        async with self.store.transaction() as tx:
            n = await tx.execute(self.q.delete_stage, (api_id, name))
            tx.notify(NOTIFY_CHANNEL, api_id)
        return n

    # == other documents =======================================================================
    async def add_object(self, o: ObjectRow) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.insert_object, (o.scope, o.kind, o.object_id, o.account, o.region, o.lookup,
                                                    o.created_at, dump(o.doc)))
            tx.notify(NOTIFY_CHANNEL, o.scope or ACCOUNT_SCOPE_CHANGED)

    async def object(self, scope: str, kind: str, object_id: str) -> ObjectRow | None:
        row = await self.store.fetchone(self.q.object, (scope, kind, object_id))
        return _object(row) if row is not None else None

    async def objects(self, scope: str, kind: str) -> list[ObjectRow]:
        return [_object(r) for r in await self.store.fetchall(self.q.objects, (scope, kind))]

    async def account_objects(self, account: str, region: str, kind: str) -> list[ObjectRow]:
        return [_object(r) for r in await self.store.fetchall(self.q.objects_of_account, (account, region, kind))]

    async def objects_by_lookup(self, kind: str, lookup: str) -> list[ObjectRow]:
        return [_object(r) for r in await self.store.fetchall(self.q.objects_by_lookup, (kind, lookup))]

    async def save_object(self, o: ObjectRow) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.update_object, (o.lookup, dump(o.doc), o.scope, o.kind, o.object_id))
            tx.notify(NOTIFY_CHANNEL, o.scope or ACCOUNT_SCOPE_CHANGED)

    async def delete_object(self, scope: str, kind: str, object_id: str) -> int:
        async with self.store.transaction() as tx:
            n = await tx.execute(self.q.delete_object, (scope, kind, object_id))
            tx.notify(NOTIFY_CHANNEL, scope or ACCOUNT_SCOPE_CHANGED)
        return n

"""The endpoints a running ECS task calls, as on ECS:

- ``GET /_tsunagi/ecs/v4/<token>/<runtime id>``: ``ECS_CONTAINER_METADATA_URI_V4``, the container's
  metadata; ``…/task``: the task's metadata; ``…/stats`` and ``…/task/stats``: empty statistics
  (tsunagi measures none);
- ``GET /_tsunagi/ecs/credentials/<token>``: ``AWS_CONTAINER_CREDENTIALS_FULL_URI``, the task role's
  credentials, which SDKs read by themselves.

The token (secret, one per task) names the task; no admin token is needed, and they are served with
``TSUNAGI_INTERNAL_API=off`` too: tasks need them. The handlers reach ECS through its port.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from tsunagi.gateway.exchange import Exchange
from tsunagi.gateway.routes import Route, RouteRegistry
from tsunagi.ports.ecs import ECS
from tsunagi.protocol.http import HttpResponse

if TYPE_CHECKING:
    from tsunagi.services.base import Platform

_GET = frozenset({"GET", "HEAD"})
V4 = "/_tsunagi/ecs/v4/"
CREDENTIALS = "/_tsunagi/ecs/credentials/"


def _json(status: int, doc: object) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json")], orjson.dumps(doc))


def _missing(what: str) -> HttpResponse:
    return _json(404, {"__type": "NotFound", "message": what})


def install(routes: RouteRegistry, platform: Platform) -> None:
    async def metadata(ex: Exchange) -> HttpResponse:
        port = platform.ports.find(ECS)
        if port is None:
            return _missing("this server does not run the ecs service")
        parts = ex.request.path[len(V4):].strip("/").split("/")
        if len(parts) < 2:
            return _missing("no such task metadata endpoint")
        token, runtime_id, rest = parts[0], parts[1], parts[2:]
        doc: Any
        if rest in ([], ["stats"]):
            doc = await port.container_metadata(token, runtime_id)
            if doc is not None and rest == ["stats"]:
                doc = {}
        elif rest in (["task"], ["task", "stats"]):
            doc = await port.task_metadata(token)
            if doc is not None and rest == ["task", "stats"]:
                doc = {c["DockerId"]: None for c in doc.get("Containers", [])}
        else:
            return _missing(f"no such task metadata endpoint: {ex.request.path}")
        if doc is None:
            return _missing("no running task has this metadata endpoint")
        return _json(200, doc)

    async def credentials(ex: Exchange) -> HttpResponse:
        port = platform.ports.find(ECS)
        token = ex.request.path[len(CREDENTIALS):].strip("/")
        doc = await port.task_credentials(token) if port is not None else None
        if doc is None:
            return _missing("no running task has these credentials")
        return _json(200, doc)

    routes.add(Route("ecs-metadata", metadata, prefix=V4, methods=_GET))
    routes.add(Route("ecs-credentials", credentials, prefix=CREDENTIALS, methods=_GET))

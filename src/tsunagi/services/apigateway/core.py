"""What every API Gateway operation stands on: the repository, ids, finding an API and its parts for the
caller's account and region, patch operations, pagination, and the caches the invoke path reads.

An API's id is unique across accounts (it is the host name of its invoke URL), so the invoke path finds
an API by id alone; the control plane answers NotFound for an API of another account or region, as AWS
does. The caches (stage → deployment snapshot) are dropped when any server changes the API (the store's
notifications on ``apigateway``), and expire after a few seconds when the store is shared.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from tsunagi import outbound
from tsunagi.ids import _bits
from tsunagi.services.apigateway.errors import BadRequest, invalid_api, invalid_resource
from tsunagi.services.apigateway.jwt import KeyCache
from tsunagi.services.base import Platform, RequestContext, Service
from tsunagi.store.apigateway import (
    ACCOUNT_SCOPE_CHANGED,
    NOTIFY_CHANNEL,
    ApiGatewayRepo,
    ApiRow,
    DeploymentRow,
    ResourceRow,
    StageRow,
)

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
DEFAULT_LIMIT = 25
MAX_LIMIT = 500
CACHE_TTL_SHARED_S = 5.0
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY")
PATH_PART = re.compile(r"^(?:[a-zA-Z0-9._\-]+|\{[a-zA-Z0-9._\-]+\+?\})$")


def new_id(length: int = 10) -> str:
    n = _bits(6 * length)
    out = []
    for _ in range(length):
        out.append(_ALPHABET[n % 36])
        n //= 64
    return "".join(out)


def now_s() -> int:
    return int(time.time())


def invoke_host(api_id: str, host: str | None) -> str:
    """``{api id}.execute-api.{name}[:port]`` for the Host a client reached this server by (an address, or
    nothing, becomes ``localhost``, which resolves to this machine)."""
    host = host or "localhost:4566"
    if host.startswith("["):                      # [v6 address]:port
        _, _, rest = host.partition("]")
        name, sep, port = "", rest[:1], rest[1:]
    else:
        name, sep, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    if not name or name.replace(".", "").isdigit() or name.startswith("[") or ":" in name:
        name = "localhost"
    if ".execute-api." in name:
        name = name.split(".execute-api.", 1)[1]
    return f"{api_id}.execute-api.{name}" + (f":{port}" if sep and port else "")


def unescape(segment: str) -> str:
    """A patch path segment: ``~1`` is ``/``, ``~0`` is ``~``."""
    return segment.replace("~1", "/").replace("~0", "~")


def as_bool(value: Any, path: str) -> bool:
    text = str(value).lower()
    if text not in ("true", "false"):
        raise BadRequest(f"Invalid boolean value '{value}' for {path}")
    return text == "true"


def as_int(value: Any, path: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise BadRequest(f"Invalid integer value '{value}' for {path}") from None


def as_float(value: Any, path: str) -> float:
    try:
        return float(str(value))
    except ValueError:
        raise BadRequest(f"Invalid double value '{value}' for {path}") from None


# A field patch operations may change: its kind decides how a value is read.
#   str | bool | int | list (``/field/<item>`` add and remove) | map (``/field/<key>`` replace, add, remove)
Fields = Mapping[str, str]


def apply_patch(doc: dict[str, Any], operations: list[dict[str, Any]] | None, fields: Fields,
                special: Callable[[dict[str, Any], str, list[str], Any], bool] | None = None) -> dict[str, Any]:
    """Apply API Gateway's patch operations (``op``, ``path``, ``value``) to a copy of ``doc``.

    ``special(doc, op, segments, value)`` handles the paths ``fields`` cannot describe (a stage's
    method settings); it returns False to let the path be refused."""
    out = dict(doc)
    for operation in operations or ():
        op = str(operation.get("op", ""))
        path = str(operation.get("path", ""))
        value = operation.get("value")
        if op not in ("add", "remove", "replace", "move", "copy", "test"):
            raise BadRequest("Invalid patch operation specified. Must be one of: [add, remove, replace, move, "
                             "copy, test]")
        segments = [unescape(s) for s in path.split("/")[1:]] if path.startswith("/") else []
        if not segments or not segments[0]:
            raise BadRequest(f"Invalid patch path '{path}' specified for op '{op}'.")
        if special is not None and special(out, op, segments, value):
            continue
        name = segments[0]
        kind = fields.get(name)
        if kind is None or op in ("move", "copy", "test"):
            allowed = ", ".join(f"/{f}" for f in fields)
            raise BadRequest(f"Invalid patch path '{path}' specified for op '{op}'. Must be one of: [{allowed}]")
        if kind in ("list", "map"):
            current = out.get(name)
            if kind == "list":
                items = list(current or [])
                if len(segments) == 1:
                    if op == "remove":
                        items = []
                    elif value is not None:
                        items = [v for v in str(value).split(",") if v]
                else:
                    item = "/".join(segments[1:])
                    if op == "remove":
                        items = [i for i in items if i != item]
                    elif op == "add" and item not in items:
                        items.append(item)
                    elif op == "replace":
                        items = [str(value) if i == item else i for i in items]
                out[name] = items
            else:
                mapping = dict(current or {})
                if len(segments) == 1:
                    if op == "remove":
                        mapping = {}
                    else:
                        raise BadRequest(f"Invalid patch path '{path}' specified for op '{op}'.")
                else:
                    key = "/".join(segments[1:])
                    if op == "remove":
                        mapping.pop(key, None)
                    else:
                        mapping[key] = value if value is not None else ""
                out[name] = mapping
            continue
        if len(segments) != 1:
            raise BadRequest(f"Invalid patch path '{path}' specified for op '{op}'.")
        if op == "remove":
            out.pop(name, None)
        elif kind == "bool":
            out[name] = as_bool(value, path)
        elif kind == "int":
            out[name] = as_int(value, path)
        else:
            out[name] = value if value is not None else ""
    return out


class Page:
    """``position`` and ``limit`` as API Gateway's list operations take them."""

    __slots__ = ("after", "limit")

    def __init__(self, params: Mapping[str, Any]) -> None:
        limit = params.get("limit")
        self.limit = DEFAULT_LIMIT if limit is None else int(limit)
        if self.limit < 1 or self.limit > MAX_LIMIT:
            raise BadRequest(f"Invalid limit specified. Must be between 1 and {MAX_LIMIT}")
        self.after = str(params.get("position") or "")

    def cut(self, items: list[dict[str, Any]], key: str = "id") -> dict[str, Any]:
        """A page of ``items`` (sorted by ``key``): ``{"items": [...], "position": ...}``."""
        chosen = [i for i in items if str(i.get(key, "")) > self.after] if self.after else items
        page = chosen[:self.limit]
        out: dict[str, Any] = {"items": page}
        if len(chosen) > self.limit:
            out["position"] = str(page[-1][key])
        return out


class Limits:
    """Throttling (a token bucket per stage method or usage plan key) and usage plan quotas, counted in
    this process."""

    def __init__(self) -> None:
        self._buckets: dict[Any, tuple[float, float]] = {}      # key -> (tokens, at)
        self._quotas: dict[Any, tuple[str, int]] = {}           # key -> (period label, used)

    def take(self, key: Any, rate: Any, burst: Any) -> bool:
        """One request's token from ``key``'s bucket (``rate`` per second, ``burst`` at most)."""
        rate_f = float(rate) if rate is not None else float("inf")
        cap = float(burst) if burst is not None else max(rate_f, 1.0)
        if cap < 1:
            return False
        now = time.monotonic()
        tokens, at = self._buckets.get(key, (cap, now))
        tokens = min(cap, tokens + (now - at) * rate_f) if rate_f != float("inf") else cap
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return False
        if len(self._buckets) > 100_000:
            self._buckets.clear()
        self._buckets[key] = (tokens - 1, now)
        return True

    def within_quota(self, key: Any, quota: dict[str, Any]) -> bool:
        limit = int(quota.get("limit", 0))
        period = str(quota.get("period", "DAY"))
        t = time.gmtime()
        label = {"DAY": time.strftime("%Y-%j", t), "WEEK": time.strftime("%Y-%W", t)}.get(period,
                                                                                       time.strftime("%Y-%m", t))
        seen, used = self._quotas.get(key, (label, 0))
        if seen != label:
            used = 0
        if used >= limit:
            return False
        self._quotas[key] = (label, used + 1)
        return True

    def clear(self) -> None:
        self._buckets.clear()
        self._quotas.clear()


class Deployed:
    """A stage as the invoke path sees it: the stage and the deployment snapshot it points at."""

    __slots__ = ("api", "at", "deployment", "stage")

    def __init__(self, api: ApiRow, stage: StageRow, deployment: DeploymentRow, at: float) -> None:
        self.api = api
        self.stage = stage
        self.deployment = deployment
        self.at = at


class ApiGatewayCore(Service):
    name = "apigateway"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.repo = ApiGatewayRepo(platform.store)
        self._deployed: dict[tuple[str, str], tuple[Deployed | None, float]] = {}   # (stage or None, when)
        self.plans: dict[tuple[str, str], Any] = {}   # the invoke path's plans, by (API id, deployment id)
        self.account_cache: dict[Any, Any] = {}   # API keys and usage plans, by key value
        self.authorizer_cache: dict[Any, Any] = {}   # (api, authorizer, identity) -> (expires, result)
        self.limits = Limits()
        self.v2_cache: dict[str, Any] = {}           # HTTP APIs (v2) as the invoke path sees them, by id
        config = platform.config                     # JWT authorizers' issuer keys (fetched through outbound)
        self.jwt_keys = KeyCache(outbound.SelfNames([*config.hostnames, config.public_host()]))
        self._listening = False

    async def start(self) -> None:
        if not self._listening:
            self.store.listen(NOTIFY_CHANNEL, self._changed)
            self._listening = True

    async def stop(self) -> None:
        if self._listening:
            self.store.unlisten(NOTIFY_CHANNEL, self._changed)
            self._listening = False

    async def on_reset(self) -> None:
        self._deployed.clear()
        self.plans.clear()
        self.account_cache.clear()
        self.authorizer_cache.clear()
        self.limits.clear()
        self.v2_cache.clear()
        self.jwt_keys.clear()

    def _changed(self, payload: str) -> None:
        if payload == ACCOUNT_SCOPE_CHANGED:
            self.account_cache.clear()
            self.v2_cache.clear()
            return
        self.v2_cache.pop(payload, None)
        for key in [k for k in self._deployed if k[0] == payload]:
            del self._deployed[key]
        for key in [k for k in self.authorizer_cache if k[0] == payload]:
            del self.authorizer_cache[key]

    # -- finding things for the control plane ----------------------------------------------------
    async def api_of(self, ctx: RequestContext, api_id: str) -> ApiRow:
        api = await self.repo.api(api_id)
        if api is None or api.account != ctx.account or api.region != ctx.region:
            raise invalid_api(ctx.account, api_id)
        return api

    async def resource_of(self, ctx: RequestContext, api_id: str, resource_id: str) -> ResourceRow:
        await self.api_of(ctx, api_id)
        r = await self.repo.resource(api_id, resource_id)
        if r is None:
            raise invalid_resource(ctx.account, api_id, resource_id)
        return r

    # -- the invoke path's view ---------------------------------------------------------------------
    async def deployed(self, api_id: str, stage_name: str) -> Deployed | None:
        key = (api_id, stage_name)
        cached = self._deployed.get(key)
        if cached is not None and (not self.store.shared or time.monotonic() - cached[1] < CACHE_TTL_SHARED_S):
            return cached[0]
        api = await self.repo.api(api_id)
        stage = await self.repo.stage(api_id, stage_name) if api is not None else None
        deployment = await self.repo.deployment(api_id, stage.deployment_id) if stage is not None else None
        result = Deployed(api, stage, deployment, time.monotonic()) \
            if api is not None and stage is not None and deployment is not None else None
        if len(self._deployed) > 10_000:
            self._deployed.clear()
        self._deployed[key] = (result, time.monotonic())
        return result

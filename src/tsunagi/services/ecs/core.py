"""What every ECS operation stands on: the repository, this server's node name, finding a cluster,
paging tokens, tags, and the shapes of the API's answers built from stored rows."""

from __future__ import annotations

import base64
import binascii
import os
import socket
from typing import Any

import orjson

from tsunagi.services.base import Platform, RequestContext
from tsunagi.services.ecs import names
from tsunagi.services.ecs.errors import CLUSTER_NOT_FOUND, ClusterNotFound, InvalidParameter
from tsunagi.store.ecs import ClusterRow, EcsRepo, TaskRow

MAX_TAGS = 50
STOPPED_KEPT_MS = 3_600_000          # a stopped task can be described for an hour, as on AWS


def seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000.0


def to_token(position: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def from_token(token: str | None, default: Any) -> Any:
    if not token:
        return default
    try:
        return orjson.loads(base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidParameter("Invalid nextToken") from None


def max_results(params: dict[str, Any], default: int, most: int = 100) -> int:
    n = params.get("maxResults")
    if n is None:
        return default
    if not 1 <= int(n) <= most:
        raise InvalidParameter(f"maxResults must be between 1 and {most}.")
    return int(n)


def tags_in(raw: Any) -> dict[str, str]:
    """The ``tags`` member (``[{"key", "value"}]``) as a dict, with ECS's checks."""
    out: dict[str, str] = {}
    for tag in raw or []:
        key = tag.get("key")
        if not key:
            raise InvalidParameter("Tag key must not be empty.")
        if key.lower().startswith("aws:"):
            raise InvalidParameter("Tag keys cannot start with the 'aws:' prefix.")
        out[key] = tag.get("value", "")
    if len(out) > MAX_TAGS:
        raise InvalidParameter(f"Tags can not exceed {MAX_TAGS}.")
    return out


def tags_out(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def node_name(config_host: str, port: int) -> str:
    """Which server runs a task: this host and port (a server restarted there is the same node)."""
    return f"{socket.gethostname()}:{port}"


class EcsCore:
    """State and helpers shared by the parts of the ECS service."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.config = platform.config
        self.clock = platform.clock
        self.repo = EcsRepo(platform.store)
        self.node = node_name(self.config.host, self.config.port)

    @property
    def endpoint(self) -> str:
        """This server's own URL, as tasks reach it (``AWS_ENDPOINT_URL`` and the metadata endpoints)."""
        host = self.config.host
        if host in ("", "0.0.0.0", "::", "[::]"):
            host = "127.0.0.1"
        elif ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.config.port}"

    @staticmethod
    def new_id() -> str:
        return os.urandom(16).hex()

    # == clusters ==============================================================================
    async def active_cluster(self, ctx: RequestContext, ref: str | None) -> ClusterRow:
        arn = names.cluster_ref(ctx.region, ctx.account, ref)
        row = await self.repo.cluster(arn) if self._ours(ctx, arn) else None
        if row is None or row.status != "ACTIVE":
            raise ClusterNotFound(CLUSTER_NOT_FOUND)
        return row

    @staticmethod
    def _ours(ctx: RequestContext, arn: str) -> bool:
        return f":{ctx.region}:{ctx.account}:" in arn

    async def cluster_shape(self, row: ClusterRow, include: set[str]) -> dict[str, Any]:
        running, pending, services = await self.repo.cluster_counts(row.arn)
        doc = row.doc
        out: dict[str, Any] = {
            "clusterArn": row.arn, "clusterName": row.name, "status": row.status,
            "registeredContainerInstancesCount": 0, "runningTasksCount": running, "pendingTasksCount": pending,
            "activeServicesCount": services, "statistics": [],
            "capacityProviders": doc.get("capacityProviders", []),
            "defaultCapacityProviderStrategy": doc.get("defaultCapacityProviderStrategy", []),
        }
        if "SETTINGS" in include or doc.get("settings"):
            out["settings"] = doc.get("settings", [{"name": "containerInsights", "value": "disabled"}])
        if doc.get("configuration"):
            out["configuration"] = doc["configuration"]
        if doc.get("serviceConnectDefaults"):
            out["serviceConnectDefaults"] = doc["serviceConnectDefaults"]
        if "TAGS" in include:
            out["tags"] = tags_out(await self.repo.tags(row.arn))
        if "STATISTICS" in include:
            out["statistics"] = [{"name": "runningFargateTasksCount", "value": "0"},
                                 {"name": "runningEC2TasksCount", "value": str(running)},
                                 {"name": "pendingFargateTasksCount", "value": "0"},
                                 {"name": "pendingEC2TasksCount", "value": str(pending)},
                                 {"name": "activeEC2ServiceCount", "value": str(services)},
                                 {"name": "activeFargateServiceCount", "value": "0"},
                                 {"name": "drainingEC2ServiceCount", "value": "0"},
                                 {"name": "drainingFargateServiceCount", "value": "0"}]
        if "ATTACHMENTS" in include:
            out["attachments"] = []
            out["attachmentsStatus"] = "UPDATE_COMPLETE"
        return out

    # == tasks =================================================================================
    def task_shape(self, t: TaskRow, tags: dict[str, str] | None = None) -> dict[str, Any]:
        doc = t.doc
        out: dict[str, Any] = {
            "taskArn": t.arn, "clusterArn": t.cluster_arn, "taskDefinitionArn": t.task_definition_arn,
            "lastStatus": t.last_status, "desiredStatus": t.desired_status, "createdAt": seconds(t.created_at),
            "containers": doc.get("containers", []), "overrides": doc.get("overrides", {}),
            "version": t.version, "attachments": doc.get("attachments", []), "attributes": [],
            "availabilityZone": f"{t.region}a", "connectivity": doc.get("connectivity", "CONNECTED"),
            "enableExecuteCommand": False, "healthStatus": "UNKNOWN", "tags": tags_out(tags or {}),
            "inferenceAccelerators": [],
        }
        for member in ("cpu", "memory", "launchType", "capacityProviderName", "platformVersion", "platformFamily",
                       "ephemeralStorage"):
            if doc.get(member) is not None:
                out[member] = doc[member]
        if t.launch_type:
            out["launchType"] = t.launch_type
        if t.started_by:
            out["startedBy"] = t.started_by
        if t.task_group:
            out["group"] = t.task_group
        for member, ms in (("startedAt", t.started_at), ("stoppingAt", t.stopping_at), ("stoppedAt", t.stopped_at),
                           ("pullStartedAt", doc.get("pullStartedAt")), ("pullStoppedAt", doc.get("pullStoppedAt")),
                           ("connectivityAt", doc.get("connectivityAt")),
                           ("executionStoppedAt", doc.get("executionStoppedAt"))):
            if ms is not None:
                out[member] = seconds(ms)
        if t.stop_code:
            out["stopCode"] = t.stop_code
        if t.stopped_reason:
            out["stoppedReason"] = t.stopped_reason
        return out

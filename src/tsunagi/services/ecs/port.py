"""ECS's port (:class:`tsunagi.ports.ecs.EcsPort`): what a running task's metadata and credentials
endpoints answer, found by the task's token.

Credentials: STS does not issue role sessions in tsunagi yet, so a task gets credentials of its
account's root (the access key id is the account id, which selects that account), with an expiry six
hours ahead as a role session would have; ``RoleArn`` is the task role the task runs with.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from tsunagi.store.ecs import TaskRow

if TYPE_CHECKING:
    from tsunagi.services.ecs.core import EcsCore
    from tsunagi.services.ecs.taskdefs import TaskDefinitions

CREDENTIALS_TTL_S = 6 * 3600


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


class EcsPortImpl:
    def __init__(self, core: EcsCore, taskdefs: TaskDefinitions) -> None:
        self._core = core
        self._taskdefs = taskdefs

    async def _task(self, token: str) -> TaskRow | None:
        if not token:
            return None
        return await self._core.repo.task_by_token(token)

    def _container(self, t: TaskRow, shape: dict[str, Any], definition: dict[str, Any]) -> dict[str, Any]:
        log = definition.get("logConfiguration") or {}
        out: dict[str, Any] = {
            "DockerId": shape.get("runtimeId"), "Name": shape["name"], "DockerName": shape["name"],
            "Image": shape["image"], "ImageID": "", "Labels": {
                "com.amazonaws.ecs.cluster": t.cluster_arn, "com.amazonaws.ecs.container-name": shape["name"],
                "com.amazonaws.ecs.task-arn": t.arn, "com.amazonaws.ecs.task-definition-family": t.family,
                "com.amazonaws.ecs.task-definition-version": t.task_definition_arn.rsplit(":", 1)[1]},
            "DesiredStatus": t.desired_status, "KnownStatus": shape.get("lastStatus", "PENDING"),
            "Limits": {"CPU": int(shape.get("cpu") or 0)}, "Type": "NORMAL", "ContainerARN": shape["containerArn"],
            "CreatedAt": _iso(t.created_at), "Networks": [{"NetworkMode": "host", "IPv4Addresses": ["127.0.0.1"]}],
        }
        if shape.get("memory"):
            out["Limits"]["Memory"] = int(shape["memory"])
        if t.started_at is not None:
            out["StartedAt"] = _iso(t.started_at)
        if shape.get("exitCode") is not None:
            out["ExitCode"] = shape["exitCode"]
        if log.get("logDriver"):
            out["LogDriver"] = log["logDriver"]
            out["LogOptions"] = dict(log.get("options") or {})
        return out

    async def _definitions(self, t: TaskRow) -> dict[str, dict[str, Any]]:
        family, revision = t.task_definition_arn.rsplit("/", 1)[1].rsplit(":", 1)
        td = await self._core.repo.task_definition(t.account, t.region, family, int(revision))
        return {c["name"]: c for c in (td.doc["containerDefinitions"] if td else [])}

    async def task_metadata(self, token: str) -> dict[str, Any] | None:
        t = await self._task(token)
        if t is None:
            return None
        defs = await self._definitions(t)
        doc = t.doc
        out: dict[str, Any] = {
            "Cluster": t.cluster_arn, "TaskARN": t.arn, "Family": t.family,
            "Revision": t.task_definition_arn.rsplit(":", 1)[1], "DesiredStatus": t.desired_status,
            "KnownStatus": t.last_status, "AvailabilityZone": f"{t.region}a", "LaunchType": t.launch_type or "EC2",
            "Containers": [self._container(t, c, defs.get(c["name"], {})) for c in doc.get("containers", [])],
            "PullStartedAt": _iso(doc.get("pullStartedAt")), "PullStoppedAt": _iso(doc.get("pullStoppedAt")),
        }
        limits: dict[str, Any] = {}
        if doc.get("cpu"):
            limits["CPU"] = int(doc["cpu"]) / 1024
        if doc.get("memory"):
            limits["Memory"] = int(doc["memory"])
        if limits:
            out["Limits"] = limits
        if t.service_name:
            out["ServiceName"] = t.service_name
        if t.stopped_at is not None:
            out["ExecutionStoppedAt"] = _iso(t.stopped_at)
        return {k: v for k, v in out.items() if v is not None}

    async def container_metadata(self, token: str, runtime_id: str) -> dict[str, Any] | None:
        t = await self._task(token)
        if t is None:
            return None
        defs = await self._definitions(t)
        for c in t.doc.get("containers", []):
            if c.get("runtimeId") == runtime_id:
                return self._container(t, c, defs.get(c["name"], {}))
        return None

    async def task_credentials(self, token: str) -> dict[str, Any] | None:
        t = await self._task(token)
        if t is None or t.last_status == "STOPPED":
            return None
        expires = self._core.clock.now_ms() + CREDENTIALS_TTL_S * 1000
        role = t.doc.get("taskRoleArn") or f"arn:aws:iam::{t.account}:root"
        return {"AccessKeyId": t.account, "SecretAccessKey": "tsunagi", "Token": "tsunagi",
                "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires / 1000)), "RoleArn": role}

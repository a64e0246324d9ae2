"""Task definitions: Register, Deregister, Delete, Describe, List, ListTaskDefinitionFamilies.

Every registration of a family is a new revision (1, 2, …). A reference is ``family`` (its latest
ACTIVE revision), ``family:revision`` or the ARN. Deregistered revisions are INACTIVE: still
described, never run again; DeleteTaskDefinitions removes INACTIVE ones.
"""

from __future__ import annotations

from typing import Any

from tsunagi.services.base import RequestContext
from tsunagi.services.ecs import names
from tsunagi.services.ecs.core import EcsCore, from_token, max_results, seconds, tags_in, tags_out, to_token
from tsunagi.services.ecs.errors import (
    TASK_DEFINITION_MISSING,
    TASK_DEFINITION_NOT_FOUND,
    UNABLE_TO_DESCRIBE,
    Client,
    InvalidParameter,
)
from tsunagi.store.ecs import TaskDefinitionRow

NETWORK_MODES = ("bridge", "host", "awsvpc", "none")
LOG_DRIVERS = ("json-file", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "awsfirelens")
CONDITIONS = ("START", "COMPLETE", "SUCCESS", "HEALTHY")


def _container(raw: dict[str, Any], task_memory: str | None, fargate: bool) -> dict[str, Any]:
    name = raw.get("name")
    if not name:
        raise Client("Container.name should not be null or empty.")
    if not raw.get("image"):
        raise Client("Container.image should not be null or empty.")
    if not task_memory and raw.get("memory") is None and raw.get("memoryReservation") is None and not fargate:
        raise Client(f"Invalid setting for container '{name}'. At least one of 'memory' or 'memoryReservation' "
                     "must be specified.")
    if raw.get("memory") is not None and raw.get("memoryReservation") is not None \
            and raw["memoryReservation"] > raw["memory"]:
        raise Client(f"Invalid setting for container '{name}'. 'memoryReservation' must be less than or equal to "
                     "'memory'.")
    log = raw.get("logConfiguration")
    if log is not None and log.get("logDriver") not in LOG_DRIVERS:
        raise Client(f"Log driver {log.get('logDriver')} not supported.")
    for dep in raw.get("dependsOn") or []:
        if dep.get("condition") not in CONDITIONS:
            raise Client(f"Invalid dependency condition {dep.get('condition')} for container '{name}'.")
    out = {"name": name, "image": raw["image"], "cpu": raw.get("cpu", 0), "portMappings": raw.get("portMappings", []),
           "essential": raw.get("essential", True), "environment": raw.get("environment", []),
           "mountPoints": raw.get("mountPoints", []), "volumesFrom": raw.get("volumesFrom", []),
           "systemControls": raw.get("systemControls", [])}
    for key, value in raw.items():
        if key not in out and value is not None:
            out[key] = value
    return out


def _check_dependencies(containers: list[dict[str, Any]]) -> None:
    known = {c["name"] for c in containers}
    for c in containers:
        for dep in c.get("dependsOn") or []:
            if dep.get("containerName") not in known:
                raise Client(f"Container '{c['name']}' depends on container '{dep.get('containerName')}', which "
                             "does not exist in the task definition.")
    # a cycle never starts: refuse it
    graph = {c["name"]: [d["containerName"] for d in c.get("dependsOn") or []] for c in containers}
    state: dict[str, int] = {}

    def visit(n: str) -> None:
        if state.get(n) == 1:
            raise Client("Container dependency cycle detected in the task definition.")
        if state.get(n) == 2:
            return
        state[n] = 1
        for m in graph[n]:
            visit(m)
        state[n] = 2

    for n in graph:
        visit(n)


class TaskDefinitions:
    def __init__(self, core: EcsCore) -> None:
        self.core = core
        self.repo = core.repo

    # == lookups the other parts use ============================================================
    async def find(self, ctx: RequestContext, ref: str, *, missing: str = TASK_DEFINITION_NOT_FOUND
                   ) -> TaskDefinitionRow:
        family, revision = names.taskdef_ref(ref)
        arn = names.TASKDEF_ARN.fullmatch(ref)
        if arn and (arn.group(1) != ctx.region or arn.group(2) != ctx.account):
            raise Client(missing)
        row = await self.repo.task_definition(ctx.account, ctx.region, family, revision)
        if row is None or row.status == "DELETE_IN_PROGRESS":
            raise Client(missing)
        return row

    @staticmethod
    def shape(row: TaskDefinitionRow) -> dict[str, Any]:
        doc = dict(row.doc)
        doc.update({"taskDefinitionArn": row.arn, "family": row.family, "revision": row.revision,
                    "status": row.status, "registeredAt": seconds(row.registered_at)})
        if row.deregistered_at is not None:
            doc["deregisteredAt" if row.status == "INACTIVE" else "deleteRequestedAt"] = seconds(row.deregistered_at)
        return doc

    # == operations =============================================================================
    async def register(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        family = params["family"]
        names.check_family(family)
        requires = list(params.get("requiresCompatibilities") or [])
        fargate = "FARGATE" in requires
        network_mode = params.get("networkMode")
        if network_mode is not None and network_mode not in NETWORK_MODES:
            raise Client(f"Invalid network mode: {network_mode}")
        cpu, memory = params.get("cpu"), params.get("memory")
        if fargate:
            if network_mode != "awsvpc":
                raise Client("Fargate only supports network mode \u2018awsvpc\u2019.")
            if not cpu or not memory:
                raise Client("Fargate requires that 'cpu' be defined at the task level." if not cpu else
                             "Fargate requires that 'memory' be defined at the task level.")
        raw_containers = params.get("containerDefinitions") or []
        if not raw_containers:
            raise Client("Container list cannot be empty.")
        containers = [_container(c, memory, fargate) for c in raw_containers]
        seen: set[str] = set()
        for c in containers:
            if c["name"] in seen:
                raise Client(f"Duplicate container name: {c['name']}")
            seen.add(c["name"])
        if not any(c["essential"] for c in containers):
            raise Client("A task definition must have at least one essential container.")
        _check_dependencies(containers)
        tags = tags_in(params.get("tags"))
        compat = ["EC2"]
        if network_mode == "awsvpc" and cpu and memory:
            compat.append("FARGATE")
        doc: dict[str, Any] = {"containerDefinitions": containers, "volumes": params.get("volumes", []),
                               "placementConstraints": params.get("placementConstraints", []),
                               "compatibilities": compat, "requiresAttributes": [],
                               "registeredBy": ctx.principal_arn}
        if network_mode:
            doc["networkMode"] = network_mode
        if requires:
            doc["requiresCompatibilities"] = requires
        for member in ("taskRoleArn", "executionRoleArn", "cpu", "memory", "pidMode", "ipcMode", "proxyConfiguration",
                       "inferenceAccelerators", "ephemeralStorage", "runtimePlatform", "enableFaultInjection"):
            if params.get(member) is not None:
                doc[member] = params[member]

        def make(revision: int) -> tuple[str, dict[str, Any]]:
            return names.taskdef_arn(ctx.region, ctx.account, family, revision), doc

        row = await self.repo.register(ctx.account, ctx.region, family, make, self.core.clock.now_ms(), tags)
        out: dict[str, Any] = {"taskDefinition": self.shape(row)}
        if tags:
            out["tags"] = tags_out(tags)
        return out

    async def describe(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.find(ctx, params["taskDefinition"], missing=UNABLE_TO_DESCRIBE)
        out: dict[str, Any] = {"taskDefinition": self.shape(row)}
        if "TAGS" in (params.get("include") or []):
            out["tags"] = tags_out(await self.repo.tags(row.arn))
        return out

    async def deregister(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = params["taskDefinition"]
        family, revision = names.taskdef_ref(ref)
        if revision is None:
            raise Client("Invalid revision number. Number: " + ref)
        row = await self.find(ctx, ref, missing=TASK_DEFINITION_MISSING)
        if row.status == "ACTIVE":
            now = self.core.clock.now_ms()
            await self.repo.set_task_definition_status(row.arn, "INACTIVE", now)
            row = row._replace(status="INACTIVE", deregistered_at=now)
        return {"taskDefinition": self.shape(row)}

    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        refs = params.get("taskDefinitions") or []
        if not 1 <= len(refs) <= 10:
            raise InvalidParameter("The number of task definitions must be between 1 and 10.")
        done, failures = [], []
        for ref in refs:
            try:
                _family, revision = names.taskdef_ref(ref)
                if revision is None:
                    raise Client("The specified task definition identifier is invalid. Specify a valid name "
                                 "or ARN and try again.")
                row = await self.find(ctx, ref, missing=TASK_DEFINITION_MISSING)
            except Client as e:
                failures.append({"arn": ref, "reason": "TASK_DEFINITION_NOT_FOUND", "detail": e.message})
                continue
            if row.status == "ACTIVE":
                failures.append({"arn": row.arn, "reason": "The specified task definition is still in ACTIVE "
                                                           "status. Please deregister the target and try again."})
                continue
            now = self.core.clock.now_ms()
            await self.repo.set_task_definition_status(row.arn, "DELETE_IN_PROGRESS", now)
            done.append(self.shape(row._replace(status="DELETE_IN_PROGRESS", deregistered_at=now)))
        return {"taskDefinitions": done, "failures": failures}

    async def list(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        family = params.get("familyPrefix") or ""
        status = params.get("status") or "ACTIVE"
        descending = params.get("sort") == "DESC"
        limit = max_results(params, 100)
        start = ("\uffff", 2 ** 62) if descending else ("", 0)
        after = from_token(params.get("nextToken"), list(start))
        rows = await self.repo.task_definitions(ctx.account, ctx.region, family, status, (str(after[0]), int(after[1])),
                                                limit + 1, descending)
        out: dict[str, Any] = {"taskDefinitionArns": [a for a, _f, _r in rows[:limit]]}
        if len(rows) > limit:
            _a, f, r = rows[limit - 1]
            out["nextToken"] = to_token([f, r])
        return out

    async def families(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("familyPrefix") or ""
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        status = params.get("status") or "ACTIVE"
        limit = max_results(params, 100)
        after = str(from_token(params.get("nextToken"), ""))
        rows = await self.repo.families(ctx.account, ctx.region, like, "" if status == "ALL" else status, after,
                                        limit + 1)
        out: dict[str, Any] = {"families": rows[:limit]}
        if len(rows) > limit:
            out["nextToken"] = to_token(rows[limit - 1])
        return out

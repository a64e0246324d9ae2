"""Tasks: RunTask, StartTask, StopTask, DescribeTasks, ListTasks.

RunTask records each task (PROVISIONING, desired RUNNING) and hands it to the runner
(:mod:`.runner`), which takes it through its states on this server. StopTask may be called on any
server: it records the request (stop code, reason, ``stoppingAt``) and the server running the task
acts on it.
"""

from __future__ import annotations

import secrets
from typing import Any

from tsunagi.ids import uuid4
from tsunagi.services.base import RequestContext
from tsunagi.services.ecs import names
from tsunagi.services.ecs.core import EcsCore, from_token, max_results, tags_in, to_token
from tsunagi.services.ecs.errors import TASK_NOT_FOUND, Client, InvalidParameter
from tsunagi.services.ecs.runner import TaskRunner, runtime_id
from tsunagi.services.ecs.taskdefs import TaskDefinitions
from tsunagi.store.ecs import ClusterRow, TaskDefinitionRow, TaskRow

MAX_COUNT = 10
STOPPED_BY_USER = "Task stopped by user"
LAUNCH_TYPES = ("EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES")


class Tasks:
    def __init__(self, core: EcsCore, taskdefs: TaskDefinitions, runner: TaskRunner) -> None:
        self.core = core
        self.repo = core.repo
        self.taskdefs = taskdefs
        self.runner = runner

    # == RunTask ===================================================================================
    async def run(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        cluster = await self.core.active_cluster(ctx, params.get("cluster"))
        taskdef = await self.taskdefs.find(ctx, params["taskDefinition"])
        count = params.get("count", 1)
        if not 1 <= count <= MAX_COUNT:
            raise InvalidParameter(f"count must be between 1 and {MAX_COUNT}.")
        if params.get("enableExecuteCommand"):
            raise InvalidParameter("ECS Exec (enableExecuteCommand) is not supported by tsunagi: tasks run as host "
                                   "processes, so run commands on the host instead.")
        return await self.start_tasks(ctx, cluster, taskdef, params, count)

    async def start_tasks(self, ctx: RequestContext, cluster: ClusterRow, taskdef: TaskDefinitionRow,
                          params: dict[str, Any], count: int, *, service_name: str | None = None
                          ) -> dict[str, Any]:
        """RunTask's work once the cluster and task definition are found (services start tasks this way too)."""
        if taskdef.status != "ACTIVE":
            raise Client("TaskDefinition is inactive")
        launch_type = params.get("launchType")
        strategy = params.get("capacityProviderStrategy")
        if launch_type and strategy:
            raise InvalidParameter("Specifying both a launch type and capacity provider strategy is not supported. "
                                   "Remove one and try again.")
        if launch_type is not None and launch_type not in LAUNCH_TYPES:
            raise InvalidParameter(f"Invalid launch type: {launch_type}")
        provider = None
        if strategy:
            provider = strategy[0].get("capacityProvider")
            launch_type = "FARGATE" if provider in ("FARGATE", "FARGATE_SPOT") else "EC2"
        elif not launch_type:
            default = cluster.doc.get("defaultCapacityProviderStrategy") or []
            if default:
                provider = default[0].get("capacityProvider")
                launch_type = "FARGATE" if provider in ("FARGATE", "FARGATE_SPOT") else "EC2"
            else:
                launch_type = "EC2"
        td = taskdef.doc
        if launch_type == "FARGATE" and "FARGATE" not in td.get("compatibilities", []):
            raise Client("Task definition does not support launch_type FARGATE.")
        network = params.get("networkConfiguration")
        if td.get("networkMode") == "awsvpc" and not network:
            raise InvalidParameter("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
        overrides = dict(params.get("overrides") or {})
        containers = td["containerDefinitions"]
        known = {c["name"] for c in containers}
        for o in overrides.get("containerOverrides") or []:
            if o.get("name") not in known:
                raise InvalidParameter(f"Override for container named {o.get('name')} is not a container in the "
                                       "TaskDefinition.")
        started_by = params.get("startedBy")
        if started_by is not None and len(started_by) > 128:
            raise InvalidParameter("startedBy must be 128 characters or fewer.")
        tags = tags_in(params.get("tags"))
        if params.get("propagateTags") == "TASK_DEFINITION":
            tags = {**await self.repo.tags(taskdef.arn), **tags}
        group = params.get("group") or (f"service:{service_name}" if service_name else f"family:{taskdef.family}")
        overrides.setdefault("containerOverrides", [])
        overrides.setdefault("inferenceAcceleratorOverrides", [])
        now = self.core.clock.now_ms()
        cluster_name = cluster.name
        rows: list[TaskRow] = []
        for _ in range(count):
            task_id = self.core.new_id()
            arn = names.task_arn(ctx.region, ctx.account, cluster_name, task_id)
            shapes = []
            for c in containers:
                shape: dict[str, Any] = {
                    "containerArn": names.container_arn(ctx.region, ctx.account, cluster_name, task_id,
                                                        uuid4()),
                    "taskArn": arn, "name": c["name"], "image": c["image"], "lastStatus": "PENDING",
                    "runtimeId": runtime_id(task_id), "networkBindings": [], "networkInterfaces": [],
                    "healthStatus": "UNKNOWN", "cpu": str(c.get("cpu", 0))}
                memory = self._container_memory(c, overrides)
                if memory is not None:
                    shape["memory"] = str(memory)
                if c.get("memoryReservation") is not None:
                    shape["memoryReservation"] = str(c["memoryReservation"])
                shapes.append(shape)
            doc: dict[str, Any] = {"containers": shapes, "overrides": overrides, "attachments": []}
            cpu = overrides.get("cpu") or td.get("cpu")
            memory = overrides.get("memory") or td.get("memory")
            if cpu is not None:
                doc["cpu"] = str(cpu)
            if memory is not None:
                doc["memory"] = str(memory)
            if provider:
                doc["capacityProviderName"] = provider
            if launch_type == "FARGATE":
                doc["platformVersion"] = params.get("platformVersion") or "1.4.0"
                doc["platformFamily"] = "Linux"
            if network:
                doc["networkConfiguration"] = network
            doc["taskRoleArn"] = overrides.get("taskRoleArn") or td.get("taskRoleArn")
            rows.append(TaskRow(arn, ctx.account, ctx.region, cluster.arn, task_id, taskdef.family, taskdef.arn,
                                "PROVISIONING", "RUNNING", started_by, group, service_name, launch_type, now, None,
                                None, None, None, None, self.core.node, secrets.token_urlsafe(24), now, 1, doc))
        await self.repo.insert_tasks(rows, tags)
        for row in rows:
            self.runner.launch(row, td)
        return {"tasks": [self.core.task_shape(r, tags) for r in rows], "failures": []}

    @staticmethod
    def _container_memory(c: dict[str, Any], overrides: dict[str, Any]) -> int | None:
        for o in overrides.get("containerOverrides") or []:
            if o.get("name") == c["name"] and o.get("memory") is not None:
                return int(o["memory"])
        return c.get("memory")

    # == StartTask =================================================================================
    async def start(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """StartTask places tasks on container instances you name; tsunagi has none registered (tasks run
        on the server itself, with RunTask), so every instance named is missing."""
        await self.core.active_cluster(ctx, params.get("cluster"))
        await self.taskdefs.find(ctx, params["taskDefinition"])
        instances = params.get("containerInstances") or []
        if not 1 <= len(instances) <= 10:
            raise InvalidParameter("containerInstances must name between 1 and 10 container instances.")
        return {"tasks": [], "failures": [{"arn": ci, "reason": "MISSING"} for ci in instances]}

    # == StopTask ==================================================================================
    async def stop(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        cluster = await self.core.active_cluster(ctx, params.get("cluster"))
        arn = names.task_ref(ctx.region, ctx.account, cluster.name, params["task"])
        row = await self.repo.task(arn)
        if row is None or row.cluster_arn != cluster.arn:
            raise InvalidParameter(TASK_NOT_FOUND)
        reason = params.get("reason") or STOPPED_BY_USER
        await self.repo.request_stop(arn, self.core.clock.now_ms(), "UserInitiated", reason[:255])
        row = await self.repo.task(arn)
        assert row is not None
        return {"task": self.core.task_shape(row, await self.repo.tags(arn))}

    # == DescribeTasks =============================================================================
    async def describe(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        cluster = await self.core.active_cluster(ctx, params.get("cluster"))
        refs = params.get("tasks") or []
        if len(refs) > 100:
            raise InvalidParameter("Tasks cannot be longer than 100.")
        if not refs:
            raise InvalidParameter("Tasks cannot be empty.")
        with_tags = "TAGS" in (params.get("include") or [])
        tasks, failures = [], []
        for ref in refs:
            try:
                arn = names.task_ref(ctx.region, ctx.account, cluster.name, ref)
            except InvalidParameter:
                failures.append({"arn": ref, "reason": "MISSING"})
                continue
            row = await self.repo.task(arn)
            if row is None or row.cluster_arn != cluster.arn:
                failures.append({"arn": arn, "reason": "MISSING"})
                continue
            tasks.append(self.core.task_shape(row, await self.repo.tags(arn) if with_tags else None))
        return {"tasks": tasks, "failures": failures}

    # == ListTasks =================================================================================
    async def list(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        cluster = await self.core.active_cluster(ctx, params.get("cluster"))
        limit = max_results(params, 100)
        after = str(from_token(params.get("nextToken"), ""))
        if params.get("containerInstance"):
            return {"taskArns": []}          # no container instances are registered with tsunagi
        desired = params.get("desiredStatus") or "RUNNING"
        arns = await self.repo.task_arns(cluster.arn, desired, params.get("family") or "",
                                         params.get("startedBy") or "", params.get("serviceName") or "",
                                         params.get("launchType") or "", after, limit + 1)
        out: dict[str, Any] = {"taskArns": arns[:limit]}
        if len(arns) > limit:
            out["nextToken"] = to_token(arns[limit - 1])
        return out

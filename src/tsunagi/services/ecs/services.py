"""Services: CreateService, UpdateService, DeleteService, DescribeServices, ListServices, and the
scheduler that keeps each service's desiredCount of tasks running.

A service has deployments: the PRIMARY one (its task definition and settings; its tasks are started
by ``ecs-svc/<id>``) and, after an update that changes the task definition (or forceNewDeployment),
the ACTIVE ones it replaces. The scheduler, once a second and whenever a service changes or a task
stops, compares each service with its tasks: it starts the PRIMARY deployment's missing tasks
(replacing tasks that exited), stops extra ones, and stops the older deployments' tasks once the
PRIMARY one runs its desired count; a deployment with no tasks left is dropped, and a service with one
deployment running its desired count has reached a steady state (the ``services-stable`` waiter).
Tasks that keep failing to start are retried with a growing delay, up to a minute, as ECS throttles.
Events (newest first, 100 kept) tell what the scheduler did, in ECS's words.

Each service is scheduled by the server that created (or last updated) it; a server started again on
the same host and port takes its services up again, and replaces their tasks that the restart stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any

from tsunagi.context import internal_context
from tsunagi.ids import uuid4
from tsunagi.services.base import RequestContext
from tsunagi.services.ecs import names
from tsunagi.services.ecs.core import EcsCore, from_token, max_results, seconds, tags_in, tags_out, to_token
from tsunagi.services.ecs.errors import (
    SERVICE_NOT_ACTIVE,
    SERVICE_NOT_FOUND,
    InvalidParameter,
    ServiceError,
    ServiceNotActive,
    ServiceNotFound,
)
from tsunagi.services.ecs.taskdefs import TaskDefinitions
from tsunagi.services.ecs.tasks import Tasks
from tsunagi.store.ecs import SERVICE_CHANNEL, STOP_CHANNEL, ServiceRow

log = logging.getLogger("tsunagi.ecs")

TICK_S = 1.0
MAX_EVENTS = 100
MAX_BACKOFF_S = 60.0
SCHEDULING = ("REPLICA", "DAEMON")


def _deployment_id() -> str:
    return "ecs-svc/" + "".join(random.choice("0123456789") for _ in range(19))


def _short(task_arn: str) -> str:
    return task_arn.rsplit("/", 1)[1]


class Services:
    def __init__(self, core: EcsCore, taskdefs: TaskDefinitions, tasks: Tasks) -> None:
        self.core = core
        self.repo = core.repo
        self.taskdefs = taskdefs
        self.tasks = tasks
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.Task[None] | None = None
        self._backoff: dict[str, tuple[float, int]] = {}      # service ARN -> (next start allowed, failures)
        self._failed_seen: dict[str, int] = {}

    # == the scheduler's life cycle ==============================================================
    async def start(self) -> None:
        self._wake = asyncio.Event()
        store = self.core.platform.store
        store.listen(SERVICE_CHANNEL, self._poke)
        store.listen(STOP_CHANNEL, self._poke)
        await self._round()          # before the first request: what a restart stopped is being replaced
        self._loop = asyncio.get_running_loop().create_task(self._run(), name="tsunagi-ecs-services")

    async def stop(self) -> None:
        store = self.core.platform.store
        store.unlisten(SERVICE_CHANNEL, self._poke)
        store.unlisten(STOP_CHANNEL, self._poke)
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._loop
            self._loop = None

    def reset(self) -> None:
        self._backoff.clear()
        self._failed_seen.clear()

    def _poke(self, _payload: str = "") -> None:
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_S)
            self._wake.clear()
            await self._round()

    async def _round(self) -> None:
        try:
            for svc in await self.repo.active_services():
                if svc.doc.get("node") == self.core.node:
                    await self.reconcile(svc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ECS service scheduler failed")

    # == API =====================================================================================
    async def create(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        cluster = await self.core.active_cluster(ctx, params.get("cluster"))
        name = params["serviceName"]
        if not names.NAME.fullmatch(name):
            raise InvalidParameter("Service name must be up to 255 letters (uppercase and lowercase), numbers, "
                                   "underscores, and hyphens.")
        arn = names.service_arn(ctx.region, ctx.account, cluster.name, name)
        existing = await self.repo.service(arn)
        if existing is not None and existing.status != "INACTIVE":
            raise InvalidParameter("Creation of service was not idempotent.")
        strategy = params.get("schedulingStrategy") or "REPLICA"
        if strategy not in SCHEDULING:
            raise InvalidParameter(f"Invalid scheduling strategy: {strategy}")
        if strategy == "DAEMON":
            if params.get("desiredCount") is not None:
                raise InvalidParameter("The daemon scheduling strategy does not support a desired count for "
                                       "services.")
            desired = 1                      # one "instance": this server
        else:
            if params.get("desiredCount") is None:
                raise InvalidParameter("desiredCount is required for a service with the REPLICA scheduling "
                                       "strategy.")
            desired = int(params["desiredCount"])
            if desired < 0:
                raise InvalidParameter("desiredCount must not be negative.")
        if params.get("taskDefinition") is None:
            raise InvalidParameter("TaskDefinition can not be blank.")
        taskdef = await self.taskdefs.find(ctx, params["taskDefinition"])
        if params.get("enableExecuteCommand"):
            raise InvalidParameter("ECS Exec (enableExecuteCommand) is not supported by tsunagi: tasks run as host "
                                   "processes, so run commands on the host instead.")
        if params.get("launchType") and params.get("capacityProviderStrategy"):
            raise InvalidParameter("Specifying both a launch type and capacity provider strategy is not supported. "
                                   "Remove one and try again.")
        if taskdef.doc.get("networkMode") == "awsvpc" and not params.get("networkConfiguration"):
            raise InvalidParameter("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
        tags = tags_in(params.get("tags"))
        now = self.core.clock.now_ms()
        launch_type = params.get("launchType") or ("FARGATE" if any(
            s.get("capacityProvider") in ("FARGATE", "FARGATE_SPOT")
            for s in params.get("capacityProviderStrategy") or []) else "EC2")
        settings = {k: params[k] for k in ("networkConfiguration", "capacityProviderStrategy", "platformVersion")
                    if params.get(k) is not None}
        deployment = self._deployment(taskdef.arn, desired, launch_type, settings, now)
        doc: dict[str, Any] = {
            "serviceName": name, "clusterArn": cluster.arn, "taskDefinition": taskdef.arn,
            "loadBalancers": params.get("loadBalancers", []), "serviceRegistries": params.get("serviceRegistries", []),
            "runningCount": 0, "pendingCount": 0, "launchType": launch_type,
            "deploymentConfiguration": self._deployment_configuration(params.get("deploymentConfiguration")),
            "deployments": [deployment], "events": [], "placementConstraints": params.get("placementConstraints", []),
            "placementStrategy": params.get("placementStrategy", []), "schedulingStrategy": strategy,
            "deploymentController": params.get("deploymentController") or {"type": "ECS"},
            "createdBy": ctx.principal_arn, "enableECSManagedTags": bool(params.get("enableECSManagedTags")),
            "propagateTags": params.get("propagateTags") or "NONE", "enableExecuteCommand": False,
            "node": self.core.node, "account": ctx.account, "region": ctx.region, **settings,
        }
        if params.get("healthCheckGracePeriodSeconds") is not None:
            doc["healthCheckGracePeriodSeconds"] = params["healthCheckGracePeriodSeconds"]
        if params.get("role"):
            doc["roleArn"] = params["role"]
        row = ServiceRow(arn, ctx.account, ctx.region, cluster.arn, name, "ACTIVE", desired, now, now, doc)
        await self.repo.save_service(row, tags)
        self._backoff.pop(arn, None)
        return {"service": self.shape(row, tags if tags else None)}

    @staticmethod
    def _deployment_configuration(raw: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {"deploymentCircuitBreaker": {"enable": False, "rollback": False},
                               "maximumPercent": 200, "minimumHealthyPercent": 100}
        out.update(raw or {})
        return out

    @staticmethod
    def _deployment(taskdef_arn: str, desired: int, launch_type: str, settings: dict[str, Any],
                    now: int) -> dict[str, Any]:
        return {"id": _deployment_id(), "status": "PRIMARY", "taskDefinition": taskdef_arn, "desiredCount": desired,
                "pendingCount": 0, "runningCount": 0, "failedTasks": 0, "createdAt": now, "updatedAt": now,
                "launchType": launch_type, "rolloutState": "IN_PROGRESS",
                "rolloutStateReason": "ECS deployment " + "{id} in progress.", **settings}

    async def _find(self, ctx: RequestContext, cluster_ref: str | None, ref: str) -> ServiceRow:
        cluster = await self.core.active_cluster(ctx, cluster_ref)
        m = names.SERVICE_ARN.fullmatch(ref)
        name = m.group(4) if m else ref
        row = await self.repo.service(names.service_arn(ctx.region, ctx.account, cluster.name, name))
        if row is None:
            raise ServiceNotFound(SERVICE_NOT_FOUND)
        return row

    async def update(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._find(ctx, params.get("cluster"), params["service"])
        if row.status != "ACTIVE":
            raise ServiceNotActive(SERVICE_NOT_ACTIVE)
        doc = dict(row.doc)
        desired = row.desired_count
        if params.get("desiredCount") is not None:
            if doc.get("schedulingStrategy") == "DAEMON":
                raise InvalidParameter("The daemon scheduling strategy does not support a desired count for "
                                       "services.")
            desired = int(params["desiredCount"])
            if desired < 0:
                raise InvalidParameter("desiredCount must not be negative.")
        if params.get("enableExecuteCommand"):
            raise InvalidParameter("ECS Exec (enableExecuteCommand) is not supported by tsunagi: tasks run as host "
                                   "processes, so run commands on the host instead.")
        taskdef_arn = doc["taskDefinition"]
        if params.get("taskDefinition"):
            taskdef_arn = (await self.taskdefs.find(ctx, params["taskDefinition"])).arn
        settings = {k: params[k] for k in ("networkConfiguration", "capacityProviderStrategy", "platformVersion")
                    if params.get(k) is not None}
        now = self.core.clock.now_ms()
        deployments = [dict(d) for d in doc["deployments"]]
        if taskdef_arn != doc["taskDefinition"] or params.get("forceNewDeployment") or settings:
            for d in deployments:
                d["status"] = "ACTIVE"
            primary_settings = {k: doc[k] for k in ("networkConfiguration", "capacityProviderStrategy",
                                                    "platformVersion") if doc.get(k) is not None}
            primary_settings.update(settings)
            deployments.insert(0, self._deployment(taskdef_arn, desired, doc.get("launchType", "EC2"),
                                                   primary_settings, now))
            doc.update(settings)
            doc["taskDefinition"] = taskdef_arn
        deployments[0]["desiredCount"] = desired
        deployments[0]["updatedAt"] = now
        doc["deployments"] = deployments
        for member in ("deploymentConfiguration",):
            if params.get(member) is not None:
                doc[member] = self._deployment_configuration(params[member])
        for member in ("loadBalancers", "serviceRegistries", "placementConstraints", "placementStrategy",
                       "healthCheckGracePeriodSeconds", "propagateTags", "enableECSManagedTags"):
            if params.get(member) is not None:
                doc[member] = params[member]
        doc["node"] = self.core.node
        row = row._replace(desired_count=desired, updated_at=now, doc=doc)
        await self.repo.save_service(row)
        self._backoff.pop(row.arn, None)
        return {"service": self.shape(row)}

    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._find(ctx, params.get("cluster"), params["service"])
        if row.status == "INACTIVE":
            raise ServiceNotActive(SERVICE_NOT_ACTIVE)
        if row.desired_count > 0 and not params.get("force") and row.doc.get("schedulingStrategy") != "DAEMON":
            raise InvalidParameter("The service cannot be stopped while it is scaled above 0.")
        now = self.core.clock.now_ms()
        doc = dict(row.doc)
        doc["deployments"] = [{**d, "desiredCount": 0} for d in doc["deployments"]]
        row = row._replace(status="DRAINING", desired_count=0, updated_at=now, doc=doc)
        await self.repo.save_service(row)
        return {"service": self.shape(row)}

    async def describe(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        cluster = await self.core.active_cluster(ctx, params.get("cluster"))
        refs = params.get("services") or []
        if not 1 <= len(refs) <= 10:
            raise InvalidParameter("services must name between 1 and 10 services.")
        with_tags = "TAGS" in (params.get("include") or [])
        out, failures = [], []
        for ref in refs:
            m = names.SERVICE_ARN.fullmatch(ref)
            arn = names.service_arn(ctx.region, ctx.account, cluster.name, m.group(4) if m else ref)
            row = await self.repo.service(arn)
            if row is None:
                failures.append({"arn": arn, "reason": "MISSING"})
                continue
            out.append(self.shape(row, await self.repo.tags(arn) if with_tags else None))
        return {"services": out, "failures": failures}

    async def list_arns(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        cluster = await self.core.active_cluster(ctx, params.get("cluster"))
        limit = max_results(params, 10, 100)
        after = str(from_token(params.get("nextToken"), ""))
        arns = await self.repo.service_arns(cluster.arn, after, 1000)
        wanted = []
        for arn in arns:
            if params.get("launchType") or params.get("schedulingStrategy"):
                row = await self.repo.service(arn)
                if row is None:
                    continue
                if params.get("launchType") and row.doc.get("launchType") != params["launchType"]:
                    continue
                if params.get("schedulingStrategy") and row.doc.get("schedulingStrategy") != params[
                        "schedulingStrategy"]:
                    continue
            wanted.append(arn)
            if len(wanted) > limit:
                break
        result: dict[str, Any] = {"serviceArns": wanted[:limit]}
        if len(wanted) > limit:
            result["nextToken"] = to_token(wanted[limit - 1])
        return result

    def shape(self, row: ServiceRow, tags: dict[str, str] | None = None) -> dict[str, Any]:
        doc = row.doc
        out = {k: v for k, v in doc.items() if k not in ("node", "account", "region", "steady")}
        out.update({"serviceArn": row.arn, "status": row.status, "desiredCount": row.desired_count,
                    "createdAt": seconds(row.created_at)})
        out["deployments"] = [{**d, "createdAt": seconds(d["createdAt"]), "updatedAt": seconds(d["updatedAt"]),
                               "rolloutStateReason": str(d.get("rolloutStateReason", "")).replace("{id}", d["id"])}
                              for d in doc.get("deployments", [])]
        out["events"] = [{**e, "createdAt": seconds(e["createdAt"])} for e in doc.get("events", [])]
        if tags is not None:
            out["tags"] = tags_out(tags)
        return out

    # == the scheduler ===========================================================================
    def _event(self, doc: dict[str, Any], message: str) -> None:
        doc["events"] = [{"id": uuid4(), "createdAt": self.core.clock.now_ms(), "message": message},
                         *doc.get("events", [])][:MAX_EVENTS]

    async def reconcile(self, svc: ServiceRow) -> None:
        doc = {**svc.doc, "deployments": [dict(d) for d in svc.doc["deployments"]]}
        before = repr(doc)
        label = f"(service {svc.name})"
        tasks = await self.repo.service_tasks(svc.cluster_arn, svc.name)
        primary = doc["deployments"][0]
        desired = svc.desired_count if svc.status == "ACTIVE" else 0
        mine = [t for t in tasks if t[2] == primary["id"]]
        others = [t for t in tasks if t[2] != primary["id"]]
        failed = await self.repo.service_failed_tasks(svc.cluster_arn, svc.name, primary["createdAt"])
        primary["failedTasks"] = failed.get(primary["id"], 0)
        now_s = time.monotonic()

        if len(mine) < desired:
            if self._may_start(svc.arn, primary["failedTasks"], now_s):
                started = await self._start(svc, doc, primary, desired - len(mine))
                if started:
                    self._event(doc, f"{label} has started {len(started)} tasks: "
                                     + " ".join(f"(task {_short(a)})" for a in started) + ".")
                    mine += [(a, "PROVISIONING", primary["id"], 0) for a in started]
        elif len(mine) > desired:
            extra = mine[desired:]
            await self._stop(extra, f"Scaling activity initiated by (deployment {primary['id']})")
            self._event(doc, f"{label} has stopped {len(extra)} running tasks: "
                             + " ".join(f"(task {_short(a)})" for a, *_ in extra) + ".")
            mine = mine[:desired]
        primary_running = sum(1 for t in mine if t[1] == "RUNNING")
        if others and primary_running >= desired:
            await self._stop(others, f"Deployment replaced by {primary['id']}" if svc.status == "ACTIVE"
                             else "Scaling activity initiated by service deletion")
            self._event(doc, f"{label} has stopped {len(others)} running tasks: "
                             + " ".join(f"(task {_short(a)})" for a, *_ in others) + ".")
            others = []

        # counts, deployments, steady state
        live = {d["id"]: [t for t in (mine + others) if t[2] == d["id"]] for d in doc["deployments"]}
        kept = []
        for d in doc["deployments"]:
            ts = live.get(d["id"], [])
            d["runningCount"] = sum(1 for t in ts if t[1] == "RUNNING")
            d["pendingCount"] = sum(1 for t in ts if t[1] in ("PROVISIONING", "PENDING", "ACTIVATING"))
            if d is primary or ts:
                kept.append(d)
        doc["deployments"] = kept
        doc["runningCount"] = sum(d["runningCount"] for d in kept)
        doc["pendingCount"] = sum(d["pendingCount"] for d in kept)
        steady = len(kept) == 1 and primary["runningCount"] == desired and primary["pendingCount"] == 0
        if steady and primary.get("rolloutState") != "COMPLETED":
            primary["rolloutState"] = "COMPLETED"
            primary["rolloutStateReason"] = "ECS deployment {id} completed."
            primary["updatedAt"] = self.core.clock.now_ms()
            if len(svc.doc["deployments"]) > 1 or svc.doc["deployments"][0].get("rolloutState") != "COMPLETED":
                self._event(doc, f"{label} deployment {primary['id']} deployment completed.")
        if steady and not doc.get("steady"):
            self._event(doc, f"{label} has reached a steady state.")
        doc["steady"] = steady
        status = svc.status
        if status == "DRAINING" and not tasks:
            status = "INACTIVE"
        if repr(doc) != before or status != svc.status:
            row = svc._replace(status=status, doc=doc)
            await self.repo.update_service_quietly(row)

    def _may_start(self, arn: str, failed: int, now_s: float) -> bool:
        seen = self._failed_seen.get(arn, failed)
        self._failed_seen[arn] = failed
        next_at, failures = self._backoff.get(arn, (0.0, 0))
        if failed > seen:                     # tasks failed since the last look: wait longer each time
            failures += failed - seen
            next_at = now_s + min(MAX_BACKOFF_S, 2.0 ** min(failures, 6))
            self._backoff[arn] = (next_at, failures)
        return now_s >= next_at

    async def _start(self, svc: ServiceRow, doc: dict[str, Any], deployment: dict[str, Any], n: int) -> list[str]:
        ctx = internal_context(svc.account, svc.region, "ecs", "RunTask")
        try:
            cluster = await self.core.active_cluster(ctx, svc.cluster_arn)
            family, revision = names.taskdef_ref(deployment["taskDefinition"])
            taskdef = await self.repo.task_definition(svc.account, svc.region, family, revision)
            if taskdef is None:
                raise InvalidParameter("TaskDefinition not found.")
            params: dict[str, Any] = {"startedBy": deployment["id"], "group": f"service:{svc.name}"}
            for k in ("networkConfiguration", "capacityProviderStrategy", "platformVersion"):
                if deployment.get(k) is not None:
                    params[k] = deployment[k]
            if not params.get("capacityProviderStrategy"):
                params["launchType"] = deployment.get("launchType", "EC2")
            if doc.get("propagateTags") in ("SERVICE", "TASK_DEFINITION"):
                if doc["propagateTags"] == "SERVICE":
                    params["tags"] = tags_out(await self.repo.tags(svc.arn))
                else:
                    params["propagateTags"] = "TASK_DEFINITION"
            started: list[str] = []
            while n > 0:
                batch = min(n, 10)
                out = await self.tasks.start_tasks(ctx, cluster, taskdef, params, batch, service_name=svc.name)
                started += [t["taskArn"] for t in out["tasks"]]
                n -= batch
            return started
        except ServiceError as e:
            self._event(doc, f"(service {svc.name}) was unable to place a task. Reason: {e.message}")
            return []

    async def _stop(self, tasks: list[tuple[str, str, str, int]], reason: str) -> None:
        now = self.core.clock.now_ms()
        for arn, *_ in tasks:
            await self.repo.request_stop(arn, now, "ServiceSchedulerInitiated", reason)

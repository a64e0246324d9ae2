"""Running tasks without Docker: each container a host process, supervised (:mod:`tsunagi.runtime.supervisor`).

An image is a host directory by configuration (``tsunagi serve --ecs-image NAME[:TAG]=DIR``,
``TSUNAGI_ECS_IMAGES``). The directory stands in for the image's file system: the command
(``entryPoint`` + ``command``, after overrides) runs in it (or in ``workingDirectory`` under it), and
an absolute path in the command that exists under the directory is taken from there
(``python /app/manage.py`` runs ``DIR/app/manage.py``); anything else (``python``, ``sh``) comes
from the host, with tsunagi's own Python first on ``PATH`` so that ``python`` has boto3. An image
mapped nowhere stops its task with AWS's ``CannotPullContainerError`` (tsunagi does not run images
with Docker).

A task goes through ECS's states, each written to the store as it is reached::

    PROVISIONING → PENDING → ACTIVATING → RUNNING → DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED

A container's ``memory`` (MiB) is enforced as a container's would be: its processes' resident memory
together, read twice a second, over the limit kills them (exit code 137, ``OutOfMemoryError:
Container killed due to memory usage``); the address space is limited too, with room for what
interpreters map without using.

It stops when an essential container exits (``EssentialContainerExited``) or when a stop is asked
for (StopTask on any server: the store's notification reaches the server running it). Stopping
sends SIGTERM to every container's process group, then SIGKILL after the container's
``stopTimeout`` (30 s by default, 120 s at most). Exit codes are as Docker reports them (128 + n
after signal n).

Output: with an ``awslogs`` log configuration each line goes to CloudWatch Logs (the Logs port) in
the stream ``prefix/container/task-id`` as it is written (lines that come during a write go in the next);
otherwise to the server's log.

The container's environment: the task definition's and the overrides' variables, plus
``AWS_ENDPOINT_URL`` (this server), the region, and ECS's two endpoints, served by tsunagi:
``AWS_CONTAINER_CREDENTIALS_FULL_URI`` (the task role's credentials, which SDKs fetch by themselves)
and ``ECS_CONTAINER_METADATA_URI_V4`` (task and container metadata).

Restarts: every task row names the server that runs it (host:port). A server that starts again on
the same host and port finds its earlier tasks not yet STOPPED, ends what is left of their
processes, and stops them with the reason ``Task stopped because the tsunagi server restarted``.
Each server refreshes a heartbeat on its tasks; tasks of a server whose heartbeat stopped a minute
ago are stopped the same way by any other server (several servers sharing PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tsunagi.ports.logs import LOGS
from tsunagi.runtime.supervisor import ProcessSpec, StartError, Supervised, alive, group_rss, kill_group
from tsunagi.services.ecs.core import STOPPED_KEPT_MS
from tsunagi.store.ecs import STOP_CHANNEL, TaskRow

if TYPE_CHECKING:
    from tsunagi.services.ecs.core import EcsCore

log = logging.getLogger("tsunagi.ecs")
task_log = logging.getLogger("tsunagi.ecs.task")

RESTARTED = "Task stopped because the tsunagi server restarted"
ESSENTIAL_EXITED = "Essential container in task exited"
DEFAULT_STOP_TIMEOUT = 30.0
MAX_STOP_TIMEOUT = 120.0
HEARTBEAT_S = 10.0
ORPHAN_AFTER_MS = 60_000
LOG_FLUSH_S = 0.25
LOG_BATCH = 1000
MEMORY_HEADROOM = 1024 * 1024 * 1024      # address space beyond the container's memory (interpreters map a lot)
MEMORY_POLL_S = 0.5                        # how often a container's resident memory is compared with its limit


def image_dir(images: dict[str, str], image: str) -> str | None:
    """The directory an image is mapped to: ``name:tag`` exactly, ``name`` as ``name:latest``, or a
    mapping without a tag for every tag of the name."""
    if image in images:
        return images[image]
    last = image.rsplit("/", 1)[-1]
    repo, tag = (image.rsplit(":", 1) if ":" in last else (image, "latest"))
    if "@" in repo:
        repo = repo.split("@", 1)[0]
    for key in (f"{repo}:{tag}", repo):
        if key in images:
            return images[key]
    return None


def _in_image(root: str, arg: str) -> str:
    if arg.startswith("/") and not arg.startswith("//"):
        inside = os.path.join(root, arg.lstrip("/"))
        if os.path.exists(inside):
            return inside
    return arg


@dataclass
class _Container:
    definition: dict[str, Any]
    shape: dict[str, Any]                  # the Container shape DescribeTasks returns
    proc: Supervised | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    pending_logs: list[tuple[int, str]] = field(default_factory=list)
    new_logs: asyncio.Event = field(default_factory=asyncio.Event)
    out_of_memory: bool = False

    @property
    def name(self) -> str:
        return str(self.definition["name"])

    @property
    def essential(self) -> bool:
        return bool(self.definition.get("essential", True))


class _Running:
    def __init__(self, row: TaskRow, taskdef: dict[str, Any]) -> None:
        self.row = row
        self.doc = dict(row.doc)
        self.taskdef = taskdef
        self.containers = [_Container(d, s) for d, s in zip(taskdef["containerDefinitions"], self.doc["containers"],
                                                             strict=True)]
        self.stop_requested = asyncio.Event()
        self.changed = asyncio.Event()
        self.job: asyncio.Task[None] | None = None
        self.started_at: int | None = None
        self.lock = asyncio.Lock()          # the task's row is written in the order its changes happen


class TaskRunner:
    def __init__(self, core: EcsCore) -> None:
        self.core = core
        self.repo = core.repo
        self.clock = core.clock
        self._running: dict[str, _Running] = {}
        self._background: list[asyncio.Task[None]] = []
        self._listening = False
        self._closing = False

    # == life cycle of the runner ================================================================
    async def start(self) -> None:
        self._closing = False
        if not self._listening:
            self.core.platform.store.listen(STOP_CHANNEL, self._on_stop)
            self._listening = True
        await self._recover()
        loop = asyncio.get_running_loop()
        self._background = [loop.create_task(self._heartbeat_loop(), name="tsunagi-ecs-heartbeat")]

    async def stop(self) -> None:
        """The server is stopping: end every task's processes (their rows are settled by the next start)."""
        self._closing = True
        for job in self._background:
            job.cancel()
        for job in self._background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job
        self._background = []
        if self._listening:
            self.core.platform.store.unlisten(STOP_CHANNEL, self._on_stop)
            self._listening = False
        running = list(self._running.values())
        procs = [c.proc for rt in running for c in rt.containers if c.proc is not None]
        for p in procs:
            p.signal(signal.SIGTERM)
        if procs:
            await asyncio.wait([asyncio.ensure_future(p.wait()) for p in procs], timeout=3.0)
        for p in procs:
            await p.close()
        for rt in running:
            if rt.job is not None:
                rt.job.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await rt.job
        self._running.clear()

    async def reset(self) -> None:
        """Every task is forgotten (the store was wiped): end their processes."""
        running = list(self._running.values())
        self._running.clear()
        for rt in running:
            if rt.job is not None:
                rt.job.cancel()
            for c in rt.containers:
                if c.proc is not None:
                    await c.proc.close()

    def _on_stop(self, arn: str) -> None:
        rt = self._running.get(arn)
        if rt is not None:
            rt.stop_requested.set()

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                now = self.clock.now_ms()
                await self.repo.heartbeat(self.core.node, now)
                for row in await self.repo.orphaned_tasks(now - ORPHAN_AFTER_MS, self.core.node):
                    await self._settle_abandoned(row)
                await self.repo.purge_stopped(now - STOPPED_KEPT_MS)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ECS heartbeat failed")

    async def _recover(self) -> None:
        for row in await self.repo.node_tasks(self.core.node):
            if row.arn in self._running:
                continue
            await self._settle_abandoned(row)

    async def _settle_abandoned(self, row: TaskRow) -> None:
        """A task whose server is gone: end what is left of its processes (found by pid and the task's
        token in their environment) and record it STOPPED."""
        for pid in (row.doc.get("pids") or {}).values():
            if alive(int(pid), f"TSUNAGI_ECS_TASK_TOKEN={row.token}"):
                kill_group(int(pid), signal.SIGKILL)
        now = self.clock.now_ms()
        await self.repo.request_stop(row.arn, now, "TerminationNotice", RESTARTED)
        doc = dict(row.doc)
        for c in doc.get("containers", []):
            if c.get("lastStatus") != "STOPPED":
                c["lastStatus"] = "STOPPED"
                c.setdefault("reason", RESTARTED)
        doc["executionStoppedAt"] = now
        await self.repo.progress(row.arn, "STOPPED", row.started_at, now, now, doc)

    # == running one task ========================================================================
    def launch(self, row: TaskRow, taskdef: dict[str, Any]) -> None:
        rt = _Running(row, taskdef)
        self._running[row.arn] = rt
        rt.job = asyncio.get_running_loop().create_task(self._run(rt), name=f"ecs-task-{row.task_id}")

    def running(self, arn: str) -> bool:
        return arn in self._running

    async def _save(self, rt: _Running, status: str, *, stopped_at: int | None = None,
                    only_if: str | None = None) -> None:
        async with rt.lock:
            if only_if is not None and rt.row.last_status != only_if:
                return
            rt.doc["containers"] = [dict(c.shape) for c in rt.containers]
            await self.repo.progress(rt.row.arn, status, rt.started_at, stopped_at, self.clock.now_ms(), rt.doc)
            rt.row = rt.row._replace(last_status=status)

    async def _run(self, rt: _Running) -> None:
        try:
            await self._lifecycle(rt)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.exception("ECS task %s failed in tsunagi", rt.row.arn)
            with contextlib.suppress(Exception):
                await self._fail(rt, f"InternalError: tsunagi could not run the task: {e}")
        finally:
            if self._running.get(rt.row.arn) is rt:
                del self._running[rt.row.arn]

    async def _fail(self, rt: _Running, reason: str, container_reasons: dict[str, str] | None = None) -> None:
        """The task stops before it ran (TaskFailedToStart)."""
        now = self.clock.now_ms()
        await self.repo.request_stop(rt.row.arn, now, "TaskFailedToStart", reason)
        for c in rt.containers:
            c.shape["lastStatus"] = "STOPPED"
            if container_reasons and c.name in container_reasons:
                c.shape["reason"] = container_reasons[c.name]
        rt.doc["executionStoppedAt"] = now
        await self._save(rt, "STOPPED", stopped_at=now)

    async def _lifecycle(self, rt: _Running) -> None:
        now = self.clock.now_ms()
        rt.doc["pullStartedAt"] = now
        await self._save(rt, "PENDING")
        dirs: dict[str, str] = {}
        unmapped: dict[str, str] = {}
        for c in rt.containers:
            image = str(c.definition["image"])
            folder = image_dir(self.core.config.ecs_images, image)
            if folder is None:
                unmapped[c.name] = (f"CannotPullContainerError: pull image manifest has been retried 1 time(s): "
                                    f"failed to resolve ref {image}: not found (tsunagi runs an image from a host "
                                    f"directory mapped with --ecs-image or TSUNAGI_ECS_IMAGES, and none is mapped "
                                    f"to {image})")
            else:
                dirs[c.name] = folder
        if unmapped:
            await self._fail(rt, next(iter(unmapped.values())), unmapped)
            return
        secrets = [c.name for c in rt.containers if c.definition.get("secrets") or
                   (c.definition.get("repositoryCredentials") or {}).get("credentialsParameter")]
        if secrets:
            reason = ("ResourceInitializationError: unable to pull secrets or registry auth: tsunagi does not serve "
                      "Systems Manager Parameter Store or Secrets Manager, so the secrets of container "
                      f"'{secrets[0]}' cannot be retrieved")
            await self._fail(rt, reason, {n: reason for n in secrets})
            return
        rt.doc["pullStoppedAt"] = self.clock.now_ms()
        missing_group = await self._missing_log_group(rt)
        if missing_group is not None:
            await self._fail(rt, missing_group)
            return
        await self._save(rt, "ACTIVATING")
        if rt.stop_requested.is_set():
            await self._wind_down(rt)
            return

        # start the containers, each once what it depends on is met
        starters = [asyncio.ensure_future(self._start_when_ready(rt, c, dirs[c.name])) for c in rt.containers]
        first_wave = [s for s, c in zip(starters, rt.containers, strict=True)
                      if all(d.get("condition") in ("START", "HEALTHY") for d in c.definition.get("dependsOn") or [])]
        await asyncio.wait(first_wave)
        failures = {c.name: c.shape["reason"] for c in rt.containers
                    if c.shape.get("reason", "").startswith("CannotStartContainerError")}
        if failures:
            for s in starters:
                s.cancel()
            await self._stop_containers(rt)
            await self._fail(rt, next(iter(failures.values())), failures)
            return
        now = self.clock.now_ms()
        rt.started_at = now
        rt.doc["connectivityAt"] = now
        await self._save(rt, "RUNNING")

        essential_exit = asyncio.ensure_future(self._first_essential_exit(rt))
        stop_asked = asyncio.ensure_future(rt.stop_requested.wait())
        await asyncio.wait((essential_exit, stop_asked), return_when=asyncio.FIRST_COMPLETED)
        for s in starters:
            s.cancel()
        if not stop_asked.done():
            await self.repo.request_stop(rt.row.arn, self.clock.now_ms(), "EssentialContainerExited",
                                         ESSENTIAL_EXITED)
        essential_exit.cancel()
        stop_asked.cancel()
        await self._wind_down(rt)

    async def _wind_down(self, rt: _Running) -> None:
        await self._save(rt, "DEACTIVATING")
        await self._save(rt, "STOPPING")
        await self._stop_containers(rt)
        rt.doc["executionStoppedAt"] = self.clock.now_ms()
        for c in rt.containers:
            await self._flush_logs(rt, c)
        await self._save(rt, "DEPROVISIONING")
        await self._save(rt, "STOPPED", stopped_at=self.clock.now_ms())

    async def _first_essential_exit(self, rt: _Running) -> None:
        essentials = [asyncio.ensure_future(c.exited.wait()) for c in rt.containers if c.essential]
        try:
            await asyncio.wait(essentials, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for e in essentials:
                e.cancel()

    async def _stop_containers(self, rt: _Running) -> None:
        async def stop_one(c: _Container) -> None:
            if c.proc is None:
                c.shape["lastStatus"] = "STOPPED"
                return
            timeout = float(c.definition.get("stopTimeout") or DEFAULT_STOP_TIMEOUT)
            await c.proc.stop(min(max(timeout, 0.0), MAX_STOP_TIMEOUT))
            await c.exited.wait()

        await asyncio.gather(*(stop_one(c) for c in rt.containers))

    async def _start_when_ready(self, rt: _Running, c: _Container, folder: str) -> None:
        by_name = {x.name: x for x in rt.containers}
        for dep in c.definition.get("dependsOn") or []:
            other = by_name[dep["containerName"]]
            if dep.get("condition") in ("COMPLETE", "SUCCESS"):
                await other.exited.wait()
                if dep["condition"] == "SUCCESS" and other.shape.get("exitCode") != 0:
                    c.shape["lastStatus"] = "STOPPED"
                    c.shape["reason"] = (f"DependencyConditionNotMet: container '{other.name}' did not exit "
                                         "with code 0")
                    c.exited.set()
                    return
            else:
                await other.started.wait()
        if rt.stop_requested.is_set():
            return
        await self._start_container(rt, c, folder)

    def _environment(self, rt: _Running, c: _Container) -> dict[str, str]:
        row = rt.row
        endpoint = self.core.endpoint
        python_bin = os.path.dirname(sys.executable)
        launch = "FARGATE" if row.launch_type == "FARGATE" else "EC2"
        env: dict[str, str] = {
            "PATH": os.pathsep.join([python_bin, os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")]),
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "HOSTNAME": row.task_id[:12],
            "AWS_REGION": row.region,
            "AWS_DEFAULT_REGION": row.region,
            "AWS_EXECUTION_ENV": f"AWS_ECS_{launch}",
            "AWS_ENDPOINT_URL": endpoint,
            # credentials as on ECS: SDKs fetch the task role's from this endpoint by themselves
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{endpoint}/_tsunagi/ecs/credentials/{row.token}",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        for item in c.definition.get("environment") or []:
            env[str(item["name"])] = str(item.get("value", ""))
        for override in (rt.doc.get("overrides") or {}).get("containerOverrides") or []:
            if override.get("name") == c.name:
                for item in override.get("environment") or []:
                    env[str(item["name"])] = str(item.get("value", ""))
        metadata = f"{endpoint}/_tsunagi/ecs/v4/{row.token}/{c.shape['runtimeId']}"
        env["ECS_CONTAINER_METADATA_URI_V4"] = metadata
        env["ECS_CONTAINER_METADATA_URI"] = metadata
        env["ECS_AGENT_URI"] = f"{endpoint}/_tsunagi/ecs/agent/{row.token}"
        env["TSUNAGI_ECS_TASK_TOKEN"] = row.token
        return env

    def _argv(self, rt: _Running, c: _Container, folder: str) -> list[str]:
        command = c.definition.get("command")
        for override in (rt.doc.get("overrides") or {}).get("containerOverrides") or []:
            if override.get("name") == c.name and override.get("command") is not None:
                command = override["command"]
        argv = [*(c.definition.get("entryPoint") or []), *(command or [])]
        return [_in_image(folder, str(a)) for a in argv]

    def _memory(self, rt: _Running, c: _Container) -> int | None:
        """The container's hard memory limit in MiB (its ``memory``, overridden, or the task's for a
        task of one container); None without one."""
        mib = None
        for override in (rt.doc.get("overrides") or {}).get("containerOverrides") or []:
            if override.get("name") == c.name and override.get("memory") is not None:
                mib = override["memory"]
        if mib is None:
            mib = c.definition.get("memory")
        if mib is None and len(rt.containers) == 1 and rt.doc.get("memory"):
            with contextlib.suppress(ValueError):
                mib = int(str(rt.doc["memory"]))
        return int(mib) if mib else None

    async def _start_container(self, rt: _Running, c: _Container, folder: str) -> None:
        workdir = c.definition.get("workingDirectory")
        cwd = folder
        if workdir:
            inside = os.path.join(folder, str(workdir).lstrip("/"))
            cwd = inside if os.path.isdir(inside) else folder
        argv = self._argv(rt, c, folder)
        if not argv:
            c.shape["lastStatus"] = "STOPPED"
            c.shape["reason"] = ("CannotStartContainerError: Error response from daemon: No command specified "
                                 "(a directory-mapped image has no default command: give the container a command)")
            c.exited.set()
            c.started.set()
            return
        limit_mib = self._memory(rt, c)
        spec = ProcessSpec(argv, cwd, self._environment(rt, c),
                           memory_bytes=limit_mib * 1024 * 1024 + MEMORY_HEADROOM if limit_mib else None)
        try:
            c.proc = await Supervised.start(spec, lambda _stream, line: self._line(rt, c, line))
        except StartError as e:
            c.shape["lastStatus"] = "STOPPED"
            c.shape["reason"] = (f"CannotStartContainerError: Error response from daemon: failed to create task for "
                                 f"container: exec: \"{e.argv0}\": {e.reason}: unknown")
            c.exited.set()
            c.started.set()
            return
        rt.doc.setdefault("pids", {})[c.name] = c.proc.pid
        c.shape["lastStatus"] = "RUNNING"
        c.started.set()
        loop = asyncio.get_running_loop()
        loop.create_task(self._watch(rt, c))
        if limit_mib:
            loop.create_task(self._memory_watch(c, limit_mib * 1024 * 1024))
        if self._log_target(rt, c) is not None:
            loop.create_task(self._log_pump(rt, c))

    async def _watch(self, rt: _Running, c: _Container) -> None:
        assert c.proc is not None
        code = await c.proc.wait()
        c.shape["exitCode"] = code
        c.shape["lastStatus"] = "STOPPED"
        if c.out_of_memory or (code == 137 and c.proc.signalled != signal.SIGKILL
                               and not rt.stop_requested.is_set()):
            c.shape.setdefault("reason", "OutOfMemoryError: Container killed due to memory usage")
        c.exited.set()
        with contextlib.suppress(Exception):
            await self._save(rt, "RUNNING", only_if="RUNNING")

    async def _memory_watch(self, c: _Container, limit: int) -> None:
        """The container's memory limit, as a cgroup's would be: its processes together over the limit
        are killed (SIGKILL; the container's reason says OutOfMemoryError)."""
        assert c.proc is not None
        loop = asyncio.get_running_loop()
        while not c.exited.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(c.exited.wait(), MEMORY_POLL_S)
            if c.exited.is_set():
                return
            rss = await loop.run_in_executor(None, group_rss, c.proc.pid)
            if rss > limit:
                c.out_of_memory = True
                c.proc.signal(signal.SIGKILL)
                return

    # == output ==================================================================================
    def _log_target(self, rt: _Running, c: _Container) -> tuple[str, str, str] | None:
        cfg = c.definition.get("logConfiguration") or {}
        if cfg.get("logDriver") != "awslogs":
            return None
        options = cfg.get("options") or {}
        group = options.get("awslogs-group")
        if not group:
            return None
        region = options.get("awslogs-region") or rt.row.region
        prefix = options.get("awslogs-stream-prefix")
        stream = f"{prefix}/{c.name}/{rt.row.task_id}" if prefix else rt.row.task_id
        return region, str(group), stream

    async def _missing_log_group(self, rt: _Running) -> str | None:
        """ECS's reason when an awslogs container's group does not exist and it may not create it
        (``awslogs-create-group`` is not ``true``); None when every group is there."""
        logs = self.core.platform.ports.find(LOGS)
        if logs is None:
            return None
        for c in rt.containers:
            target = self._log_target(rt, c)
            options = (c.definition.get("logConfiguration") or {}).get("options") or {}
            if target is None or str(options.get("awslogs-create-group", "")).lower() == "true":
                continue
            region, group, _stream = target
            if not await logs.group_exists(rt.row.account, region, group):
                return ("ResourceInitializationError: failed to validate logger args: create stream has been "
                        "retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The "
                        f"specified log group does not exist. : exit status 1 (log group {group}; create it, or "
                        "set the awslogs-create-group option to true)")
        return None

    def _line(self, rt: _Running, c: _Container, line: str) -> None:
        if self._log_target(rt, c) is None:
            task_log.info("[%s %s] %s", rt.row.task_id, c.name, line)
            return
        c.pending_logs.append((self.clock.now_ms(), line))
        c.new_logs.set()

    async def _log_pump(self, rt: _Running, c: _Container) -> None:
        """Lines reach CloudWatch Logs as they are written: a line waiting alone is written at once, and
        lines that come while a write is under way go together in the next one."""
        while not c.exited.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(c.new_logs.wait(), LOG_FLUSH_S)
            c.new_logs.clear()
            await self._flush_logs(rt, c)

    async def _flush_logs(self, rt: _Running, c: _Container) -> None:
        target = self._log_target(rt, c)
        if target is None or not c.pending_logs:
            return
        logs = self.core.platform.ports.find(LOGS)
        events, c.pending_logs = c.pending_logs, []
        if logs is None:
            for _ts, line in events:
                task_log.info("[%s %s] %s", rt.row.task_id, c.name, line)
            return
        region, group, stream = target
        for i in range(0, len(events), LOG_BATCH):
            try:
                await logs.append(rt.row.account, region, group, stream, events[i:i + LOG_BATCH])
            except Exception:
                log.exception("ECS task %s: writing its output to %s failed", rt.row.arn, group)


def runtime_id(task_id: str) -> str:
    return f"{task_id}-{random.randrange(10 ** 9, 10 ** 10)}"



"""Warm worker processes: spawn, init, invoke, time out, reap.

A :class:`Worker` is one execution environment (one OS process running ``worker.py`` or
``node_bootstrap.js``) with a state machine::

    STARTING --ready--> IDLE <--> BUSY
        \\--init error--> DEAD      BUSY --timeout / out of memory / exit--> DEAD

:class:`WorkerPool` keeps idle workers per :class:`WorkerSpec` key (function, version and
revision: an update gets fresh workers), counts executions in flight per function and per
account (reserved and unreserved concurrency), caps the number of processes on this node,
and reaps workers idle for longer than ``idle_timeout``.

Log lines (INIT_START, START, the function's output, END, REPORT) go to a sink callable
``sink(account, region, group, stream, events)`` after each invocation; the outcome also keeps
them for ``LogType=Tail``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import math
import os
import secrets
import signal
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tsunagi.runtime import containment
from tsunagi.runtime.containment import Cgroups, FunctionUser
from tsunagi.runtime.interpreters import Interpreter, resolve, server_site_packages

log = logging.getLogger("tsunagi.runtime")

_HEAD = struct.Struct(">cII")
HERE = os.path.dirname(os.path.abspath(__file__))
PY_WORKER = os.path.join(HERE, "worker.py")
NODE_WORKER = os.path.join(HERE, "node_bootstrap.js")
MAX_RESPONSE = 6 * 1024 * 1024
MAX_LOG_EVENT = 256 * 1024       # CloudWatch Logs' largest event
MAX_FRAME_HEADER = 64 * 1024
INIT_TIMEOUT = 10.0
MEMORY_POLL = 0.1
LOG_FLUSH = 1.0          # a running invocation's log lines reach the logs at least this often (seconds)

Sink = Callable[[str, str, str, str, list[tuple[int, str]]], None]


class Unlaunchable(Exception):
    """The function user (tsunagi is root) cannot run this function: the message says what to change."""


class Throttled(Exception):
    """No execution environment may be used now; ``reason`` is Lambda's throttle reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """Everything needed to start a worker for one function version at one revision."""

    key: str                         # pool key: unique per function version and revision
    function_key: str                # concurrency is counted per function (all versions)
    account: str
    region: str
    function_name: str
    version: str                     # "$LATEST" or "1", "2", …
    runtime: str
    handler: str
    code_dir: str
    opt_dir: str | None
    env: tuple[tuple[str, str], ...]
    memory_mb: int
    timeout_s: int
    log_group_name: str | None = None   # the function's LoggingConfig.LogGroup (None: /aws/lambda/<name>)

    @property
    def log_group(self) -> str:
        """Where the function's log lines go."""
        return self.log_group_name or f"/aws/lambda/{self.function_name}"


@dataclass(slots=True)
class Invocation:
    request_id: str
    payload: bytes
    invoked_arn: str
    client_context: str | None = None    # JSON text (already base64-decoded)
    identity: dict[str, Any] | None = None
    trace: str | None = None             # this invocation's _X_AMZN_TRACE_ID ("Root=…;Parent=…;Sampled=…")


@dataclass(slots=True)
class Outcome:
    """What an invocation returned: ``error_type`` is None on success, else its error JSON is the payload."""

    payload: bytes
    error_type: str | None = None        # Lambda's errorType of a failed invocation
    log_lines: list[str] = field(default_factory=list)
    log_stream: str = ""
    duration_ms: float = 0.0
    init_ms: float | None = None
    max_memory_mb: int = 0

    @property
    def ok(self) -> bool:
        return self.error_type is None


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def _iso_now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


async def _discard(reader: asyncio.StreamReader, n: int) -> None:
    """Read ``n`` bytes and drop them, a piece at a time."""
    while n > 0:
        piece = await reader.read(min(n, 1 << 20))
        if not piece:
            raise asyncio.IncompleteReadError(b"", n)
        n -= len(piece)


def _sweep(marks: list[str]) -> None:
    """SIGKILL every process carrying one of ``marks`` (twice: what forked meanwhile)."""
    for _ in range(2):
        for pid in containment.marked(marks):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


class _Sweeper:
    """Marker sweeps on one thread of their own (never the loop's default executor, which the store
    uses), the marks of workers killed meanwhile swept together."""

    def __init__(self) -> None:
        self._marks: list[str] = []
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._busy = False

    def add(self, mark: str) -> None:
        with self._lock:
            self._marks.append(mark)
            if self._busy:
                return
            self._busy = True
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tsunagi-sweep")
            self._pool.submit(self._run)

    def _run(self) -> None:
        while True:
            with self._lock:
                marks, self._marks = self._marks, []
                if not marks:
                    self._busy = False
                    return
            with contextlib.suppress(Exception):
                _sweep(marks)


_SWEEPER = _Sweeper()


class Worker:
    STARTING, IDLE, BUSY, DEAD = "STARTING", "IDLE", "BUSY", "DEAD"

    def __init__(self, spec: WorkerSpec, interp: Interpreter, sink: Sink, *, user: FunctionUser | None = None,
                 cgroups: Cgroups | None = None, script: str | None = None) -> None:
        self.spec = spec
        self.interp = interp
        self.script = script or (PY_WORKER if interp.kind == "python" else NODE_WORKER)
        self.sink = sink
        self.user = user                     # run as this user (tsunagi is root), else the server's own
        self.cgroups = cgroups
        self.cgroup: str | None = None       # this worker's cgroup, when the machine gives us cgroups
        self.mark = secrets.token_hex(8)     # in the environment of every process of this worker's tree
        self._swept = False
        self.state = Worker.STARTING
        self.proc: subprocess.Popen[bytes] | None = None
        self.stream_name = time.strftime("%Y/%m/%d/", time.gmtime()) + f"[{spec.version}]" + secrets.token_hex(16)
        self.last_used = time.monotonic()
        self.init_ms: float | None = None
        self.init_error: bytes | None = None
        self._pending: list[tuple[int, str]] = []       # log events not yet sent to the sink
        self._sent: list[tuple[int, str]] = []          # this invocation's events already sent (long runs)
        self._waiter: asyncio.Future[tuple[bytes, dict[str, Any], bytes]] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._writer: asyncio.WriteTransport | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._spawned_at = 0.0
        self.exit_reason: str | None = None

    # -- start -----------------------------------------------------------------------------------
    def _environment(self) -> dict[str, str]:
        spec = self.spec
        env = dict(spec.env)
        env["AWS_LAMBDA_LOG_STREAM_NAME"] = self.stream_name
        env[containment.MARKER] = self.mark
        if spec.opt_dir:
            env["TSUNAGI_OPT_DIR"] = spec.opt_dir
        if self.interp.kind == "python":
            if not self.interp.own:
                env["TSUNAGI_EXTRA_PATH"] = os.pathsep.join(server_site_packages())
            env["TSUNAGI_RLIMIT_AS"] = str((spec.memory_mb + 1024) * 1024 * 1024)
            if self.user is not None:
                env["TSUNAGI_RLIMIT_NPROC"] = str(containment.MAX_PROCESSES)
        else:
            paths = []
            if spec.opt_dir:
                paths = [os.path.join(spec.opt_dir, "nodejs", "node_modules"),
                         os.path.join(spec.opt_dir, "nodejs", f"node{spec.runtime[6:8]}", "node_modules")]
            paths.append(os.path.join(spec.code_dir, "node_modules"))
            env["NODE_PATH"] = os.pathsep.join(paths)
        return env

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        out_r, out_w = os.pipe()
        env = self._environment()
        env["TSUNAGI_FD_IN"] = str(req_r)
        env["TSUNAGI_FD_OUT"] = str(res_w)
        if self.interp.kind == "python":
            argv = [*self.interp.argv, "-s", self.script]
        else:
            argv = [*self.interp.argv, f"--max-old-space-size={max(self.spec.memory_mb - 32, 64)}", self.script]
            argv = containment.self_limited(argv, own_user=self.user is not None)
        self._spawned_at = time.perf_counter()
        user = self.user
        as_user: dict[str, Any] = {}
        if user is not None:
            as_user = {"user": user.uid, "group": user.gid, "extra_groups": [], "umask": 0o022}
            env["HOME"] = "/tmp"
        try:
            self.proc = subprocess.Popen(
                argv, env=env, cwd=self.spec.code_dir, stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w,
                pass_fds=(req_r, res_w), start_new_session=True, close_fds=True, **as_user)
        finally:
            os.close(req_r)
            os.close(res_w)
            os.close(out_w)
        self._contain(self.proc.pid)
        self._ready = loop.create_future()
        reader = asyncio.StreamReader(limit=2 ** 26)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(res_r, "rb", 0))
        out_reader = asyncio.StreamReader(limit=2 ** 20)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(out_reader), os.fdopen(out_r, "rb", 0))
        transport, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(req_w, "wb", 0))
        self._writer = transport  # type: ignore[assignment]
        self._pending.append((int(time.time() * 1000), f"INIT_START Runtime Version: {self._runtime_label()}"))
        self._tasks = [loop.create_task(self._read_frames(reader)), loop.create_task(self._read_output(out_reader))]

    def _contain(self, pid: int) -> None:
        """Put the started worker in its own cgroup (memory and pids limits) where there are cgroups, and
        give it rlimits from outside (both runtimes)."""
        if self.cgroups is not None:
            path = self.cgroups.create(f"w-{self.mark}", self.spec.memory_mb * 1024 * 1024,
                                       containment.MAX_PROCESSES)
            if path is not None and Cgroups.enter(path, pid):
                self.cgroup = path
        containment.rlimits(pid, own_user=self.user is not None, memory_bytes=None)

    def _runtime_label(self) -> str:
        if self.interp.kind == "python":
            return f"python:{self.interp.version}.tsunagi"
        return f"{self.spec.runtime.replace('.x', '')}.tsunagi"

    async def _read_frames(self, reader: asyncio.StreamReader) -> None:
        """Frames from the worker. Every length is checked before the bytes are read: a frame header
        longer than MAX_FRAME_HEADER ends the worker; a result larger than MAX_RESPONSE or a log event
        larger than MAX_LOG_EVENT is read through and dropped a piece at a time (the result becomes
        Function.ResponseSizeTooLarge, the event is cut), so a function declaring 3 GB costs no memory."""
        try:
            while True:
                head = await reader.readexactly(_HEAD.size)
                kind, hl, bl = _HEAD.unpack(head)
                if hl > MAX_FRAME_HEADER:
                    self.exit_reason = f"the runtime sent a {hl}-byte frame header"
                    self.kill()
                    return
                header = json.loads(await reader.readexactly(hl)) if hl else {}
                cap = MAX_LOG_EVENT if kind == b"L" else MAX_RESPONSE
                if bl > cap:
                    body = await reader.readexactly(cap) if kind == b"L" else b""
                    await _discard(reader, bl - len(body))
                    if kind in (b"O", b"F"):
                        header = {**header, "oversize": bl}
                else:
                    body = await reader.readexactly(bl) if bl else b""
                if kind == b"L":
                    self._pending.append((int(time.time() * 1000), body.decode("utf-8", "replace")))
                elif kind in (b"R", b"E"):
                    self.init_ms = (time.perf_counter() - self._spawned_at) * 1000.0
                    if kind == b"E":
                        self.init_error = body
                    if self._ready is not None and not self._ready.done():
                        self._ready.set_result(None)
                elif self._waiter is not None and not self._waiter.done():
                    self._waiter.set_result((kind, header, body))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            self._on_exit()

    async def _read_output(self, reader: asyncio.StreamReader) -> None:
        """Output written straight to file descriptors 1 and 2 (C extensions, subprocesses)."""
        with contextlib.suppress(Exception):
            while True:
                line = await reader.readline()
                if not line:
                    return
                self._pending.append((int(time.time() * 1000), line.decode("utf-8", "replace").rstrip("\n")))

    def _on_exit(self) -> None:
        if self.state != Worker.DEAD:
            self.state = Worker.DEAD
        code = self.proc.poll() if self.proc else None
        if code is None and self.proc is not None:
            with contextlib.suppress(Exception):
                code = self.proc.wait(0.05)
        if self.exit_reason is None:
            if code is not None and code < 0:
                self.exit_reason = f"signal: {signal.Signals(-code).name.lower().removeprefix('sig')}"
                if self.exit_reason == "signal: kill":
                    self.exit_reason = "signal: killed"
            else:
                self.exit_reason = f"exit status {code if code is not None else 1}"
        for fut in (self._ready, self._waiter):
            if fut is not None and not fut.done():
                fut.set_exception(EOFError(self.exit_reason))

    # -- invoke ----------------------------------------------------------------------------------
    def _rss_mb(self) -> int:
        return self._usage()[0]

    def _usage(self) -> tuple[int, int]:
        """(resident MB, processes) of the worker's whole tree: its cgroup's, or summed over /proc."""
        if self.proc is None:
            return 0, 0
        if self.cgroup is not None:
            return Cgroups.memory_bytes(self.cgroup) // (1024 * 1024), len(Cgroups.pids(self.cgroup))
        rss, count = containment.tree_usage(self.proc.pid)
        return rss // (1024 * 1024), count

    async def invoke(self, inv: Invocation, deadline: float) -> Outcome:
        """Run one invocation; ``deadline`` is a ``time.time()`` value (a cold worker's is moved to the end of
        its init, which has a limit of its own). Never raises for function faults."""
        spec = self.spec
        loop = asyncio.get_running_loop()
        cold = self.state == Worker.STARTING
        init_ms: float | None = None
        started = time.perf_counter()
        try:
            if cold:
                assert self._ready is not None
                try:
                    await asyncio.wait_for(asyncio.shield(self._ready), INIT_TIMEOUT)
                except TimeoutError:
                    self.exit_reason = "init timed out"
                    self.kill()
                    return self._finish_fault(inv, "Runtime.Unknown", f"RequestId: {inv.request_id} Error: "
                                              f"Init timed out after {INIT_TIMEOUT:.2f} seconds", started, None)
                except EOFError:
                    pass
                init_ms = self.init_ms
                if self.init_error is not None or self.state == Worker.DEAD:
                    payload = self.init_error or _error_payload(
                        "Runtime.ExitError", f"RequestId: {inv.request_id} Error: Runtime exited with error: "
                                             f"{self.exit_reason}")
                    self.kill()
                    try:
                        etype = json.loads(payload).get("errorType") or "Runtime.Unknown"
                    except ValueError:
                        etype = "Runtime.Unknown"
                    return self._finish(inv, payload, etype, started, init_ms,
                                        status="error", report_error=etype)
                # Init has its own limit (INIT_TIMEOUT), as on Lambda: the function's timeout starts now.
                deadline = time.time() + spec.timeout_s
            self.state = Worker.BUSY
            self._flush_init()
            self._pending.append((int(time.time() * 1000),
                                  f"START RequestId: {inv.request_id} Version: {spec.version}"))
            started = time.perf_counter()
            self._waiter = loop.create_future()
            header = {"id": inv.request_id, "deadline_ms": int(deadline * 1000), "arn": inv.invoked_arn,
                      "client_context": inv.client_context, "identity": inv.identity, "trace": inv.trace}
            h = json.dumps(header).encode()
            assert self._writer is not None
            self._writer.write(_HEAD.pack(b"I", len(h), len(inv.payload)) + h + inv.payload)
            waiter = self._waiter
            flushed = time.monotonic()
            while True:
                remaining = deadline - time.time()
                if remaining <= 0:
                    return self._timeout(inv, started, init_ms)
                done, _ = await asyncio.wait((waiter,), timeout=min(remaining, MEMORY_POLL))
                if done:
                    break
                used_mb, processes = self._usage()
                if used_mb > spec.memory_mb:
                    return self._oom(inv, started, init_ms)
                if processes > containment.MAX_PROCESSES:
                    return self._too_many(inv, started, init_ms, processes)
                if self._pending and time.monotonic() - flushed >= LOG_FLUSH:
                    self._flush_partial()
                    flushed = time.monotonic()
            try:
                kind, rheader, body = waiter.result()
            except EOFError:
                if self.cgroup is not None and Cgroups.oom_killed(self.cgroup):
                    return self._oom(inv, started, init_ms)
                payload = _error_payload("Runtime.ExitError", f"RequestId: {inv.request_id} Error: Runtime exited "
                                         f"with error: {self.exit_reason}")
                self.kill()
                return self._finish(inv, payload, "Runtime.ExitError", started, init_ms, status="error",
                                    report_error="Runtime.ExitError")
            max_mb = int(rheader.get("maxrss") or 0)
            if max_mb > spec.memory_mb:
                return self._oom(inv, started, init_ms, max_mb)
            if kind == b"O" or rheader.get("oversize"):
                if len(body) > MAX_RESPONSE or rheader.get("oversize"):
                    payload = _error_payload(
                        "Function.ResponseSizeTooLarge",
                        f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE} bytes).")
                    return self._finish(inv, payload, "Function.ResponseSizeTooLarge", started, init_ms, max_mb,
                                        keep=True)
                return self._finish(inv, body, None, started, init_ms, max_mb, keep=True)
            try:
                etype = json.loads(body).get("errorType") or "Unhandled"
            except ValueError:
                etype = "Unhandled"
            if etype == "MemoryError":
                return self._oom(inv, started, init_ms, max_mb)
            return self._finish(inv, body, etype, started, init_ms, max_mb, keep=True)
        finally:
            self._waiter = None
            self.last_used = time.monotonic()

    def _flush_init(self) -> None:
        pass  # init lines stay in _pending; they go out with the first invocation's lines

    def _flush_partial(self) -> None:
        """Send a long invocation's lines so far (``aws logs tail --follow`` sees them as they come)."""
        events, self._pending = self._pending, []
        self._sent.extend(events)
        try:
            self.sink(self.spec.account, self.spec.region, self.spec.log_group, self.stream_name, events)
        except Exception:
            log.exception("could not send function logs")

    def _timeout(self, inv: Invocation, started: float, init_ms: float | None) -> Outcome:
        self.exit_reason = "timeout"
        self.kill()
        secs = f"{self.spec.timeout_s:.2f}"
        self._pending.append((int(time.time() * 1000),
                              f"{_iso_now()} {inv.request_id} Task timed out after {secs} seconds"))
        payload = _error_payload("Sandbox.Timedout",
                                 f"RequestId: {inv.request_id} Error: Task timed out after {secs} seconds")
        return self._finish(inv, payload, "Sandbox.Timedout", started, init_ms, status="timeout")

    def _oom(self, inv: Invocation, started: float, init_ms: float | None, max_mb: int | None = None) -> Outcome:
        self.exit_reason = "signal: killed"
        used = max(max_mb or 0, self._rss_mb(), self.spec.memory_mb)
        self.kill()
        payload = _error_payload("Runtime.OutOfMemory",
                                 f"RequestId: {inv.request_id} Error: Runtime exited with error: signal: killed")
        return self._finish(inv, payload, "Runtime.OutOfMemory", started, init_ms, used, status="error",
                            report_error="Runtime.OutOfMemory")

    def _too_many(self, inv: Invocation, started: float, init_ms: float | None, processes: int) -> Outcome:
        """More processes than an execution environment may have (only where no cgroup or rlimit stopped
        the forks first): the tree is killed."""
        self.exit_reason = f"{processes} processes, over the limit of {containment.MAX_PROCESSES}"
        self.kill()
        return self._finish_fault(inv, "Runtime.ExitError", f"RequestId: {inv.request_id} Error: Runtime exited "
                                  f"with error: {self.exit_reason}", started, init_ms)

    def _finish_fault(self, inv: Invocation, etype: str, message: str, started: float,
                      init_ms: float | None) -> Outcome:
        return self._finish(inv, _error_payload(etype, message), etype, started, init_ms, status="error",
                            report_error=etype)

    def _finish(self, inv: Invocation, payload: bytes, error_type: str | None, started: float,
                init_ms: float | None, max_mb: int = 0, *, keep: bool = False, status: str | None = None,
                report_error: str | None = None) -> Outcome:
        duration = (time.perf_counter() - started) * 1000.0
        if status == "timeout":
            duration = self.spec.timeout_s * 1000.0
        now = int(time.time() * 1000)
        if not any(line.startswith(f"START RequestId: {inv.request_id}") for _, line in self._sent + self._pending):
            self._pending.append((now, f"START RequestId: {inv.request_id} Version: {self.spec.version}"))
        self._pending.append((now, f"END RequestId: {inv.request_id}"))
        report = (f"REPORT RequestId: {inv.request_id}\tDuration: {duration:.2f} ms\t"
                  f"Billed Duration: {max(1, math.ceil(duration + (init_ms or 0)))} ms\t"
                  f"Memory Size: {self.spec.memory_mb} MB\tMax Memory Used: {max_mb or self._rss_mb()} MB\t")
        if init_ms is not None:
            report += f"Init Duration: {init_ms:.2f} ms\t"
        if status:
            report += f"Status: {status}\t"
        if report_error:
            report += f"Error Type: {report_error}\t"
        self._pending.append((now, report))
        events, self._pending = self._pending, []
        every, self._sent = self._sent + events, []
        if keep and self.state != Worker.DEAD:
            self.state = Worker.IDLE
        try:
            self.sink(self.spec.account, self.spec.region, self.spec.log_group, self.stream_name, events)
        except Exception:
            log.exception("could not send function logs")
        return Outcome(payload, error_type, [line for _, line in every], self.stream_name, duration, init_ms,
                       max_mb)

    # -- stop ------------------------------------------------------------------------------------
    def kill(self) -> None:
        """End the worker and its whole tree (children, detached ones too), then reap it."""
        self.state = Worker.DEAD
        if self.proc is not None:
            if self.cgroup is not None:
                Cgroups.kill(self.cgroup)
            if self.proc.poll() is None:      # (a reaped pid may be someone else's by now: never signal it)
                containment.kill_tree(self.proc.pid, self.proc.pid, None)
                with contextlib.suppress(Exception):
                    self.proc.kill()
            if self.cgroup is None and not self._swept:
                # what re-parented itself away from the tree (a double-forked daemon) carries the mark:
                # found by reading every process's environment, in a thread
                self._swept = True
                _SWEEPER.add(self.mark)
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        if self.proc is not None:
            proc = self.proc
            loop = asyncio.get_event_loop()

            cgroup = self.cgroup

            def reap(tries: int = 0) -> None:
                running = proc.poll() is None or (cgroup is not None and not Cgroups.remove(cgroup))
                if running and tries < 100:
                    loop.call_later(0.05, reap, tries + 1)

            reap()


class _Pool:
    __slots__ = ("idle", "workers", "retired")

    def __init__(self) -> None:
        self.idle: list[Worker] = []
        self.workers: set[Worker] = set()
        self.retired = False


class WorkerPool:
    """All workers on this node."""

    def __init__(self, sink: Sink, *, max_workers: int = 1000, idle_timeout: float = 600.0,
                 function_user: str = "") -> None:
        self.sink = sink
        self.user = containment.function_user(function_user)
        self.cgroups: Cgroups | None = None
        self._cgroups_checked = False
        self._unreachable_warned: set[str] = set()
        self.max_workers = max_workers
        self.idle_timeout = idle_timeout
        self._pools: dict[str, _Pool] = {}
        self._inflight: dict[str, int] = {}           # function key -> executions in flight
        self._unreserved: dict[str, int] = {}         # account/region -> unreserved executions in flight
        self._reaper: asyncio.Task[None] | None = None

    # -- limits ----------------------------------------------------------------------------------
    def inflight(self, function_key: str) -> int:
        return self._inflight.get(function_key, 0)

    def worker_count(self) -> int:
        return sum(len(p.workers) for p in self._pools.values())

    def _take_slot(self, spec: WorkerSpec, reserved: int | None, unreserved_limit: int) -> None:
        fk = spec.function_key
        if reserved is not None:
            if self._inflight.get(fk, 0) >= reserved:
                raise Throttled("ReservedFunctionConcurrentInvocationLimitExceeded", "Rate Exceeded.")
        else:
            ak = f"{spec.account}/{spec.region}"
            if self._unreserved.get(ak, 0) >= unreserved_limit:
                raise Throttled("ConcurrentInvocationLimitExceeded", "Rate Exceeded.")
            self._unreserved[ak] = self._unreserved.get(ak, 0) + 1
        self._inflight[fk] = self._inflight.get(fk, 0) + 1

    def _release_slot(self, spec: WorkerSpec, reserved: int | None) -> None:
        fk = spec.function_key
        self._inflight[fk] = self._inflight.get(fk, 1) - 1
        if self._inflight[fk] <= 0:
            self._inflight.pop(fk, None)
        if reserved is None:
            ak = f"{spec.account}/{spec.region}"
            self._unreserved[ak] = self._unreserved.get(ak, 1) - 1
            if self._unreserved[ak] <= 0:
                self._unreserved.pop(ak, None)

    # -- invoke ----------------------------------------------------------------------------------
    async def invoke(self, spec: WorkerSpec, inv: Invocation, *, reserved: int | None = None,
                     unreserved_limit: int = 1000) -> Outcome:
        """Run ``inv`` on a warm worker of ``spec`` (or a new one). Raises Throttled."""
        self._take_slot(spec, reserved, unreserved_limit)
        try:
            pool = self._pools.get(spec.key)
            if pool is None:
                pool = self._pools[spec.key] = _Pool()
            worker = None
            while pool.idle:
                w = pool.idle.pop()
                if w.state == Worker.IDLE:
                    worker = w
                    break
                self._forget(pool, w)
            if worker is None:
                worker = await self._spawn(spec, pool)
            deadline = time.time() + spec.timeout_s
            worker.state = Worker.BUSY if worker.state == Worker.IDLE else worker.state
            try:
                outcome = await worker.invoke(inv, deadline)
            except BaseException:
                worker.kill()
                self._forget(pool, worker)
                raise
            if worker.state == Worker.IDLE and not pool.retired:
                pool.idle.append(worker)
            else:
                worker.kill()
                self._forget(pool, worker)
            return outcome
        finally:
            self._release_slot(spec, reserved)

    async def _spawn(self, spec: WorkerSpec, pool: _Pool) -> Worker:
        if self.worker_count() >= self.max_workers and not self._evict_one():
            raise Throttled("ConcurrentInvocationLimitExceeded", "Rate Exceeded.")
        interp = await asyncio.to_thread(resolve, spec.runtime)
        if not self._cgroups_checked:
            self._cgroups_checked = True
            self.cgroups = await asyncio.to_thread(Cgroups.detect)
        user, interp, script = await asyncio.to_thread(self._launch_as, spec, interp)
        worker = Worker(spec, interp, self.sink, user=user, cgroups=self.cgroups, script=script)
        pool.workers.add(worker)
        try:
            await worker.start()
        except BaseException:
            pool.workers.discard(worker)
            worker.kill()
            raise
        return worker

    def _launch_as(self, spec: WorkerSpec, interp: Interpreter) -> tuple[FunctionUser | None, Interpreter, str]:
        """The user a worker runs as, with the interpreter and bootstrap script that user can run: the
        function user (tsunagi is root) with a system interpreter of the runtime's version when the
        resolved one is out of its reach (under ``/root``), and the bootstrap script copied where it can
        read it. Never root by accident: when the user cannot run the function, :class:`Unlaunchable`
        says what to change (``TSUNAGI_FUNCTION_USER=root`` asks for root on purpose)."""
        user = self.user
        script = PY_WORKER if interp.kind == "python" else NODE_WORKER
        if user is None:
            return None, interp, script
        if not containment.reachable(interp.argv[0], user, execute=True):
            other = self._interpreter_for(interp, user)
            if other is None:
                raise Unlaunchable(
                    f"functions run as {user.name} (tsunagi runs as root), and {user.name} cannot run "
                    f"{interp.argv[0]}, nor any other {self._program(interp)} on this machine. Install one where "
                    f"{user.name} can run it (e.g. /usr/bin), or set TSUNAGI_FUNCTION_USER=root to run functions "
                    f"as root on purpose.")
            key = f"interp:{interp.argv[0]}"
            if key not in self._unreachable_warned:
                self._unreachable_warned.add(key)
                log.info("functions: %s cannot run %s; %s runs them", user.name, interp.argv[0], other.argv[0])
            interp = other
        script = containment.staged_script(script, user)
        for path in (spec.code_dir, spec.opt_dir):
            if path and not containment.reachable(path, user):
                raise Unlaunchable(
                    f"functions run as {user.name} (tsunagi runs as root), and {user.name} cannot read {path}. "
                    f"Let {user.name} search the folders above it, or set TSUNAGI_FUNCTION_USER=root to run "
                    f"functions as root on purpose.")
        return user, interp, script

    @staticmethod
    def _program(interp: Interpreter) -> str:
        return f"python{interp.version}" if interp.kind == "python" else "node"

    @staticmethod
    def _interpreter_for(interp: Interpreter, user: FunctionUser) -> Interpreter | None:
        """An interpreter of the same version the function user can run (and, for Python, import boto3
        with: its own or the server's)."""
        if interp.kind == "python":
            probe = ["-s", "-c", "import sys; sys.path.extend(sys.argv[1:]); import boto3, botocore.session",
                     *server_site_packages()]
            found = containment.runnable_program([f"python{interp.version}"], user, probe)
            if found:
                return Interpreter("python", (found,), False, interp.version)
            # as when a machine has no python3.X at all: another Python 3 runs it, said once
            found = containment.runnable_program(["python3"] + [f"python3.{n}" for n in range(14, 8, -1)], user, probe)
            version = containment.python_version(found) if found else None
            if found is None or version is None:
                return None
            log.warning("functions: %s cannot run any python%s; runtime python%s runs on %s (Python %s)",
                        user.name, interp.version, interp.version, found, version)
            return Interpreter("python", (found,), False, version)
        found = containment.runnable_program(["node"], user, ["-e", "0"])
        return Interpreter(interp.kind, (found,), interp.own, interp.version) if found else None

    def _evict_one(self) -> bool:
        oldest: tuple[float, _Pool, Worker] | None = None
        for pool in self._pools.values():
            for w in pool.idle:
                if oldest is None or w.last_used < oldest[0]:
                    oldest = (w.last_used, pool, w)
        if oldest is None:
            return False
        _, pool, w = oldest
        pool.idle.remove(w)
        w.kill()
        self._forget(pool, w)
        return True

    def _forget(self, pool: _Pool, worker: Worker) -> None:
        pool.workers.discard(worker)
        if not pool.workers and not pool.idle:
            for key, p in list(self._pools.items()):
                if p is pool:
                    del self._pools[key]

    # -- housekeeping ----------------------------------------------------------------------------
    def retire(self, prefix: str) -> None:
        """Stop using workers whose pool key starts with ``prefix`` (code or configuration changed)."""
        for key, pool in list(self._pools.items()):
            if key.startswith(prefix):
                pool.retired = True
                for w in pool.idle:
                    w.kill()
                    pool.workers.discard(w)
                pool.idle.clear()
                del self._pools[key]

    def reap_idle(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        n = 0
        for _key, pool in list(self._pools.items()):
            for w in list(pool.idle):
                if w.state != Worker.IDLE or now - w.last_used > self.idle_timeout:
                    pool.idle.remove(w)
                    w.kill()
                    self._forget(pool, w)
                    n += 1
        return n

    def start(self) -> None:
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap_loop())

    async def _reap_loop(self) -> None:
        interval = max(min(self.idle_timeout / 4, 30.0), 0.05)
        while True:
            await asyncio.sleep(interval)
            try:
                self.reap_idle()
            except Exception:
                log.exception("reaping idle workers failed")

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reaper
            self._reaper = None
        marks = []
        for pool in list(self._pools.values()):
            pool.retired = True
            for w in list(pool.workers):
                w.kill()
                marks.append(w.mark)
        self._pools.clear()
        if marks:       # nothing a function started outlives the server
            await asyncio.to_thread(_sweep, marks)

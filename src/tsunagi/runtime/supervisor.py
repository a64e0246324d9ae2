"""Supervised processes: start a command in its own process group, stream its output, stop it, report how it ended.

What a long-running process run for someone needs, with nothing of the service that asks for it
(ECS tasks today; Lambda workers can move onto it)::

    proc = await Supervised.start(ProcessSpec(argv, cwd, env, memory_bytes=512 << 20), on_line)
    code = await proc.wait()                 # exit status; 128 + n after signal n (as Docker reports it)
    await proc.stop(timeout=30)              # SIGTERM to the whole group, SIGKILL after ``timeout``

- The process is a session leader (``setsid``): its process group is its own, so a stop reaches
  everything it started (shells, subprocesses), and it survives the server's own end (a server
  restarted after ``kill -9`` finds it by :func:`alive` and ends it with :func:`kill_group`).
- Limits where the OS has them (``setrlimit`` in the child before ``exec``): address space for
  memory, CPU seconds, open files. :func:`group_rss` reads the resident memory of the whole group,
  for callers that enforce a memory limit the way a container's is (by killing the group).
- stdout and stderr are read line by line as they are written (one pipe each) and handed to
  ``on_line(stream, line)`` with ``stream`` ``"stdout"`` or ``"stderr"``; a line longer than
  ``MAX_LINE`` bytes is cut into pieces of that size. The callback runs on the event loop.
- A command that cannot be started (no such file, not executable) raises :class:`StartError`
  with the reason the OS gave.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import resource
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

MAX_LINE = 256 * 1024
_READ = 64 * 1024

LineSink = Callable[[str, str], None]


class StartError(Exception):
    """The command could not be started: ``reason`` is the OS's word for why."""

    def __init__(self, argv0: str, reason: str) -> None:
        super().__init__(f"{argv0}: {reason}")
        self.argv0 = argv0
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    argv: Sequence[str]
    cwd: str
    env: Mapping[str, str]
    memory_bytes: int | None = None          # RLIMIT_AS
    cpu_seconds: int | None = None           # RLIMIT_CPU
    open_files: int | None = None            # RLIMIT_NOFILE


def exit_status(returncode: int) -> int:
    """A Popen return code as a container's exit code: ``-n`` (killed by signal n) is ``128 + n``."""
    return 128 - returncode if returncode < 0 else returncode


def _limits(spec: ProcessSpec) -> Callable[[], None] | None:
    wanted: list[tuple[int, int]] = []
    if spec.memory_bytes:
        wanted.append((resource.RLIMIT_AS, int(spec.memory_bytes)))
    if spec.cpu_seconds:
        wanted.append((resource.RLIMIT_CPU, int(spec.cpu_seconds)))
    if spec.open_files:
        wanted.append((resource.RLIMIT_NOFILE, int(spec.open_files)))
    if not wanted:
        return None

    def apply() -> None:                      # in the child, between fork and exec
        for which, value in wanted:
            with contextlib.suppress(ValueError, OSError):
                _soft, hard = resource.getrlimit(which)
                top = value if hard == resource.RLIM_INFINITY else min(value, hard)
                resource.setrlimit(which, (top, hard))

    return apply


class Supervised:
    """One started process and its group."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        self.pid = proc.pid
        self._exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._readers: list[asyncio.Task[None]] = []
        self._watch: asyncio.Task[None] | None = None
        self.signalled: int | None = None          # the last signal stop() sent

    @classmethod
    async def start(cls, spec: ProcessSpec, on_line: LineSink) -> Supervised:
        if not spec.argv:
            raise StartError("", "no command")
        loop = asyncio.get_running_loop()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            proc = subprocess.Popen(list(spec.argv), cwd=spec.cwd, env=dict(spec.env), stdin=subprocess.DEVNULL,
                                    stdout=out_w, stderr=err_w, start_new_session=True, close_fds=True,
                                    preexec_fn=_limits(spec))  # noqa: PLW1509 - only setrlimit, no locks
        except OSError as e:
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            raise StartError(spec.argv[0], e.strerror or errno.errorcode.get(e.errno or 0, str(e))) from None
        finally:
            with contextlib.suppress(OSError):
                os.close(out_w)
            with contextlib.suppress(OSError):
                os.close(err_w)
        self = cls(proc)
        self._readers = [loop.create_task(self._pump(out_r, "stdout", on_line)),
                         loop.create_task(self._pump(err_r, "stderr", on_line))]
        self._watch = loop.create_task(self._wait_exit())
        return self

    async def _pump(self, fd: int, stream: str, on_line: LineSink) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_LINE * 2)
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                    os.fdopen(fd, "rb", 0))
        buf = b""
        try:
            while True:
                chunk = await reader.read(_READ)
                if not chunk:
                    break
                buf += chunk
                while True:
                    nl = buf.find(b"\n")
                    if nl < 0:
                        break
                    self._emit(on_line, stream, buf[:nl])
                    buf = buf[nl + 1:]
                while len(buf) >= MAX_LINE:
                    self._emit(on_line, stream, buf[:MAX_LINE])
                    buf = buf[MAX_LINE:]
            if buf:
                self._emit(on_line, stream, buf)
        finally:
            transport.close()

    @staticmethod
    def _emit(on_line: LineSink, stream: str, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace")
        if line.endswith("\r"):
            line = line[:-1]
        try:
            on_line(stream, line)
        except Exception:   # a sink's fault must not stop the reading
            pass

    async def _wait_exit(self) -> None:
        code = await self._exited()
        # the output pipes close when the last holder exits; a child of the process may keep them open
        await asyncio.wait(self._readers, timeout=2.0)
        if not self._exit.done():
            self._exit.set_result(exit_status(code))

    async def _exited(self) -> int:
        """Wait for the exit without a thread: a pidfd the loop watches where Linux has them, else polling."""
        loop = asyncio.get_running_loop()
        pidfd = -1
        with contextlib.suppress(AttributeError, OSError):
            pidfd = os.pidfd_open(self.pid)
        if pidfd >= 0:
            ended: asyncio.Future[None] = loop.create_future()

            def readable() -> None:
                if not ended.done():
                    ended.set_result(None)

            try:
                loop.add_reader(pidfd, readable)
                try:
                    if self._proc.poll() is None:
                        await ended
                finally:
                    loop.remove_reader(pidfd)
            finally:
                os.close(pidfd)
            return self._proc.wait()
        delay = 0.005
        while (code := self._proc.poll()) is None:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        return code

    @property
    def returncode(self) -> int | None:
        return self._exit.result() if self._exit.done() else None

    async def wait(self) -> int:
        """The exit status, once the process has ended and its output is read."""
        return await asyncio.shield(self._exit)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the whole process group (nothing happens once it has ended)."""
        if self._exit.done():
            return
        self.signalled = sig
        kill_group(self.pid, sig)

    async def stop(self, timeout: float) -> int:
        """SIGTERM to the group; SIGKILL when it has not ended after ``timeout`` seconds. The exit status."""
        self.signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(asyncio.shield(self._exit), timeout)
        except TimeoutError:
            self.signal(signal.SIGKILL)
            return await self.wait()

    async def close(self) -> None:
        """Kill what is left of the group and stop reading (the server is going away)."""
        if not self._exit.done():
            kill_group(self.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._exit), 5.0)
        for task in (*self._readers, self._watch):
            if task is not None and not task.done():
                task.cancel()


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def group_rss(pgid: int) -> int:
    """Resident memory, in bytes, of every process in group ``pgid`` (read from ``/proc``; 0 elsewhere)."""
    total = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            fields = stat[stat.rindex(b")") + 2:].split()
            if int(fields[2]) != pgid:          # field 5 of stat: the process group
                continue
            total += int(fields[21]) * _PAGE    # field 24: resident pages
        except (OSError, ValueError, IndexError):
            continue
    return total


def kill_group(pid: int, sig: int) -> None:
    """Signal the process group led by ``pid`` (a supervised process is its group's leader)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def alive(pid: int, marker: str | None = None) -> bool:
    """Whether process ``pid`` exists (and, with ``marker``, has that text in its environment: a pid
    reused by an unrelated process after a restart does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return marker is None
    if marker is None:
        return True
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return marker.encode() in f.read()
    except OSError:
        return False

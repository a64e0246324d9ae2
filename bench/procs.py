"""Processes: start, wait for health, stop; CPU and memory read from /proc."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # fields after "(comm)": state ppid ... utime(14) stime(15) cutime(16) cstime(17)
    return data[data.rfind(b")") + 2:].decode().split()


def tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st:
                children.setdefault(int(st[1]), []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def _process_clock(pid: int) -> float | None:
    """The process's CPU clock (all its threads, exited ones too), in ns precision.

    Linux encodes another process's CPU-time clock as ``(~pid << 3) | CPUCLOCK_SCHED``
    (``clock_getcpuclockid``); /proc/<pid>/stat only counts 10 ms ticks.
    """
    try:
        return time.clock_gettime((~pid << 3) | 2)
    except (OSError, OverflowError, ValueError):
        return None


def cpu_seconds(pid: int) -> float:
    """CPU time (user+system) of the process and its live descendants, plus their reaped children.

    The same figure as utime+stime in /proc/<pid>/stat, read at ns precision where the kernel allows.
    """
    total = 0.0
    for p in tree(pid):
        st = _stat(p)
        if not st:
            continue
        precise = _process_clock(p)
        own = precise if precise is not None else (int(st[11]) + int(st[12])) / TICK
        total += own + (int(st[13]) + int(st[14])) / TICK
    return total


def rss_bytes(pid: int, own: bool = False) -> int:
    """Resident memory of the process and its descendants (``own``: the process alone)."""
    total = 0
    for p in ([pid] if own else tree(pid)):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total


def free_port(preferred: int | None = None) -> int:
    if preferred:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, ValueError):
        return None


class Proc:
    """A server process we started (own session, so we can stop it and its children)."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None,
                 cwd: str | None = None) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        self._logf = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.p = subprocess.Popen(argv, stdout=self._logf, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                                  cwd=cwd, start_new_session=True)
        self.pid = self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def wait_ready(self, url: str, timeout: float) -> float | None:
        """Seconds until ``url`` answers 200, or None (exited / timed out)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if not self.alive():
                return None
            if http_status(url, timeout=1.0) == 200:
                return time.monotonic() - t0
            time.sleep(0.05)
        return None

    def tail(self, n: int = 3) -> str:
        try:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return " | ".join(lines[-n:])[:300]

    def stop(self, grace: float = 5.0) -> None:
        if self.p.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)   # the session we created for it
            except ProcessLookupError:
                pass
            try:
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait(5)
        self._logf.close()

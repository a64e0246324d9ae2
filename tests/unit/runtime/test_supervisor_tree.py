"""A supervised process's whole tree ends with it, as a container's does: a setsid, double-forked child
does not outlive the main process, nor a close()."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time

from tsunagi.runtime.supervisor import ProcessSpec, Supervised

DAEMON = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open(sys.argv[1], "w").write(str(os.getpid()))
        time.sleep(120)
        os._exit(0)
    os._exit(0)
time.sleep(float(sys.argv[2]))
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def _daemon_pid(path: str) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            text = open(path).read().strip()   # noqa: SIM115 - polled
            if text:
                return int(text)
        except OSError:
            pass
        time.sleep(0.02)
    raise AssertionError("the daemon did not start")


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    return not _alive(pid)


def test_a_detached_child_ends_with_the_main_process():
    async def run() -> int:
        path = tempfile.mktemp(prefix="tsunagi-daemon-")
        proc = await Supervised.start(ProcessSpec([sys.executable, "-c", DAEMON, path, "0.5"], os.getcwd(),
                                                  dict(os.environ)), lambda *_: None)
        daemon = _daemon_pid(path)
        assert _alive(daemon)
        await asyncio.wait_for(proc.wait(), 30)
        os.unlink(path)
        return daemon

    assert _gone(asyncio.run(run()))


def test_close_ends_a_detached_child():
    async def run() -> int:
        path = tempfile.mktemp(prefix="tsunagi-daemon-")
        proc = await Supervised.start(ProcessSpec([sys.executable, "-c", DAEMON, path, "60"], os.getcwd(),
                                                  dict(os.environ)), lambda *_: None)
        daemon = _daemon_pid(path)
        await proc.close()
        os.unlink(path)
        return daemon

    assert _gone(asyncio.run(run()))

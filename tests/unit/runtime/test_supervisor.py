"""The supervised-process layer: output line by line as written, exit statuses, stopping a whole
process group with SIGTERM then SIGKILL, limits, and commands that cannot start."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from tsunagi.runtime.supervisor import ProcessSpec, StartError, Supervised, alive, exit_status


def spec(code: str, **kw) -> ProcessSpec:
    return ProcessSpec([sys.executable, "-c", code], cwd=os.getcwd(), env={"PATH": os.environ["PATH"], **kw.pop("env", {})},
                       **kw)


def run(coro):
    return asyncio.run(coro)


def test_lines_from_both_streams_and_exit_code() -> None:
    async def main():
        lines: list[tuple[str, str]] = []
        p = await Supervised.start(spec("import sys\nprint('one')\nprint('two', file=sys.stderr)\n"
                                        "sys.stdout.write('no newline at the end')\nsys.exit(3)"),
                                   lambda s, ln: lines.append((s, ln)))
        return await p.wait(), lines

    code, lines = run(main())
    assert code == 3
    assert ("stdout", "one") in lines and ("stderr", "two") in lines and ("stdout", "no newline at the end") in lines


def test_lines_arrive_while_the_process_runs() -> None:
    async def main():
        seen = asyncio.Event()
        p = await Supervised.start(spec("import time\nprint('first', flush=True)\ntime.sleep(30)"),
                                   lambda s, ln: seen.set())
        await asyncio.wait_for(seen.wait(), 10)
        assert p.returncode is None
        return await p.stop(timeout=5)

    assert run(main()) == 128 + signal.SIGTERM


def test_stop_kills_the_group_after_the_timeout_when_sigterm_is_ignored(tmp_path) -> None:
    pidfile = tmp_path / "child.pid"
    code = ("import signal, subprocess, sys, time\n"
            "import os\n"
            "signal.signal(signal.SIGTERM, lambda *a: os.write(1, b'term ignored\\n'))\n"
            f"c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            f"open({str(pidfile)!r}, 'w').write(str(c.pid))\n"
            "print('ready', flush=True)\n"
            "while True: time.sleep(1)\n")

    async def main():
        lines: list[str] = []
        ready = asyncio.Event()

        def sink(_s: str, line: str) -> None:
            lines.append(line)
            if line == "ready":
                ready.set()

        p = await Supervised.start(spec(code), sink)
        await asyncio.wait_for(ready.wait(), 10)
        status = await p.stop(timeout=0.5)
        return status, lines

    status, lines = run(main())
    assert status == 128 + signal.SIGKILL
    assert "term ignored" in lines
    child = int(pidfile.read_text())
    for _ in range(100):         # the grandchild went with the group
        if not alive(child):
            break
        asyncio.run(asyncio.sleep(0.02))
    assert not alive(child)


def test_a_command_that_does_not_exist_is_a_start_error() -> None:
    async def main():
        await Supervised.start(ProcessSpec(["/nonexistent/bin/tool"], cwd="/", env={}), lambda s, ln: None)

    with pytest.raises(StartError) as e:
        run(main())
    assert "No such file" in e.value.reason


def test_memory_limit_applies() -> None:
    async def main():
        lines: list[str] = []
        p = await Supervised.start(spec("b = bytearray(400 * 1024 * 1024)\nprint('allocated')",
                                        memory_bytes=200 * 1024 * 1024), lambda s, ln: lines.append(ln))
        return await p.wait(), lines

    code, lines = run(main())
    assert code != 0 and "allocated" not in lines and any("MemoryError" in ln for ln in lines)


def test_alive_checks_the_marker_in_the_environment() -> None:
    async def main():
        ready = asyncio.Event()
        p = await Supervised.start(spec("import time; print('up', flush=True); time.sleep(30)",
                                        env={"TASK_MARK": "abc123"}), lambda s, ln: ready.set())
        try:
            await asyncio.wait_for(ready.wait(), 10)      # exec'd: /proc shows the new environment
            return alive(p.pid, "TASK_MARK=abc123"), alive(p.pid, "TASK_MARK=other")
        finally:
            await p.stop(timeout=2)

    assert run(main()) == (True, False)


def test_exit_status_of_signals() -> None:
    assert exit_status(0) == 0 and exit_status(2) == 2 and exit_status(-9) == 137 and exit_status(-15) == 143


def test_group_rss_counts_the_whole_group() -> None:
    from tsunagi.runtime.supervisor import group_rss

    async def main():
        ready = asyncio.Event()
        p = await Supervised.start(spec("import subprocess, sys, time\n"
                                        "c = subprocess.Popen([sys.executable, '-c', "
                                        "'b = bytearray(60 * 1024 * 1024); print(1, flush=True); "
                                        "import time; time.sleep(30)'])\n"
                                        "time.sleep(30)"), lambda s, ln: ready.set())
        try:
            await asyncio.wait_for(ready.wait(), 10)
            return group_rss(p.pid)
        finally:
            await p.stop(timeout=2)

    assert run(main()) > 60 * 1024 * 1024        # the child's memory counts too

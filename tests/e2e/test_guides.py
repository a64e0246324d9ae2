"""The seed guides (``docs/guides/*.md``) run as written: each guide's shell blocks, in order, in one bash
session, against a real server started the way the guide starts it; each block's promised output is
checked (the markers are described in ``tests/e2e/guides.py``). A guide whose commands stop working fails
here, so the docs cannot rot."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.e2e.guides import GUIDES, Shell, blocks, run_guide, serve_args
from tests.support.server import REPO, TsunagiServer

GUIDE_FILES = sorted(GUIDES.glob("[0-9][0-9][0-9]-*.md"))
MIGRATING = GUIDES.parent / "MIGRATING.md"      # its commands are marked the same way
RUNNABLE = [*GUIDE_FILES, MIGRATING]


def test_there_is_a_guide_per_seed_and_every_block_is_marked() -> None:
    assert [p.name[:3] for p in GUIDE_FILES] == ["000", "001", "002", "003"]
    for path in GUIDE_FILES:
        kinds = [b.kind for b in blocks(path)]      # raises when a ```sh block carries no marker
        assert kinds.count("serve") == 1, path.name
        assert kinds.count("run") >= 5, path.name
    assert [b.kind for b in blocks(MIGRATING)].count("serve") == 1


def _shell_env(server: TsunagiServer, home: Path) -> dict[str, str]:
    """A reader's shell: the checkout's venv on the PATH, no AWS settings of this machine's, the server's
    admin token (a reader's `tsunagi mail` reads it from ./.tsunagi; the test's server keeps its data elsewhere)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TSUNAGI_", "VIRTUAL_ENV"))}
    env.update({"PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", "HOME": str(home),
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PAGER": "",
                "TSUNAGI_ADMIN_TOKEN": server.token, "PYTHONUNBUFFERED": "1", "LC_ALL": "C.UTF-8"})
    return env


@pytest.mark.timeout(600)       # guide 002 waits up to a minute for its alarm (metrics are sampled per minute)
@pytest.mark.parametrize("guide", RUNNABLE, ids=[p.stem for p in RUNNABLE])
def test_guide_runs_as_written(guide: Path, tmp_path: Path) -> None:
    (start,) = [b for b in blocks(guide) if b.kind == "serve"]
    server = TsunagiServer("sqlite", extra_args=serve_args(start))
    server.start()
    # the reader's checkout: the guide's relative paths (examples/, .venv/) resolve; files it writes land here
    work = tmp_path / "checkout"
    work.mkdir()
    for name in ("examples", ".venv"):
        (work / name).symlink_to(REPO / name)
    shell = Shell(work, _shell_env(server, tmp_path))
    try:
        ran = run_guide(guide, shell, server.port)
        assert ran
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- server log (tail):\n{server.log()[-4000:]}") from None
    finally:
        shell.close()
        server.stop()


def test_the_runner_catches_a_broken_promise(tmp_path: Path) -> None:
    """The harness itself: a failing command, a missing text and an expected failure that does not come
    are each caught; variables carry from block to block."""
    from tests.e2e.guides import Block, check

    shell = Shell(tmp_path, {"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    try:
        assert check(Block("run", "", 1), shell.run("x=42\necho ok\n")) is None
        assert check(Block("run", "", 1, expect=["42"]), shell.run("echo $x\n")) is None
        assert check(Block("run", "", 1), shell.run("false\necho after\n")) == "a command failed"
        assert check(Block("run", "", 1), shell.run("y=$(false)\n")) == "a command failed"
        assert check(Block("run", "", 1), shell.run("f() { ls /nonexistent; }\nf\n")) == "a command failed"
        assert "does not contain" in (check(Block("run", "", 1, expect=["nope"]), shell.run("echo yes\n")) or "")
        assert check(Block("run", "", 1, fails="No such"), shell.run("ls /nonexistent\n")) is None
        assert check(Block("run", "", 1, fails="x"), shell.run("true\n")) == "a command was to fail, none did"
    finally:
        shell.close()

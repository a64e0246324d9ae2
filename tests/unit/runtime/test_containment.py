"""Containment helpers (tsunagi.runtime.containment): cgroup v2 files written as the kernel wants them
(driven on a folder shaped like cgroupfs), reachability for the function user, tree walks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tsunagi.runtime import containment
from tsunagi.runtime.containment import Cgroups, FunctionUser


def _fake_cgroupfs(root, own="/user.slice/me"):
    mine = root / own.lstrip("/")
    mine.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (mine / "cgroup.controllers").write_text("cpu memory pids\n")
    return mine


def test_cgroups_are_set_up_under_our_own(tmp_path):
    mine = _fake_cgroupfs(tmp_path)
    groups = Cgroups.detect(str(tmp_path), own="/user.slice/me", pid=4242)
    assert groups is not None and groups.base == str(mine / "tsunagi-functions")
    assert (mine / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert (mine / "tsunagi-functions" / "cgroup.subtree_control").read_text() == "+memory +pids"
    path = groups.create("w-1", 128 << 20, containment.MAX_PROCESSES)
    assert path is not None
    assert Path(path, "memory.max").read_text() == str(128 << 20)
    assert Path(path, "pids.max").read_text() == "1024"
    assert Path(path, "memory.swap.max").read_text() == "0"
    assert Cgroups.enter(path, 99)
    assert Cgroups.pids(path) == [99]
    with open(os.path.join(path, "memory.events"), "w") as f:
        f.write("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert Cgroups.oom_killed(path)


def test_no_cgroup_v2_no_cgroups(tmp_path):
    assert Cgroups.detect(str(tmp_path), own="/") is None                 # no cgroup.controllers: v1 or none
    mine = _fake_cgroupfs(tmp_path)
    (mine / "cgroup.controllers").write_text("cpu\n")                     # memory and pids not delegated
    assert Cgroups.detect(str(tmp_path), own="/user.slice/me") is None


def test_function_user_is_none_unless_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert containment.function_user("") is None
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    user = containment.function_user("")
    assert user is not None and user.name == "nobody" and user.uid != 0
    assert containment.function_user("root") is None
    with pytest.raises(ValueError, match="no user"):
        containment.function_user("no-such-user-here")


def test_reachable_follows_every_folder():
    tmp_path = Path(tempfile.mkdtemp(prefix="tsunagi-reach-"))     # (pytest's tmp_path is its owner's alone)
    nobody = FunctionUser("nobody", 65534, 65534)
    folder = tmp_path / "a" / "b"
    folder.mkdir(parents=True)
    (folder / "f").write_text("x")
    os.chmod(folder / "f", 0o644)
    for p in (tmp_path, tmp_path / "a", folder):
        os.chmod(p, 0o755)
    if not all(containment._may(os.stat(p), nobody, 1) for p in tmp_path.parents):
        pytest.skip("this test's folder sits under one others cannot search")
    assert containment.reachable(str(folder / "f"), nobody)
    assert not containment.writable_by(str(folder), nobody)
    os.chmod(tmp_path / "a", 0o700)
    assert not containment.reachable(str(folder / "f"), nobody)
    shutil.rmtree(tmp_path)


def test_a_tree_is_walked_and_killed():
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\nelse:\n    time.sleep(60)\n"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while len(containment.descendants(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = containment.descendants(proc.pid)
        assert len(tree) == 2
        rss, count = containment.tree_usage(proc.pid)
        assert count == 2 and rss > 0
        containment.kill_tree(proc.pid, proc.pid, None)
        proc.wait(10)
        child = tree[1]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{child}/stat", "rb") as f:
                    if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                        break
            except OSError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the setsid child survived")
    finally:
        if proc.poll() is None:
            proc.kill()

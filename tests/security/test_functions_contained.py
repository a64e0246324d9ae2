"""Function code is contained: a fork bomb, a memory bomb in child processes and a detached (setsid,
double-forked) child end with the invocation or the server; functions run as an unprivileged user when
tsunagi runs as root and cannot write the data dir. Real server, loopback only; loops bounded."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.integration.lambda_support import create, invoke
from tests.support.server import TsunagiServer

BOMBS = '''
import os, signal, time

def fork_bomb(event, context):
    started = 0
    for _ in range(1500):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(120)
            os._exit(0)
        started += 1
    time.sleep(30)
    return started

def memory_bomb(event, context):
    for _ in range(4):
        if os.fork() == 0:
            hog = []
            for _ in range(16):                 # 16 x 50 MB = 800 MB per child
                hog.append(bytearray(50 * 1024 * 1024))
                time.sleep(0.05)
            time.sleep(60)
            os._exit(0)
    time.sleep(30)
    return "survived"

def detach(event, context):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:                      # a daemon: its parent exits, it is re-parented away
            time.sleep(600)
            os._exit(0)
        os._exit(0)
    return "detached"
'''


@pytest.fixture(scope="module")
def srv():
    server = TsunagiServer("sqlite").start()
    yield server
    server.stop()


def _processes_of(function_name: str) -> list[int]:
    wanted = f"AWS_LAMBDA_FUNCTION_NAME={function_name}".encode()
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/environ", "rb") as f:
                    if wanted in f.read().split(b"\0"):
                        with open(f"/proc/{name}/stat", "rb") as s:
                            if s.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                                found.append(int(name))
            except OSError:
                continue
    return found


def _gone(function_name: str, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _processes_of(function_name):
            return True
        time.sleep(0.2)
    return False


def test_a_fork_bomb_is_stopped_and_killed_as_a_tree(srv):
    lam = srv.client("lambda")
    create(lam, "fork-bomb", "app.fork_bomb", files={"app.py": BOMBS}, Timeout=10)
    r, body = invoke(lam, "fork-bomb")
    assert r.get("FunctionError") == "Unhandled", body
    assert _gone("fork-bomb"), f"{len(_processes_of('fork-bomb'))} processes of the function are still running"
    assert srv.sqs_client().list_queues() is not None


def test_a_memory_bomb_in_children_is_out_of_memory(srv):
    lam = srv.client("lambda")
    create(lam, "memory-bomb", "app.memory_bomb", files={"app.py": BOMBS}, MemorySize=128, Timeout=20)
    r, body = invoke(lam, "memory-bomb")
    assert r.get("FunctionError") == "Unhandled" and body["errorType"] == "Runtime.OutOfMemory", body
    assert _gone("memory-bomb")


def test_a_detached_child_does_not_outlive_the_server(tmp_path):
    server = TsunagiServer("sqlite", data_dir=str(tmp_path)).start()
    try:
        lam = server.client("lambda")
        create(lam, "detacher", "app.detach", files={"app.py": BOMBS})
        r, body = invoke(lam, "detacher")
        assert body == "detached"
        time.sleep(0.5)
        assert _processes_of("detacher"), "the daemon should be running while the server is"
    finally:
        server.stop()
    assert _gone("detacher"), "a detached child outlived the server"


NODE_PROBE = '''
const fs = require("fs");
exports.handler = async (event) => {
  let wrote = "no";
  try { fs.writeFileSync(event.path, "x"); wrote = "yes"; } catch (e) { wrote = e.code; }
  return { uid: process.getuid(), wrote };
};
'''


@pytest.mark.skipif(os.geteuid() != 0, reason="the function user applies when tsunagi runs as root")
def test_functions_run_unprivileged_and_cannot_write_the_data_dir():
    data = Path(tempfile.mkdtemp(prefix="tsunagi-fn-user-"))      # (pytest's tmp_path is root's alone)
    os.chmod(data, 0o755)        # searchable by others, so an unprivileged worker can reach its code
    server = TsunagiServer("sqlite", data_dir=str(data)).start()
    try:
        lam = server.client("lambda")
        create(lam, "probe", "index.handler", files={"index.js": NODE_PROBE}, runtime="nodejs20.x")
        _, body = invoke(lam, "probe", {"path": str(data / "planted")})
        assert body["uid"] != 0 and body["wrote"] == "EACCES", body
        assert not (data / "planted").exists()
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


PY_PROBE = '''
import os

def handler(event, context):
    try:
        with open(event["secret"]) as f:
            read = "yes: " + f.read()
    except OSError as e:
        read = type(e).__name__
    try:
        with open(os.path.join(event["data_dir"], "planted"), "w") as f:
            f.write("x")
        wrote = "yes"
    except OSError as e:
        wrote = type(e).__name__
    try:
        with open(os.path.join(os.getcwd(), "planted"), "w") as f:   # its own code
            f.write("x")
        wrote_code = "yes"
    except OSError as e:
        wrote_code = type(e).__name__
    import boto3                                 # the runtime's boto3 still imports
    return {"uid": os.getuid(), "read": read, "wrote": wrote, "wrote_code": wrote_code,
            "boto3": boto3.__version__ != ""}
'''


@pytest.mark.skipif(os.geteuid() != 0, reason="the function user applies when tsunagi runs as root")
def test_a_python_function_under_a_root_only_data_dir_runs_unprivileged(tmp_path):
    # the default case on a root machine: the data dir is root's alone (mode 0700, under a folder only root
    # may search) and the server's Python may live under /root; TSUNAGI_FUNCTION_USER is not set
    data = Path(tempfile.mkdtemp(prefix="tsunagi-fn-root-"))        # mode 0700
    secret = data / "secret.txt"
    secret.write_text("root only")
    os.chmod(secret, 0o600)
    server = TsunagiServer("sqlite", data_dir=str(data)).start()
    try:
        lam = server.client("lambda")
        create(lam, "py-probe", "app.handler", files={"app.py": PY_PROBE}, runtime="python3.11")
        r, body = invoke(lam, "py-probe", {"secret": str(secret), "data_dir": str(data)})
        assert "FunctionError" not in r, body
        assert body["uid"] == pwd.getpwnam("nobody").pw_uid, body
        assert body["read"] == "PermissionError", body
        assert body["wrote"] == "PermissionError" and not (data / "planted").exists(), body
        assert body["wrote_code"] == "PermissionError", body
        assert body["boto3"] is True
        _, shadow = invoke(lam, "py-probe", {"secret": "/etc/shadow", "data_dir": str(data)})
        assert shadow["read"] == "PermissionError", shadow
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


LIMITS_PROBE = '''
def handler(event, context):
    with open("/proc/self/limits") as f:
        limits = f.read()
    with open("/proc/self/cgroup") as f:
        groups = f.read()
    return {"limits": limits, "cgroup": groups}
'''


def _limit(limits: str, name: str) -> str:
    line = next(line for line in limits.splitlines() if line.startswith(name))
    return line[len(name):].split()[0]


def test_the_limits_in_force_are_the_ones_security_md_names(srv):
    # docs/SECURITY.md: a cgroup v2 of its own per worker where the machine delegates memory and pids to
    # cgroup v2; otherwise (cgroup v1 or hybrid machines, as this one may be) rlimits and the tree checks
    from tsunagi.runtime.containment import MAX_PROCESSES, Cgroups

    lam = srv.client("lambda")
    create(lam, "limits", "app.handler", files={"app.py": LIMITS_PROBE}, MemorySize=256)
    _, body = invoke(lam, "limits")
    assert _limit(body["limits"], "Max core file size") == "0"
    if Cgroups.detect() is not None:
        assert "/tsunagi-functions/w-" in body["cgroup"], body["cgroup"]
    elif os.geteuid() == 0:
        assert _limit(body["limits"], "Max processes") == str(MAX_PROCESSES)      # the worker has its own user
    assert _limit(body["limits"], "Max address space") != "unlimited"              # Python workers: RLIMIT_AS


NODE_LIMITS_PROBE = '''
const fs = require("fs");
exports.handler = async () => ({ limits: fs.readFileSync("/proc/self/limits", "utf8"),
                                 cgroup: fs.readFileSync("/proc/self/cgroup", "utf8") });
'''


def test_a_node_worker_has_the_same_limits(srv):
    from tsunagi.runtime.containment import MAX_PROCESSES, Cgroups

    lam = srv.client("lambda")
    create(lam, "node-limits", "index.handler", files={"index.js": NODE_LIMITS_PROBE}, runtime="nodejs20.x")
    _, body = invoke(lam, "node-limits")
    if shutil.which("prlimit") is None and Cgroups.detect() is None:
        pytest.skip("no prlimit here: only the tree checks bound a Node worker")
    assert _limit(body["limits"], "Max core file size") == "0"
    if Cgroups.detect() is not None:
        assert "/tsunagi-functions/w-" in body["cgroup"], body["cgroup"]
    elif os.geteuid() == 0:
        assert _limit(body["limits"], "Max processes") == str(MAX_PROCESSES)

"""The worker pool and worker processes, without a server: init, invoke, errors, timeouts, memory, reuse.

The failure cases follow the Lambda runtime interface client's own tests: a bad event body, a
response that cannot be serialized, an empty error message, a missing module.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import sys
import zipfile
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tsunagi.runtime import code as codecache
from tsunagi.runtime.pool import Invocation, Outcome, Throttled, WorkerPool, WorkerSpec

HANDLERS = {
    "ok.py": """
import os, time
COUNT = 0
print("init line")
def handler(event, context):
    global COUNT
    COUNT += 1
    print("event", event)
    return {"count": COUNT, "remaining": context.get_remaining_time_in_millis(),
            "request_id": context.aws_request_id, "name": context.function_name,
            "version": context.function_version, "memory": context.memory_limit_in_mb,
            "arn": context.invoked_function_arn, "group": context.log_group_name,
            "stream": context.log_stream_name, "env": os.environ.get("MY_VAR"),
            "cc": context.client_context.custom if context.client_context else None,
            "pid": os.getpid()}
def unserializable(event, context):
    return {1, 2}
def trace(event, context):
    return [os.environ.get("_X_AMZN_TRACE_ID"), os.getpid()]
def raises(event, context):
    raise ValueError("bad value")
def empty_error(event, context):
    raise Exception()
def sleeper(event, context):
    time.sleep(event.get("sleep", 5))
    return "woke"
def hog(event, context):
    data = bytearray(event["mb"] * 1024 * 1024)
    for i in range(0, len(data), 4096):
        data[i] = 1
    time.sleep(event.get("hold", 0))
    return len(data)
def exits(event, context):
    os._exit(3)
def chatty(event, context):
    print("first")
    time.sleep(1.4)
    print("second")
    return "ok"
def logs(event, context):
    import logging
    logging.getLogger().warning("careful %s", 1)
    print("multi\\nline")
    return None
""",
    "missing_dep.py": "import not_a_module_xyz\ndef handler(e, c):\n    return 1\n",
    "slow_init.py": "import time\ntime.sleep(1.5)\ndef handler(e, c):\n    return c.get_remaining_time_in_millis()\n",
    "syntax.py": "def handler(e, c)\n    return 1\n",
    "pkg/__init__.py": "",
    "pkg/mod.py": "def handler(e, c):\n    return 'nested'\n",
}


@pytest.fixture(scope="module")
def code_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in HANDLERS.items():
            zf.writestr(name, text)
    folder = str(tmp_path_factory.mktemp("code") / "pkg")
    return codecache.unpack(buf.getvalue(), folder)


def spec(code_dir: str, handler: str, *, runtime: str = "python3.11", timeout: int = 3, memory: int = 128,
         key: str | None = None, env: dict[str, str] | None = None) -> WorkerSpec:
    base = {"AWS_LAMBDA_FUNCTION_NAME": "fn", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory), "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
            "_HANDLER": handler, "LAMBDA_TASK_ROOT": code_dir, "PATH": os.environ.get("PATH", ""),
            **(env or {})}
    return WorkerSpec(key=key or f"{handler}/{runtime}/{timeout}/{memory}", function_key="acct/fn",
                      account="000000000000", region="us-east-1", function_name="fn", version="$LATEST",
                      runtime=runtime, handler=handler, code_dir=code_dir, opt_dir=None, env=tuple(base.items()),
                      memory_mb=memory, timeout_s=timeout)


def run(body: Callable[[WorkerPool, list[Any]], Awaitable[None]]) -> list[Any]:
    sunk: list[Any] = []

    async def main() -> None:
        # the worker's mechanics, as the server's user (pytest's folders are root's alone when run as root;
        # the function user is tests/security/test_functions_contained.py's subject)
        pool = WorkerPool(lambda *a: sunk.append(a), idle_timeout=600, function_user="root")
        pool.start()
        try:
            await body(pool, sunk)
        finally:
            await pool.close()

    asyncio.run(main())
    return sunk


def call(pool: WorkerPool, s: WorkerSpec, event: Any = None, *, raw: bytes | None = None, rid: str = "req-1",
         cc: str | None = None) -> Awaitable[Outcome]:
    payload = raw if raw is not None else json.dumps(event if event is not None else {}).encode()
    return pool.invoke(s, Invocation(rid, payload, "arn:aws:lambda:us-east-1:000000000000:function:fn", cc))


def err(o: Outcome) -> dict[str, Any]:
    assert not o.ok
    return json.loads(o.payload)


def test_warm_reuse_context_and_logs(code_dir: str) -> None:
    s = spec(code_dir, "ok.handler", env={"MY_VAR": "v"})

    async def body(pool: WorkerPool, sunk: list[Any]) -> None:
        first = await call(pool, s, {"a": 1}, rid="r1", cc=json.dumps({"custom": {"k": "v"}}))
        second = await call(pool, s, {"a": 2}, rid="r2")
        a, b = json.loads(first.payload), json.loads(second.payload)
        assert (a["count"], b["count"]) == (1, 2)
        assert a["pid"] == b["pid"]
        assert a["request_id"] == "r1" and a["name"] == "fn" and a["version"] == "$LATEST"
        assert a["memory"] == "128" and a["env"] == "v" and a["cc"] == {"k": "v"}
        assert 2000 < a["remaining"] <= 3000
        assert a["group"] == "/aws/lambda/fn" and a["stream"] == first.log_stream
        assert first.init_ms is not None and second.init_ms is None
        lines = first.log_lines
        assert lines[0].startswith("INIT_START") and lines[1] == "init line"
        assert lines[2] == "START RequestId: r1 Version: $LATEST"
        assert lines[3] == "event {'a': 1}"
        assert lines[4] == "END RequestId: r1"
        assert lines[5].startswith("REPORT RequestId: r1\tDuration: ") and "Init Duration" in lines[5]
        assert "Init Duration" not in second.log_lines[-1]
        assert sunk[0][2:4] == ("/aws/lambda/fn", first.log_stream)
        assert first.log_stream.split("/")[3].startswith("[$LATEST]") and len(first.log_stream.split("]")[1]) == 32

    run(body)


def test_trace_header_is_per_invocation_in_a_reused_worker(code_dir: str) -> None:
    s = spec(code_dir, "ok.trace")
    header = "Root=1-67a5b1c2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"

    async def body(pool: WorkerPool, _sunk: list[Any]) -> None:
        arn = "arn:aws:lambda:us-east-1:000000000000:function:fn"
        first = await pool.invoke(s, Invocation("r1", b"{}", arn, trace=header))
        second = await pool.invoke(s, Invocation("r2", b"{}", arn))
        (seen1, pid1), (seen2, pid2) = json.loads(first.payload), json.loads(second.payload)
        assert pid1 == pid2
        assert seen1 == header and seen2 is None     # the previous invocation's header does not stay

    run(body)


def test_a_slow_init_does_not_use_up_the_functions_timeout(code_dir: str) -> None:
    # As on Lambda: the init phase has its own limit; the function's timeout starts with the invoke phase.
    s = spec(code_dir, "slow_init.handler", timeout=1)

    async def body(pool: WorkerPool, _sunk: list[Any]) -> None:
        first = await call(pool, s)
        assert first.ok, first.payload
        assert first.init_ms is not None and first.init_ms >= 1500
        assert 500 < json.loads(first.payload) <= 1000      # get_remaining_time_in_millis counts from the invoke

    run(body)


def test_function_errors(code_dir: str) -> None:
    async def body(pool: WorkerPool, sunk: list[Any]) -> None:
        e = err(await call(pool, spec(code_dir, "ok.raises")))
        assert e["errorType"] == "ValueError" and e["errorMessage"] == "bad value"
        assert e["requestId"] == "req-1" and any("raise ValueError" in f for f in e["stackTrace"])
        assert not any("worker.py" in f for f in e["stackTrace"])
        o = await call(pool, spec(code_dir, "ok.empty_error"))
        assert err(o)["errorMessage"] == "" and err(o)["errorType"] == "Exception"
        assert any(line.startswith("[ERROR] Exception: ") for line in o.log_lines)
        e = err(await call(pool, spec(code_dir, "ok.unserializable")))
        assert e["errorType"] == "Runtime.MarshalError"
        assert e["errorMessage"].startswith("Unable to marshal response: Object of type set is not JSON")
        e = err(await call(pool, spec(code_dir, "ok.handler"), raw=b"{not json"))
        assert e["errorType"] == "Runtime.UnmarshalError"
        assert e["errorMessage"].startswith("Unable to unmarshal input: Expecting property name")
        # the worker survives errors
        assert json.loads((await call(pool, spec(code_dir, "ok.handler"))).payload)["count"] >= 1

    run(body)


def test_init_errors(code_dir: str) -> None:
    async def body(pool: WorkerPool, sunk: list[Any]) -> None:
        e = err(await call(pool, spec(code_dir, "nope.handler")))
        assert e == {"errorMessage": "Unable to import module 'nope': No module named 'nope'",
                     "errorType": "Runtime.ImportModuleError", "requestId": "", "stackTrace": []}
        e = err(await call(pool, spec(code_dir, "missing_dep.handler")))
        assert e["errorType"] == "Runtime.ImportModuleError"
        assert "No module named 'not_a_module_xyz'" in e["errorMessage"]
        e = err(await call(pool, spec(code_dir, "ok.nothing")))
        assert (e["errorType"], e["errorMessage"]) == ("Runtime.HandlerNotFound",
                                                       "Handler 'nothing' missing on module 'ok'")
        e = err(await call(pool, spec(code_dir, "syntax.handler")))
        assert e["errorType"] == "Runtime.UserCodeSyntaxError"
        assert e["errorMessage"].startswith("Syntax error in module 'syntax'")
        e = err(await call(pool, spec(code_dir, "nodots")))
        assert e["errorType"] == "Runtime.MalformedHandlerName"
        assert (await call(pool, spec(code_dir, "pkg/mod.handler"))).payload == b'"nested"'
        assert pool.worker_count() == 1   # failed inits leave no process behind

    run(body)


def test_timeout_kills_worker(code_dir: str) -> None:
    s = spec(code_dir, "ok.sleeper", timeout=1)

    async def body(pool: WorkerPool, sunk: list[Any]) -> None:
        o = await call(pool, s, {"sleep": 5})
        e = err(o)
        assert e["errorType"] == "Sandbox.Timedout"
        assert e["errorMessage"] == "RequestId: req-1 Error: Task timed out after 1.00 seconds"
        assert any(line.endswith("req-1 Task timed out after 1.00 seconds") for line in o.log_lines)
        assert "Status: timeout" in o.log_lines[-1]
        assert pool.worker_count() == 0
        assert (await call(pool, s, {"sleep": 0})).payload == b'"woke"'

    run(body)


def test_memory_limit(code_dir: str) -> None:
    s = spec(code_dir, "ok.hog", memory=128)

    async def body(pool: WorkerPool, sunk: list[Any]) -> None:
        assert (await call(pool, s, {"mb": 10})).ok
        o = await call(pool, s, {"mb": 300, "hold": 0.5})
        e = err(o)
        assert e["errorType"] == "Runtime.OutOfMemory"
        assert "Error Type: Runtime.OutOfMemory" in o.log_lines[-1]
        o = await call(pool, s, {"mb": 300})          # returns before a poll: caught by its peak RSS
        assert err(o)["errorType"] == "Runtime.OutOfMemory"

    run(body)


def test_exit_and_logging(code_dir: str) -> None:
    async def body(pool: WorkerPool, sunk: list[Any]) -> None:
        e = err(await call(pool, spec(code_dir, "ok.exits")))
        assert e["errorType"] == "Runtime.ExitError"
        assert e["errorMessage"] == "RequestId: req-1 Error: Runtime exited with error: exit status 3"
        o = await call(pool, spec(code_dir, "ok.logs"), rid="rl")
        assert o.payload == b"null"
        warning = [line for line in o.log_lines if line.startswith("[WARNING]")]
        assert warning and warning[0].endswith("\trl\tcareful 1")
        assert "multi" in o.log_lines and "line" in o.log_lines

    run(body)


def test_long_invocations_stream_their_logs(code_dir: str) -> None:
    async def body(pool: WorkerPool, sunk: list[Any]) -> None:
        o = await call(pool, spec(code_dir, "ok.chatty"), rid="c1")
        assert o.payload == b'"ok"'
        batches = [[line for _, line in events] for *_, events in sunk]
        assert len(batches) >= 2 and "first" in batches[0] and "second" not in batches[0]
        flat = [line for batch in batches for line in batch]
        assert flat == o.log_lines
        assert sum(line.startswith("START RequestId: c1") for line in flat) == 1

    run(body)


def test_throttles_and_reap(code_dir: str) -> None:
    s = spec(code_dir, "ok.sleeper", timeout=3)

    async def body(pool: WorkerPool, sunk: list[Any]) -> None:
        first = asyncio.ensure_future(call(pool, s, {"sleep": 0.5}))
        await asyncio.sleep(0.05)
        with pytest.raises(Throttled) as info:
            await pool.invoke(s, Invocation("x", b"{}", "arn"), reserved=1)
        assert info.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
        with pytest.raises(Throttled) as info:
            await pool.invoke(s, Invocation("x", b"{}", "arn"), unreserved_limit=1)
        assert info.value.reason == "ConcurrentInvocationLimitExceeded"
        assert (await first).ok
        # two at once use two workers; both then idle
        a, b = await asyncio.gather(call(pool, s, {"sleep": 0.2}), call(pool, s, {"sleep": 0.2}))
        assert a.ok and b.ok and pool.worker_count() == 2
        pool.idle_timeout = 0
        assert pool.reap_idle() == 2 and pool.worker_count() == 0

    run(body)


@pytest.mark.parametrize("version", ["3.9", "3.10", "3.13"])
def test_other_interpreters(code_dir: str, version: str) -> None:
    from tsunagi.runtime.interpreters import find_python, imports_boto3

    path = find_python(version)
    if path is None:
        pytest.skip(f"no python{version} here")
    if not imports_boto3(path):
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"   # falls back to the server's Python

    async def body(pool: WorkerPool, sunk: list[Any]) -> None:
        o = await call(pool, spec(code_dir, "ok.handler", runtime=f"python{version}"))
        assert o.ok, o.payload
        assert f"python:{version}" in o.log_lines[0]

    run(body)


def test_node_handler(tmp_path: Any) -> None:
    if shutil.which("node") is None:
        pytest.skip("no node")
    (tmp_path / "index.js").write_text(
        "let n = 0;\nexports.handler = async (event, context) => { n++; console.log('got', event.a);\n"
        "  return {n, id: context.awsRequestId, left: context.getRemainingTimeInMillis() > 0}; };\n"
        "exports.cb = (event, context, callback) => callback(null, 'cb:' + event.a);\n"
        "exports.bad = async () => { throw new TypeError('nope'); };\n")

    async def body(pool: WorkerPool, sunk: list[Any]) -> None:
        s = spec(str(tmp_path), "index.handler", runtime="nodejs20.x")
        o = await call(pool, s, {"a": 1}, rid="n1")
        assert json.loads(o.payload) == {"n": 1, "id": "n1", "left": True}
        assert json.loads((await call(pool, s, {"a": 2})).payload)["n"] == 2
        assert any(line.endswith("\tn1\tINFO\tgot 1") for line in o.log_lines)
        o = await call(pool, spec(str(tmp_path), "index.cb", runtime="nodejs20.x"), {"a": "x"})
        assert o.payload == b'"cb:x"'
        e = err(await call(pool, spec(str(tmp_path), "index.bad", runtime="nodejs20.x")))
        assert (e["errorType"], e["errorMessage"]) == ("TypeError", "nope")
        e = err(await call(pool, spec(str(tmp_path), "missing.handler", runtime="nodejs20.x")))
        assert e["errorType"] == "Runtime.ImportModuleError"

    run(body)


# -- zip-slip ----------------------------------------------------------------------------------------
def _zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return buf.getvalue()


@pytest.mark.parametrize("name", ["../evil.py", "a/../../evil.py", "/etc/evil.py"])
def test_zip_slip_rejected(tmp_path: Any, name: str) -> None:
    data = _zip([("ok.py", b""), (name, b"x")])
    with pytest.raises(codecache.BadZip):
        codecache.check_zip(data)
    with pytest.raises(codecache.BadZip):
        codecache.unpack(data, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "evil.py").exists()


def test_symlink_rejected(tmp_path: Any) -> None:
    link = zipfile.ZipInfo("link")
    link.external_attr = (0o120777 << 16)
    data = _zip([(link, b"/etc/passwd")])
    with pytest.raises(codecache.BadZip):
        codecache.check_zip(data)


def test_not_a_zip() -> None:
    with pytest.raises(codecache.BadZip):
        codecache.check_zip(b"hello")


def test_unpack_is_reused(tmp_path: Any) -> None:
    data = _zip([("a.py", b"x = 1\n")])
    folder = codecache.unpack(data, str(tmp_path / "c"))
    with open(os.path.join(folder, "a.py")) as f:
        assert f.read() == "x = 1\n"
    assert codecache.unpack(b"not used", folder) == folder


def test_layers_on_path(tmp_path: Any) -> None:
    layer = _zip([("python/shared_lib.py", b"VALUE = 'from layer'\n")])
    opt = codecache.unpack_layers([("s", layer)], str(tmp_path / "opt"))
    code = codecache.unpack(_zip([("f.py", b"import shared_lib\ndef h(e, c):\n    return shared_lib.VALUE\n")]),
                            str(tmp_path / "code"))
    s = spec(code, "f.h")
    s = WorkerSpec(**{**{f: getattr(s, f) for f in s.__dataclass_fields__}, "opt_dir": opt})

    async def body(pool: WorkerPool, sunk: list[Any]) -> None:
        assert (await call(pool, s)).payload == b'"from layer"'

    run(body)


def test_worker_script_is_standalone() -> None:
    from tsunagi.runtime import pool

    with open(pool.PY_WORKER) as f:
        text = f.read()
    assert "tsunagi" not in "".join(line for line in text.splitlines() if line.startswith(("import", "from")))
    assert sys.executable


def test_a_large_server_does_not_make_a_small_function_run_out_of_memory(code_dir: str) -> None:
    # Given a server process holding 300 MB (a busy server, or a test runner with much loaded):
    # the worker is forked from it before exec, and must not be charged for the parent's pages
    ballast = bytearray(300 * 1024 * 1024)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    s = spec(code_dir, "ok.handler", memory=128, key="ballast")

    async def body(pool: WorkerPool, sunk: list[Any]) -> None:
        # When a 128 MB function runs
        outcome = await call(pool, s, {"a": 1})
        # Then it succeeds, and its REPORT line counts only the worker's own memory
        assert outcome.ok, outcome.payload
        report = [line for line in outcome.log_lines if line.startswith("REPORT")][0]
        assert int(report.split("Max Memory Used: ")[1].split(" MB")[0]) < 128

    run(body)
    del ballast

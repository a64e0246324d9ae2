"""Helpers for Lambda integration tests: zips and one-call function deployment."""

from __future__ import annotations

import io
import json
import time
import zipfile
from typing import Any

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

PY_HANDLERS = """
import json, os, time
COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    print("event:", json.dumps(event))
    return {"count": COUNT, "event": event, "request_id": context.aws_request_id,
            "version": context.function_version, "arn": context.invoked_function_arn,
            "memory": context.memory_limit_in_mb, "stream": context.log_stream_name,
            "cc": context.client_context.custom if context.client_context else None,
            "env": {k: os.environ.get(k) for k in ("GREETING", "AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME",
                    "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "LAMBDA_TASK_ROOT",
                    "_HANDLER", "AWS_EXECUTION_ENV", "TZ", "AWS_ENDPOINT_URL", "AWS_LAMBDA_LOG_GROUP_NAME",
                    "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_DEFAULT_REGION", "LAMBDA_RUNTIME_DIR")}}

def fail(event, context):
    raise RuntimeError("it broke")

def sleep(event, context):
    time.sleep(event.get("seconds", 3))
    return "done"

def unserializable(event, context):
    return object()

def whoami(event, context):
    import boto3
    return boto3.client("sts").get_caller_identity()["Arn"]

def record(event, context):
    print("RECORD", json.dumps(event))
    return "ok"
"""


def make_zip(files: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def create(lam: Any, name: str, handler: str = "app.handler", *, files: dict[str, str | bytes] | None = None,
           runtime: str = "python3.11", **kw: Any) -> dict[str, Any]:
    code = make_zip(files or {"app.py": PY_HANDLERS})
    out = lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                              Code={"ZipFile": code}, **kw)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    return out


def invoke(lam: Any, name: str, event: Any = None, **kw: Any) -> tuple[dict[str, Any], Any]:
    r = lam.invoke(FunctionName=name, Payload=json.dumps(event if event is not None else {}).encode(), **kw)
    body = r["Payload"].read()
    return r, json.loads(body) if body else None


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)

"""Helpers for the end-to-end tests of ``examples/``: load an example's deploy.py, read function logs,
wait for conditions, read the local mailbox."""

from __future__ import annotations

import importlib.util
import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(folder: str, module: str = "deploy") -> ModuleType:
    """Import ``examples/<folder>/<module>.py`` (the folder names are not valid package names)."""
    path = EXAMPLES / folder / f"{module}.py"
    spec = importlib.util.spec_from_file_location(f"example_{folder.replace('-', '_')}_{module}", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def wait_for(predicate: Any, timeout: float = 15.0, interval: float = 0.2, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(interval)


def log_messages(server: Any, function: str, region: str = "us-east-1") -> list[str]:
    """Every line the function logged so far, in time order (all streams)."""
    logs = server.client("logs", region=region)
    group = f"/aws/lambda/{function}"
    out: list[tuple[int, str]] = []
    kwargs: dict[str, Any] = {"logGroupName": group}
    try:
        while True:
            page = logs.filter_log_events(**kwargs)
            out += [(e["timestamp"], e["message"]) for e in page["events"]]
            if not page.get("nextToken") or not page["events"]:
                break
            kwargs["nextToken"] = page["nextToken"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [m.rstrip("\n") for _, m in sorted(out, key=lambda x: x[0])]


def mailbox(server: Any, to: str | None = None) -> list[dict[str, Any]]:
    query = {"after": "0", "limit": "500", **({"to": to} if to else {})}
    with server.internal(f"/_tsunagi/sns/mail?{urllib.parse.urlencode(query)}") as r:
        return list(json.loads(r.read())["Messages"])


def queue_counts(sqs: Any, url: str) -> tuple[int, int]:
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])

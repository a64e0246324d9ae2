"""Event source mappings: send → handler start latency and messages/s through a mapping.

- ``esm.latency``: BatchSize 1, MaximumBatchingWindowInSeconds 0; one message at a time; the handler
  appends ``<send time> <its own start time>`` to a file, so the figure is the wall time from just before
  SendMessage to the first line of the handler (same machine, same clock). Target p50 ≤ 10 ms.
- ``esm.throughput``: BatchSize 10 into a no-op handler; N messages are sent while the mapping is
  disabled, then it is enabled and the time until the queue is empty gives messages/s. Target ≥ 2,000/s.

Runs on every server that can run Python functions without Docker (tsunagi, tsunagi-pg, MiniStack);
the others are listed as not available. Uses boto3 (the client's own cost is outside the measured
path: the handler's clock and the queue's emptiness are what is timed).

Standalone: ``.venv/bin/python -m bench.scenarios.esm [--store sqlite|postgresql://…] [--n 20000]``
starts its own tsunagi and prints the figures.
"""
from __future__ import annotations

import io
import os
import statistics
import tempfile
import threading
import time
import zipfile
from typing import Any

from . import scenario

HANDLER = """
import os, time
PATH = os.environ["BENCH_FILE"]

def latency(event, context):
    now = time.time()
    with open(PATH, "a") as f:
        for r in event["Records"]:
            f.write(r["body"] + " " + repr(now) + "\\n")

def noop(event, context):
    return None
"""
ROLE = "arn:aws:iam::000000000000:role/bench"
WINDOW_CONNS = 4


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", HANDLER)
    return buf.getvalue()


def _clients(endpoint: str) -> tuple[Any, Any]:
    import boto3
    from botocore.config import Config

    cfg = Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=16)
    kw = {"endpoint_url": endpoint, "aws_access_key_id": "test", "aws_secret_access_key": "test",
          "region_name": "us-east-1", "config": cfg}
    return boto3.client("sqs", **kw), boto3.client("lambda", **kw)


def _function(lam: Any, name: str, handler: str, env: dict[str, str]) -> None:
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler=f"app.{handler}",
                        Code={"ZipFile": _zip()}, Timeout=10, Environment={"Variables": env})
    for _ in range(100):
        if lam.get_function_configuration(FunctionName=name).get("State", "Active") == "Active":
            return
        time.sleep(0.1)


def _queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _wait_state(lam: Any, uuid: str, state: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lam.get_event_source_mapping(UUID=uuid).get("State") == state:
            return
        time.sleep(0.05)


def measure_latency(endpoint: str, rounds: int = 200, tag: str = "") -> dict[str, Any]:
    sqs, lam = _clients(endpoint)
    path = tempfile.mktemp(prefix="esm-latency-", suffix=".txt")
    open(path, "w").close()
    suffix = tag or str(int(time.time() * 1000) % 100000)
    name = f"esm-lat-{suffix}"
    url, arn = _queue(sqs, name)
    _function(lam, name, "latency", {"BENCH_FILE": path})
    m = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=1,
                                        MaximumBatchingWindowInSeconds=0)
    _wait_state(lam, m["UUID"], "Enabled")
    lat: list[float] = []
    errors = 0
    for i in range(rounds + 5):                     # the first few warm the worker up
        sent = time.time()
        sqs.send_message(QueueUrl=url, MessageBody=f"{i}:{sent!r}")
        deadline = time.monotonic() + 10
        got = None
        while got is None and time.monotonic() < deadline:
            with open(path) as f:
                for line in f:
                    body, started = line.split()
                    if body.split(":")[0] == str(i):
                        got = float(started) - sent
            if got is None:
                time.sleep(0.0005)
        if got is None:
            errors += 1
        elif i >= 5:
            lat.append(got)
    lam.delete_event_source_mapping(UUID=m["UUID"])
    os.unlink(path)
    lat.sort()
    return {"rounds": len(lat), "errors": errors,
            "p50_ms": statistics.median(lat) * 1000 if lat else None,
            "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else None}


def measure_throughput(endpoint: str, n: int = 20000, tag: str = "") -> dict[str, Any]:
    sqs, lam = _clients(endpoint)
    suffix = tag or str(int(time.time() * 1000) % 100000)
    name = f"esm-tput-{suffix}"
    url, arn = _queue(sqs, name)
    _function(lam, name, "noop", {"BENCH_FILE": os.devnull})
    m = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=10, Enabled=False)
    _wait_state(lam, m["UUID"], "Disabled")
    body = "x" * 200

    def send(part: int) -> None:
        client, _ = _clients(endpoint)
        for _ in range(part // 10):
            client.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": body} for j in range(10)])

    threads = [threading.Thread(target=send, args=(n // WINDOW_CONNS,)) for _ in range(WINDOW_CONNS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = (n // WINDOW_CONNS // 10) * 10 * WINDOW_CONNS
    start = time.monotonic()
    lam.update_event_source_mapping(UUID=m["UUID"], Enabled=True)
    deadline = start + 300
    left = sent
    while time.monotonic() < deadline:
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                    "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        left = int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])
        if left == 0:
            break
        time.sleep(0.02)
    took = time.monotonic() - start
    lam.delete_event_source_mapping(UUID=m["UUID"])
    return {"messages": sent - left, "seconds": took, "per_s": (sent - left) / took if took else None,
            "left": left}


@scenario("esm.latency", needs={"aws"}, order=60)
def esm_latency(ctx: Any) -> list[Any]:
    """SQS → function: send → handler start, BatchSize 1, no batching window."""
    from ..report import Col, Table

    t = Table("Event source mapping: send → handler start (BatchSize 1, window 0)",
              [Col("server", "server", "text"), Col("rounds", "rounds", "int"), Col("errors", "errors", "int"),
               Col("p50", "p50 ms", "ms"), Col("p99", "p99 ms", "ms")])
    for s in ctx.aws():
        if not s.available or s.name not in ("tsunagi", "tsunagi-pg", "ministack"):
            t.add(server=s.name, _note="not available: " + (s.reason if not s.available else
                                                             "runs functions only in Docker"))
            continue
        try:
            r = measure_latency(f"http://{s.host}:{s.port}", ctx.count(200, 50, s), tag=s.name.replace("-", ""))
            t.add(server=s.name, rounds=r["rounds"], errors=r["errors"], p50=r["p50_ms"], p99=r["p99_ms"])
        except Exception as e:  # a peer without mappings is reported, not fatal
            t.add(server=s.name, _note=f"not available: {type(e).__name__}: {e}"[:200])
    rows = [r for r in t.rows if r.get("server") == "tsunagi" and r.get("p50") is not None]
    if rows:
        v = rows[0]["p50"]
        t.notes.append(f"target tsunagi send → handler p50 ≤ 10 ms: {v:.1f} ms → {'met' if v <= 10 else 'NOT met'}")
    return [t]


@scenario("esm.throughput", needs={"aws"}, order=61)
def esm_throughput(ctx: Any) -> list[Any]:
    """SQS → no-op function, BatchSize 10: messages/s until the queue is empty."""
    from ..report import Col, Table

    t = Table("Event source mapping: messages/s into a no-op handler (BatchSize 10)",
              [Col("server", "server", "text"), Col("messages", "messages", "int"), Col("seconds", "s", "num"),
               Col("per_s", "msgs/s", "int")])
    for s in ctx.aws():
        if not s.available or s.name not in ("tsunagi", "tsunagi-pg", "ministack"):
            t.add(server=s.name, _note="not available: " + (s.reason if not s.available else
                                                             "runs functions only in Docker"))
            continue
        try:
            r = measure_throughput(f"http://{s.host}:{s.port}", ctx.count(20000, 5000, s), tag=s.name.replace("-", ""))
            t.add(server=s.name, messages=r["messages"], seconds=r["seconds"], per_s=r["per_s"])
        except Exception as e:
            t.add(server=s.name, _note=f"not available: {type(e).__name__}: {e}"[:200])
    rows = [r for r in t.rows if r.get("server") == "tsunagi" and r.get("per_s")]
    if rows:
        v = rows[0]["per_s"]
        t.notes.append(f"target tsunagi ≥ 2,000 msgs/s: {v:,.0f} → {'met' if v >= 2000 else 'NOT met'}")
    return [t]


def main() -> None:
    import argparse
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.support.server import TsunagiServer

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--store", default="sqlite")
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    srv = TsunagiServer(args.store).start()
    try:
        lat = measure_latency(srv.url, args.rounds)
        print(f"send → handler start: p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms "
              f"({lat['rounds']} rounds, {lat['errors']} errors)")
        tp = measure_throughput(srv.url, args.n)
        print(f"throughput (BatchSize 10, no-op): {tp['per_s']:,.0f} msgs/s ({tp['messages']} in {tp['seconds']:.2f} s, "
              f"{tp['left']} left)")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()

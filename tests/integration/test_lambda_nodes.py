"""Lambda concurrency limits on several servers sharing one PostgreSQL database: an event source
mapping's ScalingConfig.MaximumConcurrency, a function's reserved concurrency and the account's
concurrency limit count the invocations running on every server, not on each one alone.

Each invocation sends its start and end times to an output queue; the most invocations running at
once is measured from those intervals (one machine, one clock)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import require_postgres
from tests.integration.lambda_support import create
from tests.support import postgres
from tests.support.server import TsunagiServer

pytestmark = pytest.mark.slow

CODE = """
import json, os, time, boto3
sqs = boto3.client("sqs")

def handler(event, context):
    began = time.time()
    time.sleep(float(event.get("sleep", os.environ["SLEEP"])))
    sqs.send_message(QueueUrl=os.environ["OUT_QUEUE"], MessageBody=json.dumps(
        {"ran": [began, time.time()], "n": len(event.get("Records", [])) or 1}))
    return "ok"
"""


def start_nodes(tmp_path, env: dict[str, str] | None = None) -> tuple[str, list[TsunagiServer]]:
    url = postgres.share(postgres.create_database("tsunagi_lamn"))
    nodes = [TsunagiServer(url, data_dir=str(tmp_path / f"node{i}"), env=dict(env or {})).start() for i in range(2)]
    return url, nodes


@pytest.fixture
def make_nodes(tmp_path):
    require_postgres()
    made: list[tuple[str, list[TsunagiServer]]] = []

    def make(env: dict[str, str] | None = None) -> list[TsunagiServer]:
        made.append(start_nodes(tmp_path, env))
        return made[-1][1]

    yield make
    for url, nodes in made:
        for node in nodes:
            node.stop()
        postgres.drop_database(url)


def out_queue(node: TsunagiServer, name: str = "ran") -> tuple[Any, str, str]:
    sqs = node.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs, url, arn


def deploy(node: TsunagiServer, name: str, out: str, sleep: float) -> None:
    create(node.client("lambda"), name, "app.handler", files={"app.py": CODE}, Timeout=30,
           Environment={"Variables": {"OUT_QUEUE": out, "SLEEP": str(sleep)}})


def intervals(sqs: Any, url: str, want: int, timeout: float = 60.0) -> list[list[float]]:
    got: list[list[float]] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            got.append(json.loads(m["Body"])["ran"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def most_at_once(ran: list[list[float]]) -> int:
    edges = sorted([(a, 1) for a, _ in ran] + [(b, -1) for _, b in ran], key=lambda e: (e[0], e[1]))
    running = most = 0
    for _at, step in edges:
        running += step
        most = max(most, running)
    return most


def invoke_together(nodes: list[TsunagiServer], name: str, count: int) -> tuple[int, int]:
    """``count`` synchronous invocations at once, alternating between the servers: (ran, throttled)."""
    lams = [nodes[i % len(nodes)].client("lambda", max_pool_connections=count) for i in range(count)]

    def one(lam: Any) -> bool:
        try:
            lam.invoke(FunctionName=name, Payload=b"{}")
            return True
        except ClientError as e:
            assert e.response["Error"]["Code"] == "TooManyRequestsException", e.response
            return False

    with ThreadPoolExecutor(count) as pool:
        results = list(pool.map(one, lams))
    return results.count(True), results.count(False)


def test_mapping_maximum_concurrency_holds_across_servers(make_nodes) -> None:
    nodes = make_nodes()
    sqs, out, _ = out_queue(nodes[0])
    src, arn = out_queue(nodes[0], "src")[1:]
    deploy(nodes[0], "fn", out, 1.0)
    for i in range(16):
        sqs.send_message(QueueUrl=src, MessageBody=f"m{i}")
    lam = nodes[0].client("lambda")
    lam.create_event_source_mapping(FunctionName="fn", EventSourceArn=arn, BatchSize=1,
                                    ScalingConfig={"MaximumConcurrency": 2})
    ran = intervals(sqs, out, 16, timeout=90)
    assert len(ran) >= 16
    assert most_at_once(ran) <= 2


def test_reserved_concurrency_holds_across_servers(make_nodes) -> None:
    nodes = make_nodes()
    sqs, out, _ = out_queue(nodes[0])
    deploy(nodes[0], "fn", out, 2.0)
    nodes[0].client("lambda").put_function_concurrency(FunctionName="fn", ReservedConcurrentExecutions=1)
    invoke_together(nodes, "fn", 2)                      # warm a worker on each server
    intervals(sqs, out, 2, timeout=10)
    ok, throttled = invoke_together(nodes, "fn", 6)
    ran = intervals(sqs, out, ok)
    assert ok >= 1 and ok + throttled == 6 and len(ran) == ok
    assert most_at_once(ran) == 1


def test_account_concurrency_holds_across_servers(make_nodes) -> None:
    # TSUNAGI_LAMBDA_MAX_WORKERS=2: the account may run 2 executions at once, on all servers together
    nodes = make_nodes({"TSUNAGI_LAMBDA_MAX_WORKERS": "2"})
    assert nodes[1].client("lambda").get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 2
    sqs, out, _ = out_queue(nodes[0])
    deploy(nodes[0], "fn", out, 2.0)
    ok, throttled = invoke_together(nodes, "fn", 8)
    ran = intervals(sqs, out, ok)
    assert ok >= 2 and ok + throttled == 8 and len(ran) == ok
    assert most_at_once(ran) <= 2


def test_a_killed_servers_share_is_released(make_nodes) -> None:
    nodes = make_nodes()
    sqs, out, _ = out_queue(nodes[0])
    deploy(nodes[0], "fn", out, 0.1)
    lam_a, lam_b = nodes[0].client("lambda"), nodes[1].client("lambda")
    lam_a.put_function_concurrency(FunctionName="fn", ReservedConcurrentExecutions=1)
    with ThreadPoolExecutor(1) as pool:
        hung = pool.submit(lam_a.invoke, FunctionName="fn", Payload=b'{"sleep": 100}')
        deadline = time.monotonic() + 30
        while True:                                   # server a runs the one execution allowed
            try:
                lam_b.invoke(FunctionName="fn", Payload=b"{}")
            except ClientError as e:
                assert e.response["Error"]["Code"] == "TooManyRequestsException"
                break
            assert time.monotonic() < deadline, "server a never started its execution"
            time.sleep(0.2)
        nodes[0].kill()
        with pytest.raises(Exception):              # noqa: B017 -- the connection dies with the server
            hung.result()
    killed = time.monotonic()
    while True:                                       # its lease expires: server b may run one again
        try:
            lam_b.invoke(FunctionName="fn", Payload=b"{}")
            break
        except ClientError as e:
            assert e.response["Error"]["Code"] == "TooManyRequestsException"
        assert time.monotonic() - killed < 60, "a killed server's share was never released"
        time.sleep(1)

"""Several `tsunagi serve` processes on one PostgreSQL database act as one SQS."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest

from tests.conftest import require_postgres
from tests.support.nodes import nodes_on_one_database
from tests.support.server import TsunagiServer

pytestmark = pytest.mark.slow


@pytest.fixture
def two_nodes(tmp_path):
    require_postgres()
    with nodes_on_one_database(tmp_path, "tsunagi_nodes") as nodes:
        yield nodes


def fill(client, url, n, group_of=None, offset=0):
    for start in range(0, n, 10):
        entries = []
        for i in range(start, min(n, start + 10)):
            e = {"Id": str(i - start), "MessageBody": str(offset + i)}
            if group_of:
                e["MessageGroupId"] = group_of(i)
            entries.append(e)
        res = client.send_message_batch(QueueUrl=url, Entries=entries)
        assert not res.get("Failed"), res.get("Failed")


def consume(nodes, url, expected, per_node=2, on_receive=None):
    """4 consumers, 2 on each node; returns the receive log [(body, consumer)]."""
    log: list[tuple[str, int]] = []
    lock = threading.Lock()
    done = threading.Event()

    def worker(k: int, srv: TsunagiServer) -> None:
        client = srv.sqs_client()
        idle = 0
        while not done.is_set() and idle < 5:
            msgs = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=120,
                                          WaitTimeSeconds=1, AttributeNames=["All"]).get("Messages", [])
            if not msgs:
                idle += 1
                continue
            idle = 0
            with lock:
                for m in msgs:
                    log.append((m["Body"], k, m["Attributes"].get("MessageGroupId")))
                if len(log) >= expected:
                    done.set()
            client.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])

    threads = [threading.Thread(target=worker, args=(k, nodes[k % len(nodes)])) for k in range(per_node * len(nodes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return log


def test_no_message_goes_to_two_receivers_across_two_servers(two_nodes):
    a, b = two_nodes
    url = a.sqs_client().create_queue(QueueName="shared")["QueueUrl"]
    fill(a.sqs_client(), url, 5000)
    fill(b.sqs_client(), url.replace(str(a.port), str(b.port)), 5000, offset=5000)  # any node's URL names the same queue
    log = consume(two_nodes, url, 10_000)
    bodies = [body for body, _, _ in log]
    assert len(bodies) == 10_000, f"received {len(bodies)} of 10000"
    assert len(set(bodies)) == 10_000, "a message was handed to two receivers within its visibility timeout"
    assert {k for _, k, _ in log} == {0, 1, 2, 3}, "every consumer got work"


def test_fifo_group_order_holds_across_servers(two_nodes):
    a, b = two_nodes
    url = a.sqs_client().create_queue(QueueName="shared.fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    n = 2000
    fill(a.sqs_client(), url, n, group_of=lambda i: f"g{i % 20}")
    log = consume(two_nodes, url, n)
    assert len(log) == n
    by_group: dict[str, list[int]] = defaultdict(list)
    for body, _, group in log:
        by_group[group].append(int(body))
    assert len(by_group) == 20
    for group, seq in by_group.items():
        assert seq == sorted(seq), f"group {group} out of order"


def test_a_long_poll_on_one_node_wakes_on_a_send_to_the_other(two_nodes):
    a, b = two_nodes
    url = a.sqs_client().create_queue(QueueName="wake")["QueueUrl"]
    got = []

    def waiter():
        t0 = time.monotonic()
        msgs = b.sqs_client().receive_message(QueueUrl=url, WaitTimeSeconds=15).get("Messages", [])
        got.append((time.monotonic() - t0, msgs))

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.5)
    a.sqs_client().send_message(QueueUrl=url, MessageBody="hello from a")
    t.join(20)
    elapsed, msgs = got[0]
    assert [m["Body"] for m in msgs] == ["hello from a"]
    assert elapsed < 10

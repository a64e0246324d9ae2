"""Background work that must run once across servers sharing one PostgreSQL database: one server
leads (an advisory lock on a connection of its own), another takes over when it dies, and a message
move task whose server died is carried on to the end by another."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from tests.conftest import require_postgres
from tests.support.nodes import nodes_on_one_database

pytestmark = pytest.mark.slow


@pytest.fixture
def nodes(tmp_path):
    require_postgres()
    with nodes_on_one_database(tmp_path, "tsunagi_lead", count=3) as servers:
        yield servers


def leads(node) -> bool:
    with urllib.request.urlopen(f"{node.url}/_tsunagi/health", timeout=5) as r:
        return bool(json.loads(r.read())["store"]["leader"])


def leaders(nodes, timeout: float = 20.0) -> list:
    """The servers that lead, once exactly one does."""
    deadline = time.monotonic() + timeout
    while True:
        found = [n for n in nodes if leads(n)]
        if len(found) == 1 or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_one_server_leads_and_another_takes_over_when_it_dies(nodes) -> None:
    first = leaders(nodes)
    assert len(first) == 1
    first[0].kill()
    rest = [n for n in nodes if n is not first[0]]
    second = leaders(rest)
    assert len(second) == 1
    first[0].start()                                  # a server joining again follows
    time.sleep(6)
    assert [n for n in nodes if leads(n)] == second


def test_a_move_task_of_a_dead_server_is_finished_by_another(nodes) -> None:
    a, b = nodes[0], nodes[1]
    sqs_a, sqs_b = a.client("sqs"), b.client("sqs")
    src = sqs_a.create_queue(QueueName="src")["QueueUrl"]
    dlq = sqs_a.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs_a.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src_arn = sqs_a.get_queue_attributes(QueueUrl=src, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs_a.set_queue_attributes(QueueUrl=src, Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})})
    for start in range(0, 20, 10):
        sqs_a.send_message_batch(QueueUrl=dlq, Entries=[
            {"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)])
    handle = sqs_a.start_message_move_task(SourceArn=dlq_arn, DestinationArn=src_arn,
                                           MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    deadline = time.monotonic() + 20
    while sqs_b.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]["ApproximateNumberOfMessagesMoved"] < 2:
        assert time.monotonic() < deadline, "the move task never started"
        time.sleep(0.2)
    a.kill()
    deadline = time.monotonic() + 90                  # the dead server's lease expires, then the leader adopts
    while True:
        task = sqs_b.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]
        if task["Status"] != "RUNNING":
            break
        assert time.monotonic() < deadline, f"the task was never finished: {task}"
        time.sleep(1)
    assert task["Status"] == "COMPLETED" and task["ApproximateNumberOfMessagesMoved"] == 20
    assert handle  # the task the dead server started
    bodies = set()
    while True:
        got = sqs_b.receive_message(QueueUrl=src, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not got:
            break
        for m in got:
            bodies.add(m["Body"])
            sqs_b.delete_message(QueueUrl=src, ReceiptHandle=m["ReceiptHandle"])
    assert bodies == {f"m{i}" for i in range(20)}

"""One of two servers on a shared PostgreSQL dies (kill -9) under load: the other carries on, and
nothing acknowledged is lost; messages the dead node had handed out come back after their timeout."""

from __future__ import annotations

import threading
import time

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.conftest import require_postgres
from tests.support.nodes import nodes_on_one_database
from tests.support.server import TsunagiServer

ERRORS = (BotoCoreError, ClientError, OSError)
VISIBILITY = 4


@pytest.fixture
def two_nodes(tmp_path):
    require_postgres()
    with nodes_on_one_database(tmp_path, "tsunagi_death") as nodes:
        yield nodes


def test_a_node_dies_the_other_carries_on(two_nodes):
    a, b = two_nodes
    url = b.sqs_client().create_queue(QueueName="shared", Attributes={"VisibilityTimeout": str(VISIBILITY)})[
        "QueueUrl"]
    acked: set[str] = set()
    tried_deletes: set[str] = set()
    acked_deletes: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def producer(srv: TsunagiServer, name: str) -> None:
        client = srv.sqs_client()
        i = 0
        while not stop.is_set():
            body = f"{name}-{i}"
            try:
                client.send_message(QueueUrl=url, MessageBody=body)
            except ERRORS:
                if srv is a:
                    return  # the dead node: that send was never acknowledged
                continue
            with lock:
                acked.add(body)
            i += 1

    def consumer(srv: TsunagiServer) -> None:
        client = srv.sqs_client()
        while not stop.is_set():
            try:
                msgs = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                    "Messages", [])
                for m in msgs:
                    with lock:
                        tried_deletes.add(m["Body"])
                    client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                    with lock:
                        acked_deletes.add(m["Body"])
            except ERRORS:
                if srv is a:
                    return

    threads = [threading.Thread(target=producer, args=(srv, n)) for srv, n in ((a, "a"), (b, "b"))] + \
              [threading.Thread(target=consumer, args=(srv,)) for srv in (a, b)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    a.kill()
    time.sleep(1.5)  # node b keeps working alone
    stop.set()
    for t in threads:
        t.join(15)
    with lock:
        b_sends_after = {x for x in acked if x.startswith("b-")}
    assert b_sends_after, "node b did no work"

    # Drain through node b, waiting out the visibility of whatever node a had handed out.
    client = b.sqs_client()
    survivors: list[str] = []
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < VISIBILITY + 2:
        msgs = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if msgs:
            idle_since = time.monotonic()
        for m in msgs:
            survivors.append(m["Body"])
            client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    lost = acked - tried_deletes - set(survivors)
    resurrected = acked_deletes & set(survivors)
    assert not lost, f"{len(lost)} acknowledged sends lost, e.g. {sorted(lost)[:3]}"
    assert not resurrected, f"{len(resurrected)} deleted messages came back, e.g. {sorted(resurrected)[:3]}"

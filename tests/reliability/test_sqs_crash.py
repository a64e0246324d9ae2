"""kill -9 during sends, receives and deletes: no acknowledged send is lost, nothing deleted comes back."""

from __future__ import annotations

import threading
import time
import uuid

from botocore.exceptions import BotoCoreError, ClientError

ERRORS = (BotoCoreError, ClientError, OSError)


def test_kill_9_under_load_loses_no_acknowledged_send_and_resurrects_no_delete(crash_server):
    srv = crash_server.start()
    url = srv.sqs_client().create_queue(QueueName="crash", Attributes={"VisibilityTimeout": "6"})["QueueUrl"]
    acked_sends: set[str] = set()
    acked_deletes: set[str] = set()
    tried_deletes: set[str] = set()  # a delete cut off by the kill may or may not have happened
    lock = threading.Lock()
    stop = threading.Event()

    def producer(n: int) -> None:
        client = srv.sqs_client()
        i = 0
        while not stop.is_set():
            body = f"p{n}-{i}-{uuid.uuid4().hex[:6]}"
            try:
                if i % 3 == 0:
                    entries = [{"Id": str(k), "MessageBody": f"{body}-{k}"} for k in range(5)]
                    res = client.send_message_batch(QueueUrl=url, Entries=entries)
                    with lock:
                        for e in res.get("Successful", []):
                            acked_sends.add(f"{body}-{e['Id']}")
                else:
                    client.send_message(QueueUrl=url, MessageBody=body)
                    with lock:
                        acked_sends.add(body)
            except ERRORS:
                return  # the server died mid-call: that send was never acknowledged
            i += 1

    def consumer() -> None:
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
                return

    threads = [threading.Thread(target=producer, args=(n,)) for n in range(3)] + \
              [threading.Thread(target=consumer) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    srv.kill()  # SIGKILL, mid-flight
    stop.set()
    for t in threads:
        t.join(10)
    assert acked_sends, "the load never got going"

    srv.start()
    client = srv.sqs_client()
    survivors: list[str] = []
    idle_since = time.monotonic()
    # A delete with the handle of an earlier receive may succeed without deleting (AWS's rule), so the
    # visibility timeout is long enough that no consumer here is that slow; and the drain waits it out.
    while time.monotonic() - idle_since < 7:  # > the 6 s visibility of anything in flight at the kill
        msgs = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if msgs:
            idle_since = time.monotonic()
        for m in msgs:
            survivors.append(m["Body"])
            client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    resurrected = acked_deletes & set(survivors)
    lost = acked_sends - tried_deletes - set(survivors)
    assert not resurrected, f"{len(resurrected)} deleted messages came back, e.g. {sorted(resurrected)[:3]}"
    assert not lost, f"{len(lost)} acknowledged sends were lost, e.g. {sorted(lost)[:3]}"

"""kill -9 between Publish and delivery: every acknowledged publish still reaches its subscribers."""

from __future__ import annotations

import json
import os
import time

from tests.integration.sns_support import Subscriber, queue, receive
from tests.support.server import free_port


def test_kill_9_after_publish_loses_no_delivery(crash_server):
    srv = crash_server.start()
    sns = srv.client("sns")
    topic = sns.create_topic(Name="durable")["TopicArn"]
    q_url, q_arn = queue(srv, "durable-q")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=q_arn)
    port = free_port()
    web = Subscriber(port)
    policy = {"healthyRetryPolicy": {"numRetries": 100, "minDelayTarget": 1, "maxDelayTarget": 1}}
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=web.url, Attributes={"DeliveryPolicy": json.dumps(policy)})
    web.confirm()
    web.close()                                   # the endpoint goes down

    acked: set[str] = set()
    for i in range(20):
        acked.add(sns.publish(TopicArn=topic, Message=f"m{i}")["MessageId"])
    out = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": str(i), "Message": f"b{i}"} for i in range(10)])
    acked |= {s["MessageId"] for s in out["Successful"]}
    time.sleep(1.5)                               # a few failed attempts in flight
    srv.kill()                                    # SIGKILL

    srv.start()
    web = Subscriber(port)                        # the endpoint comes back
    try:
        got = web.wait("Notification", n=len(acked), timeout=60)
        assert {json.loads(r["body"])["MessageId"] for r in got} >= acked
    finally:
        web.close()
    queued = receive(srv, q_url, n=len(acked), timeout=20)
    assert {json.loads(m["Body"])["MessageId"] for m in queued} == acked


def _signing_processes(parent: int) -> list[int]:
    """Pids of the SNS signing processes whose parent is ``parent`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == parent and b"tsunagi.services.sns.signer_process" in cmd:
            found.append(int(entry))
    return found


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"   # a zombie has ended
    except OSError:
        return True


def test_the_signing_process_ends_with_the_server_even_after_kill_9(crash_server):
    # SNS signs in a child process; a server killed outright must not leave it behind (it ends when
    # its input closes), and a server that stops cleanly stops it too.
    srv = crash_server.start()
    sns = srv.client("sns")
    topic = sns.create_topic(Name="signed")["TopicArn"]
    _, q_arn = queue(srv, "signed-q")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=q_arn)
    sns.publish(TopicArn=topic, Message="hello")
    assert srv.proc is not None
    children = _signing_processes(srv.proc.pid)
    assert len(children) >= 1, "no signing process started"
    srv.kill()                                    # SIGKILL
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(pid) for pid in children), f"signing processes {children} outlived the server"

    srv.start()
    sns.publish(TopicArn=topic, Message="again")
    children = _signing_processes(srv.proc.pid)
    assert children
    srv.stop()                                    # SIGTERM: a clean stop
    assert all(_gone(pid) for pid in children)

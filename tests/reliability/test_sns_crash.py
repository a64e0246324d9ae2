"""kill -9 between Publish and delivery: every acknowledged publish still reaches its subscribers."""

from __future__ import annotations

import json
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

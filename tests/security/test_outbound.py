"""Deliveries never turn inward, and an endpoint cannot take the server's memory or hold others'
deliveries: SNS subscriptions aimed at tsunagi's internal routes, a subscriber answering 3 GB, hanging
endpoints beside another account's S3 → SQS notification, a forged Host in SubscribeURL. Real server,
loopback only; every wait is bounded."""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.sns_support import Subscriber
from tests.security.probe import RawEndpoint, rss_mb
from tests.support.server import TsunagiServer


@pytest.fixture(scope="module")
def srv():
    server = TsunagiServer("sqlite").start()
    yield server
    server.stop()


def _wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("path", ["/_tsunagi/reset", "/%5Ftsunagi/reset", "//_tsunagi/reset", "/_TSUNAGI/reset"])
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "0.0.0.0", "api.localhost"])
def test_an_sns_subscription_never_reaches_an_internal_route(srv, host, path):
    sns, sqs = srv.client("sns"), srv.sqs_client()
    sqs.create_queue(QueueName="survivor")
    topic = sns.create_topic(Name="inward")["TopicArn"]
    endpoint = f"http://{host}:{srv.port}{path}"
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint)
    assert _wait_for(lambda: f"refused: {endpoint} points at" in srv.log()), \
        f"the confirmation was not refused:\n{srv.log()[-3000:]}"
    assert sqs.get_queue_url(QueueName="survivor")["QueueUrl"].endswith("/survivor")
    assert topic in [t["TopicArn"] for t in sns.list_topics()["Topics"]]


def test_a_3_gb_subscriber_answer_is_read_only_up_to_a_cap(srv):
    endpoint = RawEndpoint("huge")
    try:
        sns = srv.client("sns")
        topic = sns.create_topic(Name="huge-answer")["TopicArn"]
        before = rss_mb(srv.proc.pid)
        for i in range(3):                   # three subscriptions' confirmations, each answered with 3 GB
            sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=f"{endpoint.url}?n={i}")
        assert _wait_for(lambda: len(endpoint.requests) >= 3)
        time.sleep(1.0)                      # let any reading that would happen, happen
        grown = rss_mb(srv.proc.pid) - before
        assert grown < 100, f"the server grew {grown:.0f} MB reading a subscriber's answer"
        # it hung up long before the 3 GB: what left is at most the socket buffers beyond the cap, per request
        assert endpoint.sent < 3 * 64 * 1024 * 1024
        assert srv.sqs_client().list_queues() is not None          # and keeps serving
    finally:
        endpoint.close()


def test_hanging_endpoints_do_not_delay_another_accounts_notification(srv):
    hanging = RawEndpoint("hang")
    try:
        a_sns = srv.client("sns", access_key="111111111111")
        topic = a_sns.create_topic(Name="slow-subscribers")["TopicArn"]
        for i in range(80):                  # more than one outbox batch of confirmations, each hanging
            a_sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=f"{hanging.url}?n={i}")
        assert _wait_for(lambda: len(hanging.requests) >= 40)
        s3 = srv.client("s3", access_key="222222222222")
        sqs = srv.sqs_client(access_key="222222222222")
        s3.create_bucket(Bucket="unhurried")
        url = sqs.create_queue(QueueName="uploads")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket="unhurried", NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
        s3.put_object(Bucket="unhurried", Key="a.txt", Body=b"x")
        events = []
        deadline = time.monotonic() + 10     # generous: the hanging deliveries hold 15 s each
        while time.monotonic() < deadline and not any(e.get("Records") for e in events):
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
                events.append(json.loads(m["Body"]))
        assert any(r["s3"]["object"]["key"] == "a.txt" for e in events for r in e.get("Records", [])), \
            "the notification waited behind the hanging endpoints"
    finally:
        hanging.close()


def test_a_forged_host_does_not_reach_subscribe_url(srv):
    subscriber = Subscriber()
    try:
        sns = srv.client("sns")

        def forge(request, **_):
            request.headers["Host"] = f"attacker.localhost:{srv.port}"
            request.headers["X-Forwarded-Proto"] = "https"

        sns.meta.events.register("before-send.sns.Subscribe", forge)
        topic = sns.create_topic(Name="forged")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=subscriber.url)
        doc = json.loads(subscriber.wait("SubscriptionConfirmation")[0]["body"])
        for key in ("SubscribeURL", "SigningCertURL"):
            assert doc[key].startswith(f"http://127.0.0.1:{srv.port}/"), doc[key]
        assert "ConfirmSubscriptionResult" in subscriber.confirm()
        sns.meta.events.unregister("before-send.sns.Subscribe", forge)
        sns.publish(TopicArn=topic, Message="hi")
        note = json.loads(subscriber.wait("Notification")[0]["body"])
        assert note["UnsubscribeURL"].startswith(f"http://127.0.0.1:{srv.port}/")
    finally:
        subscriber.close()


def test_public_url_is_what_subscribers_are_given(tmp_path):
    server = TsunagiServer("sqlite", data_dir=str(tmp_path), env={"TSUNAGI_PUBLIC_URL": "https://sns.example.test"})
    server.start()
    subscriber = Subscriber()
    try:
        sns = server.client("sns")
        topic = sns.create_topic(Name="public")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=subscriber.url)
        doc = json.loads(subscriber.wait("SubscriptionConfirmation")[0]["body"])
        assert doc["SubscribeURL"].startswith("https://sns.example.test/?Action=ConfirmSubscription")
        assert doc["SigningCertURL"].startswith("https://sns.example.test/_tsunagi/sns/")
    finally:
        subscriber.close()
        server.stop()


def test_an_api_gateway_http_integration_never_reaches_an_internal_route(srv):
    # even an API whose integration sends the right admin token: integrations may never turn inward
    import urllib.error
    import urllib.request

    sqs = srv.sqs_client()
    sqs.create_queue(QueueName="api-survivor")
    api = srv.client("apigateway")
    rest = api.create_rest_api(name="inward")["id"]
    root = api.get_resources(restApiId=rest)["items"][0]["id"]
    api.put_method(restApiId=rest, resourceId=root, httpMethod="POST", authorizationType="NONE")
    api.put_integration(restApiId=rest, resourceId=root, httpMethod="POST", type="HTTP_PROXY",
                        integrationHttpMethod="POST", uri=f"http://127.0.0.1:{srv.port}/_tsunagi/reset",
                        requestParameters={"integration.request.header.X-Tsunagi-Token": f"'{srv.token}'"})
    api.create_deployment(restApiId=rest, stageName="dev")
    req = urllib.request.Request(f"{srv.url}/restapis/{rest}/dev/_user_request_/", data=b"{}", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    assert status >= 500
    assert sqs.get_queue_url(QueueName="api-survivor")["QueueUrl"].endswith("/api-survivor")

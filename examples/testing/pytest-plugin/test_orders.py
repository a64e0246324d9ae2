"""A suite using tsunagi's pytest plugin: ``tsunagi_client`` makes clients, ``tsunagi`` is the server
(wiped before each test) with helpers to wait on what the pipeline did."""

from __future__ import annotations

import json
import os
import urllib.request

import orders
import pytest


@pytest.fixture
def stack(tsunagi_client):
    return orders.deploy(tsunagi_client("sns"), tsunagi_client("sqs"), tsunagi_client("lambda"),
                         tsunagi_client("iam"))


def test_an_order_reaches_the_fulfilment_queue(tsunagi, tsunagi_client, stack):
    orders.place_order(tsunagi_client("sns"), stack["topic"], "A-1", 1200)

    assert tsunagi.wait_for_messages(stack["queue_url"], 1) == 1
    (message,) = tsunagi.receive_messages("fulfilment", 1)
    assert json.loads(message["Body"]) == {"id": "A-1", "total": 1200}


def test_the_audit_function_really_runs(tsunagi, tsunagi_client, stack):
    orders.place_order(tsunagi_client("sns"), stack["topic"], "A-2", 80)

    lines = tsunagi.function_logs("order-audit", contains="audit: order A-2")
    assert any("total 80" in line for line in lines)


def test_e_mail_subscribers_get_the_order(tsunagi, tsunagi_client, stack):
    sns = tsunagi_client("sns")
    sns.subscribe(TopicArn=stack["topic"], Protocol="email", Endpoint="shop@example.com")
    (confirmation,) = tsunagi.wait_for_mail(1, to="shop@example.com")
    with urllib.request.urlopen(confirmation["SubscribeURL"]) as r:      # as clicking the link in the mail
        assert r.status == 200

    orders.place_order(sns, stack["topic"], "A-3", 5)

    mail = tsunagi.wait_for_mail(2, to="shop@example.com")
    assert mail[-1]["Subject"] == "order A-3"
    # the message, then SNS's footer with the unsubscribe link, as AWS sends it
    assert mail[-1]["Body"].startswith(json.dumps({"id": "A-3", "total": 5}))


def test_each_test_starts_empty(tsunagi_client):
    assert tsunagi_client("sns").list_topics()["Topics"] == []
    assert tsunagi_client("sqs").list_queues().get("QueueUrls", []) == []
    assert tsunagi_client("lambda").list_functions()["Functions"] == []


def test_the_endpoint_is_a_url(tsunagi_endpoint):
    import boto3

    s3 = boto3.client("s3", endpoint_url=tsunagi_endpoint, region_name="ap-northeast-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    s3.create_bucket(Bucket="receipts", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"})
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["receipts"]


def test_without_the_queue_policy_sns_cannot_deliver(tsunagi, tsunagi_client):
    """The server runs with --policies enforce (pytest.ini): as on AWS, a queue whose policy does not let
    the topic send gets nothing, and the delivery record says why."""
    if os.environ.get("TSUNAGI_ENDPOINT"):
        pytest.skip("a server this suite did not start has its own --policies setting")
    sns, sqs = tsunagi_client("sns"), tsunagi_client("sqs")
    topic = sns.create_topic(Name="orders")["TopicArn"]
    url = sqs.create_queue(QueueName="no-policy")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)

    message_id = orders.place_order(sns, topic, "A-4", 1)

    (record,) = tsunagi.wait_for_deliveries(1, message_id=message_id)
    assert record["Outcome"] == "denied"
    assert "has no queue policy" in record["Reason"]
    assert tsunagi.wait_for_messages(url, 0) == 0

"""A suite written for moto, switched to tsunagi by its first import; nothing else changed.

Every style moto's documentation shows: the decorator on functions and on classes (unittest and plain),
the context manager in a fixture, and moto's recommended fake-credentials fixture."""

import json
import os
import unittest

import boto3
import inventory
import pytest

from tsunagi.testing import mock_aws  # was: from moto import mock_aws


@pytest.fixture
def aws_credentials():
    """Mocked AWS credentials, as moto's documentation recommends."""
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    os.environ["AWS_SECURITY_TOKEN"] = "testing"
    os.environ["AWS_SESSION_TOKEN"] = "testing"
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"


@pytest.fixture
def s3(aws_credentials):
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=inventory.REPORTS)
        yield client


def test_report_round_trip(s3):
    key = inventory.save_report("2026-12-01", {"apple": 3, "pear": 10})
    assert key == "reports/2026-12-01.json"
    assert inventory.load_report("2026-12-01") == {"apple": 3, "pear": 10}
    head = s3.head_object(Bucket=inventory.REPORTS, Key=key)
    assert head["ContentType"] == "application/json"


@mock_aws
def test_restock_requests_go_to_the_queue():
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="restock")["QueueUrl"]

    assert inventory.request_restock({"apple": 3, "pear": 10, "fig": 0}) == ["apple", "fig"]

    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert sorted(json.loads(m["Body"])["sku"] for m in got) == ["apple", "fig"]


@mock_aws
def test_arns_carry_moto_s_account():
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="restock")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert arn == "arn:aws:sqs:us-east-1:123456789012:restock"


def test_state_does_not_outlive_the_block():
    with mock_aws():
        boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="restock")
    with mock_aws():
        assert boto3.client("sqs", region_name="us-east-1").list_queues().get("QueueUrls", []) == []


@mock_aws
class TestWithUnittest(unittest.TestCase):
    def setUp(self):
        self.s3 = boto3.resource("s3", region_name="us-east-1")
        self.s3.create_bucket(Bucket=inventory.REPORTS)

    def test_saved_report_is_listed(self):
        inventory.save_report("2026-12-02", {"kiwi": 1})
        keys = [o.key for o in self.s3.Bucket(inventory.REPORTS).objects.all()]
        self.assertEqual(keys, ["reports/2026-12-02.json"])

    def test_bucket_starts_empty(self):
        self.assertEqual(list(self.s3.Bucket(inventory.REPORTS).objects.all()), [])


@mock_aws
class TestPlainClass:
    def test_missing_report(self):
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=inventory.REPORTS)
        with pytest.raises(boto3.client("s3").exceptions.NoSuchKey):
            inventory.load_report("1999-01-01")

"""SQS queues: lifecycle, names, URLs, attributes, tags and permissions, over json and query."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.integration.sqs_support import expect, name


@pytest.fixture(params=["json", "query"])
def sqs(request, server):
    return server.sqs_client(request.param)


def test_create_returns_a_url_built_from_the_host_the_client_used(sqs, server):
    n = name()
    url = sqs.create_queue(QueueName=n)["QueueUrl"]
    assert url == f"{server.url}/000000000000/{n}"
    assert sqs.get_queue_url(QueueName=n)["QueueUrl"] == url


def test_any_url_whose_last_parts_are_account_and_name_is_accepted(sqs):
    n = name()
    sqs.create_queue(QueueName=n)
    other = f"http://sqs.us-east-1.localhost.example:4566/000000000000/{n}"
    sqs.send_message(QueueUrl=other, MessageBody="via another host")
    assert sqs.get_queue_attributes(QueueUrl=other, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "1"


def test_unknown_queue_is_non_existent_queue(sqs, server):
    with pytest.raises(ClientError) as e:
        sqs.get_queue_url(QueueName="nope")
    expect(e, "QueueDoesNotExist")
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=f"{server.url}/000000000000/nope", MessageBody="x")
    expect(e, "QueueDoesNotExist")


def test_json_clients_raise_the_modeled_exception(server):
    sqs = server.sqs_client("json")
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="nope")


def test_create_is_idempotent_with_the_same_attributes_only(sqs):
    n = name()
    url = sqs.create_queue(QueueName=n, Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    assert sqs.create_queue(QueueName=n, Attributes={"VisibilityTimeout": "60"})["QueueUrl"] == url
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=n, Attributes={"VisibilityTimeout": "61"})
    expect(e, "QueueNameExists")


@pytest.mark.parametrize("bad", ["", "a" * 81, "has space", "dots.not.allowed", "ümlaut"])
def test_invalid_queue_names(sqs, bad):
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=bad)
    assert e.value.response["Error"]["Code"] in ("InvalidParameterValue", "MissingParameter")


def test_fifo_queues_need_the_fifo_suffix_and_the_suffix_needs_fifo(sqs):
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=name(), Attributes={"FifoQueue": "true"})
    expect(e, "InvalidParameterValue")
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=name(fifo=True))
    expect(e, "InvalidParameterValue")


def test_list_queues_prefix_and_pagination(sqs):
    urls = sorted(sqs.create_queue(QueueName=f"page-{i:02d}")["QueueUrl"] for i in range(7))
    sqs.create_queue(QueueName="other-queue")
    assert sorted(sqs.list_queues(QueueNamePrefix="page-")["QueueUrls"]) == urls
    seen, token = [], None
    while True:
        kw = {"QueueNamePrefix": "page-", "MaxResults": 3}
        if token:
            kw["NextToken"] = token
        page = sqs.list_queues(**kw)
        assert len(page["QueueUrls"]) <= 3
        seen += page["QueueUrls"]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == urls
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix="absent-")


def test_accounts_are_isolated(server):
    mine = server.sqs_client("json")
    theirs = server.sqs_client("json", access_key="111111111111")
    n = name()
    url = theirs.create_queue(QueueName=n)["QueueUrl"]
    assert "/111111111111/" in url
    with pytest.raises(ClientError):
        mine.get_queue_url(QueueName=n)
    with pytest.raises(ClientError) as e:          # another account's queue: not there for us, as on AWS
        mine.get_queue_url(QueueName=n, QueueOwnerAWSAccountId="111111111111")
    assert e.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    arn = f"arn:aws:sqs:us-east-1:111111111111:{n}"
    theirs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "000000000000"}, "Action": "sqs:GetQueueUrl", "Resource": arn}]})})
    assert mine.get_queue_url(QueueName=n, QueueOwnerAWSAccountId="111111111111")["QueueUrl"] == url


def test_deleted_queue_is_gone_and_its_name_rests_for_60_seconds(sqs):
    n = name()
    url = sqs.create_queue(QueueName=n)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError) as e:
        sqs.get_queue_url(QueueName=n)
    expect(e, "QueueDoesNotExist")
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=n)
    expect(e, "QueueDeletedRecently")


def test_default_attributes(sqs):
    n = name()
    url = sqs.create_queue(QueueName=n)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["QueueArn"] == f"arn:aws:sqs:us-east-1:000000000000:{n}"
    assert attrs["VisibilityTimeout"] == "30"
    assert attrs["MessageRetentionPeriod"] == "345600"
    assert attrs["DelaySeconds"] == "0"
    assert attrs["ReceiveMessageWaitTimeSeconds"] == "0"
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert attrs["ApproximateNumberOfMessagesDelayed"] == "0"
    assert int(attrs["CreatedTimestamp"]) > 1_600_000_000
    assert int(attrs["MaximumMessageSize"]) >= 262_144
    assert "FifoQueue" not in attrs


def test_set_and_get_attributes(sqs):
    url = sqs.create_queue(QueueName=name())["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "45", "DelaySeconds": "5",
                                                       "MaximumMessageSize": "1048576"})
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "DelaySeconds",
                                                                 "MaximumMessageSize"])["Attributes"]
    assert got == {"VisibilityTimeout": "45", "DelaySeconds": "5", "MaximumMessageSize": "1048576"}


@pytest.mark.parametrize("attr,value", [("VisibilityTimeout", "43201"), ("DelaySeconds", "901"),
                                        ("MaximumMessageSize", "1023"), ("MaximumMessageSize", "1048577"),
                                        ("MessageRetentionPeriod", "59"), ("ReceiveMessageWaitTimeSeconds", "21"),
                                        ("VisibilityTimeout", "abc")])
def test_attribute_ranges_are_enforced_and_nothing_changes(sqs, attr, value):
    url = sqs.create_queue(QueueName=name())["QueueUrl"]
    with pytest.raises(ClientError) as e:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={attr: value})
    expect(e, "InvalidAttributeValue")
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][attr] != value


def test_unknown_attribute_names(sqs):
    url = sqs.create_queue(QueueName=name())["QueueUrl"]
    with pytest.raises(ClientError) as e:
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["NoSuchAttribute"])
    expect(e, "InvalidAttributeName")
    with pytest.raises(ClientError) as e:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"NoSuchAttribute": "1"})
    expect(e, "InvalidAttributeName")


def test_tags(sqs):
    url = sqs.create_queue(QueueName=name(), tags={"team": "data", "env": "dev"})["QueueUrl"]
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "data", "env": "dev"}
    sqs.tag_queue(QueueUrl=url, Tags={"env": "prod", "cost": "42"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "prod", "cost": "42"}


def test_add_and_remove_permission_edit_the_policy(sqs):
    url = sqs.create_queue(QueueName=name())["QueueUrl"]
    sqs.add_permission(QueueUrl=url, Label="let-them-send", AWSAccountIds=["111111111111"],
                       Actions=["SendMessage"])
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    [stmt] = policy["Statement"]
    assert stmt["Sid"] == "let-them-send"
    assert stmt["Effect"] == "Allow"
    assert stmt["Action"] in ("SQS:SendMessage", ["SQS:SendMessage"])
    assert "111111111111" in json.dumps(stmt["Principal"])
    with pytest.raises(ClientError) as e:
        sqs.add_permission(QueueUrl=url, Label="let-them-send", AWSAccountIds=["111111111111"],
                           Actions=["ReceiveMessage"])
    expect(e, "InvalidParameterValue")
    sqs.remove_permission(QueueUrl=url, Label="let-them-send")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})
    assert not attrs.get("Policy") or json.loads(attrs["Policy"])["Statement"] == []


def test_redrive_policy_needs_an_existing_dlq_and_a_sane_count(sqs):
    url = sqs.create_queue(QueueName=name())["QueueUrl"]
    missing = json.dumps({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:nope", "maxReceiveCount": 3})
    with pytest.raises(ClientError) as e:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": missing})
    assert e.value.response["Error"]["Code"] in ("InvalidParameterValue", "InvalidAttributeValue")
    dlq = sqs.create_queue(QueueName=name("dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bad = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 0})
    with pytest.raises(ClientError):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": bad})
    good = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": good})
    got = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
                     ["Attributes"]["RedrivePolicy"])
    assert got == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [url]


def test_redrive_allow_policy_deny_all_refuses_sources(sqs):
    dlq = sqs.create_queue(QueueName=name("dlq"), Attributes={
        "RedriveAllowPolicy": json.dumps({"redrivePermission": "denyAll"})})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with pytest.raises(ClientError):
        sqs.create_queue(QueueName=name(), Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})


def test_fifo_source_needs_fifo_dlq(sqs):
    dlq = sqs.create_queue(QueueName=name("dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with pytest.raises(ClientError):
        sqs.create_queue(QueueName=name(fifo=True), Attributes={
            "FifoQueue": "true", "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})


def test_aws_cli_queue_round_trip(server):
    n = name()
    out = json.loads(server.aws("sqs", "create-queue", "--queue-name", n).stdout)
    url = out["QueueUrl"]
    server.aws("sqs", "send-message", "--queue-url", url, "--message-body", "from the cli")
    got = json.loads(server.aws("sqs", "receive-message", "--queue-url", url).stdout)
    assert got["Messages"][0]["Body"] == "from the cli"
    listed = json.loads(server.aws("sqs", "list-queues").stdout)
    assert url in listed["QueueUrls"]

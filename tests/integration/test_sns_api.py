"""SNS operations through boto3, on SQLite and PostgreSQL: topics, subscriptions, attributes, tags,
permissions, publish validation."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.integration.sns_support import queue


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def test_topics_create_idempotent_attributes_list_delete(server) -> None:
    sns = server.client("sns")
    arn = sns.create_topic(Name="orders", Attributes={"DisplayName": "Orders"},
                           Tags=[{"Key": "team", "Value": "a"}])["TopicArn"]
    assert arn == "arn:aws:sns:us-east-1:000000000000:orders"
    assert sns.create_topic(Name="orders", Attributes={"DisplayName": "Orders"})["TopicArn"] == arn
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name="orders", Attributes={"DisplayName": "Other"})
    assert _error(e)[0] == "InvalidParameter"
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["DisplayName"] == "Orders"
    assert attrs["Owner"] == "000000000000"
    assert attrs["SubscriptionsConfirmed"] == "0"
    policy = json.loads(attrs["Policy"])
    assert policy["Statement"][0]["Condition"] == {"StringEquals": {"AWS:SourceOwner": "000000000000"}}
    assert json.loads(attrs["EffectiveDeliveryPolicy"])["http"]["defaultHealthyRetryPolicy"]["numRetries"] == 3
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="New")
    sns.set_topic_attributes(TopicArn=arn, AttributeName="SignatureVersion", AttributeValue="2")
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["DisplayName"] == "New" and attrs["SignatureVersion"] == "2"
    with pytest.raises(ClientError) as e:
        sns.set_topic_attributes(TopicArn=arn, AttributeName="Bogus", AttributeValue="x")
    assert _error(e) == ("InvalidParameter", "Invalid parameter: AttributeName")
    with pytest.raises(ClientError) as e:
        sns.set_topic_attributes(TopicArn=arn, AttributeName="DeliveryPolicy",
                                 AttributeValue='{"http": {"defaultHealthyRetryPolicy": {"numRetries": 500}}}')
    assert _error(e)[0] == "InvalidParameter"
    for i in range(101):
        sns.create_topic(Name=f"t{i:03d}")
    page = sns.list_topics()
    assert len(page["Topics"]) == 100 and "NextToken" in page
    rest = sns.list_topics(NextToken=page["NextToken"])
    assert len(page["Topics"]) + len(rest["Topics"]) == 102 and "NextToken" not in rest
    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)          # idempotent, as in AWS
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn=arn)
    assert _error(e) == ("NotFound", "Topic does not exist")


def test_topic_names_and_fifo(server) -> None:
    sns = server.client("sns")
    for bad in ("has space", "x" * 257, "a.fifo"):
        with pytest.raises(ClientError) as e:
            sns.create_topic(Name=bad)
        assert _error(e)[0] == "InvalidParameter"
    arn = sns.create_topic(Name="jobs.fifo", Attributes={"FifoTopic": "true",
                                                          "ContentBasedDeduplication": "true"})["TopicArn"]
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["FifoTopic"] == "true" and attrs["ContentBasedDeduplication"] == "true"
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name="plain", Attributes={"ContentBasedDeduplication": "true"})
    assert _error(e)[0] == "InvalidParameter"


def test_tags_and_permissions(server) -> None:
    sns = server.client("sns")
    arn = sns.create_topic(Name="tagged")["TopicArn"]
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    sns.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as e:
        sns.list_tags_for_resource(ResourceArn=arn + "x")
    assert _error(e)[0] == "ResourceNotFound"
    with pytest.raises(ClientError) as e:
        sns.tag_resource(ResourceArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    assert _error(e)[0] == "TagLimitExceeded"
    sns.add_permission(TopicArn=arn, Label="pub", AWSAccountId=["111122223333"], ActionName=["Publish"])
    statements = json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])["Statement"]
    assert statements[-1] == {"Sid": "pub", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                              "Action": "SNS:Publish", "Resource": arn}
    with pytest.raises(ClientError):
        sns.add_permission(TopicArn=arn, Label="pub", AWSAccountId=["111122223333"], ActionName=["Publish"])
    sns.remove_permission(TopicArn=arn, Label="pub")
    statements = json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["__default_statement_ID"]


def test_subscriptions(server) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name="subs")["TopicArn"]
    _url, qarn = queue(server, "subs-q")
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]
    assert sub.startswith(topic + ":")
    assert sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"] == sub
    pending = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="someone@example.com")
    assert pending["SubscriptionArn"] == "pending confirmation"
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert sorted(s["SubscriptionArn"] for s in listed) == sorted([sub, "PendingConfirmation"])
    assert len(sns.list_subscriptions()["Subscriptions"]) == 2
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["Protocol"] == "sqs" and attrs["PendingConfirmation"] == "false"
    assert attrs["RawMessageDelivery"] == "false" and attrs["Endpoint"] == qarn
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RawMessageDelivery", AttributeValue="true")
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy",
                                    AttributeValue='{"color": ["red"]}')
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["RawMessageDelivery"] == "true" and attrs["FilterPolicyScope"] == "MessageAttributes"
    with pytest.raises(ClientError) as e:
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue='{"a": []}')
    assert _error(e) == ("InvalidParameter", "Invalid parameter: FilterPolicy: Empty arrays are not allowed")
    counts = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert counts["SubscriptionsConfirmed"] == "1" and counts["SubscriptionsPending"] == "1"
    sns.unsubscribe(SubscriptionArn=sub)
    with pytest.raises(ClientError) as e:
        sns.get_subscription_attributes(SubscriptionArn=sub)
    assert _error(e) == ("NotFound", "Subscription does not exist")


def test_subscribe_validation(server) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name="v")["TopicArn"]
    fifo = sns.create_topic(Name="v.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    _u, fifo_q = queue(server, "vq.fifo", FifoQueue="true")
    _u, std_q = queue(server, "vq")
    cases = [
        (topic, "carrier-pigeon", "x", "Amazon SNS does not support this protocol string"),
        (topic, "sqs", "not-an-arn", "SQS endpoint ARN"),
        (topic, "http", "https://example.com", "Endpoint must match the specified protocol"),
        (topic, "email", "nobody", "Email address"),
        (topic, "lambda", "arn:aws:sqs:us-east-1:000000000000:x", "Lambda endpoint ARN"),
        (topic, "sqs", fifo_q, "FIFO SQS Queues can not be subscribed to standard SNS topics"),
        (fifo, "http", "http://example.com", "Invalid protocol type: http"),
    ]
    for arn, protocol, endpoint, message in cases:
        with pytest.raises(ClientError) as e:
            sns.subscribe(TopicArn=arn, Protocol=protocol, Endpoint=endpoint)
        code, text = _error(e)
        assert code == "InvalidParameter" and message in text, (protocol, endpoint, text)
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="lambda",
                      Endpoint="arn:aws:lambda:us-east-1:000000000000:function:f",
                      Attributes={"RawMessageDelivery": "true"})
    assert "does not support raw message delivery" in _error(e)[1]
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic + "nope", Protocol="sqs", Endpoint=std_q)
    assert _error(e) == ("NotFound", "Topic does not exist")
    with pytest.raises(ClientError) as e:
        sns.confirm_subscription(TopicArn=topic, Token="bogus")
    assert _error(e) == ("InvalidParameter", "Invalid parameter: Token")


def test_publish_validation(server) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name="p")["TopicArn"]
    fifo = sns.create_topic(Name="p.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]

    def fails(code: str, message: str, **kw) -> None:
        with pytest.raises(ClientError) as e:
            sns.publish(**kw)
        got = _error(e)
        assert got[0] == code and message in got[1], got

    fails("NotFound", "Topic does not exist", TopicArn=topic + "x", Message="m")
    fails("InvalidParameter", "Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 1",
          TopicArn="nope", Message="m")
    fails("InvalidParameter", "Empty message", TopicArn=topic, Message="")
    fails("InvalidParameter", "Message too long", TopicArn=topic, Message="x" * 262_145)
    fails("InvalidParameter", "Message too long", TopicArn=topic, Message="x" * 262_000,
          MessageAttributes={"big": {"DataType": "String", "StringValue": "y" * 200}})
    fails("InvalidParameter", "No default entry", TopicArn=topic, Message='{"sqs": "x"}', MessageStructure="json")
    fails("InvalidParameter", "failed to parse", TopicArn=topic, Message="not json", MessageStructure="json")
    fails("InvalidParameter", "Subject", TopicArn=topic, Message="m", Subject="line\nbreak")
    fails("ParameterValueInvalid", "must contain non-empty message attribute value", TopicArn=topic, Message="m",
          MessageAttributes={"a": {"DataType": "String", "StringValue": ""}})
    fails("ParameterValueInvalid", "invalid message attribute type", TopicArn=topic, Message="m",
          MessageAttributes={"a": {"DataType": "Text", "StringValue": "x"}})
    fails("InvalidParameter", "MessageGroupId parameter is required", TopicArn=fifo, Message="m")
    fails("InvalidParameter", "ContentBasedDeduplication", TopicArn=fifo, Message="m", MessageGroupId="g")
    fails("InvalidParameter", "MessageDeduplicationId", TopicArn=topic, Message="m", MessageDeduplicationId="d")
    assert sns.publish(TopicArn=topic, Message="x" * 262_144)["MessageId"]
    assert sns.publish(TargetArn=topic, Message="via target")["MessageId"]


def test_publish_batch(server) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name="b")["TopicArn"]
    out = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "ok1", "Message": "a"}, {"Id": "bad", "Message": ""}, {"Id": "ok2", "Message": "b"}])
    assert sorted(s["Id"] for s in out["Successful"]) == ["ok1", "ok2"]
    assert out["Failed"] == [{"Id": "bad", "Code": "InvalidParameter", "Message": "Invalid parameter: Empty message",
                              "SenderFault": True}]
    for entries, code in (([], "EmptyBatchRequest"),
                          ([{"Id": str(i), "Message": "m"} for i in range(11)], "TooManyEntriesInBatchRequest"),
                          ([{"Id": "a", "Message": "m"}, {"Id": "a", "Message": "n"}], "BatchEntryIdsNotDistinct"),
                          ([{"Id": "a b", "Message": "m"}], "InvalidBatchEntryId"),
                          ([{"Id": "a", "Message": "x" * 200_000}, {"Id": "b", "Message": "x" * 70_000}],
                           "BatchRequestTooLong")):
        with pytest.raises(ClientError) as e:
            sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
        assert _error(e)[0] == code


def test_sms_and_platform_endpoints_are_honest(server) -> None:
    sns = server.client("sns")
    # direct SMS: no gateway here, the text lands in the local mailbox
    assert sns.publish(PhoneNumber="+15555550100", Message="hi")["MessageId"]
    with pytest.raises(ClientError) as e:
        sns.publish(TargetArn="arn:aws:sns:us-east-1:000000000000:endpoint/GCM/app/"
                              "00000000-0000-0000-0000-000000000000", Message="hi")
    assert _error(e) == ("NotFound", "Endpoint does not exist")
    assert sns.list_platform_applications()["PlatformApplications"] == []

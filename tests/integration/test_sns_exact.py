"""SNS answers as AWS does, word for word, where users' code and tests compare: ARN reasons, the
parameter a filter policy came in, what AWS refuses (duplicate tag keys, actions outside a topic's
scope, an empty custom attribute type, a FIFO batch entry without a group), a topic seen only
from its own region, and what a FIFO topic delivers to queues."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.integration.sns_support import queue, receive


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def test_malformed_arns_say_why(server) -> None:
    sns = server.client("sns")
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn="orders")
    assert error(e) == ("InvalidParameter",
                        "Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 1")
    with pytest.raises(ClientError) as e:
        sns.get_subscription_attributes(SubscriptionArn="arn:aws:sns:us-east-1")
    assert error(e) == ("InvalidParameter",
                        "Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 elements, not 4")


def test_a_filter_policy_error_names_the_parameter_it_came_in(server) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name="filtered")["TopicArn"]
    _, arn = queue(server, "filtered-q")
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"FilterPolicy": '{"a": "b"}'})
    code, message = error(e)
    assert code == "InvalidParameter"
    assert message.startswith("Invalid parameter: Attributes Reason: FilterPolicy: ")
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
    with pytest.raises(ClientError) as e:
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy",
                                        AttributeValue='{"a": "b"}')
    code, set_message = error(e)
    assert code == "InvalidParameter"
    assert set_message.startswith("Invalid parameter: FilterPolicy: ")
    assert message.removeprefix("Invalid parameter: Attributes Reason: ") == \
        set_message.removeprefix("Invalid parameter: ")


def test_what_aws_refuses_is_refused(server) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name="strict")["TopicArn"]
    with pytest.raises(ClientError) as e:
        sns.tag_resource(ResourceArn=topic, Tags=[{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}])
    assert error(e) == ("InvalidParameter", "Invalid parameter: Duplicated keys are not allowed.")
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == []
    with pytest.raises(ClientError) as e:
        sns.add_permission(TopicArn=topic, Label="l", AWSAccountId=["123456789012"], ActionName=["Frobnicate"])
    assert error(e) == ("InvalidParameter", "Invalid parameter: Policy statement action out of service scope!")
    assert "Frobnicate" not in sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"]
    sns.add_permission(TopicArn=topic, Label="ok", AWSAccountId=["123456789012"], ActionName=["Publish"])
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="m", MessageAttributes={"a": {"DataType": "String.", "StringValue": "v"}})
    # (SNS's InvalidParameterValueException travels as code ParameterValueInvalid, per its model)
    assert error(e) == ("ParameterValueInvalid", "The message attribute 'a' has an invalid message attribute type, "
                                                 "the set of supported type prefixes is Binary, Number, and String.")
    sns.publish(TopicArn=topic, Message="m", MessageAttributes={"a": {"DataType": "String.x", "StringValue": "v"}})


def test_a_fifo_batch_entry_without_a_group_fails_the_whole_request(server) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name="orders.fifo", Attributes={"FifoTopic": "true",
                                                            "ContentBasedDeduplication": "true"})["TopicArn"]
    with pytest.raises(ClientError) as e:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": "1", "Message": "a", "MessageGroupId": "g"}, {"Id": "2", "Message": "b"}])
    assert error(e) == ("InvalidParameter", "Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
    ok = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "1", "Message": "a", "MessageGroupId": "g"}, {"Id": "2", "Message": "b", "MessageGroupId": "g"}])
    assert [s["Id"] for s in ok["Successful"]] == ["1", "2"] and ok["Failed"] == []


def test_a_topic_is_found_only_from_its_own_region(server) -> None:
    here, there = server.client("sns"), server.client("sns", region="eu-west-1")
    topic = here.create_topic(Name="regional")["TopicArn"]
    sub = here.subscribe(TopicArn=topic, Protocol="email", Endpoint="a@example.com")["SubscriptionArn"]
    for call in (lambda: there.get_topic_attributes(TopicArn=topic),
                 lambda: there.publish(TopicArn=topic, Message="m"),
                 lambda: there.subscribe(TopicArn=topic, Protocol="email", Endpoint="b@example.com"),
                 lambda: there.delete_topic(TopicArn=topic)):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e) == ("NotFound", "Topic does not exist")
    if sub != "pending confirmation":
        with pytest.raises(ClientError) as e:
            there.get_subscription_attributes(SubscriptionArn=sub)
        assert error(e) == ("NotFound", "Subscription does not exist")
    assert here.get_topic_attributes(TopicArn=topic)["Attributes"]["TopicArn"] == topic


def test_a_fifo_topic_delivers_to_fifo_and_standard_queues_without_signatures(server) -> None:
    """AWS lets a standard queue subscribe to a FIFO topic (its own SDK example does), and a FIFO
    topic's notifications carry no SignatureVersion, Signature or SigningCertURL; a FIFO queue gets
    the message's group and deduplication id, and MessageStructure=json falls back to ``default``."""
    sns = server.client("sns")
    topic = sns.create_topic(Name="prices.fifo", Attributes={"FifoTopic": "true",
                                                            "ContentBasedDeduplication": "true"})["TopicArn"]
    fifo_url, fifo_arn = queue(server, "wholesale.fifo", FifoQueue="true")
    std_url, std_arn = queue(server, "analytics")
    for arn in (fifo_arn, std_arn):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sns.publish(TopicArn=topic, Message=json.dumps({"default": "price 10", "email": "not for queues"}),
                MessageStructure="json", MessageGroupId="apples", MessageDeduplicationId="d-1")
    [got_fifo] = receive(server, fifo_url, 1, AttributeNames=["All"])
    [got_std] = receive(server, std_url, 1)
    assert got_fifo["Attributes"]["MessageGroupId"] == "apples"
    assert got_fifo["Attributes"]["MessageDeduplicationId"] == "d-1"
    for got in (got_fifo, got_std):
        doc = json.loads(got["Body"])
        assert doc["Message"] == "price 10" and doc["TopicArn"] == topic
        assert doc["SequenceNumber"].isdigit() and len(doc["SequenceNumber"]) == 20
        assert not {"SignatureVersion", "Signature", "SigningCertURL"} & set(doc), doc
        assert list(doc) == ["Type", "MessageId", "SequenceNumber", "TopicArn", "Message", "Timestamp",
                             "UnsubscribeURL"]

"""SQS answering exactly as AWS does (issue 22): error types and messages in each protocol, FIFO
receive packing, retention, message attribute names, tag limits, regions, the raw query API on a
queue URL and message move tasks whose destination goes away.

The JSON-protocol expectations (``__type`` suffix, seen by botocore as ``QueryErrorCode``) and the
query-protocol messages are those of responses recorded from AWS."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

from tests.integration.sqs_support import name


@pytest.fixture(params=["json", "query"])
def sqs(request, server):
    client = server.sqs_client(request.param)
    client.protocol = request.param
    return client


def fifo(sqs, **attrs):
    return sqs.create_queue(QueueName=name(fifo=True),
                            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true", **attrs})["QueueUrl"]


def receive(sqs, url, **kw):
    return sqs.receive_message(QueueUrl=url, **kw).get("Messages", [])


def error(excinfo: pytest.ExceptionInfo) -> dict:
    return excinfo.value.response["Error"]


# -- 1. error types and messages ---------------------------------------------------------------

def test_a_missing_queue_in_each_protocol(sqs, server):
    with pytest.raises(ClientError) as e:
        sqs.get_queue_url(QueueName="absent-queue")
    err = error(e)
    assert err["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert err["Type"] == "Sender"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    if sqs.protocol == "json":
        assert err["QueryErrorCode"] == "QueueDoesNotExist"
        assert err["Message"] == "The specified queue does not exist."
    else:
        assert "QueryErrorCode" not in err
        assert err["Message"] == "The specified queue does not exist for this wsdl version."


def test_invalid_parameter_value_is_an_exception_type_in_json(sqs):
    url = sqs.create_queue(QueueName=name())["QueueUrl"]
    with pytest.raises(ClientError) as e:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    err = error(e)
    assert err["Code"] == "InvalidParameterValue"
    assert err["Message"] == "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and " \
                             "10, if provided."
    if sqs.protocol == "json":
        assert err["QueryErrorCode"] == "InvalidParameterValueException"


def test_missing_parameter_is_missing_required_parameter_exception_in_json(sqs):
    url = fifo(sqs)
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x")
    err = error(e)
    assert err["Code"] == "MissingParameter"
    assert err["Message"] == "The request must contain the parameter MessageGroupId."
    if sqs.protocol == "json":
        assert err["QueryErrorCode"] == "MissingRequiredParameterException"


def test_modeled_errors_keep_their_shape_name_in_json(sqs):
    n = name()
    sqs.create_queue(QueueName=n, Attributes={"DelaySeconds": "1"})
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=n, Attributes={"DelaySeconds": "2"})
    err = error(e)
    assert err["Code"] == "QueueAlreadyExists"
    assert err["Message"] == "A queue already exists with the same name and a different value for attribute " \
                             "DelaySeconds"
    if sqs.protocol == "json":
        assert err["QueryErrorCode"] == "QueueNameExists"

def test_recorded_refusals_word_for_word(sqs):
    """Refusals as responses recorded from AWS word them, in both protocols."""
    std = sqs.create_queue(QueueName=name())["QueueUrl"]
    q = std.rsplit("/", 1)[1]
    fq = fifo(sqs)
    cases = [
        (lambda: sqs.set_queue_attributes(QueueUrl=std, Attributes={"FifoQueue": "true"}),
         "InvalidAttributeName", "Unknown Attribute FifoQueue."),
        (lambda: sqs.set_queue_attributes(QueueUrl=fq, Attributes={"FifoQueue": "false"}),
         "InvalidAttributeValue", "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not "
                                  "supported."),
        (lambda: sqs.send_message(QueueUrl=std, MessageBody="x", MessageAttributes={
            "ErrorDetails": {"DataType": "String", "StringValue": ""}}),
         "InvalidParameterValue", "Message (user) attribute 'ErrorDetails' must contain a non-empty value of type "
                                  "'String'."),
        (lambda: sqs.send_message(QueueUrl=fq, MessageBody="x", MessageGroupId="g", DelaySeconds=2),
         "InvalidParameterValue", "Value 2 for parameter DelaySeconds is invalid. Reason: The request include "
                                  "parameter that is not valid for this queue type."),
        (lambda: sqs.delete_message_batch(QueueUrl=std, Entries=[{"Id": "invalid:id", "ReceiptHandle": "x"}]),
         "AWS.SimpleQueueService.InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, "
                                                       "hyphens and underscores. It can be at most 80 letters long."),
        (lambda: sqs.delete_message_batch(QueueUrl=std, Entries=[{"Id": str(i), "ReceiptHandle": "x"}
                                                                 for i in range(20)]),
         "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "Maximum number of entries per request are 10. You "
                                                                "have sent 20."),
        (lambda: sqs.set_queue_attributes(QueueUrl=std, Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": "dummy", "maxReceiveCount": 42})}),
         "InvalidParameterValue", 'Value {"deadLetterTargetArn": "dummy", "maxReceiveCount": 42} for parameter '
                                  "RedrivePolicy is invalid. Reason: Invalid value for deadLetterTargetArn."),
        (lambda: sqs.remove_permission(QueueUrl=std, Label="nolabel"),
         "InvalidParameterValue", "Value nolabel for parameter Label is invalid. Reason: can't find label."),
        (lambda: sqs.set_queue_attributes(QueueUrl=std, Attributes={"KmsMasterKeyId": "testKeyId",
                                                                     "SqsManagedSseEnabled": "true"}),
         "InvalidAttributeName", "You can use one type of server-side encryption (SSE) at one time. You can either "
                                 "enable KMS SSE or SQS SSE."),
        (lambda: (sqs.purge_queue(QueueUrl=std), sqs.purge_queue(QueueUrl=std)),
         "AWS.SimpleQueueService.PurgeQueueInProgress", f"Only one PurgeQueue operation on {q} is allowed every 60 "
                                                        "seconds."),
    ]
    for call, code, message in cases:
        with pytest.raises(ClientError) as e:
            call()
        assert (error(e)["Code"], error(e)["Message"]) == (code, message)


# -- 2. FIFO receive packing -------------------------------------------------------------------

def test_a_receive_returns_one_groups_messages_together(sqs):
    url = fifo(sqs)
    for body, group in [("g1-a", "g1"), ("g2-a", "g2"), ("g1-b", "g1"), ("g2-b", "g2")]:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    got = receive(sqs, url, MaxNumberOfMessages=2)
    assert [m["Body"] for m in got] == ["g1-a", "g1-b"]
    got = receive(sqs, url, MaxNumberOfMessages=2)
    assert [m["Body"] for m in got] == ["g2-a", "g2-b"]


def test_a_receive_of_ten_over_interleaved_groups_takes_whole_groups_first(sqs):
    url = fifo(sqs)
    for r in range(2):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": f"g{g}", "MessageBody": f"g{g}-{r}", "MessageGroupId": f"g{g}"} for g in range(10)])
    got = receive(sqs, url, MaxNumberOfMessages=10)
    assert [m["Body"] for m in got] == ["g0-0", "g0-1", "g1-0", "g1-1", "g2-0", "g2-1", "g3-0", "g3-1",
                                        "g4-0", "g4-1"]
    # the five groups not taken are still free for another consumer
    got = receive(sqs, url, MaxNumberOfMessages=10)
    assert [m["Body"] for m in got] == ["g5-0", "g5-1", "g6-0", "g6-1", "g7-0", "g7-1", "g8-0", "g8-1",
                                        "g9-0", "g9-1"]


def test_a_message_visible_again_while_later_ones_are_in_flight_comes_back_first(sqs):
    url = fifo(sqs)
    for i in range(4):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g")
    batch = receive(sqs, url, MaxNumberOfMessages=3)
    assert [m["Body"] for m in batch] == ["m0", "m1", "m2"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=batch[0]["ReceiptHandle"], VisibilityTimeout=0)
    again = receive(sqs, url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"])
    assert [m["Body"] for m in again] == ["m0"]        # not m3: m1 and m2 are still in flight
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert receive(sqs, url, MaxNumberOfMessages=10) == []


def test_changing_visibility_after_it_ran_out_is_accepted_and_leaves_the_message_visible(sqs):
    url = sqs.create_queue(QueueName=name())["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="late")
    first = receive(sqs, url, VisibilityTimeout=1)
    time.sleep(1.5)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"], VisibilityTimeout=300)
    batch = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "a", "ReceiptHandle": first[0]["ReceiptHandle"], "VisibilityTimeout": 300}])
    assert [e["Id"] for e in batch["Successful"]] == ["a"] and not batch.get("Failed")
    again = receive(sqs, url, AttributeNames=["ApproximateReceiveCount"])
    assert [m["Body"] for m in again] == ["late"]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"


# -- 4. message attribute names, MessageAttributeNames, tag limits -------------------------------

def test_attribute_names_with_accented_letters_are_accepted(sqs):
    url = sqs.create_queue(QueueName=name())["QueueUrl"]
    attrs = {"Größe": {"DataType": "String", "StringValue": "groß"},
             "café-crème_1.x": {"DataType": "Number", "StringValue": "1"}}
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=attrs)
    [m] = receive(sqs, url, MessageAttributeNames=["All"])
    assert m["MessageAttributes"] == attrs


@pytest.mark.parametrize("bad", ["has space", "AWS.reserved", "amazon.x", ".dot", "dot.", "two..dots", "a/b"])
def test_attribute_names_aws_refuses(sqs, bad):
    url = sqs.create_queue(QueueName=name())["QueueUrl"]
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={bad: {"DataType": "String",
                                                                                 "StringValue": "v"}})
    assert error(e)["Code"] == "InvalidParameterValue"


def test_message_attribute_names_filters(sqs):
    url = sqs.create_queue(QueueName=name())["QueueUrl"]
    attrs = {"Hello": {"DataType": "String", "StringValue": "There"},
             "Help.Me": {"DataType": "String", "StringValue": "Me"},
             "General": {"DataType": "String", "StringValue": "Kenobi"}}
    sqs.send_message(QueueUrl=url, MessageBody="msg", MessageAttributes=attrs)

    def names(wanted):
        [m] = receive(sqs, url, MessageAttributeNames=wanted, VisibilityTimeout=0)
        return m

    for everything in (["All"], ["*"], [".*"]):
        assert names(everything)["MessageAttributes"] == attrs
    assert set(names(["Hel.*"])["MessageAttributes"]) == {"Hello", "Help.Me"}
    assert set(names(["Foo", "Hello"])["MessageAttributes"]) == {"Hello"}
    none = names(["Foo", "Help"])
    assert "MD5OfMessageAttributes" not in none
    if sqs.protocol == "json":
        assert none["MessageAttributes"] == {}      # AWS's JSON answer keeps the empty map
    else:
        assert "MessageAttributes" not in none
    assert "MessageAttributes" not in names([])


def test_tag_queue_limits(sqs):
    n = name()
    url = sqs.create_queue(QueueName=n, tags={"k0": "v"})["QueueUrl"]
    with pytest.raises(ClientError) as e:
        sqs.tag_queue(QueueUrl=url, Tags={})
    assert (error(e)["Code"], error(e)["Message"]) == ("MissingParameter",
                                                       "The request must contain the parameter Tags.")
    with pytest.raises(ClientError) as e:
        sqs.tag_queue(QueueUrl=url, Tags={f"t{i}": "v" for i in range(51)})
    assert (error(e)["Code"], error(e)["Message"]) == ("InvalidParameterValue", f"Too many tags added for queue {n}.")
    sqs.tag_queue(QueueUrl=url, Tags={f"t{i}": "v" for i in range(49)})
    with pytest.raises(ClientError) as e:
        sqs.tag_queue(QueueUrl=url, Tags={"one-more": "v", "and-another": "v"})
    assert error(e)["Message"] == f"Too many tags added for queue {n}."
    assert len(sqs.list_queue_tags(QueueUrl=url)["Tags"]) == 50


# -- 5. the same name in two regions -----------------------------------------------------------

ANY_SIGNATURE = {"Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, "
                                  "SignedHeaders=host;x-amz-date, Signature=00", "X-Amz-Date": "20260101T000000Z"}


def raw(url: str, body: str | None = None, method: str = "POST", headers: dict[str, str] | None = None):
    data = body.encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/x-www-form-urlencoded", **ANY_SIGNATURE, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_one_name_in_two_regions_is_two_queues_with_two_urls(server, protocol):
    us = server.sqs_client(protocol, region="us-east-1")
    eu = server.sqs_client(protocol, region="eu-west-1")
    n = name()
    us_url = us.create_queue(QueueName=n)["QueueUrl"]
    eu_url = eu.create_queue(QueueName=n)["QueueUrl"]
    assert us_url == f"{server.url}/000000000000/{n}"         # the default region keeps {host}/{account}/{name}
    assert eu_url == f"{server.url}/eu-west-1/000000000000/{n}"
    assert eu.get_queue_url(QueueName=n)["QueueUrl"] == eu_url
    assert eu.list_queues(QueueNamePrefix=n)["QueueUrls"] == [eu_url]
    assert eu.get_queue_attributes(QueueUrl=eu_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"] == \
        f"arn:aws:sqs:eu-west-1:000000000000:{n}"
    us.send_message(QueueUrl=us_url, MessageBody="to us-east-1")
    eu.send_message(QueueUrl=eu_url, MessageBody="to eu-west-1")
    # the region in the URL routes back: the raw query API posted to each URL reaches its own queue
    status, _, body = raw(eu_url, "Action=ReceiveMessage")
    assert status == 200, body
    assert [b.text for b in ET.fromstring(body).iterfind(".//{*}Body")] == ["to eu-west-1"]
    [m] = receive(us, us_url)
    assert m["Body"] == "to us-east-1"



# -- 6. the raw query API on a queue URL -------------------------------------------------------

def test_a_queue_url_fetched_with_no_action_is_an_unknown_operation(server):
    url = server.sqs_client("json").create_queue(QueueName=name())["QueueUrl"]
    for headers in ({}, {"Accept": "application/json"}):
        status, _, body = raw(url, method="GET", headers=headers)
        assert (status, body) == (404, b"<UnknownOperationException/>")


@pytest.mark.parametrize("action", ["CreateQueue&QueueName=another", "ListQueues"])
def test_create_queue_and_list_queues_are_refused_on_a_queue_url(server, action):
    url = server.sqs_client("json").create_queue(QueueName=name())["QueueUrl"]
    op = action.split("&")[0]
    for status, _, body in (raw(f"{url}?Action={action}", method="GET"), raw(url, f"Action={action}")):
        assert status == 400
        err = ET.fromstring(body).find("{*}Error")
        assert err is not None
        assert err.findtext("{*}Code") == "InvalidAction"
        assert err.findtext("{*}Message") == f"The action {op} is not valid for this endpoint."
    assert server.sqs_client("json").list_queues(QueueNamePrefix="another").get("QueueUrls") is None


def test_empty_results_are_written_as_aws_writes_them(server, sqs):
    url = sqs.create_queue(QueueName=name())["QueueUrl"]
    status, _, body = raw(f"{url}?Action=ReceiveMessage", method="GET")
    assert status == 200
    assert b"<ReceiveMessageResult/>" in body
    status, _, body = raw(f"{server.url}/?Action=ListQueues&QueueNamePrefix=nothing-by-this-name", method="GET")
    assert b"<ListQueuesResult/>" in body
    # and both SDK protocols read them as no messages
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []     # [] in JSON, nothing in query
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix="nothing-by-this-name")


# -- 7. message move tasks -----------------------------------------------------------------------

def dlq_with_messages(sqs, count):
    dlq = sqs.create_queue(QueueName=name("dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": 1}}'
    sqs.create_queue(QueueName=name("src"), Attributes={"RedrivePolicy": policy})
    sqs.send_message_batch(QueueUrl=dlq, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(count)])
    return dlq, dlq_arn


def wait_for_task(sqs, source_arn, done, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        [task] = sqs.list_message_move_tasks(SourceArn=source_arn)["Results"]
        if done(task) or time.monotonic() > deadline:
            return task
        time.sleep(0.2)


def test_deleting_the_destination_of_a_running_move_task_fails_it_as_aws_does(sqs, server):
    dlq, dlq_arn = dlq_with_messages(sqs, 10)
    dest = sqs.create_queue(QueueName=name("dest"))["QueueUrl"]
    dest_arn = sqs.get_queue_attributes(QueueUrl=dest, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    log_before = len(server.log())
    sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=dest_arn, MaxNumberOfMessagesPerSecond=1)
    wait_for_task(sqs, dlq_arn, lambda t: t["ApproximateNumberOfMessagesMoved"] >= 1)
    sqs.delete_queue(QueueUrl=dest)
    task = wait_for_task(sqs, dlq_arn, lambda t: t["Status"] != "RUNNING")
    assert task["Status"] == "FAILED"
    assert task["FailureReason"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert 1 <= task["ApproximateNumberOfMessagesMoved"] < 10
    assert "TaskHandle" not in task
    logged = server.log()[log_before:]
    assert "Traceback" not in logged and "IntegrityError" not in logged and "ForeignKey" not in logged


def test_move_task_refusals_as_aws_words_them(sqs):
    _, dlq_arn = dlq_with_messages(sqs, 10)
    dest = sqs.create_queue(QueueName=name("dest"))["QueueUrl"]
    dest_arn = sqs.get_queue_attributes(QueueUrl=dest, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=dest_arn, MaxNumberOfMessagesPerSecond=1)
    with pytest.raises(ClientError) as e:
        sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=dest_arn)
    assert (error(e)["Code"], error(e)["Message"]) == (
        "InvalidParameterValue",
        "There is already a task running. Only one active task is allowed for a source queue arn at a given time.")
    with pytest.raises(ClientError) as e:
        sqs.cancel_message_move_task(TaskHandle="not-a-handle")
    assert (error(e)["Code"], error(e)["Message"]) == ("InvalidParameterValue",
                                                       "Value for parameter TaskHandle is invalid.")


def test_the_query_api_answers_json_to_a_client_that_accepts_it(server):
    sqs = server.sqs_client("json")
    url = sqs.create_queue(QueueName=name())["QueueUrl"]
    accept = {"Accept": "application/json"}
    status, headers, body = raw(f"{url}?Action=GetQueueAttributes&AttributeName.1=QueueArn", method="GET",
                                headers=accept)
    assert status == 200 and headers["Content-Type"] == "application/json"
    doc = json.loads(body)
    result = doc["GetQueueAttributesResponse"]["GetQueueAttributesResult"]
    assert result["Attributes"] == [{"Name": "QueueArn", "Value": f"arn:aws:sqs:us-east-1:000000000000:{url.rsplit('/', 1)[1]}"}]
    assert doc["GetQueueAttributesResponse"]["ResponseMetadata"]["RequestId"]
    status, _, body = raw(url, "Action=SendMessage&MessageBody=hello", headers=accept)
    assert status == 200 and json.loads(body)["SendMessageResponse"]["SendMessageResult"]["MessageId"]
    status, headers, body = raw(f"{url}?Action=ListQueues", method="GET", headers=accept)
    assert status == 400 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["Error"] == {"Type": "Sender", "Code": "InvalidAction",
                                         "Message": "The action ListQueues is not valid for this endpoint."}


def test_empty_answers_in_json_keep_their_empty_members(server):
    """Recorded from AWS's JSON protocol: an empty receive, a queue without tags and attributes asked
    for that are not set come back as empty members, not as nothing."""
    sqs = server.sqs_client("json")
    url = sqs.create_queue(QueueName=name())["QueueUrl"]
    assert sqs.receive_message(QueueUrl=url)["Messages"] == []
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {}
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"] == {}

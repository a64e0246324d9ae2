"""SQS over the query protocol: table tests from AWS's documented request and response forms."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from defusedxml import ElementTree as ET

from tsunagi.protocol import specs
from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.http import HttpRequest
from tsunagi.protocol.parse import create_parser
from tsunagi.protocol.serialize import create_serializer

NS = "{http://queue.amazonaws.com/doc/2012-11-05/}"
QURL = "http://localhost:4566/000000000000/q1"
MODEL = specs.service_model("sqs")


def form(body: str, path: str = "/", method: str = "POST", query: str = "") -> HttpRequest:
    return HttpRequest(method, path, query, {"host": "localhost:4566",
                                             "content-type": "application/x-www-form-urlencoded"},
                       body.encode())


def parse(req):
    op, params = create_parser(MODEL, "query").parse(req)
    return op.name, params


CASES = [
    # what API Gateway's AWS integration posts to the queue URL
    (form("Action=SendMessage&MessageBody=hello%20world", path="/000000000000/q1"),
     "SendMessage", {"QueueUrl": QURL, "MessageBody": "hello world"}),
    (form(f"Action=SendMessage&QueueUrl={quote(QURL, safe='')}&MessageBody=a%0D%0Ab&DelaySeconds=5"
          "&MessageAttribute.1.Name=city&MessageAttribute.1.Value.StringValue=Any%20City"
          "&MessageAttribute.1.Value.DataType=String"
          "&MessageAttribute.2.Name=bin&MessageAttribute.2.Value.BinaryValue=AAEC"
          "&MessageAttribute.2.Value.DataType=Binary"
          "&MessageSystemAttribute.1.Name=AWSTraceHeader"
          "&MessageSystemAttribute.1.Value.StringValue=Root%3D1&MessageSystemAttribute.1.Value.DataType=String"),
     "SendMessage", {"QueueUrl": QURL, "MessageBody": "a\r\nb", "DelaySeconds": 5,
                     "MessageAttributes": {"city": {"StringValue": "Any City", "DataType": "String"},
                                           "bin": {"BinaryValue": b"\x00\x01\x02", "DataType": "Binary"}},
                     "MessageSystemAttributes": {"AWSTraceHeader": {"StringValue": "Root=1",
                                                                    "DataType": "String"}}}),
    (form("Action=CreateQueue&QueueName=MyQueue&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=40"
          "&Attribute.2.Name=FifoQueue&Attribute.2.Value=true&Tag.1.Key=team&Tag.1.Value=blue&Version=2012-11-05"),
     "CreateQueue", {"QueueName": "MyQueue", "Attributes": {"VisibilityTimeout": "40", "FifoQueue": "true"},
                     "tags": {"team": "blue"}}),
    (form("", method="GET", path="/000000000000/q1",
          query="Action=ReceiveMessage&MaxNumberOfMessages=5&VisibilityTimeout=15&AttributeName=All"
                "&AttributeName.1=SentTimestamp&MessageAttributeName.1=city&MessageSystemAttributeName.1=All"
                "&WaitTimeSeconds=20"),
     "ReceiveMessage", {"QueueUrl": QURL, "MaxNumberOfMessages": 5, "VisibilityTimeout": 15,
                        "AttributeNames": ["SentTimestamp"], "MessageAttributeNames": ["city"],
                        "MessageSystemAttributeNames": ["All"], "WaitTimeSeconds": 20}),
    (form(f"Action=SendMessageBatch&QueueUrl={quote(QURL, safe='')}"
          "&SendMessageBatchRequestEntry.1.Id=m1&SendMessageBatchRequestEntry.1.MessageBody=one"
          "&SendMessageBatchRequestEntry.2.Id=m2&SendMessageBatchRequestEntry.2.MessageBody=two"
          "&SendMessageBatchRequestEntry.2.DelaySeconds=10"
          "&SendMessageBatchRequestEntry.2.MessageAttribute.1.Name=k"
          "&SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.StringValue=v"
          "&SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.DataType=String"),
     "SendMessageBatch", {"QueueUrl": QURL, "Entries": [
         {"Id": "m1", "MessageBody": "one"},
         {"Id": "m2", "MessageBody": "two", "DelaySeconds": 10,
          "MessageAttributes": {"k": {"StringValue": "v", "DataType": "String"}}}]}),
    (form(f"Action=DeleteMessageBatch&QueueUrl={quote(QURL, safe='')}"
          "&DeleteMessageBatchRequestEntry.1.Id=a&DeleteMessageBatchRequestEntry.1.ReceiptHandle=rh1"
          "&DeleteMessageBatchRequestEntry.10.Id=b&DeleteMessageBatchRequestEntry.10.ReceiptHandle=rh2"
          "&DeleteMessageBatchRequestEntry.2.Id=c&DeleteMessageBatchRequestEntry.2.ReceiptHandle=rh3"),
     "DeleteMessageBatch", {"QueueUrl": QURL, "Entries": [
         {"Id": "a", "ReceiptHandle": "rh1"}, {"Id": "c", "ReceiptHandle": "rh3"},
         {"Id": "b", "ReceiptHandle": "rh2"}]}),
    (form(f"Action=ChangeMessageVisibilityBatch&QueueUrl={quote(QURL, safe='')}"
          "&ChangeMessageVisibilityBatchRequestEntry.1.Id=a"
          "&ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle=rh"
          "&ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout=45"),
     "ChangeMessageVisibilityBatch", {"QueueUrl": QURL, "Entries": [
         {"Id": "a", "ReceiptHandle": "rh", "VisibilityTimeout": 45}]}),
    (form(f"Action=GetQueueAttributes&QueueUrl={quote(QURL, safe='')}&AttributeName.1=All"),
     "GetQueueAttributes", {"QueueUrl": QURL, "AttributeNames": ["All"]}),
    (form(f"Action=SetQueueAttributes&QueueUrl={quote(QURL, safe='')}"
          "&Attribute.Name=VisibilityTimeout&Attribute.1.Name=DelaySeconds&Attribute.1.Value=3"),
     "SetQueueAttributes", {"QueueUrl": QURL, "Attributes": {"DelaySeconds": "3"}}),
    (form(f"Action=AddPermission&QueueUrl={quote(QURL, safe='')}&Label=l1"
          "&AWSAccountId.1=111122223333&AWSAccountId.2=444455556666&ActionName.1=SendMessage"
          "&ActionName.2=ReceiveMessage"),
     "AddPermission", {"QueueUrl": QURL, "Label": "l1", "AWSAccountIds": ["111122223333", "444455556666"],
                       "Actions": ["SendMessage", "ReceiveMessage"]}),
    (form(f"Action=TagQueue&QueueUrl={quote(QURL, safe='')}&Tag.1.Key=a&Tag.1.Value=1&Tag.2.Key=b&Tag.2.Value="),
     "TagQueue", {"QueueUrl": QURL, "Tags": {"a": "1", "b": ""}}),
    (form(f"Action=UntagQueue&QueueUrl={quote(QURL, safe='')}&TagKey.1=a&TagKey.2=b"),
     "UntagQueue", {"QueueUrl": QURL, "TagKeys": ["a", "b"]}),
    (form("Action=ListQueues&QueueNamePrefix=q&MaxResults=10"),
     "ListQueues", {"QueueNamePrefix": "q", "MaxResults": 10}),
    (form("Action=GetQueueUrl&QueueName=q1&QueueOwnerAWSAccountId=000000000000"),
     "GetQueueUrl", {"QueueName": "q1", "QueueOwnerAWSAccountId": "000000000000"}),
]


@pytest.mark.parametrize("request_,operation,params", CASES, ids=[c[1] + str(i) for i, c in enumerate(CASES)])
def test_query_requests(request_, operation, params):
    assert parse(request_) == (operation, params)


def test_query_missing_parameter_and_bad_action():
    with pytest.raises(ServiceError) as exc:
        parse(form("Action=GetQueueUrl"))
    assert exc.value.code == "MissingParameter"
    assert exc.value.message == "The request must contain the parameter QueueName."
    with pytest.raises(ServiceError) as exc:
        parse(form("Action=Frobnicate"))
    assert exc.value.code == "InvalidAction"
    with pytest.raises(ServiceError) as exc:
        parse(form("QueueName=x"))
    assert exc.value.code == "MissingAction"
    with pytest.raises(ServiceError) as exc:
        parse(form("Action=ReceiveMessage&QueueUrl=x&MaxNumberOfMessages=ten"))
    assert exc.value.code == "InvalidParameterValue"


def serialize(op, result):
    resp = create_serializer(MODEL, "query").serialize_result(MODEL.operation_model(op), result, "rid-7")
    assert resp.status == 200
    root = ET.fromstring(resp.body)
    assert root.tag == f"{NS}{op}Response"
    assert root.find(f"{NS}ResponseMetadata/{NS}RequestId").text == "rid-7"
    return root


def test_receive_message_response_shape():
    root = serialize("ReceiveMessage", {"Messages": [
        {"MessageId": "id1", "ReceiptHandle": "rh1", "MD5OfBody": "md5", "Body": "a<b>&\r\n",
         "Attributes": {"SenderId": "AID", "SentTimestamp": "1700000000000"},
         "MessageAttributes": {"city": {"StringValue": "Any City", "DataType": "String"},
                               "raw": {"BinaryValue": b"\x00\xff", "DataType": "Binary"}}},
        {"MessageId": "id2", "ReceiptHandle": "rh2", "MD5OfBody": "md5", "Body": "two"},
    ]})
    result = root.find(f"{NS}ReceiveMessageResult")
    messages = result.findall(f"{NS}Message")
    assert [m.find(f"{NS}MessageId").text for m in messages] == ["id1", "id2"]
    assert messages[0].find(f"{NS}Body").text == "a<b>&\r\n"  # \r survives as &#xD;
    attrs = {a.find(f"{NS}Name").text: a.find(f"{NS}Value").text for a in messages[0].findall(f"{NS}Attribute")}
    assert attrs == {"SenderId": "AID", "SentTimestamp": "1700000000000"}
    mattrs = messages[0].findall(f"{NS}MessageAttribute")
    assert mattrs[0].find(f"{NS}Name").text == "city"
    assert mattrs[0].find(f"{NS}Value/{NS}StringValue").text == "Any City"
    assert mattrs[0].find(f"{NS}Value/{NS}DataType").text == "String"
    assert mattrs[1].find(f"{NS}Value/{NS}BinaryValue").text == "AP8="


def test_list_and_batch_response_shapes():
    root = serialize("ListQueues", {"QueueUrls": [QURL, QURL + "2"]})
    assert [e.text for e in root.findall(f"{NS}ListQueuesResult/{NS}QueueUrl")] == [QURL, QURL + "2"]
    root = serialize("SendMessageBatch", {
        "Successful": [{"Id": "m1", "MessageId": "x", "MD5OfMessageBody": "md5"}],
        "Failed": [{"Id": "m2", "SenderFault": True, "Code": "InvalidParameterValue", "Message": "bad"}]})
    ok = root.findall(f"{NS}SendMessageBatchResult/{NS}SendMessageBatchResultEntry")
    bad = root.findall(f"{NS}SendMessageBatchResult/{NS}BatchResultErrorEntry")
    assert ok[0].find(f"{NS}Id").text == "m1"
    assert bad[0].find(f"{NS}SenderFault").text == "true"
    root = serialize("ListQueueTags", {"Tags": {"team": "blue"}})
    tag = root.find(f"{NS}ListQueueTagsResult/{NS}Tag")
    assert (tag.find(f"{NS}Key").text, tag.find(f"{NS}Value").text) == ("team", "blue")
    root = serialize("GetQueueAttributes", {"Attributes": {"VisibilityTimeout": "30"}})
    attr = root.find(f"{NS}GetQueueAttributesResult/{NS}Attribute")
    assert (attr.find(f"{NS}Name").text, attr.find(f"{NS}Value").text) == ("VisibilityTimeout", "30")
    root = serialize("CreateQueue", {"QueueUrl": QURL})
    assert root.find(f"{NS}CreateQueueResult/{NS}QueueUrl").text == QURL
    root = serialize("DeleteQueue", {})
    assert root.find(f"{NS}DeleteQueueResult") is None


def test_query_response_parses_with_botocore_query_parser():
    """The patched query model + botocore's own query parser read our XML back."""
    from botocore.awsrequest import HeadersDict
    from botocore.parsers import create_parser as botocore_parser

    from tests.unit.protocol.gen import output_result
    from tsunagi.protocol.sqs_query import query_model

    qmodel = query_model()
    for name in qmodel.operation_names:
        op = qmodel.operation_model(name)
        result = output_result(op)
        resp = create_serializer(MODEL, "query").serialize_result(MODEL.operation_model(name), result, "r")
        parsed = botocore_parser("query").parse(
            {"status_code": 200, "headers": HeadersDict(resp.headers), "body": resp.body}, op.output_shape)
        parsed.pop("ResponseMetadata")
        assert parsed == result, name

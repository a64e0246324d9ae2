"""The outbox rows an asynchronous invocation's outcome writes: AWS's destination record, the dead-letter
message, and the envelope that makes each one a delivery record of the ``destination`` pipe."""

from __future__ import annotations

import orjson

from tsunagi.services.awslambda.async_invoke import PIPE, dead_letter, delivery, destination_record

FN = "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST"
QUEUE = "arn:aws:sqs:us-east-1:000000000000:dest"
TOPIC = "arn:aws:sns:us-east-1:000000000000:dest"
OTHER = "arn:aws:lambda:us-east-1:000000000000:function:g"


def test_a_failure_record_names_the_request_and_the_response() -> None:
    record = destination_record("RetriesExhausted", "req-1", FN, 3, b'{"order": 1}',
                                (b'{"errorMessage": "boom"}', "$LATEST", "Unhandled"))
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    assert record["requestContext"] == {"requestId": "req-1", "functionArn": FN, "condition": "RetriesExhausted",
                                        "approximateInvokeCount": 3}
    assert record["requestPayload"] == {"order": 1}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST",
                                         "functionError": "Unhandled"}
    assert record["responsePayload"] == {"errorMessage": "boom"}
    # an event that never ran (too old) has no response; a payload that is not JSON stays text
    aged = destination_record("EventAgeExceeded", "req-2", FN, 0, b"not json", None)
    assert "responseContext" not in aged and aged["requestPayload"] == "not json"


def test_each_destination_kind_gets_its_operations_input_and_the_envelope() -> None:
    record = destination_record("Success", "req-1", FN, 1, b"{}", (b'"ok"', "$LATEST", None))
    text = orjson.dumps(record).decode()
    envelope = {"source_arn": FN, "source_service": "lambda.amazonaws.com", "pipe": PIPE, "message_id": "req-1"}
    assert delivery(QUEUE, record, FN) == ("sqs", QUEUE, {**envelope, "params": {"MessageBody": text}})
    assert delivery(TOPIC, record, FN) == ("sns", TOPIC, {**envelope, "params": {"Message": text}})
    assert delivery(OTHER, record, FN) == ("lambda", OTHER, {**envelope, "params": {"Payload": text,
                                                                                     "InvocationType": "Event"}})
    assert delivery("arn:aws:events:us-east-1:000000000000:event-bus/default", record, FN) is None


def test_the_dead_letter_message_is_the_event_with_lambdas_attributes() -> None:
    kind, target, payload = dead_letter(QUEUE, b'{"order": 1}', "req-1", "x" * 2000, FN) or ("", "", {})
    assert (kind, target, payload["pipe"], payload["message_id"]) == ("sqs", QUEUE, PIPE, "req-1")
    params = payload["params"]
    assert params["MessageBody"] == '{"order": 1}'
    assert params["MessageAttributes"]["RequestID"] == {"DataType": "String", "StringValue": "req-1"}
    assert params["MessageAttributes"]["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    assert len(params["MessageAttributes"]["ErrorMessage"]["StringValue"]) == 1024
    sns = dead_letter(TOPIC, b"", "req-2", "", FN)
    assert sns is not None and sns[2]["params"]["Message"] == "{}"
    assert sns[2]["params"]["MessageAttributes"]["ErrorMessage"]["StringValue"] == "Unhandled"
    assert dead_letter(OTHER, b"{}", "req-3", "e", FN) is None     # a function is not a dead-letter target

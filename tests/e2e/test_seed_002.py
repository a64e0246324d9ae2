"""Seed 002 end to end: ``examples/002-queue-worker-dlq/deploy.py`` against a real server, then the
article's three checks with its own aws CLI commands:

1. a POST (the form API Gateway's AWS integration sends to SQS) reaches the function; its log stream,
   found the article's way, shows START, the record, the body, END and REPORT;
2. with the event source mapping disabled the message waits in the queue for a manual receive-message;
   enabled again, the function gets it;
3. with reserved concurrency 0 the message lands in the dead-letter queue after 3 receives;
   start-message-move-task brings it back and the function processes it; both queues end empty.

Test-only overrides, because the template's 60 s visibility timeouts would make check 3 take over three
minutes (3 receives x 60 s) and hide the DLQ message for 60 s after the manual receive: queue 2 s
(function timeout 2 s, since a queue may not be shorter than its function), DLQ 1 s.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

import pytest

from tests.e2e.support import load_example, log_messages, queue_counts, wait_for

FOLDER = "002-queue-worker-dlq"
# The article deploys to Tokyo; so does the example (deploy.py defaults to its region).
REGION = "ap-northeast-1"


@pytest.fixture(autouse=True)
def _article_region(monkeypatch):
    """deploy.py runs in this process and takes the region from the environment, as boto3 does."""
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
FN = "sample-dev-lambda"
GROUP = f"/aws/lambda/{FN}"
PREFIX = "SQSに送信されたメッセージ: "


def cli(server, *args: str):
    out = server.aws("--region", REGION, *args).stdout.strip()
    return json.loads(out) if out else None


def text(server, *args: str) -> str:
    return server.aws("--region", REGION, *args, "--output", "text").stdout.strip()


def post_like_api_gateway(queue_url: str, body: str) -> bytes:
    """What the article's integration sends: POST to the queue's path, form-encoded, Action=SendMessage,
    signed for the queue's region as API Gateway signs its AWS integration requests."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    data = urllib.parse.urlencode({"Action": "SendMessage", "MessageBody": body}).encode()
    signed = AWSRequest(method="POST", url=queue_url, data=data,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials("test", "test"), "sqs", REGION).add_auth(signed)
    req = urllib.request.Request(queue_url, data=data, method="POST", headers=dict(signed.headers.items()))
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
        return r.read()


def processed(server) -> list[str]:
    return [m[len(PREFIX):] for m in log_messages(server, FN, region=REGION) if m.startswith(PREFIX)]


def test_seed_002_the_articles_three_checks(server) -> None:
    deploy = load_example(FOLDER)
    out = deploy.deploy(server.url, queue_visibility_timeout=2, dlq_visibility_timeout=1, function_timeout=2)
    assert out["function"] == FN
    sqs = server.sqs_client(region=REGION)
    attrs = sqs.get_queue_attributes(QueueUrl=out["queue_url"], AttributeNames=["All"])["Attributes"]
    assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": out["dlq_arn"], "maxReceiveCount": 3}
    queue_url = text(server, "sqs", "get-queue-url", "--queue-name", "sample-dev-sqs", "--query", "QueueUrl")
    assert queue_url == out["queue_url"]

    # -- 3. the function processes what is posted ------------------------------------------------------
    first = json.dumps({"message": "sample-api-gatewa-sqs-lambda-test"})
    reply = post_like_api_gateway(queue_url, first)
    assert b"<SendMessageResponse" in reply and b"330ddb359d72714775069d3e05f4714e" in reply   # the article's MD5
    wait_for(lambda: first in processed(server), what="the first message processed")
    stream = text(server, "logs", "describe-log-streams", "--log-group-name", GROUP, "--query",
                  "logStreams | sort_by(@, &lastEventTimestamp) | [-1].logStreamName")
    events = text(server, "logs", "get-log-events", "--log-group-name", GROUP, "--log-stream-name", stream,
                  "--query", "events[].[timestamp,message]")
    lines = [line.split("\t", 1)[1] for line in events.splitlines() if "\t" in line]
    kinds = [line.split(" ", 1)[0] for line in lines]
    for kind in ("START", "END", "REPORT"):
        assert kind in kinds, lines
    assert kinds.index("START") < kinds.index("END") < kinds.index("REPORT")
    assert any(line.startswith("START RequestId: ") and line.endswith("Version: $LATEST") for line in lines)
    report = next(line for line in lines if line.startswith("REPORT RequestId: "))
    assert "Duration: " in report and "Billed Duration: " in report and "Memory Size: 128 MB" in report
    record_line = next(line for line in lines if line.startswith("LambdaがSQSから読み取ったデータ: "))
    (record,) = json.loads(record_line.split(": ", 1)[1])["Records"]
    assert record["body"] == first and record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == out["queue_arn"] and record["md5OfBody"] == "330ddb359d72714775069d3e05f4714e"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert f"{PREFIX}{first}" in lines

    # -- 4. mapping disabled: the message waits for a manual receive; enabled: processed -----------------
    uuid = text(server, "lambda", "list-event-source-mappings", "--function-name", FN,
                "--query", "EventSourceMappings[].UUID")
    assert uuid == out["mapping_uuid"]
    cli(server, "lambda", "update-event-source-mapping", "--uuid", uuid, "--no-enabled")
    wait_for(lambda: text(server, "lambda", "get-event-source-mapping", "--uuid", uuid, "--query", "State")
             == "Disabled", what="mapping Disabled")
    second = json.dumps({"message": "sample-api-gatewa-sqs-lambda-test-2"})
    cli(server, "sqs", "send-message", "--queue-url", queue_url, "--message-body", second)
    got = cli(server, "sqs", "receive-message", "--queue-url", queue_url, "--max-number-of-messages", "1")
    assert got["Messages"][0]["Body"] == second
    assert got["Messages"][0]["MD5OfBody"] and got["Messages"][0]["ReceiptHandle"]
    time.sleep(2.5)                                      # past the visibility timeout: still not processed
    assert second not in processed(server)
    assert queue_counts(sqs, queue_url) == (1, 0)
    cli(server, "lambda", "update-event-source-mapping", "--uuid", uuid, "--enabled")
    wait_for(lambda: text(server, "lambda", "get-event-source-mapping", "--uuid", uuid, "--query", "State")
             == "Enabled", what="mapping Enabled")
    wait_for(lambda: second in processed(server), what="the second message processed after enabling")

    # -- 5. throttled to the DLQ, moved back, processed ----------------------------------------------------
    cli(server, "lambda", "put-function-concurrency", "--function-name", FN, "--reserved-concurrent-executions", "0")
    third = json.dumps({"message": "sample-api-gatewa-sqs-lambda-test-3"})
    post_like_api_gateway(queue_url, third)
    dlq_url = text(server, "sqs", "get-queue-url", "--queue-name", "sample-dev-dead-letter-sqs", "--query", "QueueUrl")

    def in_dlq():
        got = cli(server, "sqs", "receive-message", "--queue-url", dlq_url, "--max-number-of-messages", "1",
                  "--wait-time-seconds", "1")
        return got and got.get("Messages")

    (dead,) = wait_for(in_dlq, timeout=30, interval=0.3, what="the message in the dead-letter queue")
    assert dead["Body"] == third
    assert third not in processed(server)
    assert server.client("lambda", region=REGION).get_event_source_mapping(UUID=uuid)["LastProcessingResult"].startswith("PROBLEM")
    cli(server, "lambda", "delete-function-concurrency", "--function-name", FN)
    dlq_arn = text(server, "sqs", "get-queue-attributes", "--queue-url", dlq_url, "--attribute-names", "QueueArn",
                   "--query", "Attributes.QueueArn")
    assert dlq_arn == out["dlq_arn"]
    time.sleep(1.2)                                      # the DLQ's visibility timeout after the manual receive
    task = cli(server, "sqs", "start-message-move-task", "--source-arn", dlq_arn)
    assert task["TaskHandle"]
    wait_for(lambda: third in processed(server), timeout=20, what="the moved message processed")
    wait_for(lambda: queue_counts(sqs, queue_url) == (0, 0) and queue_counts(sqs, dlq_url) == (0, 0),
             what="both queues empty")
    assert processed(server).count(third) == 1


def test_seed_002_deploy_keeps_the_templates_values(server) -> None:
    deploy = load_example(FOLDER)
    out = deploy.deploy(server.url)
    attrs = server.sqs_client(region=REGION).get_queue_attributes(QueueUrl=out["queue_url"], AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "60" and attrs["ReceiveMessageWaitTimeSeconds"] == "20"
    assert attrs["MessageRetentionPeriod"] == "1209600" and attrs["MaximumMessageSize"] == "10240"
    cfg = server.client("lambda", region=REGION).get_function_configuration(FunctionName=FN)
    assert cfg["Timeout"] == 60 and cfg["MemorySize"] == 128 and cfg["Runtime"] == "python3.12"
    assert server.client("lambda", region=REGION).get_event_source_mapping(UUID=out["mapping_uuid"])["BatchSize"] == 10


def test_seed_002_through_api_gateway(server) -> None:
    deploy = load_example(FOLDER)
    out = deploy.deploy(server.url)
    account = server.client("sts", region=REGION).get_caller_identity()["Account"]
    apigw = server.client("apigateway", region=REGION)
    api = apigw.create_rest_api(name="sample-dev-api-gateway", endpointConfiguration={"types": ["REGIONAL"]})["id"]
    root = next(r["id"] for r in apigw.get_resources(restApiId=api)["items"] if r["path"] == "/")
    apigw.put_method(restApiId=api, resourceId=root, httpMethod="POST", authorizationType="NONE")
    apigw.put_integration(
        restApiId=api, resourceId=root, httpMethod="POST", type="AWS", integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{REGION}:sqs:path/{account}/sample-dev-sqs",
        credentials=f"arn:aws:iam::{account}:role/sample-dev-api-gateway-role", passthroughBehavior="WHEN_NO_TEMPLATES",
        requestParameters={"integration.request.header.Content-Type": "'application/x-www-form-urlencoded'"},
        requestTemplates={"application/json": "Action=SendMessage&MessageBody=$util.urlEncode($input.body)"})
    apigw.put_method_response(restApiId=api, resourceId=root, httpMethod="POST", statusCode="200")
    apigw.put_integration_response(restApiId=api, resourceId=root, httpMethod="POST", statusCode="200",
                                   selectionPattern="")
    apigw.create_deployment(restApiId=api, stageName="dev")
    # the invoke URL's two local forms: the path form, and the host form (*.localhost is the loopback address)
    url = f"{server.url}/restapis/{api}/dev/_user_request_/"
    body = json.dumps({"message": "sample-api-gatewa-sqs-lambda-test"})
    req = urllib.request.Request(url, data=body.encode(), method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    wait_for(lambda: body in processed(server), what="the API Gateway request processed")
    assert out["queue_url"]
    # the host form, with a body that form-encoding would break without $util.urlEncode
    tricky = json.dumps({"message": "a&b=c%d+e 'quoted' \"double\" 日本語"}, ensure_ascii=False)
    # (curl resolves *.localhost to the loopback address itself; Python's resolver may not, so name the host)
    req = urllib.request.Request(f"{server.url}/dev/", data=tricky.encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Host": f"{api}.execute-api.localhost:{server.port}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    wait_for(lambda: tricky in processed(server), what="the host-form request processed byte-identical")

"""Seed 002's API Gateway, on both stores: the SAM project's OpenAPI DefinitionBody (read from the user's
files, references filled in) imported with ImportRestApi, deployed to ``dev``, answering the article's curl
with 200 and putting the message in the queue with the article's MD5; and bodies with ``&``, ``=``, ``%``,
``+``, quotes, newlines and Japanese text through ``$util.urlEncode($input.body)``, arriving byte-identical."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.integration.apigateway_support import SEED_002, curl, host_url, invoke, seed_definition, stage_url

ARTICLE_BODY = '{"message": "sample-api-gatewa-sqs-lambda-test"}'
ARTICLE_MD5 = "330ddb359d72714775069d3e05f4714e"

pytestmark = pytest.mark.skipif(not SEED_002.exists(), reason="shared/seeds/002-sam-project is not beside the repo")


def _receive_all(sqs, url: str) -> list[dict]:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                              MessageSystemAttributeNames=["All"])
    return got.get("Messages", [])


def _seed_api(server) -> tuple[str, str]:
    account = server.client("sts").get_caller_identity()["Account"]
    sqs = server.sqs_client()
    queue_url = sqs.create_queue(QueueName="sample-dev-sqs")["QueueUrl"]
    apigw = server.client("apigateway")
    definition = seed_definition(account, "us-east-1")
    api = apigw.import_rest_api(body=json.dumps(definition).encode())
    assert api["name"] == "sample-dev-api-gateway"
    apigw.create_deployment(restApiId=api["id"], stageName="dev")
    return api["id"], queue_url


def test_the_articles_curl_through_the_imported_definition(server) -> None:
    api_id, queue_url = _seed_api(server)
    apigw = server.client("apigateway")
    resources = apigw.get_resources(restApiId=api_id, embed=["methods"])["items"]
    (root,) = [r for r in resources if r["path"] == "/"]
    integration = root["resourceMethods"]["POST"]["methodIntegration"]
    assert integration["type"] == "AWS" and integration["passthroughBehavior"] == "WHEN_NO_TEMPLATES"
    assert integration["uri"].endswith(":sqs:path/000000000000/sample-dev-sqs")
    assert integration["requestTemplates"] == {"application/json": "Action=SendMessage&MessageBody=$input.body"}

    # the article's command, exactly: curl -i -X POST -H "Content-Type: application/json" -d '{...}' URL
    status, out = curl("-i", "-X", "POST", "-H", "Content-Type: application/json", "-d", ARTICLE_BODY,
                       host_url(server, api_id, "dev"))
    assert status == 200, out
    reply = json.loads(out.split("\r\n\r\n", 1)[1])
    result = reply["SendMessageResponse"]["SendMessageResult"]
    assert result["MD5OfMessageBody"] == ARTICLE_MD5

    (message,) = _receive_all(server.sqs_client(), queue_url)
    assert message["Body"] == ARTICLE_BODY and message["MD5OfBody"] == ARTICLE_MD5
    assert message["Attributes"]["AWSTraceHeader"].startswith("Root=1-")


def test_the_path_form_of_the_invoke_url_answers_the_same(server) -> None:
    api_id, queue_url = _seed_api(server)
    status, headers, body = invoke(stage_url(server, api_id, "dev"), ARTICLE_BODY.encode(),
                                   headers={"Content-Type": "application/json"})
    assert status == 200, body
    assert json.loads(body)["SendMessageResponse"]["SendMessageResult"]["MD5OfMessageBody"] == ARTICLE_MD5
    (message,) = _receive_all(server.sqs_client(), queue_url)
    assert message["Body"] == ARTICLE_BODY


def test_a_content_type_without_a_template_is_refused_under_when_no_templates(server) -> None:
    api_id, queue_url = _seed_api(server)
    status, headers, body = invoke(stage_url(server, api_id, "dev"), b"a=b",
                                   headers={"Content-Type": "text/plain"})
    assert status == 415 and json.loads(body) == {"message": "Unsupported Media Type"}
    assert _receive_all(server.sqs_client(), queue_url) == []


HARD_BODIES = [
    '{"message": "a&b=c%d+e"}',
    'plain text with "double" and \'single\' quotes',
    "line one\nline two\r\nline three\t(tab)",
    '{"message": "日本語のテキスト、絵文字 🎌 も"}',
    "100% + 50% = 150%&&==++",
    "%E6%97%A5 already-encoded-looking %zz %",
    " leading and trailing spaces ",
]


@pytest.mark.parametrize("body", HARD_BODIES, ids=range(len(HARD_BODIES)))
def test_bodies_arrive_byte_identical_through_url_encode(server, body: str) -> None:
    account = server.client("sts").get_caller_identity()["Account"]
    sqs = server.sqs_client()
    queue_url = sqs.create_queue(QueueName="sample-dev-sqs")["QueueUrl"]
    definition = seed_definition(account, "us-east-1")
    post = definition["paths"]["/"]["post"]["x-amazon-apigateway-integration"]
    post["requestTemplates"]["application/json"] = "Action=SendMessage&MessageBody=$util.urlEncode($input.body)"
    apigw = server.client("apigateway")
    api_id = apigw.import_rest_api(body=json.dumps(definition).encode())["id"]
    apigw.create_deployment(restApiId=api_id, stageName="dev")
    status, out = curl("-i", "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", body,
                       host_url(server, api_id, "dev"))
    assert status == 200, out
    (message,) = _receive_all(sqs, queue_url)
    assert message["Body"] == body
    assert message["MD5OfBody"] == hashlib.md5(body.encode()).hexdigest()

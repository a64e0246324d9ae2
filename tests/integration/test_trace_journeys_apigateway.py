"""Journeys through API Gateway: a request's trace id (the ``Root`` of the caller's ``X-Amzn-Trace-Id``, or a
new one that the answer's ``X-Amzn-Trace-Id`` shows) reaches the SQS message's ``AWSTraceHeader`` and from
there the function the queue's event source mapping invokes; a Lambda proxy integration's handler sees it
in ``_X_AMZN_TRACE_ID``. So a request can be followed from the curl to the function."""

from __future__ import annotations

import json

from tests.integration.apigateway_support import invoke, stage_url
from tests.integration.lambda_support import create
from tests.integration.test_trace_journeys_lambda import HANDLERS, fields, queue, receive

ROOT = "1-67a5b1c2-fedcba9876543210fedcba98"


def _sqs_api(server, queue_name: str) -> str:
    c = server.client("apigateway")
    api = c.create_rest_api(name="journey")
    root = api["rootResourceId"]
    c.put_method(restApiId=api["id"], resourceId=root, httpMethod="POST", authorizationType="NONE")
    c.put_integration(restApiId=api["id"], resourceId=root, httpMethod="POST", type="AWS",
                      integrationHttpMethod="POST",
                      uri=f"arn:aws:apigateway:us-east-1:sqs:path/000000000000/{queue_name}",
                      requestParameters={"integration.request.header.Content-Type":
                                         "'application/x-www-form-urlencoded'"},
                      requestTemplates={"application/json": "Action=SendMessage&MessageBody=$util.urlEncode($input.body)"})
    c.put_integration_response(restApiId=api["id"], resourceId=root, httpMethod="POST", statusCode="200",
                               selectionPattern="")
    c.create_deployment(restApiId=api["id"], stageName="dev")
    return str(api["id"])


def test_a_request_is_followed_from_the_curl_to_the_function(server) -> None:
    sqs, lam = server.sqs_client(), server.client("lambda")
    out_url, _ = queue(sqs, "journey-out")
    _src_url, src_arn = queue(sqs, "journey-in")
    create(lam, "journey-fn", "app.report", files={"app.py": HANDLERS},
           Environment={"Variables": {"OUT_QUEUE": out_url}})
    lam.create_event_source_mapping(EventSourceArn=src_arn, FunctionName="journey-fn", BatchSize=1)
    api = _sqs_api(server, "journey-in")
    for sent in (f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1", None):
        headers = {"Content-Type": "application/json", **({"X-Amzn-Trace-Id": sent} if sent else {})}
        status, answer, _ = invoke(stage_url(server, api, "dev"), b'{"step": 1}', headers=headers)
        assert status == 200
        root = fields(answer["X-Amzn-Trace-Id"])["Root"]
        if sent:
            assert root == ROOT
        (report,) = receive(sqs, out_url)
        seen = json.loads(report["Body"])
        assert fields(seen["trace"])["Root"] == root
        (record,) = seen["event"]["Records"]
        assert fields(record["attributes"]["AWSTraceHeader"])["Root"] == root


def test_a_lambda_proxy_handler_sees_the_requests_trace(server) -> None:
    sqs, lam = server.sqs_client(), server.client("lambda")
    out_url, _ = queue(sqs, "proxy-out")
    fn = create(lam, "journey-proxy", "app.report", files={"app.py": HANDLERS},
                Environment={"Variables": {"OUT_QUEUE": out_url}})["FunctionArn"]
    c = server.client("apigateway")
    api = c.create_rest_api(name="proxy-journey")
    c.put_method(restApiId=api["id"], resourceId=api["rootResourceId"], httpMethod="GET", authorizationType="NONE")
    c.put_integration(restApiId=api["id"], resourceId=api["rootResourceId"], httpMethod="GET", type="AWS_PROXY",
                      integrationHttpMethod="POST",
                      uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{fn}/invocations")
    c.create_deployment(restApiId=api["id"], stageName="dev")
    invoke(stage_url(server, api["id"], "dev"), method="GET", headers={"X-Amzn-Trace-Id": f"Root={ROOT}"})
    (report,) = receive(sqs, out_url)
    assert fields(json.loads(report["Body"])["trace"])["Root"] == ROOT

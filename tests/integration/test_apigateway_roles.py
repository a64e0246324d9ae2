"""The integration's role under ``--policies enforce``: API Gateway calls SQS as the role in its
``credentials``, so the role must exist, trust apigateway.amazonaws.com and allow the action on the queue;
otherwise the API answers 500 and the message goes nowhere (seed 002's role is the example)."""

from __future__ import annotations

import json

import pytest

from tests.integration.apigateway_support import invoke, stage_url
from tests.support.server import TsunagiServer

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": ["apigateway.amazonaws.com"]},
                                                 "Action": "sts:AssumeRole"}]}


@pytest.fixture(scope="module")
def enforcing(tmp_path_factory):
    srv = TsunagiServer("sqlite", data_dir=str(tmp_path_factory.mktemp("enforce")),
                        extra_args=["--policies", "enforce"]).start()
    yield srv
    srv.stop()


def _api(srv, role_arn: str, queue: str) -> str:
    c = srv.client("apigateway")
    api = c.create_rest_api(name=f"roles-{queue}")
    root = api["rootResourceId"]
    c.put_method(restApiId=api["id"], resourceId=root, httpMethod="POST", authorizationType="NONE")
    c.put_integration(restApiId=api["id"], resourceId=root, httpMethod="POST", type="AWS",
                      integrationHttpMethod="POST", credentials=role_arn,
                      uri=f"arn:aws:apigateway:us-east-1:sqs:path/000000000000/{queue}",
                      requestParameters={"integration.request.header.Content-Type": "'application/x-www-form-urlencoded'"},
                      requestTemplates={"application/json": "Action=SendMessage&MessageBody=$util.urlEncode($input.body)"})
    c.put_integration_response(restApiId=api["id"], resourceId=root, httpMethod="POST", statusCode="200",
                               selectionPattern="")
    c.create_deployment(restApiId=api["id"], stageName="dev")
    return str(api["id"])


def test_the_role_must_trust_api_gateway_and_allow_the_send(enforcing) -> None:
    iam, sqs = enforcing.client("iam"), enforcing.sqs_client()
    url = sqs.create_queue(QueueName="sample-dev-sqs")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    good = iam.create_role(RoleName="sample-dev-api-gateway-role", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
    iam.put_role_policy(RoleName=good["RoleName"], PolicyName="ApiQueuePolicy", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sqs:SendMessage"],
                                                "Resource": queue_arn}]}))
    mute = iam.create_role(RoleName="no-permissions", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
    body = b'{"message": "sample-api-gatewa-sqs-lambda-test"}'
    headers = {"Content-Type": "application/json"}
    status, _, answer = invoke(stage_url(enforcing, _api(enforcing, good["Arn"], "sample-dev-sqs"), "dev"), body,
                               headers=headers)
    assert status == 200, answer
    for role in (mute["Arn"], "arn:aws:iam::000000000000:role/does-not-exist"):
        status, _, answer = invoke(stage_url(enforcing, _api(enforcing, role, "sample-dev-sqs"), "dev"), body,
                                   headers=headers)
        assert status == 500 and json.loads(answer) == {"message": "Internal server error"}, role
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert [m["Body"] for m in got] == [body.decode()]

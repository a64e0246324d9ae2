"""Accounts are isolated (issue 21), on the default server (``--auth open``): with credentials of
account A and the URL or ARN of account B's queue, topic, function, bucket, key or log group, A is
refused with each service's own error, unless B's resource policy grants A. Real server, boto3."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from botocore.exceptions import ClientError

from tests.support.server import TsunagiServer

A = "111111111111"      # the attacker
B = "222222222222"      # the victim
REGION = "us-east-1"


@pytest.fixture(scope="module")
def srv():
    server = TsunagiServer("sqlite").start()
    yield server
    server.stop()


def code(e: pytest.ExceptionInfo[ClientError]) -> str:
    return e.value.response["Error"]["Code"]


def message(e: pytest.ExceptionInfo[ClientError]) -> str:
    return e.value.response["Error"].get("Message", "")


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return {'ok': True}\n")
    return buf.getvalue()


# -- SQS ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def queue(srv):
    b = srv.client("sqs", access_key=B)
    url = b.create_queue(QueueName="victim")["QueueUrl"]
    b.send_message(QueueUrl=url, MessageBody="secret")
    return url


@pytest.mark.parametrize("call", ["receive", "send", "purge", "delete", "attributes", "set_attributes"])
def test_sqs_calls_on_another_accounts_queue_are_refused(srv, queue, call):
    a = srv.client("sqs", access_key=A)
    with pytest.raises(ClientError) as e:
        if call == "receive":
            a.receive_message(QueueUrl=queue)
        elif call == "send":
            a.send_message(QueueUrl=queue, MessageBody="x")
        elif call == "purge":
            a.purge_queue(QueueUrl=queue)
        elif call == "delete":
            a.delete_queue(QueueUrl=queue)
        elif call == "attributes":
            a.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])
        else:
            a.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": ""})
    assert code(e) == "AccessDenied"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert f"User: arn:aws:iam::{A}:root is not authorized to perform: sqs:" in message(e)
    assert f"on resource: arn:aws:sqs:{REGION}:{B}:victim because no resource-based policy allows" in message(e)
    b = srv.client("sqs", access_key=B)
    assert b.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "1"


def test_sqs_query_protocol_refuses_too(srv, queue):
    a = srv.sqs_client("query", access_key=A)
    with pytest.raises(ClientError) as e:
        a.receive_message(QueueUrl=queue)
    assert code(e) == "AccessDenied"


def test_get_queue_url_of_another_account_says_it_does_not_exist(srv, queue):
    a = srv.client("sqs", access_key=A)
    with pytest.raises(ClientError) as e:
        a.get_queue_url(QueueName="victim", QueueOwnerAWSAccountId=B)
    assert code(e) == "AWS.SimpleQueueService.NonExistentQueue"


def test_a_queue_policy_granting_the_account_lets_it_in(srv):
    b = srv.client("sqs", access_key=B)
    url = b.create_queue(QueueName="shared")["QueueUrl"]
    arn = f"arn:aws:sqs:{REGION}:{B}:shared"
    b.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                       "Action": ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:GetQueueUrl"], "Resource": arn}]})})
    a = srv.client("sqs", access_key=A)
    assert a.get_queue_url(QueueName="shared", QueueOwnerAWSAccountId=B)["QueueUrl"].endswith(f"/{B}/shared")
    a.send_message(QueueUrl=url, MessageBody="from A")
    got = a.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert got[0]["Body"] == "from A"
    with pytest.raises(ClientError) as e:          # what the policy does not grant stays refused
        a.purge_queue(QueueUrl=url)
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        a.delete_queue(QueueUrl=url)
    assert code(e) == "AccessDenied"


# -- SNS ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def topic(srv):
    return srv.client("sns", access_key=B).create_topic(Name="victim")["TopicArn"]


@pytest.mark.parametrize("call", ["publish", "subscribe", "delete", "set_attributes", "list_subscriptions"])
def test_sns_calls_on_another_accounts_topic_are_refused(srv, topic, call):
    a = srv.client("sns", access_key=A)
    with pytest.raises(ClientError) as e:
        if call == "publish":
            a.publish(TopicArn=topic, Message="x")
        elif call == "subscribe":
            a.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=f"arn:aws:sqs:{REGION}:{A}:mine")
        elif call == "delete":
            a.delete_topic(TopicArn=topic)
        elif call == "set_attributes":
            a.set_topic_attributes(TopicArn=topic, AttributeName="DisplayName", AttributeValue="pwned")
        else:
            a.list_subscriptions_by_topic(TopicArn=topic)
    assert code(e) == "AuthorizationError"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert f"User: arn:aws:iam::{A}:root is not authorized to perform: SNS:" in message(e)
    assert srv.client("sns", access_key=B).get_topic_attributes(TopicArn=topic)["Attributes"]["TopicArn"] == topic


def test_a_topic_policy_granting_the_account_lets_it_publish(srv):
    b = srv.client("sns", access_key=B)
    arn = b.create_topic(Name="shared")["TopicArn"]
    b.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": A}, "Action": "sns:Publish", "Resource": arn}]}))
    a = srv.client("sns", access_key=A)
    assert a.publish(TopicArn=arn, Message="hello")["MessageId"]
    with pytest.raises(ClientError) as e:
        a.delete_topic(TopicArn=arn)
    assert code(e) == "AuthorizationError"


def test_a_topic_policy_granting_subscribe_lets_another_account_subscribe_its_queue(srv):
    b = srv.client("sns", access_key=B)
    arn = b.create_topic(Name="open-to-a")["TopicArn"]
    b.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "sns:Subscribe",
                       "Resource": arn}]}))
    srv.client("sqs", access_key=A).create_queue(QueueName="a-inbox")
    a = srv.client("sns", access_key=A)
    sub = a.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=f"arn:aws:sqs:{REGION}:{A}:a-inbox",
                      ReturnSubscriptionArn=True)["SubscriptionArn"]
    assert sub.startswith(f"{arn}:")
    with pytest.raises(ClientError) as e:
        a.publish(TopicArn=arn, Message="not granted")
    assert code(e) == "AuthorizationError"


# -- Lambda -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def function(srv):
    b = srv.client("lambda", access_key=B)
    out = b.create_function(FunctionName="victim", Runtime="python3.12", Handler="app.handler",
                            Role=f"arn:aws:iam::{B}:role/r", Code={"ZipFile": _zip()})
    return out["FunctionArn"]


@pytest.mark.parametrize("call", ["invoke", "update", "delete", "get"])
def test_lambda_calls_on_another_accounts_function_are_refused(srv, function, call):
    a = srv.client("lambda", access_key=A)
    with pytest.raises(ClientError) as e:
        if call == "invoke":
            a.invoke(FunctionName=function, Payload=b"{}")
        elif call == "update":
            a.update_function_configuration(FunctionName=function, Timeout=60)
        elif call == "delete":
            a.delete_function(FunctionName=function)
        else:
            a.get_function(FunctionName=function)
    assert code(e) == "AccessDeniedException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "is not authorized to perform: lambda:" in message(e)
    assert srv.client("lambda", access_key=B).get_function_configuration(FunctionName="victim")["Timeout"] == 3


def test_creating_a_function_in_another_account_is_refused(srv):
    a = srv.client("lambda", access_key=A)
    with pytest.raises(ClientError) as e:
        a.create_function(FunctionName=f"arn:aws:lambda:{REGION}:{B}:function:planted", Runtime="python3.12",
                          Handler="app.handler", Role=f"arn:aws:iam::{A}:role/r", Code={"ZipFile": _zip()})
    assert code(e) == "AccessDeniedException"
    names = [f["FunctionName"] for f in srv.client("lambda", access_key=B).list_functions()["Functions"]]
    assert "planted" not in names


def test_a_function_policy_granting_the_account_lets_it_invoke(srv):
    b = srv.client("lambda", access_key=B)
    arn = b.create_function(FunctionName="shared", Runtime="python3.12", Handler="app.handler",
                            Role=f"arn:aws:iam::{B}:role/r", Code={"ZipFile": _zip()})["FunctionArn"]
    b.add_permission(FunctionName="shared", StatementId="a", Action="lambda:InvokeFunction", Principal=A)
    a = srv.client("lambda", access_key=A)
    out = a.invoke(FunctionName=arn, Payload=b"{}")
    assert json.loads(out["Payload"].read()) == {"ok": True}
    with pytest.raises(ClientError) as e:
        a.delete_function(FunctionName=arn)
    assert code(e) == "AccessDeniedException"


# -- S3 -----------------------------------------------------------------------------------------------

def _s3_refused(srv, bucket: str) -> None:
    a = srv.client("s3", access_key=A)
    for call in (lambda: a.get_object(Bucket=bucket, Key="k"), lambda: a.list_objects_v2(Bucket=bucket),
                 lambda: a.put_object(Bucket=bucket, Key="planted", Body=b"x"),
                 lambda: a.delete_object(Bucket=bucket, Key="k"), lambda: a.delete_bucket_policy(Bucket=bucket)):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessDenied", e.value.response
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_s3_without_a_bucket_policy_is_refused(srv):
    b = srv.client("s3", access_key=B)
    b.create_bucket(Bucket="victim-plain")
    b.put_object(Bucket="victim-plain", Key="k", Body=b"secret")
    _s3_refused(srv, "victim-plain")
    assert b.get_object(Bucket="victim-plain", Key="k")["Body"].read() == b"secret"


def test_s3_with_a_bucket_policy_that_does_not_grant_the_account_is_refused(srv):
    b = srv.client("s3", access_key=B)
    b.create_bucket(Bucket="victim-policy")
    b.put_object(Bucket="victim-policy", Key="k", Body=b"secret")
    b.put_bucket_policy(Bucket="victim-policy", Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": "arn:aws:s3:::victim-policy/private/*"},
                      {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
                       "Action": "s3:*", "Resource": ["arn:aws:s3:::victim-policy", "arn:aws:s3:::victim-policy/*"]}]}))
    _s3_refused(srv, "victim-policy")
    assert b.get_object(Bucket="victim-policy", Key="k")["Body"].read() == b"secret"
    assert b.get_bucket_policy(Bucket="victim-policy")["Policy"]


def test_s3_bucket_policy_granting_the_account_allows_what_it_grants(srv):
    b = srv.client("s3", access_key=B)
    b.create_bucket(Bucket="shared-bucket")
    b.put_object(Bucket="shared-bucket", Key="k", Body=b"shared")
    b.put_bucket_policy(Bucket="shared-bucket", Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                       "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::shared-bucket/*"},
                      {"Effect": "Allow", "Principal": {"AWS": A}, "Action": "s3:ListBucket",
                       "Resource": "arn:aws:s3:::shared-bucket"}]}))
    a = srv.client("s3", access_key=A)
    assert a.get_object(Bucket="shared-bucket", Key="k")["Body"].read() == b"shared"
    a.put_object(Bucket="shared-bucket", Key="from-a", Body=b"a")
    assert {o["Key"] for o in a.list_objects_v2(Bucket="shared-bucket")["Contents"]} == {"k", "from-a"}
    for call in (lambda: a.delete_object(Bucket="shared-bucket", Key="k"),
                 lambda: a.delete_bucket_policy(Bucket="shared-bucket"),
                 lambda: a.delete_objects(Bucket="shared-bucket", Delete={"Objects": [{"Key": "k"}]})):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessDenied"
    assert b.get_object(Bucket="shared-bucket", Key="k")["Body"].read() == b"shared"


# -- KMS and Logs -------------------------------------------------------------------------------------

def test_kms_key_of_another_account_is_refused_unless_its_policy_grants(srv):
    b = srv.client("kms", access_key=B)
    key = b.create_key()["KeyMetadata"]["Arn"]
    a = srv.client("kms", access_key=A)
    with pytest.raises(ClientError) as e:
        a.encrypt(KeyId=key, Plaintext=b"x")
    assert code(e) == "AccessDeniedException"
    shared = b.create_key(Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:root"}, "Action": "kms:*",
                       "Resource": "*"},
                      {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                       "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}]}))["KeyMetadata"]["Arn"]
    blob = a.encrypt(KeyId=shared, Plaintext=b"x")["CiphertextBlob"]
    assert a.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    with pytest.raises(ClientError) as e:         # granted only Encrypt and Decrypt
        a.generate_data_key(KeyId=shared, KeySpec="AES_256")
    assert code(e) == "AccessDeniedException"
    with pytest.raises(ClientError) as e:         # not a cross-account operation at all: AWS finds no such key
        a.schedule_key_deletion(KeyId=shared)
    assert code(e) == "NotFoundException"
    assert b.describe_key(KeyId=shared)["KeyMetadata"]["KeyState"] == "Enabled"


def test_logs_of_another_account_are_not_found(srv):
    b = srv.client("logs", access_key=B)
    b.create_log_group(logGroupName="victim")
    b.create_log_stream(logGroupName="victim", logStreamName="s")
    a = srv.client("logs", access_key=A)
    arn = f"arn:aws:logs:{REGION}:{B}:log-group:victim"
    with pytest.raises(ClientError) as e:
        a.get_log_events(logGroupIdentifier=arn, logStreamName="s")
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        a.tag_resource(resourceArn=arn, tags={"x": "y"})
    assert code(e) == "ResourceNotFoundException"


def test_api_gateway_ecs_and_iam_of_another_account_are_not_found(srv):
    # services whose resources are named in their own account: another account's are not there at all
    apis = srv.client("apigateway", access_key=B)
    rest = apis.create_rest_api(name="victim")["id"]
    a_apis = srv.client("apigateway", access_key=A)
    for call in (lambda: a_apis.get_rest_api(restApiId=rest), lambda: a_apis.delete_rest_api(restApiId=rest)):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "NotFoundException"
    assert rest not in [api["id"] for api in a_apis.get_rest_apis()["items"]]
    assert apis.get_rest_api(restApiId=rest)["name"] == "victim"
    ecs = srv.client("ecs", access_key=B)
    cluster = ecs.create_cluster(clusterName="victim")["cluster"]["clusterArn"]
    a_ecs = srv.client("ecs", access_key=A)
    assert a_ecs.describe_clusters(clusters=[cluster])["failures"][0]["reason"] == "MISSING"
    with pytest.raises(ClientError) as e:
        a_ecs.delete_cluster(cluster=cluster)
    assert code(e) == "ClusterNotFoundException"
    assert ecs.describe_clusters(clusters=[cluster])["clusters"][0]["status"] == "ACTIVE"
    srv.client("iam", access_key=B).create_user(UserName="victim")
    with pytest.raises(ClientError) as e:
        srv.client("iam", access_key=A).delete_user(UserName="victim")
    assert code(e) == "NoSuchEntity"
    assert srv.client("iam", access_key=B).get_user(UserName="victim")["User"]["Arn"].endswith(f"{B}:user/victim")


def test_the_server_keeps_serving_its_own_accounts(srv):
    for key in (A, B, "test"):
        sqs = srv.client("sqs", access_key=key)
        url = sqs.create_queue(QueueName="own")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="mine")
        assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"][0]["Body"] == "mine"

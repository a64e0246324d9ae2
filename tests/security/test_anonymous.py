"""Unsigned requests are anonymous (issue 21), on the default server (``--auth open``) as on AWS: any
signature by any key is accepted, but a request with none reaches only what a bucket or queue policy
opens to everyone (``"Principal": "*"``) and is otherwise refused with AWS's answer to a request without
credentials. What SDKs and the aws CLI send (always signed, with dummy keys) is untouched. Real server."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from tests.support.server import TsunagiServer

OWNER = "000000000000"


@pytest.fixture(scope="module")
def srv():
    server = TsunagiServer("sqlite").start()
    yield server
    server.stop()


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None):
    req = urllib.request.Request(url, method=method, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def form(url: str, **fields: str):
    return http("POST", url, urllib.parse.urlencode(fields).encode(),
                {"Content-Type": "application/x-www-form-urlencoded"})


def error_code(body: bytes) -> str:
    text = body.decode()
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else json.loads(text).get(
        "__type", json.loads(text).get("code", ""))


# -- SQS ----------------------------------------------------------------------------------------------

def test_an_unsigned_sqs_call_naming_no_queue_is_missing_authentication(srv):
    status, body = form(srv.url + "/", Action="ListQueues", Version="2012-11-05")
    assert status == 403 and error_code(body) == "MissingAuthenticationToken", body
    status, body = form(srv.url + "/", Action="CreateQueue", QueueName="anon-made", Version="2012-11-05")
    assert status == 403 and error_code(body) == "MissingAuthenticationToken", body
    assert "anon-made" not in str(srv.sqs_client().list_queues().get("QueueUrls", []))


def test_an_unsigned_send_to_a_private_queue_is_refused(srv):
    sqs = srv.sqs_client()
    url = sqs.create_queue(QueueName="anon-private")["QueueUrl"]
    status, body = form(url, Action="SendMessage", MessageBody="drive-by")
    assert status == 403 and error_code(body) == "AccessDenied", body
    assert b"Access to the resource" in body and b"is denied." in body
    status, body = form(url, Action="ReceiveMessage")
    assert status == 403 and error_code(body) == "AccessDenied", body
    assert not sqs.receive_message(QueueUrl=url).get("Messages")


def test_a_queue_policy_open_to_everyone_lets_unsigned_sends_in_and_nothing_more(srv):
    sqs = srv.sqs_client()
    url = sqs.create_queue(QueueName="anon-open")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage",
                                                "Resource": arn}]})})
    status, body = form(url, Action="SendMessage", MessageBody="from anyone")
    assert status == 200 and b"<MessageId>" in body, body
    status, body = form(url, Action="ReceiveMessage")          # the policy allows sending only
    assert status == 403 and error_code(body) == "AccessDenied", body
    status, body = form(url, Action="DeleteQueue")
    assert status == 403, body
    [m] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert m["Body"] == "from anyone"


def test_a_signed_request_with_any_signature_acts_in_its_keys_account(srv):
    # --auth open: the aws CLI and SDKs sign with dummy keys; the signature is not checked
    sqs = srv.sqs_client()
    url = sqs.create_queue(QueueName="anon-signed")["QueueUrl"]
    auth = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00"
    status, body = http("POST", url, b"Action=SendMessage&MessageBody=signed",
                        {"Content-Type": "application/x-www-form-urlencoded", "Authorization": auth,
                         "X-Amz-Date": "20260101T000000Z"})
    assert status == 200, body
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"][0]["Body"] == "signed"


# -- S3 -----------------------------------------------------------------------------------------------

def test_unsigned_s3_calls_reach_only_what_the_bucket_policy_opens(srv):
    s3 = srv.client("s3")
    anon = srv.client("s3", signature_version=UNSIGNED)
    s3.create_bucket(Bucket="anon-site")
    s3.put_object(Bucket="anon-site", Key="index.html", Body=b"<h1>hi</h1>")
    for call in (lambda: anon.get_object(Bucket="anon-site", Key="index.html"),
                 lambda: anon.list_objects_v2(Bucket="anon-site"),
                 lambda: anon.put_object(Bucket="anon-site", Key="x", Body=b"x"),
                 lambda: anon.list_buckets(),
                 lambda: anon.create_bucket(Bucket="anon-made")):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "AccessDenied"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # public read, as a static site's bucket policy grants it
    s3.put_bucket_policy(Bucket="anon-site", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                "Resource": "arn:aws:s3:::anon-site/*"}]}))
    assert anon.get_object(Bucket="anon-site", Key="index.html")["Body"].read() == b"<h1>hi</h1>"
    status, body = http("GET", f"{srv.url}/anon-site/index.html")                # curl, a browser
    assert status == 200 and body == b"<h1>hi</h1>"
    for call in (lambda: anon.put_object(Bucket="anon-site", Key="index.html", Body=b"defaced"),
                 lambda: anon.delete_object(Bucket="anon-site", Key="index.html"),
                 lambda: anon.list_objects_v2(Bucket="anon-site"),
                 lambda: anon.get_bucket_policy(Bucket="anon-site")):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "AccessDenied"
    assert s3.get_object(Bucket="anon-site", Key="index.html")["Body"].read() == b"<h1>hi</h1>"
    assert "anon-made" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_an_unsigned_call_on_a_missing_bucket_is_no_such_bucket(srv):
    anon = srv.client("s3", signature_version=UNSIGNED)
    with pytest.raises(ClientError) as e:
        anon.get_object(Bucket="anon-nothing-here", Key="k")
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"


def test_presigned_urls_and_signed_form_uploads_still_work_unsigned_by_headers(srv):
    s3 = srv.client("s3")
    s3.create_bucket(Bucket="anon-presign")
    s3.put_object(Bucket="anon-presign", Key="f.txt", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "anon-presign", "Key": "f.txt"})
    assert http("GET", url) == (200, b"presigned")
    post = s3.generate_presigned_post("anon-presign", "up.txt")
    boundary = "tsunagi-anon"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
             for k, v in post["fields"].items()]
    body = ("".join(parts) + f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="up.txt"\r\n'
            f"Content-Type: text/plain\r\n\r\nuploaded\r\n--{boundary}--\r\n").encode()
    status, answer = http("POST", post["url"], body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 204, answer
    assert s3.get_object(Bucket="anon-presign", Key="up.txt")["Body"].read() == b"uploaded"
    # the same form with no credential at all is anonymous: refused on a bucket without a policy
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\nanon.txt\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nx\r\n'
            f"--{boundary}--\r\n").encode()
    status, answer = http("POST", post["url"], body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 403 and b"AccessDenied" in answer, answer
    with pytest.raises(ClientError):
        s3.head_object(Bucket="anon-presign", Key="anon.txt")


# -- services that take no anonymous calls ------------------------------------------------------------

def test_unsigned_lambda_sns_and_kms_calls_are_missing_authentication(srv):
    srv.client("lambda")          # the function list exists; an unsigned caller may not see it
    status, body = http("GET", f"{srv.url}/2015-03-31/functions/")
    assert status == 403 and b"Missing Authentication Token" in body, body
    status, body = http("POST", f"{srv.url}/2015-03-31/functions", b"{}", {"Content-Type": "application/json"})
    assert status == 403, body
    topic = srv.client("sns").create_topic(Name="anon-topic")["TopicArn"]
    status, body = form(srv.url + "/", Action="Publish", TopicArn=topic, Message="x", Version="2010-03-31")
    assert status == 403 and error_code(body) == "MissingAuthenticationToken", body
    status, body = http("POST", srv.url + "/", b"{}", {"Content-Type": "application/x-amz-json-1.1",
                                                       "X-Amz-Target": "TrentService.ListKeys"})
    assert status == 400 and b"Missing Authentication Token" in body, body
    # and the server keeps serving signed calls
    assert srv.client("sts").get_caller_identity()["Account"] == OWNER


def test_the_readmes_curl_with_aws_sigv4_sends_to_a_queue(srv):
    # examples/002-queue-worker-dlq/README.md: curl --aws-sigv4 with the dummy keys, as API Gateway would send
    import shutil
    import subprocess

    if shutil.which("curl") is None:
        pytest.skip("no curl on this machine")
    sqs = srv.sqs_client()
    url = sqs.create_queue(QueueName="anon-curl")["QueueUrl"]
    out = subprocess.run(["curl", "-s", "-i", "-X", "POST", url, "--aws-sigv4", "aws:amz:us-east-1:sqs",
                          "--user", "test:test", "-H", "Content-Type: application/x-www-form-urlencoded",
                          "--data-urlencode", "Action=SendMessage", "--data-urlencode", "MessageBody=curl"],
                         capture_output=True, text=True, timeout=30)
    assert " 200 " in out.stdout.splitlines()[0], out.stdout
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"][0]["Body"] == "curl"
    bare = subprocess.run(["curl", "-s", "-X", "POST", url, "-H", "Content-Type: application/x-www-form-urlencoded",
                           "--data-urlencode", "Action=SendMessage", "--data-urlencode", "MessageBody=bare"],
                          capture_output=True, text=True, timeout=30)
    assert "<Code>AccessDenied</Code>" in bare.stdout, bare.stdout

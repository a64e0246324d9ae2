"""A fuzz run of the HTTP edge: random malformed requests over raw sockets to a real server.

Hypothesis builds each request from parts that are each sometimes right and sometimes broken:
method, path (queue URLs, S3 keys, Lambda paths, invalid UTF-8, traversal), query (random
``Action``, junk pairs), headers (random ``X-Amz-Target``, content types, SigV4 junk, invalid
bytes), body (JSON junk and deep nesting, XML with entities, form junk, binary) and framing
(true, short or long ``Content-Length``; a long one means a truncated body, then a close).

Every answer must be below 500, or no answer and a clean close for bytes that are not HTTP,
within a bounded time; 501 ``NotImplemented`` (an operation or service tsunagi has not built
yet) is the one 5xx allowed, since it is a deliberate answer, not a failure. Afterwards the
server must answer a health check and a real SQS round trip, and its log must hold no
unhandled error. The number of requests follows the hypothesis profile (``default`` in
``make test``, ``long`` in ``make fuzz``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from tests.security.rawhttp import send_raw, server_errors
from tests.support.server import TsunagiServer

EXAMPLES_PER_PROFILE_EXAMPLE = 5   # the edge is cheap per example (one socket): 5x the profile's count

ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def edge():
    srv = TsunagiServer("sqlite", env={"TSUNAGI_BODY_TIMEOUT": "2"}).start()
    sqs = srv.sqs_client()
    sqs.create_queue(QueueName="fuzz-q")
    sqs.create_queue(QueueName="fuzz-q.fifo", Attributes={"FifoQueue": "true"})
    yield srv
    srv.stop()


def _u(b: bytes) -> str:
    return b.decode("latin-1")


SEGMENTS = st.one_of(
    st.sampled_from(["fuzz-q", "fuzz-q.fifo", ACCOUNT, "queue", "bucket", "key", "..", ".", "%2e%2e", "%2F", "%00",
                     "%ff%fe", "a%zz", "2015-03-31", "functions", "invocations", "restapis", "_tsunagi", "~",
                     "a;b", "a?b", "x" * 300]),
    st.binary(min_size=1, max_size=8).map(lambda b: _u(b.replace(b" ", b"_").replace(b"\r", b"r")
                                                       .replace(b"\n", b"n").replace(b"?", b"q")
                                                       .replace(b"#", b"h"))),
)
PATHS = st.one_of(
    st.sampled_from(["/", f"/{ACCOUNT}/fuzz-q", f"/{ACCOUNT}/fuzz-q.fifo", "/queue/fuzz-q", "/fuzz-bucket",
                     "/fuzz-bucket/some/key", "/2015-03-31/functions", "/2015-03-31/functions/f/invocations",
                     "/2014-03-28/logs", "/restapis", "/_tsunagi/health", "//", "/./../", "*"]),
    st.lists(SEGMENTS, min_size=1, max_size=5).map(lambda p: "/" + "/".join(p)),
).filter(lambda p: not p.startswith("/_tsunagi/reset"))

ACTIONS = st.sampled_from(["ListQueues", "SendMessage", "SendMessageBatch", "ReceiveMessage", "CreateQueue",
                           "DeleteMessage", "GetQueueAttributes", "SetQueueAttributes", "ChangeMessageVisibility",
                           "GetCallerIdentity", "Publish", "CreateTopic", "Nope", "", "__init__", "sendmessage"])
QUERY_KEYS = st.sampled_from(["Action", "Version", "QueueUrl", "QueueName", "MessageBody", "Attribute.1.Name",
                              "Attribute.1.Value", "MaxNumberOfMessages", "SendMessageBatchRequestEntry.1.Id",
                              "MessageAttribute.1.Value.DataType", "list-type", "prefix", "uploads", "versionId",
                              "X-Amz-Signature", "X-Amz-Credential", "x.1.y", "a..b", "%ff"])
QUERY_VALUES = st.one_of(st.sampled_from(["", "1", "-1", "99999999999999999999", "nan", "true", "%ff%fe",
                                          f"http://localhost/{ACCOUNT}/fuzz-q", "2012-11-05", "a+b", "x" * 2000]),
                         ACTIONS, st.binary(max_size=10).map(lambda b: "".join(f"%{c:02x}" for c in b)))
QUERIES = st.lists(st.tuples(QUERY_KEYS, QUERY_VALUES), max_size=6).map(
    lambda pairs: "&".join(f"{k}={v}" for k, v in pairs))

TARGETS = st.one_of(st.sampled_from(["AmazonSQS.SendMessage", "AmazonSQS.ReceiveMessage", "AmazonSQS.ListQueues",
                                     "AmazonSQS.CreateQueue", "AmazonSQS.SendMessageBatch", "AmazonSQS.Nope",
                                     "AmazonSQS.", "AmazonSQS", "Logs_20140328.PutLogEvents",
                                     "Logs_20140328.CreateLogGroup", "TrentService.Encrypt", "", "."]),
                    st.text(max_size=30).map(lambda t: t.encode("utf-8", "replace").decode("latin-1")))
CONTENT_TYPES = st.sampled_from(["application/x-amz-json-1.0", "application/x-amz-json-1.1", "application/json",
                                 "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; "
                                 "charset=\xff", "text/xml", "application/xml", "multipart/form-data",
                                 "application/octet-stream", "", "\xff\xfe"])
AUTHS = st.sampled_from([
    "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00",
    "AWS4-HMAC-SHA256 Credential=111111111111/20240101/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=0",
    "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/lambda/aws4_request",
    "AWS4-HMAC-SHA256 Credential=/////", "AWS4-HMAC-SHA256", "AWS test:sig", "Bearer x", "\xff\xfe", ""])
EXTRA_HEADERS = st.dictionaries(
    st.sampled_from(["X-Amz-Date", "X-Amz-Content-Sha256", "Content-MD5", "Range", "If-Modified-Since",
                     "X-Amz-Meta-A", "X-Amz-Copy-Source", "X-Amz-Tagging", "X-Amz-Security-Token", "Expect",
                     "X-Amz-Invocation-Type", "X-Amz-Log-Type", "X-Amz-Client-Context", "X-Amzn-Trace-Id",
                     "X-Amz-Decoded-Content-Length", "Content-Encoding", "X-Forwarded-Proto"]),
    st.one_of(st.sampled_from(["", "bytes=0-", "bytes=9-1", "aws-chunked", "gzip", "100-continue", "\xff",
                               "99999999999999999999", "-1", "Mon, 99 Foo", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                               "UNSIGNED-PAYLOAD", "/fuzz-bucket/../../etc/passwd", "a" * 4000]),
              st.text(max_size=20).map(lambda t: t.encode("utf-8", "replace").decode("latin-1"))),
    max_size=4).map(lambda d: {k: v.replace("\r", "").replace("\n", "") for k, v in d.items()})


def _deep(n: int, kind: str) -> bytes:
    if kind == "json":
        return b'{"QueueUrl": "x", "Entries": ' + b"[" * n + b"]" * n + b"}"
    if kind == "json-obj":
        return b'{"QueueName": "q", "Attributes": ' + b'{"a": ' * n + b'"1"' + b"}" * n + b"}"
    return b"<Tagging>" + b"<TagSet>" * n + b"</TagSet>" * n + b"</Tagging>"


BODIES = st.one_of(
    st.binary(max_size=300),
    st.recursive(st.none() | st.booleans() | st.integers(-(2 ** 80), 2 ** 80) | st.text(max_size=10),
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                     st.sampled_from(["QueueUrl", "QueueName", "MessageBody", "Entries", "Attributes",
                                      "MaxNumberOfMessages", "logGroupName", "Id", "x"]), inner, max_size=4),
                 max_leaves=15).map(lambda v: json.dumps(v).encode()),
    st.builds(_deep, st.sampled_from([10, 900, 1023, 1025, 10_000]), st.sampled_from(["json", "json-obj", "xml"])),
    st.sampled_from([
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "cccccccccc"><!ENTITY d "&b;&b;&b;&b;&b;&b;&b;&b;">'
        b'<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;">]><Tagging><TagSet><Tag><Key>&e;</Key><Value>v</Value>'
        b"</Tag></TagSet></Tagging>",
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><Delete><Object><Key>&x;'
        b"</Key></Object></Delete>",
        b"<CreateBucketConfiguration><LocationConstraint>\xff</LocationConstraint></CreateBucketConfiguration>",
        b"Action=SendMessage&QueueUrl=http://localhost/000000000000/fuzz-q&MessageBody=%ff%fe",
        b"Action=SendMessage&MessageBody=\x00\x01&DelaySeconds=1e9",
        b"Action=SendMessageBatch&SendMessageBatchRequestEntry.99999999999999999999.Id=a",
        b"Action=CreateQueue&QueueName=q&Attribute.1.Name=Policy&Attribute.1.Value={",
        b'{"QueueUrl": "http://localhost/000000000000/fuzz-q", "MessageBody": "\\ud800"}',
        b'{"QueueUrl": "http://localhost/000000000000/fuzz-q.fifo", "MessageBody": "x", "MessageGroupId": ""}',
        b'{"QueueUrl": "http://localhost/000000000000/fuzz-q", "MaxNumberOfMessages": 1e999}',
        b'{"QueueUrl": "http://localhost/000000000000/fuzz-q", "Entries": [{"Id": "a"}, {"Id": "a"}]}',
        b"\xef\xbb\xbf{}", b"{}", b"", b"null", b"[]"]),
)


@st.composite
def raw_requests(draw) -> tuple[bytes, bool]:
    """(request bytes, whether the body is truncated by a Content-Length longer than it)."""
    method = draw(st.sampled_from(["GET", "POST", "POST", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS",
                                   "FOO", "get"]))
    path = draw(PATHS)
    query = draw(QUERIES)
    target = path + ("?" + query if query else "")
    headers = {"Host": draw(st.sampled_from(["localhost", "localhost:4566", "fuzz-bucket.s3.localhost",
                                             "x.execute-api.localhost", "sqs.us-east-1.amazonaws.com", "\xff",
                                             "a" * 300]))}
    if draw(st.booleans()):
        headers["X-Amz-Target"] = draw(TARGETS)
    if draw(st.booleans()):
        headers["Content-Type"] = draw(CONTENT_TYPES)
    if draw(st.booleans()):
        headers["Authorization"] = draw(AUTHS)
    headers.update(draw(EXTRA_HEADERS))
    body = draw(BODIES)
    framing = draw(st.sampled_from(["exact", "exact", "exact", "long", "short", "none", "chunked"]))
    truncated = framing == "long"
    head = [f"{method} ".encode() + target.encode("latin-1", "replace") + b" HTTP/1.1"]
    head += [f"{k}: {v}".encode("latin-1", "replace") for k, v in headers.items()]
    if framing == "exact":
        head.append(f"Content-Length: {len(body)}".encode())
    elif framing == "long":
        head.append(f"Content-Length: {len(body) + draw(st.integers(1, 10_000))}".encode())
    elif framing == "short" and body:
        head.append(f"Content-Length: {draw(st.integers(0, len(body) - 1))}".encode())
    elif framing == "chunked":
        head.append(b"Transfer-Encoding: chunked")
        body = (f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n") if draw(st.booleans()) else \
            b"zz\r\n" + body
    return b"\r\n".join(head) + b"\r\n\r\n" + body, truncated


def _acceptable(ex, data: bytes) -> bool:
    if ex.status is None:
        return ex.outcome in ("closed", "reset")  # not HTTP, or nothing left to answer (truncated, then closed)
    if ex.status == 501:
        return b"NotImplemented" in ex.raw or data.startswith(b"HEAD ")  # a HEAD answer has no body to show it
    return ex.status < 500


@given(req=raw_requests())
@settings(max_examples=settings().max_examples * EXAMPLES_PER_PROFILE_EXAMPLE)
def test_malformed_requests_never_get_a_5xx_or_a_hang(edge, req) -> None:
    data, truncated = req
    note(repr(data[:3000]))
    ex = send_raw(edge.port, data, timeout=10, close_write=True, wait_for_close=False)
    assert ex.outcome != "timeout", f"no answer within 10 s: {ex}"
    assert _acceptable(ex, data), str(ex)


def test_server_still_serves_after_the_fuzz(edge) -> None:
    ex = send_raw(edge.port, b"GET /_tsunagi/health HTTP/1.1\r\nHost: localhost\r\n\r\n", timeout=5)
    assert ex.status == 200, str(ex)
    sqs = edge.sqs_client()
    url = sqs.create_queue(QueueName="after-fuzz")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="still here")
    msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in msgs] == ["still here"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msgs[0]["ReceiptHandle"])
    errors = server_errors(Path(edge.log_path).read_text(errors="replace"))
    assert not errors, "the server logged unhandled errors:\n" + "\n".join(errors[:30])

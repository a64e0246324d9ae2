"""Malformed and hostile requests at the HTTP edge, one named case each, over raw sockets.

Every case must end in a 4xx (or, for bytes that are not HTTP at all, a clean close), quickly,
and leave the server answering: each test ends by checking health and a real SQS round trip,
and the module ends by checking the server log holds no unhandled error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.security.rawhttp import any_signature, request, send_raw, server_errors
from tests.support.server import TsunagiServer

SQS_JSON = {"Content-Type": "application/x-amz-json-1.0", **any_signature("sqs")}
BODY_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def edge():
    srv = TsunagiServer("sqlite", env={"TSUNAGI_BODY_TIMEOUT": str(BODY_TIMEOUT)}).start()
    yield srv
    srv.stop()
    errors = server_errors(Path(srv.log_path).read_text(errors="replace"))
    assert not errors, "the server logged unhandled errors:\n" + "\n".join(errors[:20])


@pytest.fixture
def port(edge):
    yield edge.port
    assert_still_serving(edge)


def assert_still_serving(srv: TsunagiServer) -> None:
    health = send_raw(srv.port, request("GET", "/_tsunagi/health"), timeout=5)
    assert health.status == 200, str(health)
    sqs = srv.sqs_client()
    url = sqs.create_queue(QueueName="edge-canary")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="still here")
    msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
    assert [m["Body"] for m in msgs] == ["still here"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msgs[0]["ReceiptHandle"])


def sqs_json(op: str, body: bytes, **headers: str) -> bytes:
    return request("POST", "/", {**SQS_JSON, "X-Amz-Target": f"AmazonSQS.{op}", **headers}, body)


def assert_4xx(ex, *codes: str) -> None:
    assert ex.status is not None and 400 <= ex.status < 500, str(ex)
    if codes:
        assert any(c.encode() in ex.raw for c in codes), str(ex)


# -- truncated and stalled bodies ------------------------------------------------------------------


def test_truncated_body_then_close_is_answered_or_dropped_cleanly(port):
    # Content-Length says 500, 20 bytes arrive, the client stops sending: a client that only half-closed
    # may still be reading, so it is told IncompleteBody (4xx); either way never a 5xx
    ex = send_raw(port, sqs_json("SendMessage", b'{"QueueUrl": "http://x', ) .replace(
        b"Content-Length: 22", b"Content-Length: 500"), timeout=5)
    if ex.status is None:
        assert ex.outcome in ("closed", "reset"), str(ex)
    else:
        assert_4xx(ex, "IncompleteBody")


def test_stalled_body_times_out_with_request_timeout(port):
    ex = send_raw(port, request("POST", "/", {**SQS_JSON, "X-Amz-Target": "AmazonSQS.ListQueues"}, b"{",
                                content_length=1000), close_write=False, timeout=BODY_TIMEOUT + 5,
                  wait_for_close=True)
    assert_4xx(ex, "RequestTimeout")
    assert ex.outcome == "closed" and ex.seconds < BODY_TIMEOUT + 3, str(ex)


def test_content_length_over_the_limit_is_refused_before_reading(port):
    ex = send_raw(port, request("POST", "/", {**SQS_JSON, "X-Amz-Target": "AmazonSQS.ListQueues"}, b"",
                                content_length=10 ** 12), close_write=False, timeout=5)
    assert ex.status == 413, str(ex)


@pytest.mark.parametrize("value", [b"-1", b"abc", b"1e3", b"99999999999999999999999", b"1, 2"])
def test_nonsense_content_length(port, value):
    raw = b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonSQS.ListQueues\r\nContent-Length: " + value + \
        b"\r\n\r\n{}"
    ex = send_raw(port, raw, timeout=5)
    assert ex.status is None or 400 <= ex.status < 500, str(ex)
    assert ex.status is not None or ex.outcome in ("closed", "reset"), str(ex)


def test_bad_chunked_framing(port):
    raw = b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonSQS.ListQueues\r\nTransfer-Encoding: chunked\r\n\r\n" \
          b"zz\r\n{}\r\n0\r\n\r\n"
    ex = send_raw(port, raw, timeout=5)
    assert ex.status is None or 400 <= ex.status < 500, str(ex)


# -- huge heads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [70_000, 1_000_000, 20_000_000])
def test_huge_header_is_refused_with_431(port, size):
    ex = send_raw(port, request("GET", "/", {"X-Big": b"a" * size}), timeout=10)
    # 431 when the server's answer arrives before the client finished sending; else a reset
    assert ex.status == 431 or (ex.status is None and ex.outcome == "reset"), str(ex)


def test_many_small_headers_are_refused_with_431(port):
    ex = send_raw(port, request("GET", "/", {f"X-H{i}": "v" * 20 for i in range(5000)}), timeout=10)
    assert ex.status == 431 or (ex.status is None and ex.outcome == "reset"), str(ex)


def test_huge_url_is_refused(port):
    ex = send_raw(port, request("GET", "/?" + "a=b&" * 50_000), timeout=10)
    assert ex.status == 431 or (ex.status is None and ex.outcome == "reset"), str(ex)


def test_ordinary_large_headers_still_work(port):
    # a 16 KiB header (long session tokens, big presigned URLs) is well inside the limit
    ex = send_raw(port, sqs_json("ListQueues", b"{}", **{"X-Amz-Security-Token": "t" * 16_000}), timeout=5)
    assert ex.status == 200, str(ex)


# -- invalid UTF-8 everywhere ---------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    b"GET /\xff\xfe/key HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /bucket/\xc3\x28 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /?Action=ListQueues&QueueNamePrefix=%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /000000000000/q?Action=SendMessage&MessageBody=%c3%28 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonSQS.\xff\xfe\r\nContent-Length: 2\r\n\r\n{}",
    b"POST / HTTP/1.1\r\nHost: \xff\xfe.s3.localhost\r\nContent-Length: 0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256 Credential=\xff/20240101/us-east-1/sqs/"
    b"aws4_request, SignedHeaders=host, Signature=00\r\nX-Amz-Target: AmazonSQS.ListQueues\r\n\r\n",
], ids=["path", "path-s3", "query", "query-sqs", "target", "host", "authorization"])
def test_invalid_utf8_in_the_head(port, raw):
    ex = send_raw(port, raw, timeout=5)
    assert ex.status is None and ex.outcome in ("closed", "reset") or ex.status < 500, str(ex)


@pytest.mark.parametrize("body", [
    b'{"QueueName": "\xff\xfe"}',
    b'{"QueueName": "ok\xc3\x28"}',
    b"\xef\xbb\xbf{}",
    b'{"QueueName": "\\ud800"}',
], ids=["bytes", "overlong", "bom", "lone-surrogate-escape"])
def test_invalid_utf8_in_a_json_body(port, body):
    ex = send_raw(port, sqs_json("CreateQueue", body), timeout=5)
    assert_4xx(ex)


def test_invalid_utf8_in_a_query_body(port):
    raw = request("POST", "/", {"Content-Type": "application/x-www-form-urlencoded"},
                  b"Action=CreateQueue&QueueName=\xff\xfe")
    assert_4xx(send_raw(port, raw, timeout=5))


def test_invalid_utf8_in_an_xml_body(port):
    body = b"<CreateBucketConfiguration><LocationConstraint>\xff\xfe</LocationConstraint></CreateBucketConfiguration>"
    assert_4xx(send_raw(port, request("PUT", "/utf8-bucket", {}, body), timeout=5))


# -- bombs and nesting ----------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
"""


@pytest.mark.parametrize("path,root", [
    ("/bomb-bucket", b"<CreateBucketConfiguration><LocationConstraint>&lol9;</LocationConstraint>"
                     b"</CreateBucketConfiguration>"),
    ("/bomb-bucket?tagging", b"<Tagging><TagSet><Tag><Key>k</Key><Value>&lol9;</Value></Tag></TagSet></Tagging>"),
    ("/bomb-bucket?delete", b"<Delete><Object><Key>&lol9;</Key></Object></Delete>"),
])
@pytest.mark.parametrize("prolog", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "xxe"])
def test_xml_entities_are_refused(port, path, root, prolog):
    body = prolog + root.replace(b"&lol9;", b"&lol9;" if prolog is BILLION_LAUGHS else b"&xxe;")
    method = "POST" if path.endswith("?delete") else "PUT"
    ex = send_raw(port, request(method, path, {"Content-Type": "application/xml"}, body), timeout=5)
    assert_4xx(ex, "MalformedXML", "NoSuchBucket")
    assert ex.seconds < 2, f"took {ex.seconds:.2f}s: entities were expanded?"
    assert b"root:" not in ex.raw


@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000])
def test_deeply_nested_json(port, depth):
    nested = b'{"QueueName": "q", "Attributes": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"
    assert_4xx(send_raw(port, sqs_json("CreateQueue", nested), timeout=5))
    arrays = b'{"Entries": ' + b"[" * depth + b"]" * depth + b"}"
    assert_4xx(send_raw(port, sqs_json("SendMessageBatch", arrays), timeout=5))


def test_deeply_nested_xml(port):
    body = b"<Tagging>" + b"<TagSet>" * 50_000 + b"</TagSet>" * 50_000 + b"</Tagging>"
    ex = send_raw(port, request("PUT", "/deep-bucket?tagging", {}, body), timeout=10)
    assert_4xx(ex)


def test_deeply_nested_query_keys(port):
    key = ".".join(["a"] * 20_000)
    raw = request("POST", "/", {"Content-Type": "application/x-www-form-urlencoded"},
                  f"Action=CreateQueue&QueueName=q&{key}=1&Attribute.{'1.' * 5000}Name=x".encode())
    ex = send_raw(port, raw, timeout=5)
    assert ex.status is not None and ex.status < 500, str(ex)


def test_json_with_huge_numbers(port):
    for body in (b'{"QueueUrl": "x", "MaxNumberOfMessages": ' + b"9" * 5000 + b"}",
                 b'{"QueueUrl": "x", "MaxNumberOfMessages": 1e999}',
                 b'{"QueueUrl": "x", "VisibilityTimeout": -99999999999999999999}'):
        assert_4xx(send_raw(port, sqs_json("ReceiveMessage", body), timeout=5))


# -- wrong content types and confused protocols -------------------------------------------------------


@pytest.mark.parametrize("ctype", ["application/x-www-form-urlencoded", "text/xml", "application/json",
                                   "multipart/form-data; boundary=x", "application/octet-stream", ""])
def test_wrong_content_type_on_sqs_json(port, ctype):
    ex = send_raw(port, request("POST", "/", {"Content-Type": ctype, "X-Amz-Target": "AmazonSQS.CreateQueue"},
                                b"Action=CreateQueue&QueueName=ct"), timeout=5)
    assert_4xx(ex)


def test_json_body_sent_as_a_form(port):
    raw = request("POST", "/", {"Content-Type": "application/x-www-form-urlencoded"},
                  json.dumps({"Action": "CreateQueue", "QueueName": "x"}).encode())
    ex = send_raw(port, raw, timeout=5)
    assert_4xx(ex)


def test_form_body_sent_to_s3_xml_operation(port):
    raw = request("PUT", "/form-bucket?tagging", {"Content-Type": "application/x-www-form-urlencoded"},
                  b"Action=TagResource&a=b")
    assert_4xx(send_raw(port, raw, timeout=5))


@pytest.mark.parametrize("target", ["", ".", "AmazonSQS", "AmazonSQS.", "AmazonSQS.Nope", "AmazonSQS..ListQueues",
                                    "AmazonSQS.ListQueues.Extra", "Logs_20140328.Nope", "x" * 5000,
                                    "AmazonSQS.__init__", "AmazonSQS.__class__"])
def test_odd_targets(port, target):
    ex = send_raw(port, request("POST", "/", {**SQS_JSON, "X-Amz-Target": target}, b"{}"), timeout=5)
    assert_4xx(ex)


@pytest.mark.parametrize("action", ["", "Nope", "__init__", "__class__", "send_message", "SENDMESSAGE",
                                    "SendMessage\x00", "List Queues", "a" * 5000])
def test_odd_actions(port, action):
    raw = request("POST", "/", {"Content-Type": "application/x-www-form-urlencoded"},
                  b"Action=" + action.encode() + b"&Version=2012-11-05")
    assert_4xx(send_raw(port, raw, timeout=5))


def test_binary_junk_is_not_http(port):
    for junk in (b"\x00" * 64, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,  # a TLS hello
                 b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", bytes(range(256)) * 4, b"GET\r\n\r\n"):
        ex = send_raw(port, junk, timeout=5)
        assert ex.status is None and ex.outcome in ("closed", "reset") or 400 <= ex.status < 500, str(ex)

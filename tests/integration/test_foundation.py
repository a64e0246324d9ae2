"""The server foundation, end to end: a real `tsunagi serve`, real boto3 clients and the aws CLI."""

from __future__ import annotations

import json
import signal
import socket
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.support.server import TsunagiServer


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None):
    req = urllib.request.Request(url, method=method, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_health_reports_services_and_store(server):
    status, headers, body = http("GET", f"{server.url}/_tsunagi/health")
    assert status == 200
    doc = json.loads(body)
    assert doc["status"] == "ready"
    assert "sts" in doc["services"] and "sqs" in doc["services"]
    assert doc["store"]["kind"] == ("sqlite" if server.kind == "sqlite" else "postgresql")


def test_get_caller_identity_default_account(server):
    ident = server.client("sts").get_caller_identity()
    assert ident["Account"] == "000000000000"
    assert ident["Arn"] == "arn:aws:iam::000000000000:root"


def test_a_12_digit_access_key_selects_the_account(server):
    ident = server.client("sts", access_key="111111111111").get_caller_identity()
    assert ident["Account"] == "111111111111"


def test_aws_cli_get_caller_identity(server):
    out = json.loads(server.aws("sts", "get-caller-identity").stdout)
    assert out["Account"] == "000000000000"
    out = json.loads(server.aws("sts", "get-caller-identity", access_key="111111111111").stdout)
    assert out["Account"] == "111111111111"


def test_an_operation_not_built_yet_says_so_not_500(server):
    with pytest.raises(ClientError) as e:
        server.client("sts").decode_authorization_message(EncodedMessage="x")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert e.value.response["Error"]["Code"] == "NotImplemented"


def test_a_request_for_no_service_is_a_clear_4xx(server):
    status, _, body = http("POST", f"{server.url}/", b"Action=Frobnicate",
                           {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400
    assert b"could not tell which AWS service" in body


def test_an_unknown_action_for_a_query_service_is_invalid_action(server):
    # signed (any signature with any key under --auth open): an unsigned call is refused before its action
    status, _, body = http("POST", f"{server.url}/", b"Action=Frobnicate&Version=2011-06-15",
                           {"Content-Type": "application/x-www-form-urlencoded", "X-Amz-Date": "20260101T000000Z",
                            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sts/aws4_request, "
                                             "SignedHeaders=host;x-amz-date, Signature=00"})
    assert status == 400
    assert b"InvalidAction" in body


def test_oversized_bodies_are_refused_before_they_are_read(server):
    # The client declares 17 MiB and sends only the first bytes: the answer comes from the headers alone.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                  b"Content-Length: 17825792\r\n\r\nAction=GetCallerIdentity&Version=2011-06-15&Pad=xxxx")
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413")
    assert b"exceeds the limit" in reply
    # and the server is fine afterwards
    assert server.client("sts").get_caller_identity()["Account"] == "000000000000"


def test_unknown_internal_path_is_404(server):
    status, _, _ = http("GET", f"{server.url}/_tsunagi/nope")
    assert status == 404


def test_sigterm_drains_and_exits_cleanly(tmp_path):
    srv = TsunagiServer("sqlite", data_dir=str(tmp_path)).start()
    assert srv.client("sts").get_caller_identity()["Account"] == "000000000000"
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(15) == 0
    # the store was closed cleanly: the same data dir serves again
    srv.start()
    assert srv.client("sts").get_caller_identity()["Account"] == "000000000000"
    srv.stop()


def test_default_account_is_configurable(tmp_path):
    srv = TsunagiServer("sqlite", data_dir=str(tmp_path), extra_args=["--default-account", "222222222222"]).start()
    try:
        assert srv.client("sts").get_caller_identity()["Account"] == "222222222222"
    finally:
        srv.stop()


def test_strict_auth_refuses_unsigned_requests_and_non_root_resets(tmp_path):
    srv = TsunagiServer("sqlite", data_dir=str(tmp_path), extra_args=["--auth", "strict"]).start()
    try:
        status, _, _ = http("POST", f"{srv.url}/", b"Action=GetCallerIdentity&Version=2011-06-15",
                            {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 403
        status, _, _ = http("POST", f"{srv.url}/_tsunagi/reset", b"")
        assert status == 403
        assert srv.client("sts").get_caller_identity()["Account"] == "000000000000"
    finally:
        srv.stop()

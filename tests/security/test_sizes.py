"""Sizes are checked before the bytes are read: code from S3, a function's declared result, a zip's
entry count; AWS's 50 MB ZipFile is accepted. Real server, loopback only; each case asserts the
refusal or the bound, and that the server keeps serving."""

from __future__ import annotations

import io
import os
import zipfile

import pytest
from botocore.exceptions import ClientError

from tests.integration.lambda_support import ROLE, create, invoke, make_zip
from tests.security.probe import StallProbe, rss_mb
from tests.support.server import TsunagiServer

BIG_RESULT = '''
import os, struct, sys

def seven_mb(event, context):
    return "x" * (7 * 1024 * 1024)

def forged(event, context):
    # write a result frame that claims 3 GB straight onto the worker's pipe, then send 256 MB of it
    fd = sys.stdout._channel.fd_out
    os.write(fd, struct.pack(">cII", b"O", 0, 3 * 1024 ** 3))
    block = b"x" * (1 << 20)
    for _ in range(256):
        os.write(fd, block)
    os._exit(0)
'''


@pytest.fixture(scope="module")
def srv():
    server = TsunagiServer("sqlite").start()
    yield server
    server.stop()


def _lambda(srv):
    return srv.client("lambda")


def _code(e):
    return e.value.response["Error"]["Code"]


def test_a_50_mb_zip_file_is_accepted(srv):
    lam = _lambda(srv)
    # 36 MB that does not compress: 48 MB of base64 in the JSON body, over the 16 MB body limit of other calls
    package = make_zip({"app.py": "def handler(e, c):\n    return 'big'\n", "blob.bin": os.urandom(36 << 20)})
    lam.create_function(FunctionName="big-zip", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": package})
    assert lam.get_function(FunctionName="big-zip")["Configuration"]["CodeSize"] == len(package)
    lam.update_function_code(FunctionName="big-zip", ZipFile=package)
    lam.delete_function(FunctionName="big-zip")


def test_code_from_s3_is_refused_by_its_size_before_it_is_read(srv):
    s3, lam = srv.client("s3"), _lambda(srv)
    s3.create_bucket(Bucket="huge-code")
    s3.put_object(Bucket="huge-code", Key="fn.zip", Body=b"\0" * (300 << 20))
    before = rss_mb(srv.proc.pid)
    for _ in range(3):
        with pytest.raises(ClientError) as e:
            lam.create_function(FunctionName="from-s3", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                                Code={"S3Bucket": "huge-code", "S3Key": "fn.zip"})
        assert _code(e) == "RequestTooLargeException"
    grown = rss_mb(srv.proc.pid) - before
    assert grown < 150, f"the server grew {grown:.0f} MB refusing a 300 MB code object"
    assert srv.sqs_client().list_queues() is not None


def test_a_result_over_6_mb_is_response_size_too_large(srv):
    lam = _lambda(srv)
    create(lam, "big-result", "app.seven_mb", files={"app.py": BIG_RESULT}, MemorySize=512)
    r, body = invoke(lam, "big-result")
    assert r["FunctionError"] == "Unhandled" and body["errorType"] == "Function.ResponseSizeTooLarge"


def test_a_declared_3_gb_result_is_not_read_into_memory(srv):
    lam = _lambda(srv)
    create(lam, "forged-result", "app.forged", files={"app.py": BIG_RESULT}, MemorySize=512)
    before = rss_mb(srv.proc.pid)
    r, body = invoke(lam, "forged-result")
    assert r.get("FunctionError") == "Unhandled"
    grown = rss_mb(srv.proc.pid) - before
    assert grown < 150, f"the server grew {grown:.0f} MB on a function's forged result"
    assert srv.sqs_client().list_queues() is not None


def test_a_zip_with_too_many_entries_is_refused(srv):
    lam = _lambda(srv)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return 1\n")
        for i in range(110_000):
            zf.writestr(f"f/{i}", b"")
    with StallProbe(srv.port) as probe:
        for _ in range(3):
            with pytest.raises(ClientError) as e:
                lam.create_function(FunctionName="many-entries", Runtime="python3.11", Role=ROLE,
                                    Handler="app.handler", Code={"ZipFile": buf.getvalue()})
            assert _code(e) == "InvalidParameterValueException"
    # the count comes from the zip's end record, and the inspection runs off the event loop
    assert probe.longest < 1.0, f"the event loop stalled {probe.longest:.2f} s on a {len(buf.getvalue())}-byte zip"
    assert srv.sqs_client().list_queues() is not None

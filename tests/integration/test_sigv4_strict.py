"""``tsunagi serve --auth strict``: every request's SigV4 signature is verified, with real boto3 clients.

The server's root key pair is set (``TSUNAGI_ACCESS_KEY_ID`` / ``TSUNAGI_SECRET_ACCESS_KEY``), so the
local convention (any key, secret ``test``) no longer works. Each failure (wrong secret, unknown key,
a clock more than 15 minutes off, an expired presigned URL, a tampered chunk of a signed aws-chunked
upload, a forged POST policy) is checked in the error form of each protocol: query (SQS query, SNS),
json (SQS json, KMS), rest-json (Lambda) and rest-xml (S3).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlencode, urlsplit

import boto3
import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.server import REPO, TsunagiServer, _query_sqs_session

ROOT_KEY = "AKIAROOTSTRICT000001"
ROOT_SECRET = "strict/root+secret0123456789abcdefghijk"
ENV = {"TSUNAGI_AUTH": "strict", "TSUNAGI_ACCESS_KEY_ID": ROOT_KEY, "TSUNAGI_SECRET_ACCESS_KEY": ROOT_SECRET}
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def strict(request: pytest.FixtureRequest) -> Iterator[TsunagiServer]:
    store = "sqlite" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    srv = TsunagiServer(store, env=dict(ENV)).start()
    try:
        yield srv
    finally:
        srv.stop()


def client(srv: TsunagiServer, service: str, *, key: str = ROOT_KEY, secret: str = ROOT_SECRET,
           token: str | None = None, query: bool = False, **config: Any) -> Any:
    cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=30, connect_timeout=5, **config)
    if query:       # SQS's query protocol (older SDKs)
        session = boto3.Session(botocore_session=_query_sqs_session(), aws_access_key_id=key,
                                aws_secret_access_key=secret, aws_session_token=token, region_name="us-east-1")
        return session.client("sqs", endpoint_url=srv.url, config=cfg)
    return boto3.client(service, endpoint_url=srv.url, aws_access_key_id=key, aws_secret_access_key=secret,
                        aws_session_token=token, region_name="us-east-1", config=cfg)


# one cheap call per protocol
CALLS: dict[str, tuple[str, bool, Any]] = {
    "sqs-query": ("sqs", True, lambda c: c.list_queues()),
    "sns": ("sns", False, lambda c: c.list_topics()),
    "sqs-json": ("sqs", False, lambda c: c.list_queues()),
    "kms": ("kms", False, lambda c: c.list_keys()),
    "lambda": ("lambda", False, lambda c: c.list_functions()),
    "s3": ("s3", False, lambda c: c.list_buckets()),
}


def call(srv: TsunagiServer, which: str, **kw: Any) -> dict[str, Any]:
    service, query, fn = CALLS[which]
    return fn(client(srv, service, query=query, **kw))  # type: ignore[no-any-return]


def failure(srv: TsunagiServer, which: str, **kw: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as e:
        call(srv, which, **kw)
    err = e.value.response["Error"]
    return err["Code"], err.get("Message", ""), e.value.response["ResponseMetadata"]["HTTPStatusCode"]


MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details.")
S3_MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your key and "
               "signing method.")
INVALID_TOKEN = "The security token included in the request is invalid."


# -- header-signed requests --------------------------------------------------------------------------------

@pytest.mark.parametrize("which", list(CALLS))
def test_requests_signed_with_the_root_key_pair_are_served(strict: TsunagiServer, which: str) -> None:
    assert call(strict, which)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_the_root_key_is_the_account_root(strict: TsunagiServer) -> None:
    ident = client(strict, "sts").get_caller_identity()
    assert ident["Arn"] == "arn:aws:iam::000000000000:root" and ident["Account"] == "000000000000"


@pytest.mark.parametrize(("which", "code", "message", "status"), [
    ("sqs-query", "SignatureDoesNotMatch", MISMATCH, 403),
    ("sns", "SignatureDoesNotMatch", MISMATCH, 403),
    ("sqs-json", "SignatureDoesNotMatch", MISMATCH, 403),
    ("kms", "InvalidSignatureException", MISMATCH, 400),
    ("lambda", "InvalidSignatureException", MISMATCH, 403),
    ("s3", "SignatureDoesNotMatch", S3_MISMATCH, 403),
])
def test_a_wrong_secret_is_refused(strict: TsunagiServer, which: str, code: str, message: str, status: int) -> None:
    assert failure(strict, which, secret="not-the-secret") == (code, message, status)


def test_the_local_convention_key_no_longer_works(strict: TsunagiServer) -> None:
    assert failure(strict, "sqs-json", key="test", secret="test")[0] == "InvalidClientTokenId"


@pytest.mark.parametrize(("which", "code", "status"), [
    ("sqs-query", "InvalidClientTokenId", 403),
    ("sns", "InvalidClientTokenId", 403),
    ("sqs-json", "InvalidClientTokenId", 403),
    ("kms", "UnrecognizedClientException", 400),
    ("lambda", "UnrecognizedClientException", 403),
])
def test_an_unknown_key_is_refused(strict: TsunagiServer, which: str, code: str, status: int) -> None:
    assert failure(strict, which, key="AKIANOSUCHKEY0000001") == (code, INVALID_TOKEN, status)


def test_an_unknown_key_is_invalid_access_key_id_for_s3(strict: TsunagiServer) -> None:
    with pytest.raises(ClientError) as e:
        client(strict, "s3", key="AKIANOSUCHKEY0000001").list_buckets()
    err = e.value.response["Error"]
    assert err["Code"] == "InvalidAccessKeyId" and err["AWSAccessKeyId"] == "AKIANOSUCHKEY0000001"
    assert err["Message"] == "The AWS Access Key Id you provided does not exist in our records."


def test_a_session_token_on_a_long_term_key_is_refused(strict: TsunagiServer) -> None:
    assert failure(strict, "sns", token="made-up-token")[0] == "InvalidClientTokenId"
    with pytest.raises(ClientError) as e:
        client(strict, "s3", token="made-up-token").list_buckets()
    assert e.value.response["Error"]["Code"] == "InvalidToken"


@contextlib.contextmanager
def skewed(minutes: float) -> Iterator[None]:
    """botocore signing as if its clock were ``minutes`` off (its own signer and, when awscrt is
    installed, the CRT one it prefers)."""
    moved = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=minutes)

    def now(remove_tzinfo: bool = True) -> datetime.datetime:
        return moved.replace(tzinfo=None) if remove_tzinfo else moved

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch("botocore.auth.get_current_datetime", now))
        try:
            import botocore.crt.auth  # noqa: F401
            stack.enter_context(mock.patch("botocore.crt.auth.get_current_datetime", now))
        except ImportError:
            pass
        yield


@pytest.mark.parametrize(("which", "code", "status"), [
    ("sqs-query", "SignatureDoesNotMatch", 403),
    ("sns", "SignatureDoesNotMatch", 403),
    ("sqs-json", "SignatureDoesNotMatch", 403),
    ("kms", "InvalidSignatureException", 400),
    ("lambda", "InvalidSignatureException", 403),
])
def test_a_clock_more_than_15_minutes_off_is_refused(strict: TsunagiServer, which: str, code: str,
                                                     status: int) -> None:
    with skewed(-20):
        got, message, got_status = failure(strict, which)
    assert (got, got_status) == (code, status)
    assert message.startswith("Signature expired: ") and message.endswith(" - 15 min.)")
    assert " is now earlier than " in message
    with skewed(+20):
        got, message, _ = failure(strict, which)
    assert got == code and message.startswith("Signature not yet current: ") and message.endswith(" + 15 min.)")
    with skewed(-10):       # within the 15 minutes: served
        call(strict, which)


def test_a_clock_more_than_15_minutes_off_is_request_time_too_skewed_for_s3(strict: TsunagiServer) -> None:
    with skewed(-20), pytest.raises(ClientError) as e:
        client(strict, "s3").list_buckets()
    err = e.value.response["Error"]
    assert err["Code"] == "RequestTimeTooSkewed" and err["MaxAllowedSkewMilliseconds"] == "900000"
    assert err["Message"] == "The difference between the request time and the current time is too large."


# -- presigned ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bucket(strict: TsunagiServer) -> str:
    s3 = client(strict, "s3")
    s3.create_bucket(Bucket="strict-bucket")
    s3.put_object(Bucket="strict-bucket", Key="dir/a file.txt", Body=b"strict body")
    return "strict-bucket"


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_presigned_s3_urls_are_verified(strict: TsunagiServer, bucket: str, version: str) -> None:
    params = {"Bucket": bucket, "Key": "dir/a file.txt"}
    url = client(strict, "s3", signature_version=version).generate_presigned_url("get_object", Params=params)
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == b"strict body"
    forged = client(strict, "s3", secret="guessed", signature_version=version).generate_presigned_url(
        "get_object", Params=params)
    r = requests.get(forged, timeout=10)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text
    stranger = client(strict, "s3", key="AKIANOSUCHKEY0000001", signature_version=version).generate_presigned_url(
        "get_object", Params=params)
    r = requests.get(stranger, timeout=10)
    assert r.status_code == 403 and "<Code>InvalidAccessKeyId</Code>" in r.text


def test_a_presigned_s3_put_is_verified(strict: TsunagiServer, bucket: str) -> None:
    s3 = client(strict, "s3", signature_version="s3v4")
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "put.bin"}, ExpiresIn=300)
    assert requests.put(put, data=b"browser bytes", timeout=10).status_code == 200
    assert s3.get_object(Bucket=bucket, Key="put.bin")["Body"].read() == b"browser bytes"
    other = put.replace("put.bin", "elsewhere.bin")
    assert requests.put(other, data=b"x", timeout=10).status_code == 403


def test_an_expired_presigned_s3_url_is_refused(strict: TsunagiServer, bucket: str) -> None:
    s3 = client(strict, "s3", signature_version="s3v4")
    with skewed(-60):
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/a file.txt"},
                                        ExpiresIn=300)
    r = requests.get(url, timeout=10)
    assert r.status_code == 403
    assert "<Code>AccessDenied</Code>" in r.text and "<Message>Request has expired</Message>" in r.text


@pytest.mark.parametrize("which", ["sqs-query", "sns"])
def test_presigned_query_requests_are_verified(strict: TsunagiServer, which: str) -> None:
    service, query, _ = CALLS[which]
    method = "list_queues" if service == "sqs" else "list_topics"
    url = client(strict, service, query=query).generate_presigned_url(method, Params={}, HttpMethod="GET")
    r = requests.get(url, timeout=10)
    assert r.status_code == 200, r.text
    forged = client(strict, service, query=query, secret="guessed").generate_presigned_url(
        method, Params={}, HttpMethod="GET")
    r = requests.get(forged, timeout=10)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text
    stranger = client(strict, service, query=query, key="AKIANOSUCHKEY0000001").generate_presigned_url(
        method, Params={}, HttpMethod="GET")
    r = requests.get(stranger, timeout=10)
    assert r.status_code == 403 and "<Code>InvalidClientTokenId</Code>" in r.text
    # other services than S3 hold a presigned request to 15 minutes from its signing, whatever X-Amz-Expires says
    with skewed(-20):
        old = client(strict, service, query=query).generate_presigned_url(method, Params={}, HttpMethod="GET",
                                                                         ExpiresIn=3600)
    r = requests.get(old, timeout=10)
    assert r.status_code == 403 and "Signature expired: " in r.text


def test_a_presigned_query_with_a_changed_parameter_is_refused(strict: TsunagiServer) -> None:
    url = client(strict, "sqs", query=True).generate_presigned_url(
        "list_queues", Params={"QueueNamePrefix": "a"}, HttpMethod="GET")
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["QueueNamePrefix"] = "b"
    r = requests.get(f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}", timeout=10)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text


# -- S3 payloads ---------------------------------------------------------------------------------------------

def test_s3_uploads_boto3_sends_are_accepted(strict: TsunagiServer, bucket: str) -> None:
    s3 = client(strict, "s3")
    s3.put_object(Bucket=bucket, Key="plain.txt", Body=b"plain")           # signed payload (http)
    s3.put_object(Bucket=bucket, Key="crc.txt", Body=b"with a checksum", ChecksumAlgorithm="CRC32")
    s3.put_object(Bucket=bucket, Key="sha.txt", Body=b"with sha256", ChecksumAlgorithm="SHA256")
    assert s3.get_object(Bucket=bucket, Key="crc.txt")["Body"].read() == b"with a checksum"
    assert s3.get_object(Bucket=bucket, Key="sha.txt")["Body"].read() == b"with sha256"


def signed_s3(srv: TsunagiServer, method: str, path: str, payload: str, headers: dict[str, str],
              secret: str = ROOT_SECRET) -> tuple[dict[str, str], str, str, str]:
    """Headers of an S3 request signed by botocore's signer with ``payload`` as x-amz-content-sha256
    (what SDKs that stream signed chunks, or skip the payload hash, send); also the request's
    signature, X-Amz-Date and scope, which seed the chunk signatures."""
    signer = S3SigV4Auth(Credentials(ROOT_KEY, secret), "s3", "us-east-1")
    signer.payload = lambda request: payload  # type: ignore[method-assign]
    req = AWSRequest(method=method, url=f"{srv.url}{path}", headers=headers)
    signer.add_auth(req)
    out = {k: v for k, v in req.headers.items()}
    auth = out["Authorization"]
    signature = auth.rsplit("Signature=", 1)[1]
    amz_date = out["X-Amz-Date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    return out, signature, amz_date, scope


def chunk_key(amz_date: str, secret: str = ROOT_SECRET) -> bytes:
    k = hmac.digest(("AWS4" + secret).encode(), amz_date[:8].encode(), "sha256")
    for part in (b"us-east-1", b"s3", b"aws4_request"):
        k = hmac.digest(k, part, "sha256")
    return k


def aws_chunked(key: bytes, amz_date: str, scope: str, seed: str, pieces: list[bytes],
                trailers: dict[str, str] | None = None) -> bytes:
    """The body an SDK streams with signed chunks (and, given ``trailers``, signed trailing headers)."""
    out, previous = [], seed
    for piece in [*pieces, b""]:
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, EMPTY_SHA256,
                             hashlib.sha256(piece).hexdigest()])
        previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        out.append(f"{len(piece):x};chunk-signature={previous}\r\n".encode() + piece)
        out.append(b"\r\n" if piece or trailers is None else b"")
    if trailers is not None:
        text = "".join(f"{k}:{v}\n" for k, v in trailers.items())
        to_sign = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous,
                             hashlib.sha256(text.encode()).hexdigest()])
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        out.append("".join(f"{k}:{v}\r\n" for k, v in trailers.items()).encode())
        out.append(f"x-amz-trailer-signature:{signature}\r\n\r\n".encode())
    return b"".join(out)


def test_a_signed_aws_chunked_upload_has_every_chunk_checked(strict: TsunagiServer, bucket: str) -> None:
    pieces = [b"a" * 65536, b"b" * 65536, b"tail"]
    payload = b"".join(pieces)
    base = {"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(len(payload))}
    headers, seed, amz_date, scope = signed_s3(strict, "PUT", f"/{bucket}/chunked.bin",
                                               "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", base)
    body = aws_chunked(chunk_key(amz_date), amz_date, scope, seed, pieces)
    r = requests.put(f"{strict.url}/{bucket}/chunked.bin", data=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    s3 = client(strict, "s3")
    assert s3.get_object(Bucket=bucket, Key="chunked.bin")["Body"].read() == payload
    # the second chunk changed in transit: its signature fails, nothing is stored
    headers, seed, amz_date, scope = signed_s3(strict, "PUT", f"/{bucket}/tampered.bin",
                                               "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", base)
    body = aws_chunked(chunk_key(amz_date), amz_date, scope, seed, pieces)
    body = body.replace(b"b" * 100, b"c" * 100, 1)
    r = requests.put(f"{strict.url}/{bucket}/tampered.bin", data=body, headers=headers, timeout=30)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="tampered.bin")
    assert e.value.response["Error"]["Code"] == "404"
    # chunks signed with another secret than the request's
    headers, seed, amz_date, scope = signed_s3(strict, "PUT", f"/{bucket}/other.bin",
                                               "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", base)
    body = aws_chunked(chunk_key(amz_date, "another secret"), amz_date, scope, seed, pieces)
    r = requests.put(f"{strict.url}/{bucket}/other.bin", data=body, headers=headers, timeout=30)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text


def test_signed_chunks_with_a_signed_checksum_trailer(strict: TsunagiServer, bucket: str) -> None:
    pieces = [b"x" * 70000, b"end"]
    payload = b"".join(pieces)
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    base = {"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(len(payload)),
            "X-Amz-Trailer": "x-amz-checksum-crc32"}
    for trailer_value, status in ((crc, 200), (base64.b64encode(b"\0\0\0\0").decode(), 400)):
        headers, seed, amz_date, scope = signed_s3(strict, "PUT", f"/{bucket}/trailer.bin",
                                                   "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", base)
        body = aws_chunked(chunk_key(amz_date), amz_date, scope, seed, pieces, {"x-amz-checksum-crc32": trailer_value})
        r = requests.put(f"{strict.url}/{bucket}/trailer.bin", data=body, headers=headers, timeout=30)
        assert r.status_code == status, r.text
    head = client(strict, "s3").head_object(Bucket=bucket, Key="trailer.bin", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == crc and head["ContentLength"] == len(payload)
    # a trailer changed after signing
    headers, seed, amz_date, scope = signed_s3(strict, "PUT", f"/{bucket}/trailer2.bin",
                                               "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", base)
    body = aws_chunked(chunk_key(amz_date), amz_date, scope, seed, pieces, {"x-amz-checksum-crc32": crc})
    body = body.replace(crc.encode(), base64.b64encode(b"\1\2\3\4"))
    r = requests.put(f"{strict.url}/{bucket}/trailer2.bin", data=body, headers=headers, timeout=30)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text


def test_unsigned_payload_and_a_wrong_payload_hash(strict: TsunagiServer, bucket: str) -> None:
    headers, *_ = signed_s3(strict, "PUT", f"/{bucket}/unsigned.txt", "UNSIGNED-PAYLOAD", {})
    r = requests.put(f"{strict.url}/{bucket}/unsigned.txt", data=b"not hashed", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert client(strict, "s3").get_object(Bucket=bucket, Key="unsigned.txt")["Body"].read() == b"not hashed"
    claimed = hashlib.sha256(b"what was signed").hexdigest()
    headers, *_ = signed_s3(strict, "PUT", f"/{bucket}/swapped.txt", claimed, {})
    r = requests.put(f"{strict.url}/{bucket}/swapped.txt", data=b"what was sent", headers=headers, timeout=10)
    assert r.status_code == 400 and "<Code>XAmzContentSHA256Mismatch</Code>" in r.text


# -- S3 POST uploads -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_post_policy_signatures_are_verified(strict: TsunagiServer, bucket: str, version: str) -> None:
    s3 = client(strict, "s3", signature_version=version)
    post = s3.generate_presigned_post(bucket, "form/${filename}", ExpiresIn=300)
    r = requests.post(post["url"], data=post["fields"], files={"file": ("f.txt", b"form bytes")}, timeout=10)
    assert r.status_code == 204, r.text
    assert client(strict, "s3").get_object(Bucket=bucket, Key="form/f.txt")["Body"].read() == b"form bytes"
    forged = client(strict, "s3", secret="guessed", signature_version=version).generate_presigned_post(
        bucket, "form/forged.txt", ExpiresIn=300)
    r = requests.post(forged["url"], data=forged["fields"], files={"file": ("x.txt", b"x")}, timeout=10)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text
    stranger = client(strict, "s3", key="AKIANOSUCHKEY0000001", signature_version=version).generate_presigned_post(
        bucket, "form/stranger.txt", ExpiresIn=300)
    r = requests.post(stranger["url"], data=stranger["fields"], files={"file": ("x.txt", b"x")}, timeout=10)
    assert r.status_code == 403 and "<Code>InvalidAccessKeyId</Code>" in r.text
    unsigned = {k: v for k, v in post["fields"].items() if k.lower() not in ("x-amz-signature", "signature")}
    r = requests.post(post["url"], data=unsigned, files={"file": ("x.txt", b"x")}, timeout=10)
    assert r.status_code == 403


# -- session credentials (STS) ----------------------------------------------------------------------------------

def session_credentials(srv: TsunagiServer) -> dict[str, Any]:
    sts = client(srv, "sts")
    if not hasattr(sts, "get_session_token"):
        pytest.skip("botocore without GetSessionToken")
    try:
        return sts.get_session_token(DurationSeconds=900)["Credentials"]  # type: ignore[no-any-return]
    except ClientError as e:
        if e.response["Error"]["Code"] in ("NotImplemented", "InvalidAction"):
            pytest.skip("STS GetSessionToken is not served yet (IAM/STS work)")
        raise


def test_session_credentials_work_with_their_token_only(strict: TsunagiServer) -> None:
    creds = session_credentials(strict)
    key, secret, token = creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
    assert call(strict, "sqs-json", key=key, secret=secret, token=token)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert call(strict, "s3", key=key, secret=secret, token=token)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert failure(strict, "sns", key=key, secret=secret)[0] == "InvalidClientTokenId"
    assert failure(strict, "kms", key=key, secret=secret, token=token + "x")[0] == "UnrecognizedClientException"
    with pytest.raises(ClientError) as e:
        client(strict, "s3", key=key, secret=secret, token="wrong").list_buckets()
    assert e.value.response["Error"]["Code"] == "InvalidToken"
    url = client(strict, "sqs", query=True, key=key, secret=secret, token=token).generate_presigned_url(
        "list_queues", Params={}, HttpMethod="GET")
    assert "X-Amz-Security-Token=" in url and requests.get(url, timeout=10).status_code == 200


@pytest.mark.parametrize(("which", "missing", "wrong"), [
    ("sqs-query", "InvalidClientTokenId", "InvalidClientTokenId"),
    ("sns", "InvalidClientTokenId", "InvalidClientTokenId"),
    ("sqs-json", "InvalidClientTokenId", "InvalidClientTokenId"),
    ("kms", "UnrecognizedClientException", "UnrecognizedClientException"),
    ("lambda", "UnrecognizedClientException", "UnrecognizedClientException"),
    ("s3", "InvalidAccessKeyId", "InvalidToken"),
])
def test_session_credentials_without_or_with_another_token_are_refused_in_each_protocol(
        strict: TsunagiServer, which: str, missing: str, wrong: str) -> None:
    creds = session_credentials(strict)
    key, secret, token = creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
    assert call(strict, which, key=key, secret=secret, token=token)["ResponseMetadata"]["HTTPStatusCode"] == 200
    if which != "s3":       # S3 without the token: the key alone is no key it knows (checked below)
        assert failure(strict, which, key=key, secret=secret)[0] == missing
    assert failure(strict, which, key=key, secret=secret, token=token[:-4] + "AAAA")[0] == wrong
    assert failure(strict, which, key=key, secret="not-the-secret", token=token)[0] in (
        "SignatureDoesNotMatch", "InvalidSignatureException")


def test_s3_without_the_session_token_is_refused(strict: TsunagiServer) -> None:
    creds = session_credentials(strict)
    with pytest.raises(ClientError) as e:
        client(strict, "s3", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"]).list_buckets()
    assert e.value.response["Error"]["Code"] in ("InvalidToken", "InvalidAccessKeyId")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)


def test_presigned_s3_urls_with_session_credentials_carry_their_token(strict: TsunagiServer, bucket: str) -> None:
    creds = session_credentials(strict)
    s3 = client(strict, "s3", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"],
                signature_version="s3v4")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/a file.txt"})
    assert "X-Amz-Security-Token=" in url
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == b"strict body"
    parts = urlsplit(url)
    query = [(k, ("AAAA" + v[4:]) if k == "X-Amz-Security-Token" else v) for k, v in parse_qsl(parts.query)]
    r = requests.get(f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}", timeout=10)
    assert r.status_code in (400, 403) and "<Code>" in r.text and "<Code>SignatureDoesNotMatch</Code>" not in r.text


def test_a_key_made_by_iam_create_access_key_signs_until_it_is_deleted(strict: TsunagiServer) -> None:
    iam = client(strict, "iam")
    iam.create_user(UserName="strict-signer")
    made = iam.create_access_key(UserName="strict-signer")["AccessKey"]
    try:
        who = client(strict, "sts", key=made["AccessKeyId"], secret=made["SecretAccessKey"]).get_caller_identity()
        assert who["Arn"] == "arn:aws:iam::000000000000:user/strict-signer"
        assert failure(strict, "sqs-json", key=made["AccessKeyId"], secret="not-the-secret")[0] == \
            "SignatureDoesNotMatch"
    finally:
        iam.delete_access_key(UserName="strict-signer", AccessKeyId=made["AccessKeyId"])
        iam.delete_user(UserName="strict-signer")
    deadline = time.monotonic() + 10           # a deleted key stops working once its cache entry ends
    while time.monotonic() < deadline:
        with contextlib.suppress(ClientError):
            client(strict, "sts", key=made["AccessKeyId"], secret=made["SecretAccessKey"]).get_caller_identity()
            time.sleep(0.2)
            continue
        break
    assert failure(strict, "sns", key=made["AccessKeyId"], secret=made["SecretAccessKey"])[0] == "InvalidClientTokenId"


# -- settings ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("env", "says"), [
    ({"TSUNAGI_AUTH": "strcit"}, "TSUNAGI_AUTH"),
    ({"TSUNAGI_AUTH": "strict", "TSUNAGI_ACCESS_KEY_ID": "AKIAONLYHALF"}, "TSUNAGI_SECRET_ACCESS_KEY"),
])
def test_a_setting_that_would_leave_checks_off_stops_the_server(tmp_path: Any, env: dict[str, str],
                                                               says: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "tsunagi", "serve", "--port", "0", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, env={**os.environ, **env}, cwd=str(REPO), timeout=60)
    assert proc.returncode == 2
    assert says in proc.stderr


# -- links in SNS messages ---------------------------------------------------------------------------------

def _mail(srv: TsunagiServer, to: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        with srv.internal(f"/_tsunagi/sns/mail?to={to}") as r:
            messages = list(json.loads(r.read())["Messages"])
        if len(messages) >= count or time.monotonic() > deadline:
            return messages
        time.sleep(0.05)


def test_subscribe_and_unsubscribe_links_work_unsigned_and_nothing_else_does(strict: TsunagiServer) -> None:
    sns = client(strict, "sns")
    topic = sns.create_topic(Name="strict-links")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="links@example.com")
    (confirmation,) = _mail(strict, "links%40example.com", 1)
    r = requests.get(confirmation["SubscribeURL"], timeout=10)       # what a mail reader's click does
    assert r.status_code == 200 and "ConfirmSubscriptionResult" in r.text
    sns.publish(TopicArn=topic, Message="hello")
    note = _mail(strict, "links%40example.com", 2)[1]
    unsubscribe = next(word for word in note["Body"].split() if "Action=Unsubscribe" in word)
    r = requests.get(unsubscribe, timeout=10)
    assert r.status_code == 200, r.text
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    r = requests.get(f"{strict.url}/?Action=ListTopics&Version=2010-03-31", timeout=10)
    assert r.status_code == 403 and "<Code>MissingAuthenticationToken</Code>" in r.text


def test_paths_and_queries_that_need_encoding_verify(strict: TsunagiServer, bucket: str) -> None:
    # the path is signed encoded twice for every service but S3 (a function ARN's colons), once for S3
    lam = client(strict, "lambda")
    with pytest.raises(ClientError) as e:
        lam.get_function(FunctionName="arn:aws:lambda:us-east-1:000000000000:function:no-such")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    s3 = client(strict, "s3")
    key = "dir/ünïcode name+plus (1)~.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"odd key")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"odd key"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="dir/ü", Delimiter="/")
    assert [o["Key"] for o in listed["Contents"]] == [key]
    url = client(strict, "s3", signature_version="s3v4").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key, "ResponseContentType": "text/plain; charset=utf-8"})
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == b"odd key"
    sqs = client(strict, "sqs", query=True)
    queue = sqs.create_queue(QueueName="strict-paths")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="a body & more = ünïcode",
                     MessageAttributes={"k": {"DataType": "String", "StringValue": "v w"}})
    got = sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["All"])["Messages"]
    assert got[0]["Body"] == "a body & more = ünïcode"


def test_s3_multipart_copy_and_batch_delete_under_strict(strict: TsunagiServer, bucket: str) -> None:
    s3 = client(strict, "s3")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="multi.bin")["UploadId"]
    parts = []
    for n, data in enumerate((b"a" * (5 * 1024 * 1024), b"tail"), start=1):
        etag = s3.upload_part(Bucket=bucket, Key="multi.bin", UploadId=upload, PartNumber=n, Body=data)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    s3.complete_multipart_upload(Bucket=bucket, Key="multi.bin", UploadId=upload, MultipartUpload={"Parts": parts})
    assert s3.head_object(Bucket=bucket, Key="multi.bin")["ContentLength"] == 5 * 1024 * 1024 + 4
    s3.copy_object(Bucket=bucket, Key="copy.bin", CopySource={"Bucket": bucket, "Key": "multi.bin"})
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "copy.bin"}, {"Key": "multi.bin"}]})
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["copy.bin", "multi.bin"]


def test_reset_under_strict_needs_the_root_s_signature(tmp_path: Any) -> None:
    srv = TsunagiServer("sqlite", data_dir=str(tmp_path), env=dict(ENV)).start()
    try:
        client(srv, "sqs").create_queue(QueueName="wiped")
        srv.reset()         # signed with the root key pair (tests/support/server.py)
        assert client(srv, "sqs").list_queues().get("QueueUrls", []) == []
        r = requests.post(f"{srv.url}/_tsunagi/reset", headers={"X-Tsunagi-Token": srv.token}, timeout=10)
        assert r.status_code == 403
    finally:
        srv.stop()


def aws_cli(srv: TsunagiServer, *args: str, secret: str = ROOT_SECRET) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ROOT_KEY, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_PAGER": "", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    env.pop("AWS_PROFILE", None)
    aws = os.path.join(os.path.dirname(sys.executable), "aws")
    return subprocess.run([aws, "--endpoint-url", srv.url, "--output", "json", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_the_aws_cli_signs_and_is_verified(strict: TsunagiServer, bucket: str, tmp_path: Any) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(9 * 1024 * 1024))        # over the CLI's 8 MiB multipart threshold
    out = aws_cli(strict, "s3", "cp", str(src), f"s3://{bucket}/cli/big.bin")
    assert out.returncode == 0, out.stderr
    back = tmp_path / "back.bin"
    out = aws_cli(strict, "s3", "cp", f"s3://{bucket}/cli/big.bin", str(back))
    assert out.returncode == 0, out.stderr
    assert back.read_bytes() == src.read_bytes()
    out = aws_cli(strict, "sqs", "list-queues")
    assert out.returncode == 0, out.stderr
    out = aws_cli(strict, "sns", "list-topics", secret="wrong")
    assert out.returncode != 0 and "SignatureDoesNotMatch" in out.stderr
    out = aws_cli(strict, "s3", "presign", f"s3://{bucket}/cli/big.bin", "--expires-in", "60")
    assert out.returncode == 0, out.stderr
    assert requests.get(out.stdout.strip(), timeout=30).content == src.read_bytes()


def test_unsigned_requests_are_anonymous_and_reach_only_what_a_policy_opens(strict: TsunagiServer) -> None:
    # as on AWS: a public-read bucket and a queue open to everyone answer unsigned requests; nothing else does
    s3 = client(strict, "s3")
    s3.create_bucket(Bucket="strict-public")
    s3.put_object(Bucket="strict-public", Key="index.html", Body=b"public")
    s3.put_object(Bucket="strict-public", Key="private/x", Body=b"private")
    s3.put_bucket_policy(Bucket="strict-public", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                "Resource": "arn:aws:s3:::strict-public/index.html"}]}))
    r = requests.get(f"{strict.url}/strict-public/index.html", timeout=10)
    assert r.status_code == 200 and r.content == b"public"
    r = requests.get(f"{strict.url}/strict-public/private/x", timeout=10)
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
    r = requests.put(f"{strict.url}/strict-public/index.html", data=b"defaced", timeout=10)
    assert r.status_code == 403
    sqs = client(strict, "sqs")
    url = sqs.create_queue(QueueName="strict-open")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage",
                                                "Resource": arn}]})})
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = requests.post(url, data="Action=SendMessage&MessageBody=anonymous", headers=form, timeout=10)
    assert r.status_code == 200, r.text
    r = requests.post(url, data="Action=ReceiveMessage", headers=form, timeout=10)
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
    r = requests.post(strict.url + "/", data="Action=ListQueues", headers=form, timeout=10)
    assert r.status_code == 403 and "<Code>MissingAuthenticationToken</Code>" in r.text
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"][0]["Body"] == "anonymous"


def test_session_credentials_past_their_expiry_are_refused_in_each_protocol(
        strict: TsunagiServer, request: pytest.FixtureRequest) -> None:
    """Temporary credentials stop working when they expire. Waiting the 15 minutes a session lasts at
    least is out of a test's reach, so the session's expiry is moved into the past in the database the
    server reads it from (PostgreSQL: a second connection may write while the server runs)."""
    if strict.store == "sqlite":
        pytest.skip("the SQLite store is held by the server alone; the PostgreSQL run moves the expiry")
    import psycopg

    creds = client(strict, "sts").get_session_token(DurationSeconds=900)["Credentials"]
    session = {"key": creds["AccessKeyId"], "secret": creds["SecretAccessKey"], "token": creds["SessionToken"]}
    assert call(strict, "sqs-json", **session)["ResponseMetadata"]["HTTPStatusCode"] == 200
    with psycopg.connect(strict.store, autocommit=True) as conn:
        moved = conn.execute("UPDATE iam_sessions SET expires_at = %s WHERE access_key_id = %s",
                             (int(time.time() * 1000) - 1000, creds["AccessKeyId"])).rowcount
    assert moved == 1
    time.sleep(6.5)             # a server sharing PostgreSQL keeps what IAM answered about a key 5 s
    expired = "The security token included in the request is expired"
    assert failure(strict, "sqs-query", **session) == ("ExpiredToken", expired, 403)
    assert failure(strict, "sns", **session) == ("ExpiredToken", expired, 403)
    assert failure(strict, "kms", **session)[0::2] == ("ExpiredTokenException", 400)
    assert failure(strict, "lambda", **session)[0] == "ExpiredTokenException"
    assert failure(strict, "s3", **session)[0::2] == ("ExpiredToken", 400)


def test_sqs_sender_id_is_the_callers_principal_id(strict: TsunagiServer) -> None:
    """SenderId names who sent a message as AWS does: the account id for the root, the user's unique id
    (AIDA…) for an IAM user, never the access key."""
    iam, sqs = client(strict, "iam"), client(strict, "sqs")
    url = sqs.create_queue(QueueName=f"sender-{os.getpid()}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="from root")
    user = iam.create_user(UserName=f"sender-{os.getpid()}")["User"]
    key = iam.create_access_key(UserName=user["UserName"])["AccessKey"]
    as_user = client(strict, "sqs", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    deadline = time.monotonic() + 10
    while True:
        try:
            as_user.send_message(QueueUrl=url, MessageBody="from the user")
            break
        except ClientError:
            assert time.monotonic() < deadline, "the new key never worked"
            time.sleep(0.2)
    got = {}
    while len(got) < 2:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     MessageSystemAttributeNames=["SenderId"]).get("Messages", []):
            got[m["Body"]] = m["Attributes"]["SenderId"]
    assert got == {"from root": "000000000000", "from the user": user["UserId"]}
    assert user["UserId"].startswith("AIDA") and key["AccessKeyId"] not in got.values()


def test_s3_events_name_the_caller_as_aws_does(strict: TsunagiServer) -> None:
    """An S3 event's userIdentity is ``AWS:<unique id>`` for an IAM user (never the access key) and the
    account's customer id for its root, which also names the bucket's owner."""
    iam, sqs, s3 = client(strict, "iam"), client(strict, "sqs"), client(strict, "s3")
    url = sqs.create_queue(QueueName=f"s3-who-{os.getpid()}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bucket = f"s3-who-{os.getpid()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
        {"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]}, SkipDestinationValidation=True)
    s3.put_object(Bucket=bucket, Key="by-root", Body=b"r")
    user = iam.create_user(UserName=f"s3-who-{os.getpid()}")["User"]
    key = iam.create_access_key(UserName=user["UserName"])["AccessKey"]
    as_user = client(strict, "s3", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    deadline = time.monotonic() + 10
    while True:
        try:
            as_user.put_object(Bucket=bucket, Key="by-user", Body=b"u")
            break
        except ClientError:
            assert time.monotonic() < deadline, "the new key never worked"
            time.sleep(0.2)
    got: dict[str, dict] = {}
    deadline = time.monotonic() + 15
    while len(got) < 2 and time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            for r in json.loads(m["Body"]).get("Records", []):
                got[r["s3"]["object"]["key"]] = r
    root = got["by-root"]["userIdentity"]["principalId"]
    assert re.fullmatch(r"A[A-Z2-7]{13}", root)
    assert got["by-user"]["userIdentity"]["principalId"] == f"AWS:{user['UserId']}"
    assert {r["s3"]["bucket"]["ownerIdentity"]["principalId"] for r in got.values()} == {root}

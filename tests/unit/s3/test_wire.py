"""aws-chunked decoding, checksums and presigned-URL verification, without a server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
import zlib
from urllib.parse import urlsplit

import boto3
import pytest

from tsunagi.protocol.aws_chunked import (
    ChunkedDecoder,
    ChunkedError,
    is_aws_chunked,
    strip_aws_chunked,
    upload_body,
)
from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.http import HttpRequest
from tsunagi.protocol.presign import parse_form, verify_post_policy, verify_presigned_url
from tsunagi.protocol.s3_post import post_params
from tsunagi.services.s3 import checksums
from tsunagi.streams import MalformedBody, StreamingBody


def _frame(payload: bytes, size: int, trailer: bytes = b"", sig: bool = False) -> bytes:
    out = b""
    ext = b";chunk-signature=" + b"a" * 64 if sig else b""
    for i in range(0, len(payload), size):
        part = payload[i:i + size]
        out += f"{len(part):x}".encode() + ext + b"\r\n" + part + b"\r\n"
    return out + b"0" + ext + b"\r\n" + trailer + b"\r\n"


@pytest.mark.parametrize("feed_size", [1, 3, 7, 64, 10_000])
def test_chunked_decoder_any_split(feed_size):
    payload = os.urandom(5000)
    wire = _frame(payload, 777, b"x-amz-checksum-crc32:AAAAAA==\r\n", sig=True)
    dec = ChunkedDecoder()
    out = b""
    for i in range(0, len(wire), feed_size):
        out += b"".join(dec.feed(wire[i:i + feed_size]))
    dec.close()
    assert out == payload and dec.decoded == len(payload)
    assert dec.trailers == {"x-amz-checksum-crc32": "AAAAAA=="}
    assert len(dec.signatures) == 8


def test_chunked_decoder_errors():
    for wire in [b"zz\r\nabc", b"3\r\nabcdef\r\n", b"5\r\nab"]:
        dec = ChunkedDecoder()
        with pytest.raises(ChunkedError):
            dec.feed(wire)
            dec.close()


def test_chunked_headers():
    assert is_aws_chunked({"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"})
    assert is_aws_chunked({"content-encoding": "gzip, aws-chunked"})
    assert not is_aws_chunked({"content-encoding": "gzip"})
    assert strip_aws_chunked("aws-chunked") is None
    assert strip_aws_chunked("gzip,aws-chunked") == "gzip"


def test_checksum_vectors_and_combination():
    check = b"123456789"
    assert checksums.new_hasher("CRC32C").digest() == b"\0\0\0\0"
    h = checksums.new_hasher("CRC32C")
    h.update(check)
    assert h.digest().hex() == "e3069283"
    h = checksums.new_hasher("CRC64NVME")
    h.update(check)
    assert h.digest().hex() == "ae8b14860a799888"
    assert checksums.compute("CRC32", check) == base64.b64encode(zlib.crc32(check).to_bytes(4, "big")).decode()
    assert checksums.compute("SHA256", check) == base64.b64encode(hashlib.sha256(check).digest()).decode()
    a, b = os.urandom(3333), os.urandom(1234)
    for alg in checksums.CRCS:
        ha, hb, hab = (checksums.new_hasher(alg) for _ in range(3))
        ha.update(a)
        hb.update(b)
        hab.update(a + b)
        assert checksums.combine(alg, ha.digest(), hb.digest(), len(b)) == hab.digest()


def _request(url: str, method: str = "GET") -> HttpRequest:
    parts = urlsplit(url)
    return HttpRequest(method, parts.path, parts.query, {"host": parts.netloc})


def _client(version: str = "s3v4"):
    from botocore.config import Config

    return boto3.client("s3", endpoint_url="http://localhost:4566", aws_access_key_id="test",
                        aws_secret_access_key="test", region_name="us-east-1",
                        config=Config(signature_version=version))


def secret(key: str) -> str | None:
    return "test" if key == "test" else None


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_presigned_urls_verify(version):
    url = _client(version).generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "a key/ü.txt"},
                                                  ExpiresIn=60)
    verify_presigned_url(_request(url), time.time(), secret)
    with pytest.raises(ServiceError) as e:
        verify_presigned_url(_request(url.replace("/b/", "/c/")), time.time(), secret)
    assert e.value.code == "SignatureDoesNotMatch"
    with pytest.raises(ServiceError) as e:
        verify_presigned_url(_request(url), time.time() + 120, secret)
    assert e.value.code == "AccessDenied" and e.value.message == "Request has expired"
    verify_presigned_url(_request(url.replace("/b/", "/c/")), time.time(), lambda k: None)  # unknown key


def _form(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = "----tsunagi"
    out = b""
    for k, v in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    out += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: text/plain\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def test_post_policy():
    post = _client().generate_presigned_post("b", "up/${filename}", Conditions=[["content-length-range", 1, 10]],
                                             ExpiresIn=60)
    body, ctype = _form(post["fields"], "a.txt", b"12345")
    fields, file = parse_form(body, ctype)
    assert file is not None and file.filename == "a.txt" and file.data == b"12345"
    assert verify_post_policy(fields, "b", len(file.data), time.time(), secret) is not None
    with pytest.raises(ServiceError) as e:
        verify_post_policy(fields, "b", 11, time.time(), secret)
    assert e.value.code == "EntityTooLarge"
    with pytest.raises(ServiceError) as e:
        verify_post_policy(fields, "other", 5, time.time(), secret)
    assert e.value.code == "AccessDenied"
    with pytest.raises(ServiceError) as e:
        verify_post_policy({**fields, "x-amz-signature": "0" * 64}, "b", 5, time.time(), secret)
    assert e.value.code == "SignatureDoesNotMatch"
    with pytest.raises(ServiceError) as e:
        verify_post_policy({**fields, "extra": "1"}, "b", 5, time.time(), secret)
    assert "Extra input fields: extra" in e.value.message
    with pytest.raises(ServiceError) as e:
        verify_post_policy(fields, "b", 5, time.time() + 3600, secret)
    assert "Policy expired" in e.value.message


async def _drain(body) -> bytes:
    return b"".join([piece async for piece in body])


def _raw(wire: bytes, step: int = 5) -> StreamingBody:
    async def pieces():
        for i in range(0, len(wire), step):
            yield wire[i:i + step]

    return StreamingBody(pieces(), len(wire))


def test_an_aws_chunked_upload_reaches_the_service_as_its_payload_with_trailing_checksums():
    # Given a body framed aws-chunked, announcing a CRC32 that follows the payload as a trailer
    payload = os.urandom(3000)
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    wire = _frame(payload, 1000, f"x-amz-checksum-crc32:{crc}\r\n".encode(), sig=True)
    headers = {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "content-encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(len(payload)), "x-amz-trailer": "x-amz-checksum-crc32"}
    # When the protocol layer hands it on
    body = upload_body(_raw(wire), headers)
    # Then the service sees the payload, its declared length and the checksum, with no framing
    assert body.length == len(payload) and body.checksums_to_follow == ("crc32",)
    assert asyncio.run(_drain(body)) == payload
    assert body.trailing_checksums == {"CRC32": crc}


def test_a_plain_upload_is_passed_on_as_it_is():
    raw = _raw(b"plain bytes")
    body = upload_body(raw, {"x-amz-trailer": "x-amz-checksum-sha256"})
    assert body is raw and body.checksums_to_follow == ("sha256",) and body.length == 11


def test_broken_aws_chunked_framing_is_a_malformed_body_and_a_bad_length_an_invalid_argument():
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": "5"}
    with pytest.raises(MalformedBody) as e:
        asyncio.run(_drain(upload_body(_raw(b"zz\r\nabc"), headers)))
    assert str(e.value).startswith("The request body is not valid aws-chunked encoding: ")
    with pytest.raises(ServiceError) as bad:
        upload_body(_raw(b""), {**headers, "x-amz-decoded-content-length": "five"})
    assert bad.value.code == "InvalidArgument"
    assert bad.value.fields == {"ArgumentName": "x-amz-decoded-content-length", "ArgumentValue": "five"}


def test_an_error_carries_output_members_where_the_output_shape_puts_them():
    # A GetObject on a delete marker's version: S3 answers 405 with the marker's headers, and Allow: DELETE
    from tsunagi.protocol.serialize import create_serializer
    from tsunagi.protocol.specs import service_model

    model = service_model("s3")
    error = ServiceError("The specified method is not allowed against this resource.", code="MethodNotAllowed",
                         status=405, output={"DeleteMarker": True, "VersionId": "v1", "LastModified": 0.0},
                         Method="GET", ResourceType="DeleteMarker")
    response = create_serializer(model).serialize_error(error, model.operation_model("GetObject"), "req")
    headers = dict(response.headers)
    assert response.status == 405
    assert headers["x-amz-delete-marker"] == "true" and headers["x-amz-version-id"] == "v1"
    assert headers["Last-Modified"] == "Thu, 01 Jan 1970 00:00:00 GMT" and headers["Allow"] == "DELETE"
    assert b"<ResourceType>DeleteMarker</ResourceType>" in response.body


def test_a_form_upload_becomes_post_object_members():
    post = _client().generate_presigned_post("b", "up/${filename}", Fields={"success_action_status": "201",
                                                                          "x-amz-meta-owner": "me"},
                                             Conditions=[{"success_action_status": "201"}, {"x-amz-meta-owner": "me"}],
                                             ExpiresIn=60)
    body, ctype = _form(post["fields"], "dir/a.txt", b"12345")
    params = post_params(HttpRequest("POST", "/b", "", {"content-type": ctype}, body), "b", time.time(), secret)
    assert params["Bucket"] == "b" and params["Key"] == "up/a.txt" and params["Body"] == b"12345"
    assert params["ContentType"] == "text/plain" and params["Metadata"] == {"owner": "me"}
    assert params["SuccessActionStatus"] == "201" and "SuccessActionRedirect" not in params
    with pytest.raises(ServiceError) as e:
        post_params(HttpRequest("POST", "/b", "", {"content-type": ctype}, body), "b", time.time() + 3600, secret)
    assert "Policy expired" in e.value.message

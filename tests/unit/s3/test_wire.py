"""aws-chunked decoding, checksums and presigned-URL verification, without a server."""

from __future__ import annotations

import base64
import hashlib
import os
import time
import zlib
from urllib.parse import urlsplit

import boto3
import pytest

from tsunagi.protocol.aws_chunked import ChunkedDecoder, ChunkedError, is_aws_chunked, strip_aws_chunked
from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.http import HttpRequest
from tsunagi.protocol.presign import parse_form, verify_post_policy, verify_presigned_url
from tsunagi.services.s3 import checksums


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

"""S3 objects with boto3 (default config: checksums on), raw HTTP where boto3 cannot say it."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

AUTH = {"Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, "
                         "SignedHeaders=host, Signature=0"}


def code(e: pytest.ExceptionInfo[ClientError]) -> str:
    return e.value.response["Error"]["Code"]


def status(e: pytest.ExceptionInfo[ClientError]) -> int:
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def s3(server):
    client = server.client("s3")
    client.create_bucket(Bucket="objs")
    return client


def test_put_get_head_with_metadata_and_content_headers(s3):
    body = b"hello, tsunagi"
    r = s3.put_object(Bucket="objs", Key="greeting.txt", Body=body, ContentType="text/plain",
                      CacheControl="max-age=60", ContentDisposition="inline", ContentLanguage="ja",
                      Metadata={"Author": "Ken", "purpose": "test"})
    assert r["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert r["ServerSideEncryption"] == "AES256"
    g = s3.get_object(Bucket="objs", Key="greeting.txt")
    assert g["Body"].read() == body
    assert g["ContentType"] == "text/plain" and g["CacheControl"] == "max-age=60"
    assert g["ContentDisposition"] == "inline" and g["ContentLanguage"] == "ja"
    assert g["Metadata"] == {"author": "Ken", "purpose": "test"}
    assert g["ContentLength"] == len(body) and g["ETag"] == r["ETag"]
    h = s3.head_object(Bucket="objs", Key="greeting.txt")
    assert h["ContentLength"] == len(body) and h["ServerSideEncryption"] == "AES256"
    empty = s3.put_object(Bucket="objs", Key="empty", Body=b"")
    assert empty["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    assert s3.get_object(Bucket="objs", Key="empty")["Body"].read() == b""
    assert s3.head_object(Bucket="objs", Key="empty")["ContentType"] == "binary/octet-stream"


def test_missing_keys_and_buckets(s3):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="objs", Key="nothing")
    assert code(e) == "NoSuchKey" and status(e) == 404
    assert e.value.response["Error"]["Key"] == "nothing"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket="objs", Key="nothing")
    assert status(e) == 404
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="no-such-bucket", Key="k")
    assert code(e) == "NoSuchBucket"


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_checksums_are_validated_stored_and_returned(s3, algorithm):
    body = os.urandom(3000)
    member = f"Checksum{algorithm}"
    # botocore computes the value (CRC32C and CRC64NVME through awscrt, a tsunagi dependency)
    r = s3.put_object(Bucket="objs", Key=f"ck-{algorithm}", Body=body, ChecksumAlgorithm=algorithm)
    assert r[member]
    g = s3.get_object(Bucket="objs", Key=f"ck-{algorithm}", ChecksumMode="ENABLED")
    assert g[member] == r[member] and g["ChecksumType"] == "FULL_OBJECT"
    assert g["Body"].read() == body          # botocore validates the checksum while reading
    h = s3.head_object(Bucket="objs", Key=f"ck-{algorithm}", ChecksumMode="ENABLED")
    assert h[member] == r[member]


def test_wrong_checksum_and_content_md5_are_refused(s3):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="objs", Key="bad", Body=b"data", ChecksumCRC32="AAAAAA==")
    assert code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="objs", Key="bad", Body=b"data",
                      ContentMD5=base64.b64encode(hashlib.md5(b"other").digest()).decode())
    assert code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket="objs", Key="bad")
    assert status(e) == 404


def _chunked(payload: bytes, pieces: int, trailer: str) -> bytes:
    size = max(1, len(payload) // pieces)
    out = b""
    for i in range(0, len(payload), size):
        part = payload[i:i + size]
        out += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    return out + b"0\r\n" + trailer.encode() + b"\r\n\r\n"


def test_aws_chunked_upload_with_trailing_checksum(server, s3):
    payload = os.urandom(50_000)
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    headers = {**AUTH, "content-encoding": "aws-chunked", "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
               "x-amz-decoded-content-length": str(len(payload)), "x-amz-trailer": "x-amz-checksum-crc32",
               "content-type": "application/json"}
    r = requests.put(f"{server.url}/objs/chunked.bin", data=_chunked(payload, 7, f"x-amz-checksum-crc32:{crc}"),
                     headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == f'"{hashlib.md5(payload).hexdigest()}"'
    assert r.headers["x-amz-checksum-crc32"] == crc
    g = s3.get_object(Bucket="objs", Key="chunked.bin", ChecksumMode="ENABLED")
    assert g["Body"].read() == payload
    assert g["ChecksumCRC32"] == crc
    assert g.get("ContentEncoding") is None and g["ContentType"] == "application/json"
    bad = requests.put(f"{server.url}/objs/chunked2.bin", data=_chunked(payload, 3, "x-amz-checksum-crc32:AAAAAA=="),
                       headers=headers, timeout=30)
    assert bad.status_code == 400 and "<Code>BadDigest</Code>" in bad.text
    torn = requests.put(f"{server.url}/objs/chunked3.bin", data=b"10\r\nshort", headers=headers, timeout=30)
    assert torn.status_code == 400
    with pytest.raises(ClientError):
        s3.head_object(Bucket="objs", Key="chunked2.bin")


def test_ranges(s3):
    body = bytes(range(256)) * 4
    s3.put_object(Bucket="objs", Key="r", Body=body)
    for rng, expected, content_range in [
        ("bytes=0-9", body[:10], "bytes 0-9/1024"),
        ("bytes=1000-", body[1000:], "bytes 1000-1023/1024"),
        ("bytes=-5", body[-5:], "bytes 1019-1023/1024"),
        ("bytes=1020-5000", body[1020:], "bytes 1020-1023/1024"),
    ]:
        g = s3.get_object(Bucket="objs", Key="r", Range=rng)
        assert g["Body"].read() == expected, rng
        assert g["ContentRange"] == content_range and g["ContentLength"] == len(expected)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="objs", Key="r", Range="bytes=2000-")
    assert code(e) == "InvalidRange" and status(e) == 416
    assert s3.get_object(Bucket="objs", Key="r", Range="lines=1-2")["Body"].read() == body


def test_not_modified(s3):
    etag = s3.put_object(Bucket="objs", Key="c", Body=b"v1")["ETag"]
    modified = s3.head_object(Bucket="objs", Key="c")["LastModified"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="objs", Key="c", IfNoneMatch=etag)
    assert status(e) == 304
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="objs", Key="c", IfModifiedSince=modified + timedelta(seconds=5))
    assert status(e) == 304
    assert s3.get_object(Bucket="objs", Key="c")["Body"].read() == b"v1"   # the connection is still usable


def test_not_modified_on_a_fresh_connection(server, s3):
    etag = s3.put_object(Bucket="objs", Key="c", Body=b"v1")["ETag"]
    r = requests.get(f"{server.url}/objs/c", headers={**AUTH, "If-None-Match": etag}, timeout=10)
    assert r.status_code == 304
    r = requests.get(f"{server.url}/objs/c", headers={**AUTH, "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
                     timeout=10)
    assert r.status_code == 304


def test_conditional_gets(s3):
    etag = s3.put_object(Bucket="objs", Key="c", Body=b"v1")["ETag"]
    modified = s3.head_object(Bucket="objs", Key="c")["LastModified"]
    assert s3.get_object(Bucket="objs", Key="c", IfMatch=etag)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="objs", Key="c", IfMatch='"0000"')
    assert code(e) == "PreconditionFailed" and status(e) == 412
    assert s3.get_object(Bucket="objs", Key="c", IfModifiedSince=modified - timedelta(days=1))["Body"].read() == b"v1"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="objs", Key="c", IfUnmodifiedSince=datetime(2000, 1, 1, tzinfo=UTC))
    assert code(e) == "PreconditionFailed"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket="objs", Key="c", IfMatch='"nope"')
    assert status(e) == 412
    # conditional writes
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="objs", Key="c", Body=b"v2", IfNoneMatch="*")
    assert code(e) == "PreconditionFailed"
    s3.put_object(Bucket="objs", Key="c", Body=b"v2", IfMatch=etag)
    assert s3.get_object(Bucket="objs", Key="c")["Body"].read() == b"v2"


@pytest.mark.parametrize("key", ["../../etc/passwd", "/leading/slash", "日本語/ファイル 名.txt", "a b+c%d?e#f",
                                 "emoji-🎉", "dots/./and/../x", "trailing/"])
def test_odd_keys_round_trip_and_stay_inside_the_store(server, s3, key):
    body = key.encode()
    s3.put_object(Bucket="objs", Key=key, Body=body)
    assert s3.get_object(Bucket="objs", Key=key)["Body"].read() == body
    assert key in [o["Key"] for o in s3.list_objects_v2(Bucket="objs")["Contents"]]
    root = Path(server.data_dir)
    for path in root.rglob("*"):
        assert path.resolve().is_relative_to(root.resolve())
    assert Path("/etc/passwd").read_bytes() != body


def test_copy_object(s3):
    s3.put_object(Bucket="objs", Key="src", Body=b"payload", ContentType="text/x-src", Metadata={"m": "1"},
                  Tagging="t=1")
    r = s3.copy_object(Bucket="objs", Key="dst", CopySource={"Bucket": "objs", "Key": "src"})
    assert r["CopyObjectResult"]["ETag"] == s3.head_object(Bucket="objs", Key="src")["ETag"]
    h = s3.head_object(Bucket="objs", Key="dst")
    assert h["ContentType"] == "text/x-src" and h["Metadata"] == {"m": "1"}
    assert s3.get_object_tagging(Bucket="objs", Key="dst")["TagSet"] == [{"Key": "t", "Value": "1"}]
    s3.copy_object(Bucket="objs", Key="dst2", CopySource="objs/src", MetadataDirective="REPLACE",
                   ContentType="text/replaced", Metadata={"n": "2"})
    h = s3.head_object(Bucket="objs", Key="dst2")
    assert h["ContentType"] == "text/replaced" and h["Metadata"] == {"n": "2"}
    assert s3.get_object(Bucket="objs", Key="dst2")["Body"].read() == b"payload"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket="objs", Key="src", CopySource="objs/src")
    assert code(e) == "InvalidRequest"
    s3.copy_object(Bucket="objs", Key="src", CopySource="objs/src", MetadataDirective="REPLACE", Metadata={"x": "y"})
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket="objs", Key="d3", CopySource="objs/src", CopySourceIfMatch='"wrong"')
    assert code(e) == "PreconditionFailed"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket="objs", Key="d3", CopySource="objs/missing")
    assert code(e) == "NoSuchKey"


def test_listing_v2_prefix_delimiter_pagination(s3):
    keys = ["a/1", "a/2", "a/b/3", "b/1", "c", "d/x/y", "e"]
    for k in keys:
        s3.put_object(Bucket="objs", Key=k, Body=b"x")
    r = s3.list_objects_v2(Bucket="objs", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["c", "e"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "b/", "d/"]
    assert r["KeyCount"] == 5
    r = s3.list_objects_v2(Bucket="objs", Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/b/"]
    seen, token, pages = [], None, 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = s3.list_objects_v2(Bucket="objs", MaxKeys=2, Delimiter="/", **kw)
        pages += 1
        seen += [o["Key"] for o in r.get("Contents", [])] + [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        if not r["IsTruncated"]:
            break
        token = r["NextContinuationToken"]
    assert sorted(seen) == ["a/", "b/", "c", "d/", "e"] and pages == 3
    r = s3.list_objects_v2(Bucket="objs", StartAfter="b/1")
    assert [o["Key"] for o in r["Contents"]] == ["c", "d/x/y", "e"]
    paginator = s3.get_paginator("list_objects_v2")
    assert [o["Key"] for page in paginator.paginate(Bucket="objs", PaginationConfig={"PageSize": 3})
            for o in page["Contents"]] == keys
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket="objs", ContinuationToken="garbage")
    assert code(e) == "InvalidArgument"


def test_listing_v1_markers_and_url_encoding(s3):
    for k in ["x y/1", "x y/2", "z+z", "ü"]:
        s3.put_object(Bucket="objs", Key=k, Body=b"x")
    r = s3.list_objects(Bucket="objs", MaxKeys=2)
    assert [o["Key"] for o in r["Contents"]] == ["x y/1", "x y/2"] and r["IsTruncated"]
    r = s3.list_objects(Bucket="objs", Marker="x y/2")
    assert [o["Key"] for o in r["Contents"]] == ["z+z", "ü"]
    r = s3.list_objects(Bucket="objs", Delimiter="/", MaxKeys=1)
    assert r["CommonPrefixes"] == [{"Prefix": "x y/"}] and r["NextMarker"] == "x y/"
    # botocore asks for encoding-type=url on its own and decodes the answer; the raw answer is encoded
    raw = requests.get(f"{s3.meta.endpoint_url}/objs?list-type=2&encoding-type=url", headers=AUTH, timeout=10).text
    assert "<Key>x+y/1</Key>" in raw and "<Key>%C3%BC</Key>" in raw and "<Key>z%2Bz</Key>" in raw
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="objs")["Contents"]] == ["x y/1", "x y/2", "z+z", "ü"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="objs", EncodingType="url")["Contents"]] == \
        ["x+y/1", "x+y/2", "z%2Bz", "%C3%BC"]


def test_delete_and_delete_objects(s3):
    for k in ["d1", "d2", "d3"]:
        s3.put_object(Bucket="objs", Key=k, Body=b"x")
    assert s3.delete_object(Bucket="objs", Key="d1")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.delete_object(Bucket="objs", Key="never-existed")["ResponseMetadata"]["HTTPStatusCode"] == 204
    r = s3.delete_objects(Bucket="objs", Delete={"Objects": [{"Key": "d2"}, {"Key": "d3"}, {"Key": "zz"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["d2", "d3", "zz"]
    assert "Contents" not in s3.list_objects_v2(Bucket="objs")
    r = s3.delete_objects(Bucket="objs", Delete={"Objects": [{"Key": "q"}], "Quiet": True})
    assert "Deleted" not in r


def test_object_tagging(s3):
    s3.put_object(Bucket="objs", Key="t", Body=b"x", Tagging="a=1&b=two%20words")
    assert s3.get_object_tagging(Bucket="objs", Key="t")["TagSet"] == [{"Key": "a", "Value": "1"},
                                                                       {"Key": "b", "Value": "two words"}]
    assert s3.get_object(Bucket="objs", Key="t")["TagCount"] == 2
    s3.put_object_tagging(Bucket="objs", Key="t", Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})
    assert s3.get_object_tagging(Bucket="objs", Key="t")["TagSet"] == [{"Key": "c", "Value": "3"}]
    s3.delete_object_tagging(Bucket="objs", Key="t")
    assert s3.get_object_tagging(Bucket="objs", Key="t")["TagSet"] == []


def test_sse_kms_is_refused_until_kms_exists(s3):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="objs", Key="k", Body=b"secret", ServerSideEncryption="aws:kms", SSEKMSKeyId="alias/nope")
    assert code(e) == "KMS.NotFoundException"
    s3.put_bucket_encryption(Bucket="objs", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/k"}}]})
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="objs", Key="k", Body=b"secret")
    assert code(e) == "KMS.NotFoundException"
    with pytest.raises(ClientError):
        s3.head_object(Bucket="objs", Key="k")


@pytest.mark.sqlite_only
def test_bytes_at_rest_are_encrypted(server, s3):
    marker = b"PLAINTEXT-MARKER-" * 100
    s3.put_object(Bucket="objs", Key="secret", Body=marker)
    found = [p for p in Path(server.data_dir).rglob("*") if p.is_file() and b"PLAINTEXT-MARKER-" in p.read_bytes()]
    assert found == []
    assert s3.get_object(Bucket="objs", Key="secret")["Body"].read() == marker
    assert s3.get_object(Bucket="objs", Key="secret", Range="bytes=17-33")["Body"].read() == marker[17:34]


def test_versioning(s3):
    s3.put_bucket_versioning(Bucket="objs", VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket="objs", Key="doc", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket="objs", Key="doc", Body=b"two")["VersionId"]
    assert v1 != v2 and len(v1) == 32
    assert s3.get_object(Bucket="objs", Key="doc")["Body"].read() == b"two"
    assert s3.get_object(Bucket="objs", Key="doc", VersionId=v1)["Body"].read() == b"one"
    d = s3.delete_object(Bucket="objs", Key="doc")
    assert d["DeleteMarker"] is True
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="objs", Key="doc")
    assert code(e) == "NoSuchKey"
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="objs", Key="doc", VersionId=d["VersionId"])
    assert code(e) == "MethodNotAllowed"
    r = s3.list_object_versions(Bucket="objs")
    assert [(v["VersionId"], v["IsLatest"]) for v in r["Versions"]] == [(v2, False), (v1, False)]
    assert [(m["VersionId"], m["IsLatest"]) for m in r["DeleteMarkers"]] == [(d["VersionId"], True)]
    assert "Contents" not in s3.list_objects_v2(Bucket="objs")
    s3.delete_object(Bucket="objs", Key="doc", VersionId=d["VersionId"])
    assert s3.get_object(Bucket="objs", Key="doc")["Body"].read() == b"two"
    s3.delete_object(Bucket="objs", Key="doc", VersionId=v2)
    assert s3.get_object(Bucket="objs", Key="doc")["Body"].read() == b"one"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="objs", Key="doc", VersionId="x" * 32)
    assert code(e) == "NoSuchVersion"
    r = s3.list_object_versions(Bucket="objs", MaxKeys=1)
    assert len(r["Versions"]) == 1 and not r["IsTruncated"]
    s3.put_bucket_versioning(Bucket="objs", VersioningConfiguration={"Status": "Suspended"})
    assert s3.put_object(Bucket="objs", Key="doc", Body=b"null-version").get("VersionId") == "null"
    assert s3.get_object(Bucket="objs", Key="doc", VersionId=v1)["Body"].read() == b"one"


def test_list_object_versions_pagination(s3):
    s3.put_bucket_versioning(Bucket="objs", VersioningConfiguration={"Status": "Enabled"})
    expected = []
    for k in ["a", "b"]:
        ids = [s3.put_object(Bucket="objs", Key=k, Body=b"x")["VersionId"] for _ in range(3)]
        expected += [(k, i) for i in reversed(ids)]
    got, kw = [], {}
    while True:
        r = s3.list_object_versions(Bucket="objs", MaxKeys=2, **kw)
        got += [(v["Key"], v["VersionId"]) for v in r.get("Versions", [])]
        if not r["IsTruncated"]:
            break
        kw = {"KeyMarker": r["NextKeyMarker"], "VersionIdMarker": r["NextVersionIdMarker"]}
    assert got == expected


@pytest.fixture
def localhost_resolves(monkeypatch):
    """``<bucket>.localhost`` names resolve to 127.0.0.1 in this process, as browsers and curl do."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kw):
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_virtual_host_addressing(server, localhost_resolves):
    import boto3
    from botocore.config import Config

    vs3 = boto3.client("s3", endpoint_url=f"http://localhost:{server.port}", aws_access_key_id="test",
                       aws_secret_access_key="test", region_name="us-east-1",
                       config=Config(s3={"addressing_style": "virtual"}, retries={"max_attempts": 1}))
    vs3.create_bucket(Bucket="vhost-bucket")
    vs3.put_object(Bucket="vhost-bucket", Key="dir/file.txt", Body=b"virtual")
    assert vs3.get_object(Bucket="vhost-bucket", Key="dir/file.txt")["Body"].read() == b"virtual"
    assert [o["Key"] for o in vs3.list_objects_v2(Bucket="vhost-bucket")["Contents"]] == ["dir/file.txt"]
    path = server.client("s3")
    assert path.get_object(Bucket="vhost-bucket", Key="dir/file.txt")["Body"].read() == b"virtual"
    r = requests.get(f"http://vhost-bucket.s3.localhost:{server.port}/dir/file.txt", headers=AUTH, timeout=10)
    assert r.status_code == 200 and r.content == b"virtual"

"""S3 multipart uploads with boto3 and the aws CLI; large streamed uploads with bounded server memory."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
import zlib
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

MIB = 1024 * 1024


def code(e: pytest.ExceptionInfo[ClientError]) -> str:
    return e.value.response["Error"]["Code"]


@pytest.fixture
def s3(server):
    client = server.client("s3")
    client.create_bucket(Bucket="mpu")
    return client


def _upload(s3, key, parts, **create):
    up = s3.create_multipart_upload(Bucket="mpu", Key=key, **create)
    done = []
    for i, data in enumerate(parts, 1):
        r = s3.upload_part(Bucket="mpu", Key=key, UploadId=up["UploadId"], PartNumber=i, Body=data)
        entry = {"PartNumber": i, "ETag": r["ETag"]}
        for k in ("ChecksumCRC32", "ChecksumSHA256"):
            if k in r:
                entry[k] = r[k]
        done.append(entry)
    return up["UploadId"], done


def test_multipart_round_trip_etag_and_parts(s3):
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), b"tail"]
    upload_id, done = _upload(s3, "obj", parts, ContentType="application/x-test", Metadata={"k": "v"})
    listed = s3.list_parts(Bucket="mpu", Key="obj", UploadId=upload_id)
    assert [p["Size"] for p in listed["Parts"]] == [5 * MIB, 5 * MIB, 4]
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket="mpu")["Uploads"]] == ["obj"]
    r = s3.complete_multipart_upload(Bucket="mpu", Key="obj", UploadId=upload_id,
                                     MultipartUpload={"Parts": done})
    md5s = b"".join(hashlib.md5(p).digest() for p in parts)
    assert r["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-3"'
    g = s3.get_object(Bucket="mpu", Key="obj")
    assert g["Body"].read() == b"".join(parts)
    assert g["ContentType"] == "application/x-test" and g["Metadata"] == {"k": "v"}
    p2 = s3.get_object(Bucket="mpu", Key="obj", PartNumber=2)
    assert p2["PartsCount"] == 3 and p2["ContentLength"] == 5 * MIB
    assert p2["Body"].read() == parts[1]
    assert s3.get_object(Bucket="mpu", Key="obj", Range=f"bytes={5 * MIB - 2}-{5 * MIB + 1}")["Body"].read() == \
        parts[0][-2:] + parts[1][:2]
    assert "Uploads" not in s3.list_multipart_uploads(Bucket="mpu")
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket="mpu", Key="obj", UploadId=upload_id)
    assert code(e) == "NoSuchUpload"


def test_a_retried_completion_answers_as_the_first_did(s3):
    """S3 answers a CompleteMultipartUpload repeated after it succeeded (a client that timed out
    waiting) with the same result, not NoSuchUpload, while the object it made is the key's current
    version; ListParts pages by PartNumberMarker."""
    upload_id, done = _upload(s3, "again", [os.urandom(5 * MIB), os.urandom(5 * MIB), b"end"],
                              ChecksumAlgorithm="SHA256")
    first = s3.list_parts(Bucket="mpu", Key="again", UploadId=upload_id, MaxParts=2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2] and first["IsTruncated"] is True
    rest = s3.list_parts(Bucket="mpu", Key="again", UploadId=upload_id, MaxParts=2,
                         PartNumberMarker=first["NextPartNumberMarker"])
    assert [p["PartNumber"] for p in rest["Parts"]] == [3] and rest["IsTruncated"] is False
    answers = [s3.complete_multipart_upload(Bucket="mpu", Key="again", UploadId=upload_id,
                                            MultipartUpload={"Parts": done}) for _ in range(2)]
    keep = ("Bucket", "Key", "ETag", "ChecksumSHA256", "ChecksumType", "ServerSideEncryption")
    assert [{k: a.get(k) for k in keep} for a in answers][0] == [{k: a.get(k) for k in keep} for a in answers][1]
    assert answers[1]["ETag"].endswith('-3"') and answers[1]["ChecksumSHA256"].endswith("-3")
    s3.put_object(Bucket="mpu", Key="again", Body=b"replaced")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket="mpu", Key="again", UploadId=upload_id, MultipartUpload={"Parts": done})
    assert code(e) == "NoSuchUpload"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket="mpu", Key="again", UploadId="not-an-upload",
                                     MultipartUpload={"Parts": done})
    assert code(e) == "NoSuchUpload"
    assert s3.get_object(Bucket="mpu", Key="again")["Body"].read() == b"replaced"


def test_composite_and_full_object_checksums(s3):
    parts = [os.urandom(5 * MIB), os.urandom(1000)]
    upload_id, done = _upload(s3, "comp", parts, ChecksumAlgorithm="CRC32")
    r = s3.complete_multipart_upload(Bucket="mpu", Key="comp", UploadId=upload_id, MultipartUpload={"Parts": done})
    raw = b"".join(zlib.crc32(p).to_bytes(4, "big") for p in parts)
    assert r["ChecksumCRC32"] == base64.b64encode(zlib.crc32(raw).to_bytes(4, "big")).decode() + "-2"
    assert r["ChecksumType"] == "COMPOSITE"
    upload_id, done = _upload(s3, "full", parts, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    r = s3.complete_multipart_upload(Bucket="mpu", Key="full", UploadId=upload_id, MultipartUpload={"Parts": done})
    whole = base64.b64encode(zlib.crc32(b"".join(parts)).to_bytes(4, "big")).decode()
    assert r["ChecksumCRC32"] == whole and r["ChecksumType"] == "FULL_OBJECT"
    h = s3.head_object(Bucket="mpu", Key="full", ChecksumMode="ENABLED")
    assert h["ChecksumCRC32"] == whole
    assert s3.get_object(Bucket="mpu", Key="full", ChecksumMode="ENABLED")["Body"].read() == b"".join(parts)


def test_completion_errors(s3):
    small = [b"a" * 100, b"b" * 100]
    upload_id, done = _upload(s3, "e", small)
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket="mpu", Key="e", UploadId=upload_id, MultipartUpload={"Parts": done})
    assert code(e) == "EntityTooSmall"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket="mpu", Key="e", UploadId=upload_id,
                                     MultipartUpload={"Parts": list(reversed(done))})
    assert code(e) == "InvalidPartOrder"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket="mpu", Key="e", UploadId=upload_id,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"deadbeef"'}]})
    assert code(e) == "InvalidPart"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket="mpu", Key="e", UploadId=upload_id,
                                     MultipartUpload={"Parts": [{"PartNumber": 7, "ETag": done[0]["ETag"]}]})
    assert code(e) == "InvalidPart"
    # only the last part may be small: completing with part 1 alone works
    r = s3.complete_multipart_upload(Bucket="mpu", Key="e", UploadId=upload_id, MultipartUpload={"Parts": done[:1]})
    assert r["ETag"].endswith('-1"')
    assert s3.get_object(Bucket="mpu", Key="e")["Body"].read() == small[0]
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket="mpu", Key="e", UploadId="no-such-upload", PartNumber=1, Body=b"x")
    assert code(e) == "NoSuchUpload"
    up = s3.create_multipart_upload(Bucket="mpu", Key="e2")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket="mpu", Key="e2", UploadId=up, PartNumber=10001, Body=b"x")
    assert code(e) == "InvalidArgument"
    s3.abort_multipart_upload(Bucket="mpu", Key="e2", UploadId=up)
    with pytest.raises(ClientError) as e:
        s3.abort_multipart_upload(Bucket="mpu", Key="e2", UploadId=up)
    assert code(e) == "NoSuchUpload"


def test_upload_part_copy(s3):
    src = os.urandom(6 * MIB)
    s3.put_object(Bucket="mpu", Key="src", Body=src)
    up = s3.create_multipart_upload(Bucket="mpu", Key="dst")["UploadId"]
    p1 = s3.upload_part_copy(Bucket="mpu", Key="dst", UploadId=up, PartNumber=1, CopySource="mpu/src",
                             CopySourceRange=f"bytes=0-{5 * MIB - 1}")
    p2 = s3.upload_part_copy(Bucket="mpu", Key="dst", UploadId=up, PartNumber=2, CopySource="mpu/src",
                             CopySourceRange=f"bytes={5 * MIB}-{6 * MIB - 1}")
    s3.complete_multipart_upload(Bucket="mpu", Key="dst", UploadId=up, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket="mpu", Key="dst")["Body"].read() == src


def test_list_multipart_uploads_pagination(s3):
    ids = [s3.create_multipart_upload(Bucket="mpu", Key=f"k{i % 3}")["UploadId"] for i in range(6)]
    seen, kw = [], {}
    while True:
        r = s3.list_multipart_uploads(Bucket="mpu", MaxUploads=4, **kw)
        seen += [u["UploadId"] for u in r.get("Uploads", [])]
        if not r["IsTruncated"]:
            break
        kw = {"KeyMarker": r["NextKeyMarker"], "UploadIdMarker": r["NextUploadIdMarker"]}
    assert sorted(seen) == sorted(ids)


def test_aws_cli_cp_multipart_sync_and_ls(server, tmp_path):
    server.client("s3").create_bucket(Bucket="cli-bucket")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * MIB))            # above the CLI's 8 MiB multipart threshold
    server.aws("s3", "cp", str(big), "s3://cli-bucket/big.bin")
    head = server.client("s3").head_object(Bucket="cli-bucket", Key="big.bin")
    assert head["ContentLength"] == 20 * MIB and head["ETag"].endswith('-3"')
    out = tmp_path / "back.bin"
    server.aws("s3", "cp", "s3://cli-bucket/big.bin", str(out))
    assert out.read_bytes() == big.read_bytes()
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "sub" / "b.txt").write_text("b")
    server.aws("s3", "sync", str(tree), "s3://cli-bucket/tree/")
    again = server.aws("s3", "sync", str(tree), "s3://cli-bucket/tree/")
    assert "upload:" not in again.stdout            # nothing changed, nothing sent
    listing = server.aws("s3", "ls", "s3://cli-bucket/").stdout
    assert "PRE tree/" in listing and "big.bin" in listing
    recursive = server.aws("s3", "ls", "--recursive", "s3://cli-bucket/tree/").stdout
    assert "tree/a.txt" in recursive and "tree/sub/b.txt" in recursive
    down = tmp_path / "down"
    server.aws("s3", "sync", "s3://cli-bucket/tree/", str(down))
    assert (down / "sub" / "b.txt").read_text() == "b"
    server.aws("s3", "rm", "--recursive", "s3://cli-bucket/tree/")
    assert "tree/" not in server.aws("s3", "ls", "s3://cli-bucket/").stdout


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_large_upload_streams_with_bounded_server_memory(server, tmp_path):
    """A 200 MiB object goes in and out while the server's RSS grows far less than its size."""
    size = 200 * MIB
    src = tmp_path / "large.bin"
    expected = hashlib.md5()
    with src.open("wb") as f:
        for _ in range(size // MIB):
            block = os.urandom(MIB)
            expected.update(block)
            f.write(block)
    s3 = server.client("s3", request_checksum_calculation="when_required")
    s3.create_bucket(Bucket="large")
    pid = server.proc.pid
    base = _rss_kib(pid)
    peak = [base]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_kib(pid))
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        started = time.monotonic()
        with src.open("rb") as body:
            s3.put_object(Bucket="large", Key="big", Body=body)
        up_s = time.monotonic() - started
        md5 = hashlib.md5()
        started = time.monotonic()
        stream = s3.get_object(Bucket="large", Key="big")["Body"]
        for chunk in stream.iter_chunks(MIB):
            md5.update(chunk)
        down_s = time.monotonic() - started
    finally:
        stop.set()
        t.join()
    assert md5.hexdigest() == expected.hexdigest()
    growth_mib = (peak[0] - base) / 1024
    print(f"200 MiB: up {size / MIB / up_s:.0f} MiB/s, down {size / MIB / down_s:.0f} MiB/s, "
          f"server RSS growth {growth_mib:.1f} MiB")
    assert growth_mib < 64, f"server RSS grew {growth_mib:.1f} MiB for a 200 MiB object"

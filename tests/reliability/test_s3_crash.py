"""kill -9 during S3 writes: acknowledged objects and parts survive whole; a cut-off upload leaves no torn object."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time

from botocore.exceptions import BotoCoreError, ClientError

PART = 5 * 1024 * 1024


def _body(i: int, size: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest() * (size // 32)


def test_kill_9_during_uploads_keeps_what_was_acknowledged(crash_server):
    srv = crash_server.start()
    s3 = srv.client("s3")
    s3.create_bucket(Bucket="crash")
    s3.put_object(Bucket="crash", Key="torn", Body=b"the old version")

    # A multipart upload with two acknowledged parts before the crash.
    up = s3.create_multipart_upload(Bucket="crash", Key="big")["UploadId"]
    parts = [{"PartNumber": n, "ETag": s3.upload_part(Bucket="crash", Key="big", UploadId=up, PartNumber=n,
                                                     Body=_body(n, PART))["ETag"]} for n in (1, 2)]

    # Writers putting small objects while the server dies.
    acked: dict[str, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(w: int) -> None:
        client = srv.client("s3")
        i = 0
        while not stop.is_set():
            key, body = f"w{w}/{i}", _body(w * 100_000 + i, 4096 + i)
            try:
                client.put_object(Bucket="crash", Key=key, Body=body)
            except (BotoCoreError, ClientError, OSError):
                return
            with lock:
                acked[key] = body
            i += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()

    # An overwrite of "torn" that is cut off half way: declared 2 MiB, 1 MiB sent, then the kill.
    head = (f"PUT /crash/torn HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nContent-Length: {2 * 1024 * 1024}\r\n"
            "Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, "
            "SignedHeaders=host, Signature=0\r\n\r\n").encode()
    torn = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    torn.sendall(head + b"x" * (1024 * 1024))
    time.sleep(1.5)
    srv.kill()
    stop.set()
    for t in threads:
        t.join(10)
    torn.close()
    assert acked, "the writers never got going"

    srv.start()
    s3 = srv.client("s3")
    # every acknowledged object is there, byte for byte
    for key, body in acked.items():
        assert s3.get_object(Bucket="crash", Key=key)["Body"].read() == body, key
    # the cut-off overwrite never became visible: the old version stands whole
    assert s3.get_object(Bucket="crash", Key="torn")["Body"].read() == b"the old version"
    # the acknowledged parts survived, and the upload completes after the restart
    listed = s3.list_parts(Bucket="crash", Key="big", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in listed] == [(p["PartNumber"], p["ETag"]) for p in parts]
    s3.complete_multipart_upload(Bucket="crash", Key="big", UploadId=up, MultipartUpload={"Parts": parts})
    got = s3.get_object(Bucket="crash", Key="big")["Body"].read()
    assert got == _body(1, PART) + _body(2, PART)
    # and the half-written upload left no file behind once the server was up again
    tmp = os.path.join(srv.data_dir, "s3", "tmp")
    assert not os.path.isdir(tmp) or os.listdir(tmp) == []

"""The disk fills up under a running server (SQLite store on a tiny tmpfs).

While there is no space: sends fail with a clear error response (never a hang, never a crash),
reads keep working, and nothing acknowledged is lost. Once space returns the same process
accepts sends again, and after a restart the database passes ``PRAGMA integrity_check`` and
holds every acknowledged message.

Needs root (to mount a tmpfs); skipped elsewhere.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.support.server import TsunagiServer

pytestmark = pytest.mark.slow

FS_SIZE = "40m"
BODY = "x" * 200_000


@pytest.fixture
def tiny_disk(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FS_SIZE}", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(path: Path, leave: int) -> None:
    """Write a filler file until only about ``leave`` bytes of the filesystem are free."""
    st = os.statvfs(path.parent)
    free = st.f_bavail * st.f_frsize
    with open(path, "wb") as f:
        remaining = max(0, free - leave)
        chunk = b"\0" * (1 << 20)
        while remaining > 0:
            n = min(remaining, len(chunk))
            try:
                f.write(chunk[:n])
                f.flush()
            except OSError:
                break
            remaining -= n


def test_disk_full_gives_clear_errors_loses_nothing_and_recovers(tiny_disk, tmp_path):
    data = tiny_disk / "data"
    srv = TsunagiServer("sqlite", data_dir=str(data))
    srv.log_path = tmp_path / "server.log"   # the log must not live on the disk being filled
    srv.start()
    try:
        sqs = srv.sqs_client()
        url = sqs.create_queue(QueueName="full")["QueueUrl"]
        acked: set[str] = set()
        for _ in range(5):
            body = f"before-{uuid.uuid4().hex}"
            sqs.send_message(QueueUrl=url, MessageBody=body)
            acked.add(body)

        filler = tiny_disk / "filler"
        _fill(filler, leave=300_000)
        failures = []
        for i in range(60):
            body = f"during-{i}-{uuid.uuid4().hex}-{BODY}"
            try:
                sqs.send_message(QueueUrl=url, MessageBody=body)
                acked.add(body)
            except ClientError as e:
                failures.append((e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"],
                                 e.response["Error"].get("Message", "")))
            if len(failures) >= 5:
                break
        assert failures, "the disk never filled up"
        for status, code, message in failures:
            # 503 ServiceUnavailable (SDKs retry it), saying what is wrong and what to do
            assert (status, code) == (503, "ServiceUnavailable"), (status, code, message)
            assert "disk space" in message, message
        assert srv.proc.poll() is None, "the server died when the disk filled"

        # reads still work on a full disk
        assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])

        # space returns: the same process accepts writes again
        filler.unlink()
        for _ in range(3):
            body = f"after-{uuid.uuid4().hex}"
            sqs.send_message(QueueUrl=url, MessageBody=body)
            acked.add(body)

        srv.stop()   # the server holds the database exclusively while it runs
        dbs = list(data.glob("*.db"))
        assert dbs, "no SQLite database in the data dir"
        for db in dbs:
            conn = sqlite3.connect(db)
            try:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", db
            finally:
                conn.close()
        srv.start()
        sqs = srv.sqs_client()
        got: set[str] = set()
        for _ in range(100):
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300).get(
                "Messages", [])
            if not msgs:
                break
            got.update(m["Body"] for m in msgs)
        lost = acked - got
        assert not lost, f"{len(lost)} acknowledged sends were lost"
        assert got <= acked, "messages that were refused appeared anyway"
    finally:
        srv.kill()

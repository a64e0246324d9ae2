"""PostgreSQL restarted under load: two servers on one database reconnect and carry on, losing nothing.

Producers and consumers run against two ``tsunagi serve`` processes sharing one database; the
PostgreSQL cluster is restarted mid-load (``pg_ctlcluster … restart``). During the outage
calls fail with an error response (never a hang past the client's timeout); afterwards both
servers answer again without being restarted themselves, every acknowledged send that was not
deleted is received, and nothing whose delete was acknowledged comes back.

Needs the machine's own cluster (``pg_ctlcluster``) and root; the cluster is started again at
the end whatever happens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.conftest import require_postgres
from tests.support import postgres
from tests.support.server import TsunagiServer

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.exclusive]

CLUSTER = ("15", "main")
ERRORS = (BotoCoreError, ClientError, OSError)


def _pg_ctl(action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *CLUSTER, action],
                          capture_output=True, text=True, timeout=120)


def _ensure_up() -> None:
    status = _pg_ctl("status")
    if status.returncode != 0:
        _pg_ctl("start")
    deadline = time.monotonic() + 60
    while postgres.available() and time.monotonic() < deadline:
        time.sleep(0.5)


@pytest.fixture
def cluster():
    require_postgres()
    if shutil.which("pg_ctlcluster") is None or os.geteuid() != 0:
        pytest.skip("restarting PostgreSQL needs pg_ctlcluster and root")
    if _pg_ctl("status").returncode != 0:
        pytest.skip(f"no local cluster {'/'.join(CLUSTER)}")
    try:
        yield
    finally:
        _ensure_up()


def test_postgres_restart_under_load_loses_nothing(cluster, tmp_path):
    url = postgres.create_database("tsunagi_pgrestart")
    servers = [TsunagiServer(url, data_dir=str(tmp_path / f"n{i}")) for i in range(2)]
    try:
        for srv in servers:
            srv.start()
        queue = servers[0].sqs_client().create_queue(QueueName="restart", Attributes={"VisibilityTimeout": "5"})
        qurl = queue["QueueUrl"]
        acked_sends: set[str] = set()
        acked_deletes: set[str] = set()
        tried_deletes: set[str] = set()
        outage_errors: list[str] = []
        lock = threading.Lock()
        stop = threading.Event()

        def producer(n: int) -> None:
            client = servers[n % 2].sqs_client()
            i = 0
            while not stop.is_set():
                body = f"p{n}-{i}-{uuid.uuid4().hex[:6]}"
                try:
                    client.send_message(QueueUrl=qurl, MessageBody=body)
                    with lock:
                        acked_sends.add(body)
                except ERRORS as e:
                    with lock:
                        outage_errors.append(type(e).__name__ + ": " + str(e)[:120])
                    time.sleep(0.05)
                i += 1

        def consumer(n: int) -> None:
            client = servers[n % 2].sqs_client()
            while not stop.is_set():
                try:
                    msgs = client.receive_message(QueueUrl=qurl, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                        "Messages", [])
                    for m in msgs:
                        with lock:
                            tried_deletes.add(m["Body"])
                        client.delete_message(QueueUrl=qurl, ReceiptHandle=m["ReceiptHandle"])
                        with lock:
                            acked_deletes.add(m["Body"])
                except ERRORS as e:
                    with lock:
                        outage_errors.append(type(e).__name__ + ": " + str(e)[:120])
                    time.sleep(0.05)

        threads = [threading.Thread(target=producer, args=(n,)) for n in range(3)] + \
                  [threading.Thread(target=consumer, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        before_restart = len(acked_sends)
        restart = _pg_ctl("restart")
        assert restart.returncode == 0, restart.stderr
        _ensure_up()
        restarted_at = time.monotonic()
        # the servers carry on by themselves: sends are acknowledged again soon after
        while time.monotonic() - restarted_at < 30 and len(acked_sends) < before_restart + 50:
            time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join(30)
        assert len(acked_sends) >= before_restart + 50, \
            f"the servers did not recover within 30 s (errors: {outage_errors[-3:]})"
        for srv in servers:
            assert srv.proc is not None and srv.proc.poll() is None, "a server died with the database"
        # what clients saw during the outage: retryable 503s (or a dropped connection), never a 500
        assert not [e for e in outage_errors if "InternalFailure" in e or "(500)" in e], outage_errors[:5]

        # drain through both servers
        survivors: list[str] = []
        idle_since = time.monotonic()
        clients = [srv.sqs_client() for srv in servers]
        k = 0
        while time.monotonic() - idle_since < 6:   # > the 5 s visibility of anything in flight
            client = clients[k % 2]
            k += 1
            msgs = client.receive_message(QueueUrl=qurl, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", [])
            if msgs:
                idle_since = time.monotonic()
            for m in msgs:
                survivors.append(m["Body"])
                client.delete_message(QueueUrl=qurl, ReceiptHandle=m["ReceiptHandle"])
        resurrected = acked_deletes & set(survivors)
        lost = acked_sends - tried_deletes - set(survivors)
        assert not resurrected, f"{len(resurrected)} deleted messages came back, e.g. {sorted(resurrected)[:3]}"
        assert not lost, f"{len(lost)} acknowledged sends were lost, e.g. {sorted(lost)[:3]}"
        for srv in servers:
            ex = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"{srv.url}/_tsunagi/health"],
                                capture_output=True, text=True, timeout=10)
            assert ex.stdout == "200"
    finally:
        for srv in servers:
            srv.kill()
        _ensure_up()
        postgres.drop_database(url)

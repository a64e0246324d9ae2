"""Two servers reaching PostgreSQL through PgBouncer in transaction mode (consecutive transactions of
one client may run on different server sessions): every call works, nothing relies on session state,
and what needs a session of its own (LISTEN, the leader's lock, migrations) goes to the database
directly through TSUNAGI_STORE_DIRECT. PgBouncer comes from Debian's package, installed here when
missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import require_postgres
from tests.support import postgres
from tests.support.server import TsunagiServer, free_port

pytestmark = pytest.mark.slow


def pgbouncer_binary() -> str | None:
    found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)
    if found or shutil.which("apt-get") is None or os.geteuid() != 0:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-q", "pgbouncer"], env=env, capture_output=True, timeout=600)
    if not shutil.which("pgbouncer"):
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-q", "pgbouncer"], env=env, capture_output=True, timeout=600)
    return shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)


@pytest.fixture
def bouncer():
    """(direct database URL, the same database through PgBouncer in transaction mode)."""
    require_postgres()
    binary = pgbouncer_binary()
    if binary is None:
        pytest.skip("PgBouncer is not installed and could not be installed (apt-get install pgbouncer needs root)")
    url = postgres.create_database("tsunagi_bouncer")
    parts = urlsplit(url)
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="tsunagi-pgbouncer-"))    # outside pytest's 0700 folders
    ini = work / "pgbouncer.ini"
    ini.write_text(f"""[databases]
* = host={parts.hostname} port={parts.port or 5432} user={parts.username or "postgres"}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
server_reset_query =
logfile = {work}/pgbouncer.log
pidfile = {work}/pgbouncer.pid
""")
    cmd = [binary, str(ini)]
    if os.geteuid() == 0:                      # PgBouncer will not run as root
        shutil.chown(work, "postgres")
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    pooled = urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{port}"))
    try:
        import psycopg

        deadline = time.monotonic() + 15
        while True:
            try:
                with psycopg.connect(pooled, connect_timeout=2, prepare_threshold=None) as conn:
                    conn.execute("SELECT 1")
                break
            except psycopg.Error:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (work / "pgbouncer.log").read_text() if (work / "pgbouncer.log").exists() else ""
                    out = proc.stdout.read().decode() if proc.poll() is not None and proc.stdout else ""
                    pytest.fail(f"PgBouncer did not start: {out}{log}")
                time.sleep(0.2)
        yield url, postgres.share(pooled)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
        postgres.drop_database(url)


def test_two_servers_serve_through_pgbouncer_in_transaction_mode(bouncer, tmp_path: Path) -> None:
    direct, pooled = bouncer
    env = {"TSUNAGI_STORE_DIRECT": direct}
    a = TsunagiServer(pooled, data_dir=str(tmp_path / "a"), env=dict(env)).start()
    b = TsunagiServer(pooled, data_dir=str(tmp_path / "b"), env=dict(env)).start()
    try:
        sqs_a, sqs_b = a.client("sqs"), b.client("sqs")
        url = sqs_a.create_queue(QueueName="through-the-pooler")["QueueUrl"]
        # many calls, so that each server's pool runs them on every PgBouncer server session
        for i in range(0, 200, 10):
            sqs_a.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": f"m{i + j}"}
                                                            for j in range(10)])
        seen = set()
        while len(seen) < 200:
            got = sqs_b.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            assert got, f"only {len(seen)} of 200 messages came back"
            sqs_b.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(got)])
            seen |= {m["Body"] for m in got}
        # a long poll on b is woken by a send to a: LISTEN/NOTIFY over the direct connection
        result: dict[str, float] = {}

        def poll() -> None:
            began = time.monotonic()
            r = sqs_b.receive_message(QueueUrl=url, WaitTimeSeconds=20)
            result["waited"] = time.monotonic() - began
            result["count"] = len(r.get("Messages", []))

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(1.0)
        sqs_a.send_message(QueueUrl=url, MessageBody="wake")
        t.join(25)
        assert result["count"] == 1 and result["waited"] < 10
        # S3: simultaneous writes to one key (the key's lock is transaction-scoped)
        s3s = [(a if i % 2 else b).client("s3", max_pool_connections=8) for i in range(8)]
        s3s[0].create_bucket(Bucket="pooled")
        with ThreadPoolExecutor(8) as pool:
            for f in [pool.submit(c.put_object, Bucket="pooled", Key="k", Body=f"v{i}".encode())
                      for i, c in enumerate(s3s)]:
                f.result()
        assert b.client("s3").get_object(Bucket="pooled", Key="k")["Body"].read().startswith(b"v")
        # one of the two leads (its lock is held on the direct connection)
        leading = []
        deadline = time.monotonic() + 15
        while len(leading) != 1 and time.monotonic() < deadline:
            leading = [n for n in (a, b) if health(n)["store"]["leader"]]
            time.sleep(0.2)
        assert len(leading) == 1
        for node in (a, b):
            assert "Traceback" not in node.log_path.read_text()
    finally:
        a.stop()
        b.stop()


def health(node: TsunagiServer) -> dict:
    with urllib.request.urlopen(f"{node.url}/_tsunagi/health", timeout=5) as r:
        return json.loads(r.read())

"""Many long polls parked on one queue across two servers on one PostgreSQL: a message wakes one
waiting consumer, not every poll on every server. Measured as database transactions per message
(``pg_stat_database.xact_commit`` of the servers' database, less the servers' idle rate measured just
before with the polls parked), a count, not a time."""

from __future__ import annotations

import http.client
import json
import threading
import time

import psycopg
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import require_postgres
from tests.support import postgres
from tests.support.nodes import nodes_on_one_database
from tests.support.server import TsunagiServer

pytestmark = pytest.mark.slow

POLLS = 100
MESSAGES = 100
TX_PER_MESSAGE = 5          # the send, the claim that gets it, the consumer's next poll parking, slack
IDLE_WINDOW_S = 4.0
IDLE_TX_PER_S = 60          # two idle servers' own background work is 10-20/s here; 100 polls used to add ~166/s


def _signed(srv: TsunagiServer, target: str, payload: dict) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    req = AWSRequest(method="POST", url=f"{srv.url}/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"AmazonSQS.{target}"})
    SigV4Auth(Credentials("test", "test"), "sqs", "us-east-1").add_auth(req)
    return body, dict(req.headers.items())


class Consumer(threading.Thread):
    """Long polls (WaitTimeSeconds 20, one message) one after the other on one connection; records what it got."""

    def __init__(self, srv: TsunagiServer, url: str, got: list[str], lock: threading.Lock, stop: threading.Event):
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        self.body, self.headers = _signed(srv, "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 20,
                                                                  "MaxNumberOfMessages": 1})
        self.got, self.lock, self.stop = got, lock, stop
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.conn.request("POST", "/", self.body, self.headers)
                resp = self.conn.getresponse()
                data = resp.read()
            except OSError as e:
                if not self.stop.is_set():
                    self.errors.append(str(e))
                return
            if resp.status != 200:
                self.errors.append(f"{resp.status} {data[:200]!r}")
                return
            for m in json.loads(data).get("Messages", []):
                with self.lock:
                    self.got.append(m["Body"])


def _commits(db_url: str) -> int:
    with psycopg.connect(postgres.ADMIN_URL, autocommit=True) as conn:
        name = db_url.rsplit("/", 1)[1]
        row = conn.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (name,)).fetchone()
        assert row is not None
        return int(row[0])


def _settled_commits(db_url: str) -> int:
    """xact_commit once every backend has reported (PostgreSQL flushes a backend's counts within ~1 s of idling)."""
    time.sleep(1.5)
    return _commits(db_url)


@pytest.fixture
def two_nodes(tmp_path):
    require_postgres()
    with nodes_on_one_database(tmp_path, "tsunagi_parked") as nodes:
        yield nodes


def _send_one_by_one(senders, url: str, got: list[str], lock: threading.Lock, first: int) -> None:
    for i in range(MESSAGES):
        srv = senders[i % len(senders)]
        body, headers = _signed(srv, "SendMessage", {"QueueUrl": url, "MessageBody": str(first + i)})
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        conn.request("POST", "/", body, headers)
        assert conn.getresponse().status == 200
        conn.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:       # each message is received before the next is sent
            with lock:
                if len(got) > i:
                    break
            time.sleep(0.005)


def _run(nodes: tuple[TsunagiServer, ...], parked_on: tuple[TsunagiServer, ...],
         senders: tuple[TsunagiServer, ...], name: str) -> tuple[float, list[str]]:
    a = nodes[0]
    url = a.sqs_client().create_queue(QueueName=name)["QueueUrl"]
    got: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    consumers = [Consumer(parked_on[k % len(parked_on)], url, got, lock, stop) for k in range(POLLS)]
    for c in consumers:
        c.start()
    time.sleep(2.0)                     # every poll parked (each looked once and found nothing)
    db = a.store
    # the idle rate with every poll parked: the servers' background work (outbox, sweeps) and the
    # polls' backstop, which the send phase pays for as long as it lasts
    t0, c0 = time.monotonic(), _settled_commits(db)
    time.sleep(IDLE_WINDOW_S)
    t1, c1 = time.monotonic(), _settled_commits(db)
    idle_rate = (c1 - c0) / (t1 - t0)
    assert idle_rate <= IDLE_TX_PER_S, f"{idle_rate:.1f} transactions/s while {POLLS} polls wait"
    _send_one_by_one(senders, url, got, lock, 0)
    t2, c2 = time.monotonic(), _settled_commits(db)
    per_message = (c2 - c1 - idle_rate * (t2 - t1)) / MESSAGES
    stop.set()          # the polls still parked end with the servers
    errors = [e for c in consumers for e in c.errors]
    assert not errors, errors[:3]
    return per_message, got


def test_a_send_wakes_one_parked_poll_not_every_poll_on_every_node(two_nodes):
    # 50 polls parked on each node; messages sent through both nodes in turn, one at a time
    per_message, got = _run(two_nodes, two_nodes, two_nodes, "parked-both")
    assert sorted(got, key=int) == [str(i) for i in range(MESSAGES)]        # each message once, none lost
    assert per_message <= TX_PER_MESSAGE, f"{per_message:.1f} transactions per message"


def test_a_send_on_a_node_without_polls_wakes_a_poll_on_the_other(two_nodes):
    # every poll parked on node b; messages sent through node a: a's send notifies b, which wakes one
    a, b = two_nodes
    per_message, got = _run(two_nodes, (b,), (a,), "parked-remote")
    assert sorted(got, key=int) == [str(i) for i in range(MESSAGES)]
    assert per_message <= TX_PER_MESSAGE, f"{per_message:.1f} transactions per message"

"""RabbitMQ fan-out through pika: the non-AWS reference for ``sns.latency`` and ``sns.burst``.

Run by the harness with the pika venv's interpreter (``bench/.peers/pika/venv/bin/python``), never
with tsunagi's. Prints one JSON line. A durable fanout exchange with three durable bound queues,
persistent messages and publisher confirms (a publish returns once the broker has taken it, like an
acknowledged SNS Publish); consumers get messages pushed (basic_consume).

    latency --n ROUNDS            publish one message, time until all three consumers have it
    burst --n N --conns C         N publishes over C connections; deliveries until the queues hold 3N;
                                  then drained with consumers and counted

``--pid`` is the broker's process (beam.smp): its CPU time is read before and after each phase.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from pathlib import Path

import pika

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.procs import cpu_seconds  # noqa: E402  (stdlib only)

BODY = json.dumps({"order": "7d3f0c8e-2b1a-4e59-9a51-0c1d2e3f4a5b", "bucket": "uploads",
                   "key": "incoming/2026/11/report.txt", "size": 10240, "pad": "x" * 64}).encode()
PARAMS = pika.ConnectionParameters("127.0.0.1", 5672, credentials=pika.PlainCredentials("guest", "guest"),
                                   heartbeat=0)
PERSISTENT = pika.BasicProperties(delivery_mode=2)


def cpu(pid: int | None) -> float | None:
    return cpu_seconds(pid) if pid else None


def setup() -> tuple[pika.BlockingConnection, str, list[str]]:
    conn = pika.BlockingConnection(PARAMS)
    ch = conn.channel()
    tag = uuid.uuid4().hex[:8]
    ex = f"bench-fanout-{tag}"
    ch.exchange_declare(ex, exchange_type="fanout", durable=True, auto_delete=False)
    queues = []
    for i in range(3):
        q = f"bench-{tag}-{i}"
        ch.queue_declare(q, durable=True)
        ch.queue_bind(q, ex)
        queues.append(q)
    return conn, ex, queues


def teardown(conn: pika.BlockingConnection, ex: str, queues: list[str]) -> None:
    ch = conn.channel()
    for q in queues:
        ch.queue_delete(q)
    ch.exchange_delete(ex)
    conn.close()


def version(conn: pika.BlockingConnection) -> str:
    props = conn._impl.server_properties or {}  # noqa: SLF001
    v = props.get("version", b"?")
    return f"RabbitMQ {v.decode() if isinstance(v, bytes) else v}, pika {pika.__version__}"


class Consumers(threading.Thread):
    """One connection consuming all three queues; stamps each delivery with perf_counter."""

    def __init__(self, queues: list[str], want: int) -> None:
        super().__init__(daemon=True)
        self.queues, self.want = queues, want
        self.arrivals: dict[bytes, list[float]] = {}
        self.count = 0
        self.done = threading.Event()
        self.ready = threading.Event()
        self.stop = False
        self.cond = threading.Condition()

    def run(self) -> None:
        conn = pika.BlockingConnection(PARAMS)
        ch = conn.channel()
        ch.basic_qos(prefetch_count=500)

        def on(_ch, _m, props, body: bytes) -> None:
            now = time.perf_counter()
            key = (props.message_id or "").encode() if props and props.message_id else body[:16]
            with self.cond:
                self.arrivals.setdefault(key, []).append(now)
                self.count += 1
                self.cond.notify_all()
            if self.count >= self.want:
                self.done.set()

        for q in self.queues:
            ch.basic_consume(q, on, auto_ack=True)
        self.ready.set()
        while not self.stop:
            conn.process_data_events(time_limit=0.05)
        conn.close()


def latency(n: int, pid: int | None) -> dict:
    conn, ex, queues = setup()
    ver = version(conn)
    cons = Consumers(queues, 3 * n)
    cons.start()
    cons.ready.wait(10)
    ch = conn.channel()
    ch.confirm_delivery()
    lat, errors = [], 0
    c0 = cpu(pid)
    t_start = time.perf_counter()
    for i in range(n):
        mid = f"m{i}"
        time.sleep(0.01)
        t0 = time.perf_counter()
        ch.basic_publish(ex, "", BODY, pika.BasicProperties(delivery_mode=2, message_id=mid))
        key = mid.encode()
        with cons.cond:
            ok = cons.cond.wait_for(lambda key=key: len(cons.arrivals.get(key, ())) >= 3, timeout=5)
            arr = list(cons.arrivals.get(key, ()))
        if ok:
            lat.append(max(arr) - t0)
        else:
            errors += 1
        if time.perf_counter() - t_start > 25:
            break
    c1 = cpu(pid)
    cons.stop = True
    cons.join(5)
    teardown(conn, ex, queues)
    return {"rounds": len(lat) + errors, "errors": errors, "latencies": lat, "version": ver,
            "cpu": (c1 - c0) if c0 is not None and c1 is not None else None}


def burst(n: int, conns: int, pid: int | None) -> dict:
    conn, ex, queues = setup()
    ver = version(conn)
    per = n // conns
    results: list[tuple[int, int, list[float]]] = []
    lock = threading.Lock()

    def publisher() -> None:
        c = pika.BlockingConnection(PARAMS)
        ch = c.channel()
        ch.confirm_delivery()
        ok = err = 0
        lat = []
        pc = time.perf_counter
        for _ in range(per):
            t0 = pc()
            try:
                ch.basic_publish(ex, "", BODY, PERSISTENT)
                ok += 1
                lat.append(pc() - t0)
            except Exception:  # noqa: BLE001
                err += 1
        c.close()
        with lock:
            results.append((ok, err, lat))

    threads = [threading.Thread(target=publisher) for _ in range(conns)]
    c0 = cpu(pid)
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pub_wall = time.perf_counter() - t0
    ok = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    ch = conn.channel()
    held = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        held = sum(ch.queue_declare(q, passive=True).method.message_count for q in queues)
        if held >= 3 * ok:
            break
        time.sleep(0.01)
    deliv_wall = time.perf_counter() - t0
    c1 = cpu(pid)
    cons = Consumers(queues, 3 * ok)
    cons.start()
    cons.done.wait(60)
    cons.stop = True
    cons.join(5)
    left = sum(ch.queue_declare(q, passive=True).method.message_count for q in queues)
    teardown(conn, ex, queues)
    return {"published": ok, "errors": errors + left, "publish_wall": pub_wall, "delivered": held,
            "deliv_wall": deliv_wall, "drained": cons.count, "version": ver,
            "latencies": [x for r in results for x in r[2]],
            "cpu": (c1 - c0) if c0 is not None and c1 is not None else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["latency", "burst"])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--pid", type=int, default=None)
    a = ap.parse_args()
    out = latency(a.n, a.pid) if a.mode == "latency" else burst(a.n, a.conns, a.pid)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

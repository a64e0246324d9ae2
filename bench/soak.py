"""Soak: bounded mixed load against one tsunagi; memory and open file descriptors must stay flat.

``make soak`` (= ``.venv/bin/python -m bench.soak``), not part of ``make bench``. Options:
``--minutes N`` (10), ``--interval S`` seconds between samples (5), ``--store sqlite|postgresql://…``,
``--rate R`` loops per second per worker (40; a moderate load: the point is time, not peak throughput).

One tsunagi is started on a scratch data dir. Workers (raw client, keep-alive connections):

- sqs:    SendMessageBatch(10), then ReceiveMessage(10, wait 1 s) + DeleteMessageBatch until they are back;
- sns:    Publish to a topic with two SQS subscriptions; a consumer drains both queues;
- s3:     PutObject (64 KiB, 500 rotating keys), GetObject, every 50th loop ListObjectsV2 + DeleteObject,
          every 30 s a 10 MiB multipart upload (2 parts), read back and deleted;
- lambda: Invoke a warm no-op function; every 30 s a fresh function is created, invoked and deleted
          (worker processes come and go);
- esm:    SendMessageBatch(10) into a queue mapped to a no-op function (BatchSize 10).

Every ``--interval`` seconds: the server's RSS (its own, and with its worker processes), its open file
descriptors (``/proc/<pid>/fd``), threads, child processes, and the calls and errors since the last sample.
At the end a table and a verdict: after a warm-up (the first fifth of the run), RSS and fds are flat when the
last third's values are within a small margin of the first third's and the fitted trend over the
measured span is small. Exit status 0 when flat and error-free, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path

from .client import Conn
from .procs import rss_bytes, tree
from .servers import Server, start_tsunagi, wait_ready

MiB = 1 << 20


def log(msg: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.samples: dict[str, str] = {}

    def ok(self, kind: str, n: int = 1) -> None:
        with self.lock:
            self.calls[kind] = self.calls.get(kind, 0) + n

    def err(self, kind: str, text: str) -> None:
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            self.samples.setdefault(kind, text[:200])

    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        with self.lock:
            return dict(self.calls), dict(self.errors)


def _status(kind: str, stats: Stats, status: int, body: bytes, ok: tuple[int, ...] = (200,)) -> bool:
    if status in ok:
        stats.ok(kind)
        return True
    stats.err(kind, f"HTTP {status}: {body[:160]!r}")
    return False


class Pacer:
    def __init__(self, rate: float) -> None:
        self.period = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()

    def wait(self, stop: threading.Event) -> None:
        self.next += self.period
        d = self.next - time.monotonic()
        if d > 0:
            stop.wait(d)
        elif d < -1:
            self.next = time.monotonic()


def worker_loop(name: str, stop: threading.Event, stats: Stats, rate: float, body: Callable[[int], None]) -> None:
    pacer = Pacer(rate)
    i = 0
    while not stop.is_set():
        try:
            body(i)
        except Exception as e:  # noqa: BLE001 - counted, the soak goes on
            stats.err(name, f"{type(e).__name__}: {e}")
            time.sleep(0.2)
        i += 1
        pacer.wait(stop)


def setup_and_workers(s: Server, stats: Stats, stop: threading.Event, rate: float) -> list[threading.Thread]:
    from .scenarios._aws import (
        NOOP,
        Api,
        invoke_raw,
        long_poll,
        messages,
        s3_head,
        s3_raw,
        sns_raw,
        xml_text,
        zip_of,
    )

    api = Api(s)
    sig = s.signer
    q_sqs = api.create("soak-sqs")
    topic = api.topic("soak")
    q_sns = [api.create(f"soak-sns{i}") for i in range(2)]
    for q in q_sns:
        api.subscribe_sqs(topic, api.queue_arn(q), raw=True)
    bucket = api.bucket("soak")
    fn = f"soak-warm-{uuid.uuid4().hex[:6]}"
    api.create_function(fn, zip_of(NOOP))
    q_esm = api.create("soak-esm", {"VisibilityTimeout": "60"})
    esm_fn = f"soak-esm-{uuid.uuid4().hex[:6]}"
    api.create_function(esm_fn, zip_of(NOOP))
    mapping = api.mapping(esm_fn, api.queue_arn(q_esm), batch=10, window=0)
    api.close()
    batch = lambda url: sig.sqs("SendMessageBatch", {"QueueUrl": url, "Entries": [  # noqa: E731
        {"Id": f"m{j}", "MessageBody": json.dumps({"n": j, "pad": "x" * 150})} for j in range(10)]})

    def delete_all(conn: Conn, url: str, msgs: list[dict], kind: str) -> None:
        if msgs:
            st, b = conn.request(sig.sqs("DeleteMessageBatch", {"QueueUrl": url, "Entries": [
                {"Id": f"d{j}", "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(msgs)]}))
            _status(kind, stats, st, b)

    # --- sqs
    c_sqs = Conn(s.host, s.port)
    raw_batch = batch(q_sqs)
    raw_recv = long_poll(q_sqs, sig, wait=1, n=10, visibility=30)

    def sqs(_i: int) -> None:
        if not _status("sqs", stats, *c_sqs.request(raw_batch)):
            return
        got = 0
        for _ in range(5):
            st, b = c_sqs.request(raw_recv)
            _status("sqs", stats, st, b)
            msgs = messages(st, b)
            delete_all(c_sqs, q_sqs, msgs, "sqs")
            got += len(msgs)
            if got >= 10:
                break

    # --- sns
    c_pub, c_sns = Conn(s.host, s.port), Conn(s.host, s.port)
    raw_pub = sns_raw(sig, "Publish", {"TopicArn": topic, "Message": json.dumps({"event": "soak", "pad": "y" * 100})})
    raw_sns_recv = [long_poll(q, sig, wait=1, n=10) for q in q_sns]

    def sns(i: int) -> None:
        _status("sns", stats, *c_pub.request(raw_pub))
        if i % 5 == 4:
            for q, r in zip(q_sns, raw_sns_recv, strict=True):
                for _ in range(3):
                    st, b = c_sns.request(r)
                    msgs = messages(st, b)
                    delete_all(c_sns, q, msgs, "sns")
                    if len(msgs) < 10:
                        break

    # --- s3
    c_s3 = Conn(s.host, s.port, timeout=60)
    blob = os.urandom(64 * 1024)
    puts = [s3_raw(sig, "PUT", f"/{bucket}/k/{k:03d}", blob) for k in range(500)]
    gets = [s3_raw(sig, "GET", f"/{bucket}/k/{k:03d}") for k in range(500)]
    last_mp = [time.monotonic()]

    def multipart() -> None:
        key = f"/{bucket}/mp/{uuid.uuid4().hex}"
        st, b = c_s3.request(s3_raw(sig, "POST", f"{key}?uploads"))
        if not _status("s3", stats, st, b):
            return
        uid = xml_text(b, "UploadId") or ""
        q = urllib.parse.quote(uid, safe="")
        parts = []
        chunk = os.urandom(MiB)
        for p in (1, 2):
            c_s3.send(s3_head(sig, "PUT", f"{key}?partNumber={p}&uploadId={q}", 5 * MiB))
            assert c_s3.sock is not None
            for _ in range(5):
                c_s3.sock.sendall(chunk)
            st, b = c_s3.read()
            if not _status("s3", stats, st, b):
                return
            m = re.search(rb"\r\netag:\s*([^\r\n]+)", c_s3.head, re.I)
            parts.append(f"<Part><PartNumber>{p}</PartNumber><ETag>{m.group(1).decode() if m else ''}</ETag></Part>")
        st, b = c_s3.request(s3_raw(sig, "POST", f"{key}?uploadId={q}",
                                    f"<CompleteMultipartUpload>{''.join(parts)}</CompleteMultipartUpload>".encode()))
        _status("s3", stats, st, b)
        st, b = c_s3.request(s3_raw(sig, "GET", key))
        if _status("s3", stats, st, b) and len(b) != 10 * MiB:
            stats.err("s3", f"multipart read back {len(b)} bytes")
        _status("s3", stats, *c_s3.request(s3_raw(sig, "DELETE", key)), ok=(200, 204))

    def s3(i: int) -> None:
        k = i % 500
        _status("s3", stats, *c_s3.request(puts[k]))
        st, b = c_s3.request(gets[k])
        if _status("s3", stats, st, b) and b != blob:
            stats.err("s3", "GetObject returned other bytes")
        if i % 50 == 49:
            _status("s3", stats, *c_s3.request(s3_raw(sig, "GET", f"/{bucket}?list-type=2&max-keys=100")))
            _status("s3", stats, *c_s3.request(s3_raw(sig, "DELETE", f"/{bucket}/k/{k:03d}")), ok=(200, 204))
        if time.monotonic() - last_mp[0] > 30:
            last_mp[0] = time.monotonic()
            multipart()

    # --- lambda
    c_lam = Conn(s.host, s.port, timeout=60)
    raw_inv = invoke_raw(sig, fn)
    last_cold = [time.monotonic()]
    lam_api = Api(s)

    def lam(_i: int) -> None:
        st, b = c_lam.request(raw_inv)
        if _status("lambda", stats, st, b) and b.strip() != b"null":
            stats.err("lambda", f"invoke returned {b[:120]!r}")
        if time.monotonic() - last_cold[0] > 30:
            last_cold[0] = time.monotonic()
            name = f"soak-cold-{uuid.uuid4().hex[:6]}"
            lam_api.create_function(name, zip_of(NOOP))
            st, b = c_lam.request(invoke_raw(sig, name))
            _status("lambda", stats, st, b)
            lam_api.delete_function(name)

    # --- esm
    c_esm = Conn(s.host, s.port)
    raw_esm = batch(q_esm)

    def esm(_i: int) -> None:
        _status("esm", stats, *c_esm.request(raw_esm))

    jobs = {"sqs": sqs, "sns": sns, "s3": s3, "lambda": lam, "esm": esm}
    threads = [threading.Thread(target=worker_loop, args=(k, stop, stats, rate, f), daemon=True, name=k)
               for k, f in jobs.items()]
    s.meta.update(esm_queue=q_esm, mapping=mapping)
    return threads


WORKERS = ("sqs", "sns", "s3", "lambda", "esm")


def fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def status_field(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def own_rss(pid: int) -> int:
    v = status_field(pid, "VmRSS")
    return v * 1024 if v >= 0 else -1


def trend_per_min(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (seconds), per minute."""
    if len(xs) < 3:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 60.0 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def verdict(samples: list[dict]) -> tuple[bool, list[str]]:
    """Flat after the warm-up: last third vs first third, and the fitted trend, for RSS and fds."""
    lines: list[str] = []
    if len(samples) < 6:
        return False, ["too few samples for a verdict (run longer or sample more often)"]
    span = samples[-1]["t"]
    measured = [x for x in samples if x["t"] >= span / 5] or samples
    third = max(1, len(measured) // 3)
    first, last = measured[:third], measured[-third:]
    ok = True
    checks = [("server RSS", "rss", 1e6, "MB", lambda a: max(15e6, 0.15 * a)),
              ("RSS with workers", "rss_all", 1e6, "MB", lambda a: max(25e6, 0.15 * a)),
              ("open fds", "fds", 1, "", lambda a: max(8, 0.10 * a))]
    for label, key, scale, unit, margin in checks:
        a = statistics.median(x[key] for x in first)
        b = statistics.median(x[key] for x in last)
        slope = trend_per_min([x["t"] for x in measured], [x[key] for x in measured])
        grew = b - a
        flat = grew <= margin(a) and slope * max(1.0, span / 60) <= margin(a)
        ok &= flat
        lines.append(f"{label}: {a / scale:,.1f} → {b / scale:,.1f} {unit} (first vs last third after warm-up; "
                     f"trend {slope / scale:+,.2f} {unit}/min, {slope * 60 / scale:+,.0f} {unit}/hour at that rate) → "
                     f"{'flat' if flat else 'GROWING'}")
    return ok, lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between samples (5)")
    ap.add_argument("--store", default="sqlite", help="sqlite (default) or a postgresql:// URL")
    ap.add_argument("--rate", type=float, default=40.0, help="loops per second per worker (40)")
    ap.add_argument("--workers", default=",".join(WORKERS),
                    help=f"comma-separated subset of {','.join(WORKERS)} (all), to find which load a growth follows")
    args = ap.parse_args(argv)
    chosen = [w.strip() for w in args.workers.split(",") if w.strip()]
    if not chosen or any(w not in WORKERS for w in chosen):
        ap.error(f"--workers: choose from {','.join(WORKERS)}")

    work = Path(tempfile.mkdtemp(prefix="tsunagi-soak-"))
    s = start_tsunagi(work, "tsunagi", store=None if args.store == "sqlite" else args.store)
    wait_ready(s, 30.0)
    if not s.available or s.proc is None:
        log(f"tsunagi did not start: {s.reason}")
        return 1
    pid = s.proc.pid
    log(f"tsunagi pid {pid} on {args.store}, workers {','.join(chosen)}, {args.minutes:g} min, "
        f"sample every {args.interval:g} s, "
        f"load {os.getloadavg()[0]:.2f}; logs in {work}")
    stats, stop = Stats(), threading.Event()
    samples: list[dict] = []
    code = 1
    try:
        threads = [th for th in setup_and_workers(s, stats, stop, args.rate) if th.name in chosen]
        for th in threads:
            th.start()
        t0 = time.monotonic()
        end = t0 + args.minutes * 60
        prev_calls: dict[str, int] = {}
        head = (f"{'t s':>6} {'RSS MB':>7} {'+workers':>8} {'fds':>5} {'thr':>4} {'kids':>4} "
                f"{'calls/s':>8} {'errors':>6}  esm-queue")
        print(head, flush=True)
        from .scenarios.sqs import Sqs

        probe = Sqs(s)
        while time.monotonic() < end and s.alive():
            time.sleep(min(args.interval, max(0.0, end - time.monotonic())))
            calls, errs = stats.snapshot()
            total = sum(calls.values())
            rate = (total - sum(prev_calls.values())) / args.interval
            prev_calls = calls
            try:
                depth = sum(probe.counts(s.meta["esm_queue"])[:2])
            except Exception:  # noqa: BLE001
                depth = -1
            x = {"t": time.monotonic() - t0, "rss": own_rss(pid), "rss_all": rss_bytes(pid), "fds": fds(pid),
                 "threads": status_field(pid, "Threads"), "kids": len(tree(pid)) - 1, "rate": rate,
                 "errors": sum(errs.values()), "depth": depth}
            samples.append(x)
            print(f"{x['t']:6.0f} {x['rss'] / 1e6:7.1f} {x['rss_all'] / 1e6:8.1f} {x['fds']:5d} {x['threads']:4d} "
                  f"{x['kids']:4d} {x['rate']:8.0f} {x['errors']:6d}  {depth}", flush=True)
        probe.close()
        alive = s.alive()
        stop.set()
        for th in threads:
            th.join(10)
        calls, errs = stats.snapshot()
        print()
        print("calls:  " + ", ".join(f"{k} {v:,}" for k, v in sorted(calls.items())))
        print("errors: " + (", ".join(f"{k} {v:,} (e.g. {stats.samples[k]})" for k, v in sorted(errs.items()))
                            or "none"))
        flat, lines = verdict(samples)
        for ln in lines:
            print("  " + ln)
        depths = [x["depth"] for x in samples if x["depth"] >= 0]
        keeps_up = not depths or depths[-1] <= max(200, 2 * statistics.median(depths))
        print(f"  esm queue depth: {depths[0] if depths else '?'} → {depths[-1] if depths else '?'} "
              f"({'keeping up' if keeps_up else 'falling behind'})")
        good = flat and alive and not errs and keeps_up
        print(f"VERDICT: {'PASS' if good else 'FAIL'} — memory and fds "
              f"{'flat' if flat else 'NOT flat'}, server {'alive' if alive else 'DIED'}, "
              f"{sum(errs.values())} errors over {sum(calls.values()):,} calls in {samples[-1]['t'] / 60 if samples else 0:.1f} min")
        code = 0 if good else 1
    finally:
        stop.set()
        s.stop()
        if code == 0:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work} (server log: {work / 'tsunagi.log'})")
    return code


if __name__ == "__main__":
    raise SystemExit(main())

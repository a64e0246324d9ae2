"""S3: small-object throughput, a large multipart transfer streamed both ways, and event-notification latency.

- ``s3.small``: PutObject then GetObject of 4 KiB objects (distinct keys) over ``--conns`` connections:
  objects/s, p50/p99, server CPU per operation; every GET must return the bytes that were PUT.
- ``s3.large``: a multipart upload (32 MiB parts over two connections) whose bytes come from a generator
  (1 MiB at a time, never the whole object in the client), CompleteMultipartUpload, then one GET read
  into a 1 MiB buffer and compared with the generator's bytes: MB/s (10^6 bytes) each way, server CPU
  per GiB, and the server's RSS sampled every 0.25 s (before, peak, after): it should stay flat.
  1 GiB on tsunagi; smaller on slower servers (shown in the table).
- ``s3.notify``: a consumer waits in ReceiveMessage(WaitTimeSeconds=20) on the queue a bucket notifies
  (s3:ObjectCreated:*); PutObject; the time from just before the PUT until the consumer has the event.
"""
from __future__ import annotations

import os
import re
import struct
import threading
import time
import urllib.parse
import uuid

from ..client import Conn, LoadResult, pct, run_fixed
from ..core import Context, Rounds, add_ratios, close_all, each_in_rounds, load_row, log, measure, pool, share
from ..report import Col, Table
from ..servers import Server
from . import scenario
from ._aws import Api, delete_batch, long_poll, messages, s3_head, s3_raw, xml_text
from .sqs import _each

SMALL = 4096
MiB = 1 << 20
PART = 32 * MiB
SMALL_ROUNDS = 10     # s3.small with a baseline: rounds of 1/10 of the keys (4 conns stay busy in each)


def _check_put(status: int, body: bytes) -> str | None:
    return None if status == 200 else f"HTTP {status}: {body[:160]!r}"


# ---------------------------------------------------------------- small objects

@scenario("s3.small", order=70)
def small(ctx: Context) -> list[Table]:
    """PutObject and GetObject of 4 KiB objects: objects/s and server CPU µs per operation."""
    t = Table(f"S3 PutObject / GetObject, 4 KiB objects, distinct keys, {ctx.conns} conns",
              [Col("server", "server", "text"), Col("op", "op", "text"), Col("calls", "calls", "int"),
               Col("errors", "errors", "int"), Col("rate", "objects/s", "int"), Col("p50", "p50 ms", "ms"),
               Col("p99", "p99 ms", "ms"), Col("cpu_us", "CPU µs/op", "num"), Col("ratio", "tsunagi/x CPU", "ratio"),
               Col("xrate", "tsunagi rate ×", "ratio")])
    payload = os.urandom(SMALL)

    def check_get(status: int, body: bytes) -> str | None:
        if status != 200 or body != payload:
            return f"HTTP {status}: {len(body)} bytes{'' if status != 200 else ', not the bytes PUT'}"
        return None

    def setup(s: Server) -> dict:
        api = Api(s)
        bucket = api.bucket("small")
        n = ctx.count(5000, 2000, s, minimum=100)
        sig = s.signer
        keys = [f"obj/{i:06d}.bin" for i in range(n)]
        return {"api": api, "bucket": bucket, "n": n, "done": 0, "pool": pool(s, ctx.conns),
                "ops": {"PutObject": Rounds(), "GetObject": Rounds()},
                "puts": [s3_raw(sig, "PUT", f"/{bucket}/{k}", payload, {"Content-Type": "application/octet-stream"})
                         for k in keys],
                "gets": [s3_raw(sig, "GET", f"/{bucket}/{k}") for k in keys]}

    def step(s: Server, st: Rounds, r: int, k: int) -> tuple[LoadResult, float, int]:
        # all the PUTs then all the GETs; or (with a baseline) a k-th of the keys PUT then GET, alternating
        x = st.extra
        lo = x["done"]
        hi = lo + share(x["n"], r, k)
        x["done"] = hi
        total, cpu_all = LoadResult(), 0.0
        for op, raws, check in (("PutObject", x["puts"][lo:hi], _check_put), ("GetObject", x["gets"][lo:hi], check_get)):
            res, cpu = measure(s, lambda raws=raws, check=check: run_fixed(
                s.host, s.port, raws, len(raws), ctx.conns, check=check, deadline=time.monotonic() + 30 / k,
                pool=x["pool"]))
            x["ops"][op].add(res, cpu, res.calls)
            total.merge(res, wall=True)
            cpu_all += cpu
        return total, cpu_all, total.calls

    def finish(s: Server, st: Rounds) -> None:
        x = st.extra
        close_all(x["pool"])
        for op, acc in x["ops"].items():
            t.add(**load_row(s, acc.total, acc.cpu, acc.total.calls, op=op), **acc.keys())
        x["api"].empty_bucket(x["bucket"])
        x["api"].close()

    each_in_rounds(ctx, t, step, finish, setup, rounds=SMALL_ROUNDS)
    add_ratios(t, match=("op",))
    for r in t.rows:
        ref = next((x for x in t.rows if x.get("server") == "tsunagi" and x.get("op") == r.get("op")), None)
        if ref and r.get("server") != "tsunagi" and r.get("rate") and ref.get("rate"):
            r["xrate"] = ref["rate"] / r["rate"]
    for op in ("PutObject", "GetObject"):
        moto = next((x for x in t.rows if x.get("server") == "moto" and x.get("op") == op and x.get("xrate")), None)
        if moto:
            t.notes.append(f"target ≥ 5× moto on small objects, {op}: tsunagi {moto['xrate']:.1f}× moto's objects/s, "
                           f"{1 / moto['ratio']:.1f}× less CPU per op → "
                           f"{'met' if moto['xrate'] >= 5 else 'NOT met'}")
    return [t]


# ---------------------------------------------------------------- large multipart transfer

def _block() -> bytes:
    return os.urandom(MiB)


def _mib(block: bytes, i: int) -> bytes:
    """The i-th MiB of the object: a random block stamped with its index (so order is checked too)."""
    return struct.pack(">Q", i) + block[8:]


class RssSampler(threading.Thread):
    def __init__(self, s: Server, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.s, self.every = s, every
        self.samples: list[int] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                self.samples.append(self.s.rss(own=True))
            except Exception:  # noqa: BLE001
                pass
            self.halt.wait(self.every)

    def stop(self) -> list[int]:
        self.halt.set()
        self.join(5)
        return self.samples


def _etag(head: bytes) -> str:
    m = re.search(rb"\r\netag:\s*([^\r\n]+)", head, re.I)
    return m.group(1).decode().strip() if m else ""


def upload(s: Server, bucket: str, key: str, size: int, block: bytes, conns: int = 2) -> tuple[float, str]:
    """Multipart upload of ``size`` bytes streamed from the pattern; (seconds, final ETag)."""
    api = Api(s)
    sig = s.signer
    path = f"/{bucket}/{urllib.parse.quote(key)}"
    body = api.s3("POST", f"{path}?uploads")
    upload_id = xml_text(body, "UploadId")
    if not upload_id:
        raise RuntimeError(f"CreateMultipartUpload: no UploadId in {body[:160]!r}")
    qid = urllib.parse.quote(upload_id, safe="")
    nparts = -(-size // PART)
    etags: dict[int, str] = {}
    errors: list[str] = []
    lock = threading.Lock()
    todo = list(range(1, nparts + 1))

    def worker() -> None:
        conn = Conn(s.host, s.port, timeout=120)
        try:
            while True:
                with lock:
                    if not todo or errors:
                        return
                    part = todo.pop(0)
                start = (part - 1) * PART
                length = min(PART, size - start)
                conn.send(s3_head(sig, "PUT", f"{path}?partNumber={part}&uploadId={qid}", length))
                sock = conn.sock
                assert sock is not None
                for mib in range(start // MiB, (start + length) // MiB):
                    sock.sendall(_mib(block, mib))
                status, out = conn.read()
                if status != 200:
                    with lock:
                        errors.append(f"UploadPart {part}: HTTP {status}: {out[:120]!r}")
                    return
                with lock:
                    etags[part] = _etag(conn.head)
        except Exception as e:  # noqa: BLE001
            with lock:
                errors.append(f"UploadPart: {type(e).__name__}: {e}")
        finally:
            conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(conns)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        api.s3("DELETE", f"{path}?uploadId={qid}", ok=(200, 204, 404))
        api.close()
        raise RuntimeError(errors[0])
    parts = "".join(f"<Part><PartNumber>{p}</PartNumber><ETag>{etags[p]}</ETag></Part>" for p in sorted(etags))
    done = api.s3("POST", f"{path}?uploadId={qid}",
                  f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode())
    took = time.perf_counter() - t0
    api.close()
    if b"<Error>" in done:
        raise RuntimeError(f"CompleteMultipartUpload: {done[:200]!r}")
    return took, (xml_text(done, "ETag") or "").replace("&quot;", '"')


def download(s: Server, bucket: str, key: str, size: int, block: bytes) -> tuple[float, int, int]:
    """GET the object into a 1 MiB buffer, comparing each MiB with the pattern; (seconds, bytes, bad MiBs)."""
    conn = Conn(s.host, s.port, timeout=120)
    path = f"/{bucket}/{urllib.parse.quote(key)}"
    t0 = time.perf_counter()
    conn.send(s3_raw(s.signer, "GET", path))
    buf = conn.buf
    while b"\r\n\r\n" not in buf:
        buf += conn._recv()  # noqa: SLF001
    i = buf.find(b"\r\n\r\n")
    head, rest = buf[:i], buf[i + 4:]
    status = int(head[9:12])
    m = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
    if status != 200 or not m:
        conn.close()
        raise RuntimeError(f"GetObject: HTTP {status} {head[:200]!r}")
    total = int(m.group(1))
    sock = conn.sock
    assert sock is not None
    chunk = bytearray(MiB)
    view = memoryview(chunk)
    got = bad = 0
    mib = 0
    while got < total:
        want = min(MiB, total - got)
        filled = 0
        if rest:
            k = min(len(rest), want)
            chunk[:k] = rest[:k]
            rest = rest[k:]
            filled = k
        while filled < want:
            r = sock.recv_into(view[filled:want])
            if not r:
                raise RuntimeError(f"GetObject: connection closed after {got + filled} of {total} bytes")
            filled += r
        if want == MiB and chunk != _mib(block, mib):
            bad += 1
        got += want
        mib += 1
    took = time.perf_counter() - t0
    conn.close()
    return took, got, bad


SIZES_FULL = {"tsunagi": 1024, "tsunagi-pg": 512}       # MiB; others 256
SIZES_QUICK = {"tsunagi": 256, "tsunagi-pg": 128}       # others 64


@scenario("s3.large", order=71)
def large(ctx: Context) -> list[Table]:
    """1 GiB multipart upload and download streamed from/to a generator: MB/s, CPU/GiB, server RSS."""
    t = Table(f"S3 large object: multipart upload ({PART // MiB} MiB parts, 2 conns) and GET, streamed "
              "(the client never holds the object)",
              [Col("server", "server", "text"), Col("size", "MiB", "int"), Col("errors", "errors", "int"),
               Col("up", "upload MB/s", "int"), Col("down", "download MB/s", "int"),
               Col("cpu_up", "CPU s/GiB up", "num"), Col("cpu_down", "CPU s/GiB down", "num"),
               Col("rss0", "RSS before MB", "mb"), Col("rss_up", "RSS peak up MB", "mb"),
               Col("rss_down", "RSS peak down MB", "mb"), Col("rss1", "RSS after MB", "mb"),
               Col("xup", "tsunagi up ×", "ratio"), Col("xdown", "tsunagi down ×", "ratio")])
    block = _block()

    def one(s: Server) -> None:
        sizes, other = (SIZES_QUICK, 64) if ctx.quick else (SIZES_FULL, 256)
        mib = sizes.get(s.like, other)
        if ctx.remaining() < 60:
            mib = min(mib, 128)
        size = mib * MiB
        api = Api(s)
        bucket = api.bucket("large")
        key = f"big/{uuid.uuid4().hex}.bin"
        rss0 = s.rss(own=True)
        sampler = RssSampler(s)
        sampler.start()
        c0 = s.cpu()
        up, etag = upload(s, bucket, key, size, block)
        c1 = s.cpu()
        up_samples = list(sampler.samples)
        down, got, bad = download(s, bucket, key, size, block)
        c2 = s.cpu()
        samples = sampler.stop()
        down_samples = samples[len(up_samples):]
        api.s3("DELETE", f"/{bucket}/{urllib.parse.quote(key)}", ok=(200, 204))
        api.empty_bucket(bucket)
        time.sleep(0.3)
        rss1 = s.rss(own=True)
        api.close()
        errors = (1 if got != size else 0) + bad
        gib = size / (1 << 30)
        row = t.add(server=s.name, size=mib, errors=errors, up=size / up / 1e6, down=got / down / 1e6,
                    cpu_up=(c1 - c0) / gib, cpu_down=(c2 - c1) / gib, rss0=rss0,
                    rss_up=max(up_samples, default=rss0), rss_down=max(down_samples, default=rss0), rss1=rss1)
        notes = []
        if got != size:
            notes.append(f"downloaded {got:,} of {size:,} bytes")
        if bad:
            notes.append(f"{bad} MiB blocks differ from what was uploaded")
        if not etag.strip('"').endswith(f"-{-(-size // PART)}"):
            notes.append(f"final ETag {etag!r} is not a multipart ETag ('-{-(-size // PART)}')")
        if notes:
            row["_note"] = "; ".join(notes)
        log(f"  s3.large {s.name}: {mib} MiB up {row['up']:.0f} MB/s, down {row['down']:.0f} MB/s, "
            f"RSS {rss0 / 1e6:.0f} → peak {max(samples, default=rss0) / 1e6:.0f} MB")

    _each(ctx, t, one)
    ts = next((x for x in t.rows if x.get("server") == "tsunagi" and x.get("up")), None)
    if ts:
        for x in t.rows:
            if x.get("server") != "tsunagi" and x.get("up"):
                x["xup"] = ts["up"] / x["up"]
                x["xdown"] = ts["down"] / x["down"] if x.get("down") else None
        slow = min(ts["up"], ts["down"])
        t.notes.append(f"target ≥ 200 MB/s for the large transfer: tsunagi up {ts['up']:,.0f}, down "
                       f"{ts['down']:,.0f} MB/s → {'met' if slow >= 200 and not ts.get('errors') else 'NOT met'}")
        growth = max(ts["rss_up"], ts["rss_down"]) - ts["rss0"]
        t.notes.append(f"target server memory flat during the {ts['size']:,} MiB transfer: tsunagi peak "
                       f"{growth / 1e6:+.0f} MB over its {ts['rss0'] / 1e6:.0f} MB before → "
                       f"{'met' if growth < 64e6 else 'NOT met'} (flat = less than 64 MB of growth, "
                       f"i.e. the object is not held in memory)")
    t.notes.append("RSS is the server process's own (function workers left by earlier scenarios excluded), sampled "
                   "every 0.25 s; `tsunagi up ×` = "
                   "tsunagi's MB/s divided by that server's.")
    return [t]


# ---------------------------------------------------------------- PutObject → SQS notification

@scenario("s3.notify", order=72)
def notify(ctx: Context) -> list[Table]:
    """PutObject → the s3:ObjectCreated event received by a consumer long-polling the queue: p50/p99."""
    t = Table("S3 PutObject → ObjectCreated notification received from SQS (consumer waiting in a long poll)",
              [Col("server", "server", "text"), Col("calls", "rounds", "int"), Col("errors", "errors", "int"),
               Col("p50", "p50 ms", "ms"), Col("p90", "p90 ms", "ms"), Col("p99", "p99 ms", "ms"),
               Col("max", "max ms", "ms"), Col("cpu_us", "CPU µs/round", "num"),
               Col("ratio", "tsunagi/x p50", "ratio")])

    def setup(s: Server) -> dict:
        api = Api(s)
        bucket = api.bucket("notify")
        url = api.create("s3n")
        arn = api.queue_arn(url)
        api.allow_all(url, arn)
        conf = (f"<NotificationConfiguration><QueueConfiguration><Id>bench</Id><Queue>{arn}</Queue>"
                f"<Event>s3:ObjectCreated:*</Event></QueueConfiguration></NotificationConfiguration>").encode()
        api.s3("PUT", f"/{bucket}?notification", conf)
        sig = s.signer
        consumer, producer = Conn(s.host, s.port), Conn(s.host, s.port)
        time.sleep(0.2)
        delete_batch(producer, sig, url, messages(*producer.request(long_poll(url, sig, wait=1))))  # s3:TestEvent
        rounds = int(ctx.count(150, 40) * max(0.2, min(1.0, s.scale)))
        body = b'{"hello": "world"}'
        return {"api": api, "bucket": bucket, "url": url, "consumer": consumer, "producer": producer,
                "rounds": rounds, "done": 0, "spent": 0.0, "poll": long_poll(url, sig, wait=20, n=1),
                "puts": [s3_raw(sig, "PUT", f"/{bucket}/in/{i:05d}.json", body) for i in range(rounds)]}

    def step(s: Server, st: Rounds, r: int, k: int) -> tuple[LoadResult, float, int]:
        # all the rounds at once, or (with a baseline) a k-th of them, alternating with the baseline
        x = st.extra
        sig, url, consumer, producer = s.signer, x["url"], x["consumer"], x["producer"]
        res = LoadResult()
        pc = time.perf_counter

        def run() -> LoadResult:
            t_start = pc()
            for _ in range(share(x["rounds"], r, k)):
                if ctx.remaining() < 30 or x["spent"] + pc() - t_start > 25:
                    res.samples.append("stopped early (time budget)")
                    break
                consumer.send(x["poll"])
                time.sleep(0.01)
                t0 = pc()
                status, out = producer.request(x["puts"][x["done"]])
                x["done"] += 1
                got = messages(*consumer.read())
                t1 = pc()
                res.calls += 1
                if status != 200:
                    res.error(f"PutObject HTTP {status}: {out[:120]!r}")
                elif len(got) != 1 or "ObjectCreated" not in got[0].get("Body", ""):
                    res.error(f"no ObjectCreated event in the long poll: {str(got)[:120]}")
                else:
                    res.latencies.append(t1 - t0)
                if not got:
                    got = messages(*producer.request(long_poll(url, sig, wait=2)))
                delete_batch(producer, sig, url, got)
            res.wall = pc() - t_start
            x["spent"] += res.wall
            return res

        res, cpu = measure(s, run)
        return res, cpu, res.calls

    def finish(s: Server, st: Rounds) -> None:
        x, res = st.extra, st.total
        row = t.add(**load_row(s, res, st.cpu, res.calls), **st.keys())
        row["p90"] = (pct(res.latencies, 90) or 0) * 1e3 if res.latencies else None
        row["max"] = max(res.latencies) * 1e3 if res.latencies else None
        x["consumer"].close()
        x["producer"].close()
        x["api"].empty_bucket(x["bucket"])
        x["api"].delete(x["url"])
        x["api"].close()

    each_in_rounds(ctx, t, step, finish, setup)
    add_ratios(t, key="p50")
    ts = next((x for x in t.rows if x.get("server") == "tsunagi" and x.get("p50") is not None), None)
    if ts:
        t.notes.append(f"target PutObject → notification p50 ≤ 5 ms: tsunagi {ts['p50']:.1f} ms → "
                       f"{'met' if ts['p50'] <= 5 and not ts.get('errors') else 'NOT met'} (moto 12.5 ms in PEERS.md)")
    t.notes.append("CPU µs/round covers the PUT, the long-poll receive, the delete and the idle wait.")
    return [t]


"""SQS over the JSON protocol: send, batch send, receive+delete, long-poll latency, backlog scaling."""
from __future__ import annotations

import json
import threading
import time
import uuid

from ..client import Conn, LoadResult, pct, run_fixed, run_workers
from ..core import (
    Context,
    Rounds,
    add_ratios,
    close_all,
    each_in_rounds,
    load_row,
    log,
    measure,
    pair_note,
    pool,
    share,
    std_cols,
    target_note,
    unavailable_row,
)
from ..report import Col, Table
from ..servers import Server
from . import scenario

BODY = json.dumps({"request_id": "7d3f0c8e-2b1a-4e59-9a51-0c1d2e3f4a5b", "bucket": "uploads",
                   "key": "incoming/2026/11/report.txt", "size": 10240, "pad": "x" * 64})


# send/batch/recvdel spread their messages over queues of at most DEPTH messages, so every server is
# measured at the same queue depth whatever its count (moto's and MiniStack's receive cost grows with
# the depth; sqs.backlog measures that on purpose).
DEPTH = 500


class SqsError(Exception):
    pass


class Sqs:
    """Control-plane calls (not measured) on one connection."""

    def __init__(self, s: Server) -> None:
        self.s = s
        self.sig = s.signer
        self.conn = Conn(s.host, s.port)

    def call(self, op: str, payload: dict) -> dict:
        status, body = self.conn.request(self.sig.sqs(op, payload))
        if status != 200:
            raise SqsError(f"{op} → HTTP {status}: {body[:200]!r}")
        return json.loads(body) if body.strip() else {}

    def create(self, prefix: str, attrs: dict | None = None) -> str:
        name = f"bench-{prefix}-{uuid.uuid4().hex[:8]}"
        return self.call("CreateQueue", {"QueueName": name, "Attributes": attrs or {}})["QueueUrl"]

    def delete(self, url: str) -> None:
        try:
            self.call("DeleteQueue", {"QueueUrl": url})
        except Exception as e:  # noqa: BLE001
            log(f"{self.s.name}: DeleteQueue failed: {e}")

    def counts(self, url: str) -> tuple[int, int, int]:
        a = self.call("GetQueueAttributes", {"QueueUrl": url, "AttributeNames": [
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"]}).get("Attributes", {})
        return (int(a.get("ApproximateNumberOfMessages", -1)), int(a.get("ApproximateNumberOfMessagesNotVisible", -1)),
                int(a.get("ApproximateNumberOfMessagesDelayed", 0)))

    def close(self) -> None:
        self.conn.close()


def _check_send(status: int, body: bytes) -> str | None:
    if status != 200 or b'"MessageId"' not in body:
        return f"HTTP {status}: {body[:160]!r}"
    return None


def _check_batch(status: int, body: bytes) -> str | None:
    if status != 200:
        return f"HTTP {status}: {body[:160]!r}"
    try:
        d = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:120]!r}"
    if len(d.get("Successful", ())) != 10 or d.get("Failed"):
        return f"batch: {len(d.get('Successful', ()))} ok, failed {str(d.get('Failed'))[:120]}"
    return None


def send_raw(s: Server, url: str) -> bytes:
    return s.signer.sqs("SendMessage", {"QueueUrl": url, "MessageBody": BODY})


def batch_raw(s: Server, url: str) -> bytes:
    return s.signer.sqs("SendMessageBatch", {"QueueUrl": url, "Entries": [
        {"Id": f"m{i}", "MessageBody": BODY} for i in range(10)]})


def fill(s: Server, url: str, msgs: int, conns: int, deadline: float | None = None) -> LoadResult:
    """Send ``msgs`` (a multiple of 10) with SendMessageBatch; ``extra['sent']`` = messages accepted."""
    res = run_fixed(s.host, s.port, [batch_raw(s, url)], msgs // 10, conns, check=_check_batch,
                    deadline=deadline)
    res.extra["sent"] = (res.calls - res.errors) * 10
    return res


def drain(s: Server, url: str, target: int, conns: int, stop_when_empty: bool = True,
          deadline: float | None = None, spread: list[Server] | None = None,
          pool: list[Conn] | None = None) -> LoadResult:
    """Receive(10) + DeleteMessageBatch until ``target`` messages were received (or the queue is empty,
    or ``deadline`` (time.monotonic()) passed).

    Latencies are the ReceiveMessage calls'. extra: msgs, deleted, dups, receives, empty.
    ``spread``: servers sharing one store; connection i goes to ``spread[i % len(spread)]``.
    ``pool``: connections to ``s`` to use and leave open (see ``run_fixed``).
    """
    recv = s.signer.sqs("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10,
                                           "VisibilityTimeout": 120, "WaitTimeSeconds": 0})
    lock = threading.Lock()
    state = {"got": 0}
    seen: set[str] = set()

    def worker(_i: int, res: LoadResult) -> None:
        to = spread[_i % len(spread)] if spread else s
        conn = pool[_i] if pool else Conn(to.host, to.port)
        sig = to.signer
        pc = time.perf_counter
        ex = res.extra
        for k in ("msgs", "deleted", "dups", "receives", "empty"):
            ex[k] = 0
        empties = 0
        try:
            while True:
                with lock:
                    if state["got"] >= target:
                        break
                if deadline is not None and time.monotonic() > deadline:
                    break
                t0 = pc()
                try:
                    status, body = conn.request(recv)
                except Exception as e:  # noqa: BLE001
                    res.calls += 1
                    res.error(f"ReceiveMessage {type(e).__name__}: {e}")
                    conn.close()
                    if res.errors > 20:
                        break
                    continue
                res.latencies.append(pc() - t0)
                res.calls += 1
                ex["receives"] += 1
                if status != 200:
                    res.error(f"ReceiveMessage HTTP {status}: {body[:160]!r}")
                    if res.errors > 20:
                        break
                    continue
                msgs = json.loads(body).get("Messages") or []
                if not msgs:
                    ex["empty"] += 1
                    empties += 1
                    if stop_when_empty and empties >= 3:
                        break
                    time.sleep(0.005)
                    continue
                empties = 0
                with lock:
                    state["got"] += len(msgs)
                    for m in msgs:
                        if m["MessageId"] in seen:
                            ex["dups"] += 1
                        seen.add(m["MessageId"])
                ex["msgs"] += len(msgs)
                dele = sig.sqs("DeleteMessageBatch", {"QueueUrl": url, "Entries": [
                    {"Id": f"d{j}", "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(msgs)]})
                try:
                    status, body = conn.request(dele)
                except Exception as e:  # noqa: BLE001
                    res.calls += 1
                    res.error(f"DeleteMessageBatch {type(e).__name__}: {e}")
                    conn.close()
                    continue
                res.calls += 1
                ok = len(json.loads(body).get("Successful", ())) if status == 200 else 0
                ex["deleted"] += ok
                if ok != len(msgs):
                    res.error(f"DeleteMessageBatch HTTP {status}: {ok}/{len(msgs)} deleted: {body[:160]!r}")
        finally:
            if not pool:
                conn.close()

    return run_workers(worker, conns)


def _shard(n: int) -> int:
    """How many queues so that none holds more than DEPTH messages."""
    return max(1, -(-n // DEPTH))


def _each(ctx: Context, t: Table, fn) -> None:
    """Run ``fn(server)`` for every AWS server; unavailable servers and failures become rows."""
    for s in ctx.aws():
        if not s.available:
            unavailable_row(t, s)
            continue
        if not s.alive():
            unavailable_row(t, s, f"process died: {s.proc.tail() if s.proc else ''}")
            continue
        try:
            fn(s)
        except Exception as e:  # noqa: BLE001
            log(f"{s.name}: {type(e).__name__}: {e}")
            t.add(server=s.name, _note=f"failed: {type(e).__name__}: {str(e)[:200]}")


# ---------------------------------------------------------------- scenarios

def _rotated(raws: list[bytes], done: int) -> list[bytes]:
    """``raws`` starting where the previous rounds stopped (so rounds fill the queues evenly)."""
    k = done % len(raws)
    return raws[k:] + raws[:k]


@scenario("sqs.send", order=30)
def send(ctx: Context) -> list[Table]:
    """SendMessage: server CPU µs/call, msgs/s, p50/p99; the queue must hold exactly what was sent."""
    t = Table(f"SQS SendMessage (JSON protocol, {len(BODY)}-byte body, queues of ≤ {DEPTH}, {ctx.conns} conns)",
              std_cols("msgs/s", "CPU µs/call"))

    def setup(s: Server) -> dict:
        api = Sqs(s)
        n = ctx.count(5000, 2000, s)
        urls = [api.create("send") for _ in range(_shard(n))]
        raws = [send_raw(s, u) for u in urls]
        conns = pool(s, ctx.conns)
        warm = run_fixed(s.host, s.port, raws, min(100, n // 5), ctx.conns, check=_check_send, pool=conns)  # warm-up
        return {"api": api, "n": n, "urls": urls, "raws": raws, "warm": warm, "done": 0, "pool": conns}

    def step(s: Server, st: Rounds, r: int, k: int) -> tuple[LoadResult, float, int]:
        x = st.extra
        m, raws = share(x["n"], r, k), _rotated(x["raws"], x["done"])
        res, cpu = measure(s, lambda: run_fixed(s.host, s.port, raws, m, ctx.conns, check=_check_send,
                                                pool=x["pool"]))
        x["done"] += m
        return res, cpu, res.calls

    def finish(s: Server, st: Rounds) -> None:
        x, res = st.extra, st.total
        api, urls, warm = x["api"], x["urls"], x["warm"]
        close_all(x["pool"])
        row = t.add(**load_row(s, res, st.cpu, res.calls), **st.keys())
        got = sum(api.counts(u)[0] for u in urls)
        acked = res.calls - res.errors + warm.calls - warm.errors
        if got != acked:
            row["errors"] = row["errors"] + abs(acked - got)
            row["_note"] = f"queues hold {got} messages, {acked} sends acknowledged"
        for u in urls:
            api.delete(u)
        api.close()

    each_in_rounds(ctx, t, step, finish, setup)
    add_ratios(t)
    target_note(t, "SendMessage", "cpu_us", 150, "µs/call")
    pair_note(t)
    return [t]


@scenario("sqs.batch", order=31)
def batch(ctx: Context) -> list[Table]:
    """SendMessageBatch of 10: server CPU µs/msg. Leaves the queue filled for sqs.recvdel."""
    t = Table(f"SQS SendMessageBatch (10 × {len(BODY)} bytes, queues of ≤ {DEPTH}, {ctx.conns} conns)",
              std_cols("msgs/s", "CPU µs/msg"))

    def setup(s: Server) -> dict:
        api = Sqs(s)
        n = ctx.count(10000, 4000, s, minimum=200) // 10 * 10
        urls = [api.create("batch") for _ in range(_shard(n))]
        return {"api": api, "n": n, "urls": urls, "raws": [batch_raw(s, u) for u in urls], "done": 0,
                "pool": pool(s, ctx.conns)}

    def step(s: Server, st: Rounds, r: int, k: int) -> tuple[LoadResult, float, int]:
        x = st.extra
        m, raws = share(x["n"] // 10, r, k), _rotated(x["raws"], x["done"])
        res, cpu = measure(s, lambda: run_fixed(s.host, s.port, raws, m, ctx.conns, check=_check_batch,
                                                pool=x["pool"]))
        x["done"] += m
        return res, cpu, (res.calls - res.errors) * 10

    def finish(s: Server, st: Rounds) -> None:
        api, urls, res = st.extra["api"], st.extra["urls"], st.total
        close_all(st.extra["pool"])
        sent = (res.calls - res.errors) * 10
        row = t.add(**load_row(s, res, st.cpu, sent), **st.keys())
        counts = [api.counts(u)[0] for u in urls]
        if sum(counts) != sent:
            row["errors"] += abs(sum(counts) - sent)
            row["_note"] = f"queues hold {sum(counts)} messages, {sent} acknowledged"
        ctx.cache[("sqs.filled", s.name)] = list(zip(urls, counts, strict=True))
        api.close()

    each_in_rounds(ctx, t, step, finish, setup)
    add_ratios(t)
    target_note(t, "SendMessageBatch", "cpu_us", 30, "µs/msg")
    pair_note(t)
    return [t]


@scenario("sqs.recvdel", order=32)
def recvdel(ctx: Context) -> list[Table]:
    """ReceiveMessage(10) + DeleteMessageBatch on a pre-filled queue until it is empty: µs/msg."""
    t = Table(f"SQS ReceiveMessage(10) + DeleteMessageBatch, pre-filled queues of ≤ {DEPTH} drained, "
              f"{ctx.conns} conns",
              [Col("server", "server", "text"), Col("msgs", "msgs", "int"), Col("errors", "errors", "int"),
               Col("rate", "msgs/s", "int"), Col("p50", "recv p50 ms", "ms"), Col("p99", "recv p99 ms", "ms"),
               Col("cpu_us", "CPU µs/msg", "num"), Col("ratio", "tsunagi/x", "ratio")])

    def setup(s: Server) -> dict:
        api = Sqs(s)
        queues = ctx.cache.pop(("sqs.filled", s.name), None)
        if not queues:
            total = ctx.count(10000, 4000, s, minimum=200) // 10 * 10
            queues = []
            for _ in range(_shard(total)):
                url = api.create("recv")
                queues.append((url, fill(s, url, min(DEPTH, total), ctx.conns).extra["sent"]))
        return {"api": api, "queues": queues, "left": [c for _, c in queues], "at": 0, "pool": pool(s, ctx.conns)}

    def step(s: Server, st: Rounds, r: int, k: int) -> tuple[LoadResult, float, int]:
        # round r drains its share of the messages left, queue after queue (a queue can span rounds; the
        # receivers stop up to conns × 10 - 1 messages past a target, the later rounds share what is left)
        x = st.extra
        want = max(1, sum(x["left"][x["at"]:]) // (k - r))

        def run() -> LoadResult:
            out, got = LoadResult(), 0
            while got < want and x["at"] < len(x["queues"]):
                i = x["at"]
                d = drain(s, x["queues"][i][0], min(x["left"][i], want - got), ctx.conns, pool=x["pool"])
                out.merge(d, wall=True)
                got += d.extra["msgs"]
                x["left"][i] -= d.extra["msgs"]
                if x["left"][i] <= 0 or not d.extra["msgs"]:
                    x["at"] += 1
            return out

        res, cpu = measure(s, run)
        return res, cpu, res.extra.get("deleted", 0)

    def finish(s: Server, st: Rounds) -> None:
        api, queues, res = st.extra["api"], st.extra["queues"], st.total
        close_all(st.extra["pool"])
        n = sum(c for _, c in queues)
        got, deleted = res.extra.get("msgs", 0), res.extra.get("deleted", 0)
        row = t.add(**load_row(s, res, st.cpu, deleted, msgs=got), **st.keys())
        lefts = [api.counts(u) for u, _ in queues]
        left = (sum(x[0] for x in lefts), sum(x[1] for x in lefts))
        problems = []
        if got != n:
            problems.append(f"received {got} of {n}")
        if deleted != got:
            problems.append(f"deleted {deleted} of {got}")
        if res.extra.get("dups"):
            problems.append(f"{res.extra['dups']} duplicates")
        if left[0] or left[1]:
            problems.append(f"queue not empty at the end (visible {left[0]}, in flight {left[1]})")
        if problems:
            row["errors"] += max(1, abs(n - deleted))
            row["_note"] = "; ".join(problems) + (f"; {row['_note']}" if row.get("_note") else "")
        for u, _ in queues:
            api.delete(u)
        api.close()

    each_in_rounds(ctx, t, step, finish, setup)
    add_ratios(t)
    target_note(t, "Receive+DeleteBatch", "cpu_us", 60, "µs/msg")
    pair_note(t)
    return [t]


@scenario("sqs.longpoll", order=33)
def longpoll(ctx: Context) -> list[Table]:
    """send → receipt through a waiting long poll (WaitTimeSeconds=20): p50/p99 over ~200 rounds."""
    t = Table("SQS send → long-poll receipt latency (consumer waiting in ReceiveMessage WaitTimeSeconds=20)",
              [Col("server", "server", "text"), Col("calls", "rounds", "int"), Col("errors", "errors", "int"),
               Col("p50", "p50 ms", "ms"), Col("p90", "p90 ms", "ms"), Col("p99", "p99 ms", "ms"),
               Col("max", "max ms", "ms"), Col("cpu_us", "CPU µs/round", "num"), Col("ratio", "tsunagi/x p50", "ratio")])

    def setup(s: Server) -> dict:
        api = Sqs(s)
        url = api.create("poll")
        recv = s.signer.sqs("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 1, "WaitTimeSeconds": 20,
                                               "VisibilityTimeout": 30})
        return {"api": api, "url": url, "recv": recv, "send": send_raw(s, url), "spent": 0.0,
                "consumer": Conn(s.host, s.port), "producer": Conn(s.host, s.port),
                "rounds": int(ctx.count(200, 50) * max(0.5, min(1.0, s.scale)))}

    def step(s: Server, st: Rounds, r: int, k: int) -> tuple[LoadResult, float, int]:
        # all the rounds at once, or (with a baseline) a k-th of them, alternating with the baseline
        x = st.extra
        sig, url, consumer, producer = s.signer, x["url"], x["consumer"], x["producer"]
        res = LoadResult()
        pc = time.perf_counter

        def run() -> LoadResult:
            t_start = pc()
            for _ in range(share(x["rounds"], r, k)):
                if ctx.remaining() < 30 or x["spent"] + pc() - t_start > 60:
                    res.samples.append("stopped early (time budget)")
                    break
                consumer.send(x["recv"])
                time.sleep(0.01)          # let the receive reach the server and wait
                t0 = pc()
                status, body = producer.request(x["send"])
                if status != 200:
                    res.calls += 1
                    res.error(f"SendMessage HTTP {status}: {body[:120]!r}")
                    consumer.read()
                    continue
                status, body = consumer.read()
                t1 = pc()
                res.calls += 1
                msgs = json.loads(body).get("Messages") or [] if status == 200 else []
                if not msgs:
                    res.error(f"long poll returned no message (HTTP {status}) {body[:80]!r}")
                    # collect the stray message so the next round starts clean
                    status, body = consumer.request(sig.sqs("ReceiveMessage", {
                        "QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 2}))
                    msgs = json.loads(body).get("Messages") or [] if status == 200 else []
                else:
                    res.latencies.append(t1 - t0)
                for m in msgs:
                    producer.request(sig.sqs("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"]}))
            res.wall = pc() - t_start
            x["spent"] += res.wall
            return res

        res, cpu = measure(s, run)
        return res, cpu, res.calls

    def finish(s: Server, st: Rounds) -> None:
        x, res = st.extra, st.total
        row = t.add(**load_row(s, res, st.cpu, res.calls), **st.keys())
        row["p90"] = pct(res.latencies, 90) * 1e3 if res.latencies else None
        row["max"] = max(res.latencies) * 1e3 if res.latencies else None
        left = x["api"].counts(x["url"])
        if left[0] or left[1]:
            row["_note"] = (row.get("_note") or "") + f" queue not empty at the end: {left}"
        x["consumer"].close()
        x["producer"].close()
        x["api"].delete(x["url"])
        x["api"].close()

    each_in_rounds(ctx, t, step, finish, setup)
    add_ratios(t, key="p50")
    target_note(t, "long-poll receipt p50", "p50", 2, "ms")
    t.notes.append("CPU µs/round covers one send, one receive, one delete and the server's idle waiting.")
    return [t]


LEVELS_FULL = {"tsunagi": [1_000, 10_000, 100_000, 1_000_000], "tsunagi-pg": [1_000, 10_000, 100_000],
               "ministack": [1_000, 10_000, 100_000], "moto": [500, 1_000], "localstack": [1_000, 10_000]}
# moto walks the whole queue on every call (it fills at ~40 msgs/s near 1k, ~15 at 2k): 10k would take
# most of the run, so it is measured at 500 and 1k.
LEVELS_QUICK = {"tsunagi": [1_000, 10_000, 100_000], "tsunagi-pg": [1_000, 10_000],
                "ministack": [1_000, 10_000], "moto": [1_000], "localstack": [1_000]}


@scenario("sqs.backlog", order=90)
def backlog(ctx: Context) -> list[Table]:
    """Send and Receive+Delete cost, receive latency and server RSS as the queue backlog grows."""
    t = Table(f"SQS backlog scaling (queue pre-filled with batches; {ctx.conns} conns)",
              [Col("server", "server", "text"), Col("level", "backlog", "int"), Col("fill", "fill msgs/s", "int"),
               Col("send_us", "send µs/call", "num"), Col("send_p50", "send p50 ms", "ms"),
               Col("recv_us", "recv+del µs/msg", "num"), Col("recv_p50", "recv p50 ms", "ms"),
               Col("rss", "RSS MB", "mb"), Col("errors", "errors", "int"),
               Col("ratio", "tsunagi/x send", "ratio"), Col("ratio_r", "tsunagi/x recv", "ratio")])
    levels = LEVELS_QUICK if ctx.quick else LEVELS_FULL
    fill_budget = 60.0 if ctx.quick else 200.0

    def one(s: Server) -> None:
        api = Sqs(s)
        url = api.create("backlog")
        current, fill_rate = 0, None
        kmax = ctx.count(2000, 500, s, minimum=30)
        raw = send_raw(s, url)
        limit = 5.0 if ctx.quick else 6.0    # seconds per measurement: slow peers do fewer calls
        for level in levels.get(s.like, [1_000, 10_000]):
            need = (level - current) // 10 * 10
            live = [x.name for x in ctx.aws() if x.available]
            later = len(live) - live.index(s.name) - 1       # leave time for the servers still to come
            budget = min(fill_budget, ctx.remaining() - 45 - 40 * later)
            if fill_rate and need / fill_rate > budget:
                t.add(server=s.name, level=level,
                      _note=f"skipped {level:,}: filling would take ~{need / fill_rate:.0f} s (budget {budget:.0f} s)")
                break
            errors = 0
            if need > 0:
                t0 = time.monotonic()
                fr = fill(s, url, need, ctx.conns, deadline=t0 + max(budget, 5))
                current += fr.extra["sent"]
                errors += fr.errors
                fill_rate = fr.extra["sent"] / max(time.monotonic() - t0, 1e-6)
            visible = api.counts(url)[0]
            row = t.add(server=s.name, level=visible, fill=fill_rate)
            notes = []
            if visible < level * 0.99:
                notes.append(f"fill stopped at {visible:,} of {level:,} (time budget)")
            if abs(visible - current) > 0:
                notes.append(f"queue holds {visible:,}, {current:,} acknowledged")
                errors += abs(visible - current)
            # receive first (backlog drops by k), then send (back up): measured between level-k and level
            k = min(kmax, max(10, visible // 2))
            rres, rcpu = measure(s, lambda k=k: drain(s, url, k, ctx.conns, deadline=time.monotonic() + limit))
            ns = rres.extra["deleted"] or k
            sres, scpu = measure(s, lambda ns=ns: run_fixed(s.host, s.port, [raw], ns, ctx.conns, check=_check_send,
                                                            deadline=time.monotonic() + limit))
            current += sres.calls - sres.errors - rres.extra["deleted"]
            errors += sres.errors + rres.errors + rres.extra["dups"]
            row.update(send_us=scpu * 1e6 / max(sres.calls, 1), send_p50=pct(sres.latencies, 50) * 1e3,
                       recv_us=rcpu * 1e6 / max(rres.extra["deleted"], 1),
                       recv_p50=(pct(rres.latencies, 50) or 0) * 1e3, rss=s.rss(own=True), errors=errors)
            for r in (sres, rres):
                if r.samples:
                    notes.append(r.samples[0])
            if rres.extra["msgs"] < k and rres.wall < limit:
                notes.append(f"received {rres.extra['msgs']} of {k}")
            if notes:
                row["_note"] = f"at {level:,}: " + "; ".join(notes)
            log(f"  backlog {s.name} {visible:,}: send {row['send_us']:.0f} µs/call, "
                f"recv+del {row['recv_us']:.0f} µs/msg, RSS {row['rss'] / 1e6:.0f} MB")
            if visible < level * 0.99:
                break
        api.delete(url)
        api.close()

    _each(ctx, t, one)
    # ratios against tsunagi at the same nominal level
    ts = {_nominal(r["level"]): r for r in t.rows if r.get("server") == "tsunagi" and r.get("send_us")}
    for r in t.rows:
        if r.get("server") != "tsunagi" and r.get("send_us") and _nominal(r["level"]) in ts:
            ref = ts[_nominal(r["level"])]
            r["ratio"] = ref["send_us"] / r["send_us"]
            r["ratio_r"] = ref["recv_us"] / r["recv_us"] if r.get("recv_us") else None
    for name in [s.name for s in ctx.aws()]:
        rows = [r for r in t.rows if r.get("server") == name and r.get("send_us")]
        if len(rows) >= 2:
            a, b = rows[0], rows[-1]
            t.notes.append(f"{name} {a['level']:,} → {b['level']:,} messages: send {a['send_us']:.0f} → "
                           f"{b['send_us']:.0f} µs/call ({b['send_us'] / a['send_us']:.2f}×), recv+del "
                           f"{a['recv_us']:.0f} → {b['recv_us']:.0f} µs/msg ({b['recv_us'] / a['recv_us']:.2f}×), "
                           f"RSS {a['rss'] / 1e6:.0f} → {b['rss'] / 1e6:.0f} MB")
    t.notes.append("RSS: the server process alone (function workers started by earlier scenarios are excluded).")
    return [t]


def _nominal(level: int) -> int:
    for n in (500, 1_000, 10_000, 100_000, 1_000_000):
        if level <= n * 1.05:
            return n
    return level

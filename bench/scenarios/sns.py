"""SNS fan-out to three SQS queues, and RabbitMQ's fanout exchange (through pika) as the non-AWS reference.

- ``sns.latency``: three consumers wait in ReceiveMessage(WaitTimeSeconds=20), one per queue; Publish;
  the time from just before the Publish until the third consumer has the message. Default (enveloped,
  signed) delivery, as a subscription without RawMessageDelivery gets.
- ``sns.burst``: a burst of Publish calls over ``--conns`` connections with three subscriptions:
  publishes/s (the burst's wall time), deliveries/s (until the three queues hold every message, read
  from GetQueueAttributes), server CPU per publish over that span; then the queues are drained and each
  must hold every publish exactly once.

RabbitMQ runs on the machine (127.0.0.1:5672, guest/guest; not started by the bench) and is driven by
``bench/rabbit.py`` in its own venv with pika (``bench/.peers/pika``): a durable fanout exchange, three
durable bound queues, persistent messages, publisher confirms (the nearest thing to an acknowledged
Publish), consumers pushed to by the broker. Its CPU is the broker's (beam.smp) own.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time

from ..client import Conn, LoadResult, pct, run_fixed
from ..core import (
    PAIRED_ROUNDS,
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
)
from ..report import Col, Table
from ..servers import BENCH, PEERS, ROOT, Server, install_peer
from . import scenario
from ._aws import Api, delete_batch, long_poll, messages, sns_raw
from .sqs import drain

MESSAGE = json.dumps({"order": "7d3f0c8e-2b1a-4e59-9a51-0c1d2e3f4a5b", "bucket": "uploads",
                      "key": "incoming/2026/11/report.txt", "size": 10240, "pad": "x" * 64})
RABBIT = ("127.0.0.1", 5672)


def _check_publish(status: int, body: bytes) -> str | None:
    if status != 200 or b"<MessageId>" not in body:
        return f"HTTP {status}: {body[:160]!r}"
    return None


def _fanout(api: Api, prefix: str) -> tuple[str, list[str]]:
    topic = api.topic(prefix)
    urls = []
    for i in range(3):
        url = api.create(f"{prefix}{i}")
        api.subscribe_sqs(topic, api.queue_arn(url))
        urls.append(url)
    return topic, urls


# ---------------------------------------------------------------- RabbitMQ through pika

def rabbit_pid() -> int | None:
    """The broker's beam.smp process (RabbitMQ runs as a system service, not started by the bench)."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"beam" in cmd.split(b"\0", 1)[0] and b"rabbit" in cmd:
            return int(d)
    return None


def rabbit(ctx: Context, mode: str, n: int, conns: int = 1) -> dict:
    """Run ``bench/rabbit.py`` in the pika venv; its JSON result, or {"error": why}."""
    if "rabbit" not in ctx.cache:
        why = ""
        try:
            socket.create_connection(RABBIT, timeout=1).close()
        except OSError as e:
            why = f"no RabbitMQ on {RABBIT[0]}:{RABBIT[1]} ({e})"
        pid = rabbit_pid()
        if not why:
            ok, msg = install_peer("pika", "python3", ["pika>=1.3,<2"], log)
            if not ok:
                why = f"pika: {msg}"
        ctx.cache["rabbit"] = {"why": why, "pid": pid}
    info = ctx.cache["rabbit"]
    if info["why"]:
        return {"error": info["why"]}
    py = PEERS / "pika" / "venv" / "bin" / "python"
    argv = [str(py), str(BENCH / "rabbit.py"), mode, "--n", str(n), "--conns", str(conns)]
    if info["pid"]:
        argv += ["--pid", str(info["pid"])]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=max(30, min(120, ctx.remaining() - 10)),
                             cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1][:200]}
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- scenarios

@scenario("sns.latency", order=40)
def latency(ctx: Context) -> list[Table]:
    """Publish → all three subscribed queues have the message (consumers in long polls): p50/p99."""
    t = Table("SNS publish → 3 SQS subscriptions, time until all three consumers (waiting in long polls) "
              "have the message",
              [Col("server", "server", "text"), Col("calls", "rounds", "int"), Col("errors", "errors", "int"),
               Col("p50", "p50 ms", "ms"), Col("p90", "p90 ms", "ms"), Col("p99", "p99 ms", "ms"),
               Col("max", "max ms", "ms"), Col("cpu_us", "CPU µs/round", "num"),
               Col("ratio", "tsunagi/x p50", "ratio")])

    def setup(s: Server) -> dict:
        api = Api(s)
        topic, urls = _fanout(api, "lat")
        sig = s.signer
        return {"api": api, "topic": topic, "urls": urls, "spent": 0.0,
                "polls": [long_poll(u, sig, wait=20, n=1) for u in urls],
                "pub": sns_raw(sig, "Publish", {"TopicArn": topic, "Message": MESSAGE}),
                "consumers": [Conn(s.host, s.port) for _ in urls], "producer": Conn(s.host, s.port),
                "rounds": int(ctx.count(150, 40) * max(0.2, min(1.0, s.scale)))}

    def step(s: Server, st: Rounds, r: int, k: int) -> tuple[LoadResult, float, int]:
        # all the rounds at once, or (with a baseline) a k-th of them, alternating with the baseline
        x = st.extra
        sig, urls, consumers, producer = s.signer, x["urls"], x["consumers"], x["producer"]
        res = LoadResult()
        pc = time.perf_counter

        def run() -> LoadResult:
            t_start = pc()
            for _ in range(share(x["rounds"], r, k)):
                if ctx.remaining() < 30 or x["spent"] + pc() - t_start > 25:
                    res.samples.append("stopped early (time budget)")
                    break
                for c, p in zip(consumers, x["polls"], strict=True):
                    c.send(p)
                time.sleep(0.01)            # the receives reach the server and wait
                t0 = pc()
                status, body = producer.request(x["pub"])
                got = [messages(*c.read()) for c in consumers]
                t1 = pc()
                res.calls += 1
                if status != 200:
                    res.error(f"Publish HTTP {status}: {body[:120]!r}")
                elif not all(len(g) == 1 for g in got):
                    res.error(f"not every queue had the message: {[len(g) for g in got]}")
                else:
                    res.latencies.append(t1 - t0)
                for u, g in zip(urls, got, strict=True):
                    if not g:    # collect a late delivery so the next round starts clean
                        g = messages(*producer.request(long_poll(u, sig, wait=2, n=10)))
                    delete_batch(producer, sig, u, g)
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
        for c in [*x["consumers"], x["producer"]]:
            c.close()
        for u in x["urls"]:
            x["api"].delete(u)
        x["api"].delete_topic(x["topic"])
        x["api"].close()

    each_in_rounds(ctx, t, step, finish, setup)
    r = rabbit(ctx, "latency", ctx.count(150, 40))
    if "error" in r:
        t.add(server="rabbitmq", _note=f"not available: {r['error']}")
    else:
        lat = r["latencies"]
        t.add(server="rabbitmq", calls=r["rounds"], errors=r["errors"], p50=pct(lat, 50) * 1e3,
              p90=pct(lat, 90) * 1e3, p99=pct(lat, 99) * 1e3, max=max(lat) * 1e3,
              cpu_us=r["cpu"] * 1e6 / max(1, r["rounds"]) if r.get("cpu") is not None else None,
              _note=f"{r['version']}: durable fanout exchange, persistent messages, publisher confirms; "
                    "consumers pushed to; broker CPU")
    add_ratios(t, key="p50")
    ts = next((x for x in t.rows if x.get("server") == "tsunagi" and x.get("p50") is not None), None)
    if ts:
        v = ts["p50"]
        t.notes.append(f"target publish → all three received p50 ≤ 5 ms: tsunagi {v:.1f} ms → "
                       f"{'met' if v <= 5 and not ts.get('errors') else 'NOT met'}")
    t.notes.append("CPU µs/round covers the Publish, three long-poll receives, three deletes and the idle wait.")
    return [t]


@scenario("sns.burst", order=41)
def burst(ctx: Context) -> list[Table]:
    """A burst of Publish calls with three SQS subscriptions: publishes/s, deliveries/s, CPU/publish."""
    t = Table(f"SNS publish burst → 3 SQS subscriptions ({ctx.conns} conns; deliveries counted until the queues "
              "hold every message, then drained and checked)",
              [Col("server", "server", "text"), Col("calls", "publishes", "int"), Col("errors", "errors", "int"),
               Col("rate", "publishes/s", "int"), Col("deliv", "deliveries/s", "int"),
               Col("p50", "publish p50 ms", "ms"), Col("p99", "publish p99 ms", "ms"),
               Col("cpu_us", "CPU µs/publish", "num"), Col("ratio", "tsunagi/x CPU", "ratio"),
               Col("xdeliv", "tsunagi deliv ×", "ratio")])

    def setup(s: Server) -> dict:
        api = Api(s)
        topic, urls = _fanout(api, "burst")
        n = ctx.count(3000, 1000, s, minimum=40)
        pub = sns_raw(s.signer, "Publish", {"TopicArn": topic, "Message": MESSAGE})
        return {"api": api, "topic": topic, "urls": urls, "n": n, "pub": pub, "ok": 0, "held": 0,
                "deliv_wall": 0.0, "short": False, "pool": pool(s, ctx.conns)}

    def step(s: Server, st: Rounds, r: int, k: int) -> tuple[LoadResult, float, int]:
        # a burst of n publishes (n/k per round when paired with the baseline), then wait until the
        # queues hold every delivery so far
        x = st.extra
        api, urls, m = x["api"], x["urls"], share(x["n"], r, k)

        def run() -> LoadResult:
            t0 = time.perf_counter()
            res = run_fixed(s.host, s.port, [x["pub"]], m, ctx.conns, check=_check_publish,
                            deadline=time.monotonic() + 60, pool=x["pool"])
            ok = x["ok"] + res.calls - res.errors
            held = 0
            limit = time.monotonic() + max(10.0, min(60.0, ctx.remaining() - 60))
            while time.monotonic() < limit:
                held = sum(api.counts(u)[0] for u in urls)
                if held >= 3 * ok:
                    break
                time.sleep(0.01)
            x["short"] = x["short"] or held < 3 * ok
            x.update(ok=ok, held=held, deliv_wall=x["deliv_wall"] + time.perf_counter() - t0)
            return res

        res, cpu = measure(s, run)
        return res, cpu, res.calls

    def finish(s: Server, st: Rounds) -> None:
        x, res = st.extra, st.total
        api, urls, ok = x["api"], x["urls"], x["ok"]
        close_all(x["pool"])
        row = t.add(**load_row(s, res, st.cpu, res.calls), **st.keys())
        row["deliv"] = x["held"] / x["deliv_wall"] if x["deliv_wall"] else None
        problems = []
        if x["held"] < 3 * ok or x["short"]:
            problems.append(f"only {x['held']} of {3 * ok} deliveries in the queues after waiting")
        for u in urls:   # one receiver: moto hands a message to two concurrent receivers (see README)
            d = drain(s, u, ok, 1, deadline=time.monotonic() + 60)
            if d.extra["msgs"] != ok or d.extra["dups"]:
                problems.append(f"a queue gave {d.extra['msgs']} of {ok} ({d.extra['dups']} duplicates)")
                row["errors"] += abs(ok - d.extra["msgs"]) + d.extra["dups"]
        if problems:
            row["_note"] = "; ".join(problems) + (f"; {row['_note']}" if row.get("_note") else "")
        for u in urls:
            api.delete(u)
        api.delete_topic(x["topic"])
        api.close()

    each_in_rounds(ctx, t, step, finish, setup)
    r = rabbit(ctx, "burst", ctx.count(3000, 1000), ctx.conns)
    if "error" in r:
        t.add(server="rabbitmq", _note=f"not available: {r['error']}")
    else:
        lat = r["latencies"]
        row = t.add(server="rabbitmq", calls=r["published"], errors=r["errors"],
                    rate=r["published"] / r["publish_wall"], deliv=r["delivered"] / r["deliv_wall"],
                    p50=pct(lat, 50) * 1e3, p99=pct(lat, 99) * 1e3,
                    cpu_us=r["cpu"] * 1e6 / max(1, r["published"]) if r.get("cpu") is not None else None,
                    _note=f"{r['version']}: persistent messages with publisher confirms, one channel per conn; "
                          f"drained {r['drained']} of {3 * r['published']}")
        if r["drained"] != 3 * r["published"]:
            row["errors"] += abs(3 * r["published"] - r["drained"])
    add_ratios(t)
    ts = next((x for x in t.rows if x.get("server") == "tsunagi" and x.get("deliv")), None)
    if ts:
        for x in t.rows:
            if x.get("server") != "tsunagi" and x.get("deliv"):
                x["xdeliv"] = ts["deliv"] / x["deliv"]
        # issue 4's target names its peers: moto (76/s) and LocalStack (67/s); MiniStack is shown alongside
        peers = [x for x in t.rows if x.get("server") in ("moto", "localstack") and x.get("deliv")]
        if peers:
            each = ", ".join(f"{ts['deliv'] / x['deliv']:.1f}× {x['server']} ({x['deliv']:,.0f}/s)" for x in peers)
            met = all(ts["deliv"] / x["deliv"] >= 20 for x in peers) and not ts.get("errors")
            t.notes.append(f"target deliveries/s ≥ 20× the peers the issue names (moto 76/s, LocalStack 67/s "
                           f"when it measured them): tsunagi {ts['deliv']:,.0f}/s = {each} in this run → "
                           f"{'met' if met else 'NOT met'}")
    t.notes.append("`tsunagi deliv ×` = tsunagi's deliveries/s divided by that server's (above 1 = tsunagi faster).")
    if any(len(r.get("_rounds") or ()) > 1 for r in t.rows):
        t.notes.append(f"With --baseline, each build's burst is split into alternating rounds (n/{PAIRED_ROUNDS} publishes, then "
                       "the wait for their deliveries); publishes/s and deliveries/s are over all its rounds.")
    pair_note(t)
    return [t]

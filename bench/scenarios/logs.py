"""CloudWatch Logs at volume: PutLogEvents ingest, FilterLogEvents and an Insights ``stats count() by bin(1m)``
over the same group of (up to) 1,000,000 events, on every server that serves them.

- ``logs.put``: the group is filled with PutLogEvents batches of 10,000 events (~60-byte lines, about
  860 KB of the 1 MB a call may carry), one stream per connection, the events spread evenly over the
  last ``SPAN_MIN`` minutes (one in 100 is an ``ERROR`` line). Events/s, server CPU per event, and the
  server's peak RSS growth over the fill. A server that cannot fill its level within the time cap stops
  there; the later scenarios then read what it stored (the row says how many).
- ``logs.filter``: FilterLogEvents with ``filterPattern "ERROR"`` over the whole group, every page
  followed to the end: the time until the last page, server CPU and peak RSS growth; every ERROR line
  must come back once.
- ``logs.insights``: StartQuery ``stats count() by bin(1m)`` over the group's time range, GetQueryResults
  polled every 50 ms until Complete: the time from StartQuery to Complete, server CPU and peak RSS growth;
  the counts must add up to the events stored. A server that refuses the operation is "not served".

Memory is the server process's own RSS (``/proc/<pid>/status``), sampled every 0.1 s: the figure is the
peak during the scenario minus the RSS at its start. The per-million columns divide by the events in the
group, so a peer that stopped at a smaller level can be compared (scans are close to linear in events).
"""
from __future__ import annotations

import itertools
import json
import threading
import time

from ..client import Conn, LoadResult, run_workers
from ..core import Context, add_ratios, log
from ..report import Col, Table
from ..servers import Server
from . import scenario
from .s3 import RssSampler
from .sqs import _each

GROUP = "/bench/logs"
PER_CALL = 10_000                   # PutLogEvents' most events per call
SPAN_MIN = 1000                     # minutes the events are spread over (one Insights bin each)
ERROR_EVERY = 100
QUERY = "stats count() by bin(1m)"
LEVELS = {"full": 1_000_000, "quick": 20_000}
# slow servers fill less (the figures per million events stay comparable)
SCALE = {"moto": 0.1, "localstack": 0.1}
CAP_S = {"full": 300.0, "quick": 60.0}      # most seconds a server may spend filling
NOT_SERVED = (400, 404, 500, 501)
PG_NOTE = ("tsunagi-pg's CPU is its own process's: the PostgreSQL server's share of the work (the scan itself, for "
           "FilterLogEvents) is not counted, so its CPU column reads lower than the work done")


class LogsError(Exception):
    pass


def raw(s: Server, op: str, payload: dict) -> bytes:
    return s.signer.json("logs", f"Logs_20140328.{op}", payload, content_type="application/x-amz-json-1.1")


def call(s: Server, conn: Conn, op: str, payload: dict, ok: tuple[int, ...] = (200,)) -> dict:
    status, body = conn.request(raw(s, op, payload))
    if status not in ok:
        raise LogsError(f"{op} → HTTP {status}: {body[:200]!r}")
    return json.loads(body) if body.strip() else {}


def message(i: int) -> str:
    if i % ERROR_EVERY == 0:
        return f"ERROR req-{i:07d} GET /orders/{i % 997} status=500 ms={i % 250}"
    return f"INFO req-{i:07d} GET /orders/{i % 997} status=200 ms={i % 250}"


_fills = itertools.count(int(time.time()))


class Fill:
    """A server's group: its planned size, the time range, and which batches it stored."""

    def __init__(self, n: int, now_ms: int, group: str) -> None:
        self.n = n
        self.group = group
        # on a minute boundary: exactly SPAN_MIN bins (Insights returns 1,000 rows unless told otherwise)
        self.start_ms = (now_ms // 60_000 - SPAN_MIN - 5) * 60_000
        self.step = SPAN_MIN * 60_000 / n
        self.end_ms = int(self.start_ms + self.step * n) + 1
        self.stored: list[int] = []          # batch indexes acknowledged without rejections

    def ts(self, i: int) -> int:
        return int(self.start_ms + i * self.step)

    def batch(self, j: int) -> range:
        return range(j * PER_CALL, min(self.n, (j + 1) * PER_CALL))

    @property
    def events(self) -> int:
        return sum(len(self.batch(j)) for j in self.stored)

    @property
    def errors(self) -> int:
        return sum(1 for j in self.stored for i in self.batch(j) if i % ERROR_EVERY == 0)


def level(ctx: Context, s: Server) -> int:
    n = LEVELS["quick" if ctx.quick else "full"]
    return max(PER_CALL, int(n * SCALE.get(s.like, 1.0)))


def fill(ctx: Context, s: Server, conns: int) -> tuple[Fill, LoadResult, float, int]:
    """Create the group and one stream per connection, then PutLogEvents until the level is stored or the
    cap is reached. Returns the fill, the load, the server CPU seconds and the peak RSS growth (bytes)."""
    f = Fill(level(ctx, s), int(time.time() * 1000), f"{GROUP}/{next(_fills)}")
    c = Conn(s.host, s.port)
    try:
        call(s, c, "CreateLogGroup", {"logGroupName": f.group})
        for k in range(conns):
            call(s, c, "CreateLogStream", {"logGroupName": f.group, "logStreamName": f"s{k}"})
    finally:
        c.close()
    batches = (f.n + PER_CALL - 1) // PER_CALL
    counter = itertools.count()
    cap = time.monotonic() + min(CAP_S["quick" if ctx.quick else "full"], max(60.0, ctx.remaining() / 4))
    lock = threading.Lock()

    def worker(k: int, res: LoadResult) -> None:
        conn = Conn(s.host, s.port, timeout=120)
        try:
            while time.monotonic() < cap:
                j = next(counter)
                if j >= batches:
                    break
                body = {"logGroupName": f.group, "logStreamName": f"s{k}",
                        "logEvents": [{"timestamp": f.ts(i), "message": message(i)} for i in f.batch(j)]}
                req = raw(s, "PutLogEvents", body)
                t0 = time.perf_counter()
                try:
                    status, reply = conn.request(req)
                except Exception as e:  # noqa: BLE001 - counted
                    res.calls += 1
                    res.error(f"{type(e).__name__}: {e}")
                    conn.close()
                    continue
                res.latencies.append(time.perf_counter() - t0)
                res.calls += 1
                if status != 200 or b"rejectedLogEventsInfo" in reply:
                    res.error(f"HTTP {status}: {reply[:160]!r}")
                    continue
                with lock:
                    f.stored.append(j)
        finally:
            conn.close()

    rss = RssSampler(s, every=0.1)
    rss0 = s.rss(own=True)
    rss.start()
    c0 = s.cpu()
    res = run_workers(worker, conns)
    cpu = s.cpu() - c0
    peak = max(rss.stop(), default=rss0)
    return f, res, cpu, peak - rss0


def _fill_of(ctx: Context, s: Server) -> Fill:
    """The group ``logs.put`` filled on this server (filled now, unmeasured, when it did not run)."""
    key = ("logs.fill", s.name)
    if key not in ctx.cache:
        log(f"{s.name}: filling a log group for the read scenarios")
        f, res, _, _ = fill(ctx, s, ctx.conns)
        if not f.stored:
            raise LogsError(f"could not fill the group: {res.samples[:1]}")
        ctx.cache[key] = f
    return ctx.cache[key]


def _measured(s: Server, fn):
    """Run ``fn()``; returns (its result, wall seconds, server CPU seconds, peak RSS growth bytes)."""
    rss = RssSampler(s, every=0.1)
    rss0 = s.rss(own=True)
    rss.start()
    c0, t0 = s.cpu(), time.perf_counter()
    try:
        out = fn()
    finally:
        wall, cpu = time.perf_counter() - t0, s.cpu() - c0
        peak = max(rss.stop(), default=rss0)
    return out, wall, cpu, peak - rss0


def _per_m(v: float | None, events: int) -> float | None:
    return None if v is None or not events else v * 1e6 / events


@scenario("logs.put", order=76)
def put(ctx: Context) -> list[Table]:
    """PutLogEvents of 10,000-event batches into one group: events/s, server CPU µs/event, peak RSS growth."""
    t = Table(f"Logs PutLogEvents ({PER_CALL:,}-event batches of ~60-byte lines, {ctx.conns} conns, one stream "
              f"each; up to {LEVELS['quick' if ctx.quick else 'full']:,} events)",
              [Col("server", "server", "text"), Col("events", "events stored", "int"), Col("calls", "calls", "int"),
               Col("errors", "errors", "int"), Col("rate", "events/s", "int"), Col("p50", "p50 ms/call", "ms"),
               Col("cpu_us", "CPU µs/event", "num"), Col("ratio", "tsunagi/x CPU", "ratio"),
               Col("rss", "RSS growth MB", "mb"), Col("rate_x", "tsunagi rate ×", "ratio")])

    def one(s: Server) -> None:
        f, res, cpu, grew = fill(ctx, s, ctx.conns)
        ctx.cache[("logs.fill", s.name)] = f
        n = f.events
        row = t.add(server=s.name, events=n, calls=res.calls, errors=res.errors,
                    rate=n / res.wall if res.wall else None, p50=_ms(res.latencies, 50),
                    cpu_us=cpu * 1e6 / n if n else None, rss=grew)
        notes = []
        if n < f.n:
            notes.append(f"stopped at {n:,} of {f.n:,} events (time cap)")
        if res.samples:
            notes.append(f"{res.errors} errors, e.g. {res.samples[0]}")
        if notes:
            row["_note"] = "; ".join(notes)

    _each(ctx, t, one)
    add_ratios(t)
    _rate_ratios(t)
    t.notes.append("RSS growth: the server process's peak RSS during the fill minus its RSS before (sampled every 0.1 s)")
    t.notes.append(PG_NOTE)
    return [t]


def _ms(lat: list[float], p: float) -> float | None:
    from ..client import pct
    v = pct(lat, p)
    return None if v is None else v * 1000


def _rate_ratios(t: Table) -> None:
    ref = next((r for r in t.rows if r.get("server") == "tsunagi" and r.get("rate")), None)
    for r in t.rows:
        if ref and r is not ref and r.get("rate"):
            r["rate_x"] = ref["rate"] / r["rate"]


def _read_table(title: str) -> Table:
    return Table(title, [Col("server", "server", "text"), Col("events", "events in group", "int"),
                         Col("found", "found", "int"), Col("errors", "errors", "int"), Col("wall", "time s", "num"),
                         Col("cpu", "server CPU s", "num"), Col("wall_m", "s per 1M events", "num"),
                         Col("cpu_m", "CPU s per 1M events", "num"), Col("ratio", "tsunagi/x CPU", "ratio"),
                         Col("rss", "RSS growth MB", "mb")])


@scenario("logs.filter", order=77)
def filter_(ctx: Context) -> list[Table]:
    """FilterLogEvents "ERROR" over the whole group, every page: time, server CPU, peak RSS growth."""
    t = _read_table('Logs FilterLogEvents filterPattern "ERROR" (1 event in 100) over the whole group, '
                    "every page followed")

    def one(s: Server) -> None:
        f = _fill_of(ctx, s)
        conn = Conn(s.host, s.port, timeout=600)

        def scan() -> tuple[int, int, str | None]:
            found = pages = 0
            token = None
            while True:
                body = {"logGroupName": f.group, "filterPattern": "ERROR", "startTime": f.start_ms,
                        "endTime": f.end_ms}
                if token:
                    body["nextToken"] = token
                status, reply = conn.request(raw(s, "FilterLogEvents", body))
                if status != 200:
                    return found, pages, f"HTTP {status}: {reply[:160]!r}"
                doc = json.loads(reply)
                pages += 1
                found += len(doc.get("events", []))
                token = doc.get("nextToken")
                if not token or pages > 100_000:
                    return found, pages, None

        try:
            (found, pages, err), wall, cpu, grew = _measured(s, scan)
        finally:
            conn.close()
        if err and found == 0 and pages == 0 and any(f" {c}:" in err for c in map(str, NOT_SERVED)):
            t.add(server=s.name, events=f.events, _note=f"not served: {err}")
            return
        wrong = err or (None if found == f.errors else f"found {found:,} ERROR lines, expected {f.errors:,}")
        row = t.add(server=s.name, events=f.events, found=found, errors=1 if wrong else 0, wall=wall, cpu=cpu,
                    wall_m=_per_m(wall, f.events), cpu_m=_per_m(cpu, f.events), rss=grew)
        row["_note"] = f"{pages:,} pages" + (f"; {wrong}" if wrong else "")

    _each(ctx, t, one)
    add_ratios(t, key="cpu_m")
    t.notes.append(PG_NOTE)
    return [t]


@scenario("logs.insights", order=78)
def insights(ctx: Context) -> list[Table]:
    """Insights `stats count() by bin(1m)` over the whole group: time to Complete, server CPU, peak RSS growth."""
    t = _read_table(f"Logs Insights `{QUERY}` over the whole group ({SPAN_MIN:,} one-minute bins), "
                    "StartQuery → Complete")

    def one(s: Server) -> None:
        f = _fill_of(ctx, s)
        conn = Conn(s.host, s.port, timeout=600)

        def query() -> tuple[int, int, str | None, bool]:
            status, reply = conn.request(raw(s, "StartQuery", {
                "logGroupName": f.group, "startTime": f.start_ms // 1000, "endTime": f.end_ms // 1000 + 1,
                "queryString": QUERY}))
            if status != 200:
                return 0, 0, f"StartQuery → HTTP {status}: {reply[:160]!r}", True
            qid = json.loads(reply)["queryId"]
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                status, reply = conn.request(raw(s, "GetQueryResults", {"queryId": qid}))
                if status != 200:
                    return 0, 0, f"GetQueryResults → HTTP {status}: {reply[:160]!r}", True
                doc = json.loads(reply)
                state = doc.get("status")
                if state == "Complete":
                    total = bins = 0
                    rows = doc.get("results", [])
                    for r in rows:
                        fields = {x.get("field"): x.get("value") for x in r}
                        if "count()" not in fields:
                            return 0, 0, (f"the query completed with {len(rows):,} rows without a count() "
                                          f"field (first: {sorted(fields)[:4]}): stats is not computed"), True
                        try:
                            total += int(float(fields["count()"] or 0))
                        except ValueError:
                            pass
                        bins += 1
                    return total, bins, None, False
                if state in ("Failed", "Cancelled", "Timeout", "Unknown"):
                    return 0, 0, f"query {state}", False
                time.sleep(0.05)
            return 0, 0, "no Complete within 600 s", False

        try:
            (total, bins, err, refused), wall, cpu, grew = _measured(s, query)
        finally:
            conn.close()
        if refused:
            t.add(server=s.name, events=f.events, _note=f"not served: {err}")
            return
        wrong = err or (None if total == f.events else f"counts add up to {total:,}, expected {f.events:,}")
        row = t.add(server=s.name, events=f.events, found=total, errors=1 if wrong else 0, wall=wall, cpu=cpu,
                    wall_m=_per_m(wall, f.events), cpu_m=_per_m(cpu, f.events), rss=grew)
        row["_note"] = f"{bins:,} bins" + (f"; {wrong}" if wrong else "")

    _each(ctx, t, one)
    add_ratios(t, key="cpu_m")
    t.notes.append("`found` is the sum of the query's count() column: every stored event, once")
    t.notes.append(PG_NOTE)
    return [t]

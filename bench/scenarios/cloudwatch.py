"""CloudWatch alarm evaluation: what evaluating 1,000 metric alarms costs the server, per evaluation pass.

Each server gets 1,000 metrics (``Bench/Alarms``, ``m0`` … ``m999``) with a value for every minute from
three minutes ago to five minutes ahead (PutMetricData, query protocol, 20 data per call), and one alarm
on each (Maximum over 60 s, one period, > 5; the even metrics hold 10, the odd ones 1: 500 alarms go to
ALARM, 500 to OK). The server's CPU is read over an idle window before the alarms exist and over a window
with them; the difference is the evaluation's.

- tsunagi evaluates every alarm in one pass every ``TSUNAGI_CLOUDWATCH_EVALUATION_SECONDS`` (60 on AWS's
  pace), aligned to the clock. The scenario starts its own tsunagi (SQLite, and PostgreSQL on a fresh
  database) with ``EVERY`` seconds, and reads the CPU from half-way between two passes to half-way
  between two later ones: exactly ``passes`` passes in the window, once before the alarms exist (the
  idle rate) and once with them. Cost per pass = (window CPU − idle CPU rate × window) / passes.
- a peer has no such setting. Two things are read: its CPU over ``PEER_WINDOW`` seconds with the alarms
  beyond its idle rate, per minute (one pass at AWS's pace, for a peer that evaluates on a schedule), and
  what a one-datum PutMetricData (to a metric no alarm watches) costs with the alarms beyond what it
  cost before them (for a peer that evaluates every alarm whenever data arrive, as MiniStack 1.5 does).
  The larger of the two is its pass. A peer with no alarm in ALARM by the end of the window does not
  evaluate them: "not served"; one with some but not all in the right states is still evaluating (its
  figure is a lower bound, and the row counts an error).

The states are checked too: 500 in ALARM and 500 in OK (DescribeAlarms, 100 a page).

    .venv/bin/python -m bench --only cloudwatch.alarms --quick --no-results
"""
from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

from ..client import Conn, run_fixed
from ..core import Context, add_ratios, log
from ..report import Col, Table
from ..servers import Server, start_tsunagi, wait_ready
from . import scenario
from .s3 import RssSampler

ALARMS = {"full": 1000, "quick": 1000}
EVERY = 5.0                       # tsunagi's evaluation interval here (seconds)
PASSES = {"full": 6, "quick": 3}
IDLE_S = {"full": 10.0, "quick": 8.0}       # a peer's idle window
PEER_WINDOW = {"full": 65.0, "quick": 30.0}      # full: at least one minute boundary
PUTS = {"full": 50, "quick": 20}  # one-datum PutMetricData calls timed before and after the alarms (peers)
MINUTES = range(-3, 6)            # the minutes each metric has a value for, relative to now
PER_CALL = 20
NS = "Bench/Alarms"


class CwError(Exception):
    pass


def q(s: Server, action: str, params: dict[str, str]) -> bytes:
    return s.signer.query("monitoring", urlencode({"Action": action, "Version": "2010-08-01", **params}))


def _ok(status: int, body: bytes) -> str | None:
    return None if status == 200 else f"HTTP {status}: {body[:160]!r}"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def setup(s: Server, n: int, conns: int) -> None:
    """The metrics' data and the alarms (not measured)."""
    now = int(time.time() * 1000) // 60_000 * 60_000
    data: list[tuple[int, int]] = [(i, m) for i in range(n) for m in MINUTES]
    puts = []
    for k in range(0, len(data), PER_CALL):
        params: dict[str, str] = {"Namespace": NS}
        for j, (i, m) in enumerate(data[k:k + PER_CALL], 1):
            p = f"MetricData.member.{j}"
            params.update({f"{p}.MetricName": f"m{i}", f"{p}.Value": "10" if i % 2 == 0 else "1",
                           f"{p}.Unit": "Count", f"{p}.Timestamp": _iso(now + m * 60_000 + 30_000)})
        puts.append(q(s, "PutMetricData", params))
    res = run_fixed(s.host, s.port, puts, len(puts), conns, check=_ok)
    if res.errors:
        raise CwError(f"PutMetricData: {res.samples[0]}")
    alarms = [q(s, "PutMetricAlarm", {
        "AlarmName": f"a{i}", "Namespace": NS, "MetricName": f"m{i}", "Statistic": "Maximum", "Period": "60",
        "EvaluationPeriods": "1", "Threshold": "5", "ComparisonOperator": "GreaterThanThreshold"}) for i in range(n)]
    res = run_fixed(s.host, s.port, alarms, len(alarms), conns, check=_ok)
    if res.errors:
        raise CwError(f"PutMetricAlarm: {res.samples[0]}")


_STATE = re.compile(rb"<StateValue>([A-Z_]+)</StateValue>")
_TOKEN = re.compile(rb"<NextToken>([^<]+)</NextToken>")


def states(s: Server) -> dict[str, int]:
    """How many of the alarms are in each state (DescribeAlarms, every page)."""
    out: dict[str, int] = {}
    conn = Conn(s.host, s.port)
    token = None
    try:
        for _ in range(1000):
            params = {"AlarmNamePrefix": "a", "MaxRecords": "100", **({"NextToken": token} if token else {})}
            status, body = conn.request(q(s, "DescribeAlarms", params))
            if status != 200:
                raise CwError(f"DescribeAlarms → HTTP {status}: {body[:160]!r}")
            for m in _STATE.findall(body):
                out[m.decode()] = out.get(m.decode(), 0) + 1
            t = _TOKEN.search(body)
            if not t:
                break
            token = t.group(1).decode()
    finally:
        conn.close()
    return out


def _idle_rate(s: Server, seconds: float) -> float:
    c0, t0 = s.cpu(), time.monotonic()
    time.sleep(seconds)
    return (s.cpu() - c0) / (time.monotonic() - t0)


def _mid(after: float) -> float:
    """The first moment after ``after`` half-way between two of tsunagi's passes (they run ``lag`` past
    each multiple of EVERY, as in its evaluator)."""
    lag = min(2.0, EVERY / 4)
    k = int((after - lag - EVERY / 2) // EVERY) + 1
    return k * EVERY + lag + EVERY / 2


def _sleep_until(t: float) -> None:
    while (d := t - time.time()) > 0:
        time.sleep(min(d, 1.0))


@scenario("cloudwatch.alarms", needs=frozenset({"aws"}), order=79)
def alarms(ctx: Context) -> list[Table]:
    """Server CPU per evaluation pass of 1,000 metric alarms (tsunagi's own servers; peers per minute)."""
    mode = "quick" if ctx.quick else "full"
    n = ALARMS[mode]
    t = Table(f"CloudWatch alarm evaluation: {n:,} metric alarms on metrics with data, server CPU per pass "
              f"(tsunagi every {EVERY:g} s, {PASSES[mode]} passes; peers over {PEER_WINDOW[mode]:g} s, per minute)",
              [Col("server", "server", "text"), Col("alarms", "alarms", "int"), Col("alarm", "ALARM", "int"),
               Col("ok", "OK", "int"), Col("errors", "errors", "int"), Col("idle_ms", "idle CPU ms/s", "num"),
               Col("passes", "passes", "num"), Col("per_min_ms", "peer: CPU ms/min", "num"),
               Col("put_ms", "peer: added ms/PutMetricData", "num"), Col("pass_ms", "CPU ms per pass", "num"),
               Col("per_alarm_us", "CPU µs per alarm", "num"), Col("ratio", "tsunagi/x", "ratio"),
               Col("rss", "RSS growth MB", "mb")])
    env = {"TSUNAGI_CLOUDWATCH_EVALUATION_SECONDS": str(EVERY), "TSUNAGI_CLOUDWATCH_PUBLISH_SECONDS": "3600"}
    own: list[Server] = []
    for name in ("tsunagi", "tsunagi-pg"):
        if name not in ctx.servers:
            continue
        store = None
        if name == "tsunagi-pg":
            store = ctx.dbs.create("alarms") if ctx.dbs is not None else None
            if store is None:
                t.add(server=name, _note=f"not available: {ctx.dbs.reason if ctx.dbs else 'no PostgreSQL'}")
                continue
        s = start_tsunagi(ctx.work, f"alarms-{name}", store=store, env=env)
        own.append(s)
    try:
        for s in own:
            wait_ready(s, 30.0)
        for s in own:
            row_name = s.name.removeprefix("alarms-")
            if not s.available:
                t.add(server=row_name, _note=f"not available: {s.reason}")
                continue
            try:
                _tsunagi(ctx, s, n, mode, t, row_name)
            except Exception as e:  # noqa: BLE001
                log(f"{s.name}: {type(e).__name__}: {e}")
                t.add(server=row_name, _note=f"failed: {type(e).__name__}: {str(e)[:200]}")
    finally:
        for s in own:
            s.stop()
    for s in ctx.aws():
        if s.like in ("tsunagi", "tsunagi-pg"):
            continue
        if not s.available or not s.alive():
            t.add(server=s.name, _note=f"not available: {s.reason or 'process died'}")
            continue
        try:
            _peer(ctx, s, n, mode, t)
        except Exception as e:  # noqa: BLE001
            log(f"{s.name}: {type(e).__name__}: {e}")
            t.add(server=s.name, _note=f"failed: {type(e).__name__}: {str(e)[:200]}")
    add_ratios(t, key="pass_ms")
    t.notes.append("tsunagi: CPU per pass = (CPU over the window − the idle rate before the alarms existed × the "
                   "window) / passes; a peer's pass: a minute of its periodic evaluation or what one PutMetricData "
                   "adds with the alarms, whichever is larger (see the row's note)")
    return [t]


def _check(st: dict[str, int], n: int) -> str | None:
    want = {"ALARM": n // 2 + n % 2, "OK": n // 2}
    if st.get("ALARM", 0) == want["ALARM"] and st.get("OK", 0) == want["OK"]:
        return None
    return f"states {st}, expected {want}"


def _passes(s: Server, passes: int) -> tuple[float, float]:
    """Server CPU seconds and wall seconds over exactly ``passes`` of tsunagi's evaluation passes."""
    _sleep_until(_mid(time.time()))
    c0, t0 = s.cpu(), time.monotonic()
    _sleep_until(time.time() + passes * EVERY)
    return s.cpu() - c0, time.monotonic() - t0


def _tsunagi(ctx: Context, s: Server, n: int, mode: str, t: Table, name: str) -> None:
    passes = PASSES[mode]
    time.sleep(2.0)                                   # past the start's own work
    idle_cpu, idle_wall = _passes(s, passes)          # the same window without alarms
    idle = idle_cpu / idle_wall
    setup(s, n, ctx.conns)
    deadline = time.monotonic() + 6 * EVERY
    while time.monotonic() < deadline and states(s).get("INSUFFICIENT_DATA", 0):
        time.sleep(EVERY / 5)
    rss = RssSampler(s, every=0.1)
    rss0 = s.rss(own=True)
    rss.start()
    cpu, wall = _passes(s, passes)
    peak = max(rss.stop(), default=rss0)
    per_pass = max(0.0, cpu - idle * wall) / passes
    st = states(s)
    wrong = _check(st, n)
    row = t.add(server=name, alarms=n, alarm=st.get("ALARM", 0), ok=st.get("OK", 0), errors=1 if wrong else 0,
                idle_ms=idle * 1000, passes=passes, pass_ms=per_pass * 1000, per_alarm_us=per_pass * 1e6 / n,
                rss=peak - rss0)
    notes = [wrong] if wrong else []
    if per_pass > EVERY / 2:
        notes.append(f"a pass takes longer than half the {EVERY:g} s interval: passes may have been skipped")
    if notes:
        row["_note"] = "; ".join(notes)


def _put_cost(s: Server, calls: int) -> float:
    """Server CPU seconds per PutMetricData of one datum to a metric no alarm watches."""
    raws = [q(s, "PutMetricData", {"Namespace": "Bench/Other", "MetricData.member.1.MetricName": "x",
                                   "MetricData.member.1.Value": str(i)}) for i in range(calls)]
    c0 = s.cpu()
    res = run_fixed(s.host, s.port, raws, calls, 1, check=_ok)
    if res.errors:
        raise CwError(f"PutMetricData: {res.samples[0]}")
    return (s.cpu() - c0) / calls


def _peer(ctx: Context, s: Server, n: int, mode: str, t: Table) -> None:
    calls = PUTS[mode]
    idle = _idle_rate(s, IDLE_S[mode])
    put0 = _put_cost(s, calls)
    setup(s, n, ctx.conns)
    window = min(PEER_WINDOW[mode], max(20.0, ctx.remaining() / 3))
    rss = RssSampler(s, every=0.1)
    rss0 = s.rss(own=True)
    rss.start()
    c0, t0 = s.cpu(), time.monotonic()
    time.sleep(window)
    cpu, wall = s.cpu() - c0, time.monotonic() - t0
    peak = max(rss.stop(), default=rss0)
    put1 = _put_cost(s, calls)
    st = states(s)
    per_min = max(0.0, cpu - idle * wall) * 60 / wall
    added = max(0.0, put1 - put0)
    seen = f"CPU over {wall:.0f} s: {cpu * 1000:,.0f} ms (idle rate {idle * 1000:.2f} ms/s); PutMetricData " \
           f"{put0 * 1000:.2f} → {put1 * 1000:.2f} ms with the alarms"
    wrong = _check(st, n)
    if not st.get("ALARM"):
        # half the alarms breach: a server with none in ALARM has evaluated none (moto marks them all OK)
        t.add(server=s.name, alarms=n, idle_ms=idle * 1000, per_min_ms=per_min * 1000, put_ms=added * 1000,
              _note=f"not served: the alarms were not evaluated ({wrong} after {wall:.0f} s); {seen}")
        return
    on_put = added > per_min
    pass_s = added if on_put else per_min
    row = t.add(server=s.name, alarms=n, alarm=st.get("ALARM", 0), ok=st.get("OK", 0), errors=1 if wrong else 0,
                idle_ms=idle * 1000, per_min_ms=per_min * 1000, put_ms=added * 1000, pass_ms=pass_s * 1000,
                per_alarm_us=pass_s * 1e6 / n, rss=peak - rss0)
    row["_note"] = ("evaluates every alarm on each PutMetricData: a pass is what one PutMetricData adds; "
                    if on_put else "a pass is a minute of its periodic evaluation; ") + seen
    if wrong:
        row["_note"] += (f"; not every alarm evaluated by the end of the window ({wrong}): the CPU per minute is "
                         "a lower bound")

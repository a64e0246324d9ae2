"""Horizontal scaling: 1, 2 and 4 tsunagi processes on one PostgreSQL database.

With ``--baseline`` (and PostgreSQL) the baseline's ``tsunagi`` runs the same levels on a database of its
own, each level right after the current build's (rows ``tsunagi-base-pg ×N``).

For each level the processes are started on the same scratch database (made for this scenario,
dropped at the end), a queue is created through the first one, and the client's connections are
spread round-robin over all of them: SendMessage (one message per call), then ReceiveMessage(10) +
DeleteMessageBatch until the queue is empty. The same total number of connections at every level
(2 × ``--conns``), so the rows differ only in how many processes serve them. CPU is the sum over the
tsunagi processes (PostgreSQL's own CPU is not included: the cluster is shared with other work).

With ``--pin`` (Linux), each level runs on fixed cores (:func:`pin_plan`): the load generator (this process's
client threads) on the last core, the tsunagi processes round-robin over the others, each started under
``taskset -c``. PostgreSQL is not pinned (it is the machine's shared cluster). See docs/SCALING.md for what
this shows on a small machine and what it cannot.
Checks: the queue holds every acknowledged send; every message is received once and deleted.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from ..client import LoadResult, run_fixed
from ..core import Context, load_row, log
from ..report import Col, Table
from ..servers import Server, start_tsunagi, wait_ready
from . import scenario
from .sqs import Sqs, _check_send, drain, send_raw

LEVELS = (1, 2, 4)


def pin_plan(servers: int, cpus: Sequence[int], client_cores: int = 1) -> tuple[list[int], list[int]]:
    """Cores for ``servers`` tsunagi processes and for the load generator, out of ``cpus`` (the cores this
    process may run on): the client gets the last ``client_cores`` of them, server i the i-th of the rest,
    round-robin (so servers share cores once there are more servers than cores left). With no core left
    for servers, everything shares every core. Returns (core of server i, the client's cores)."""
    if servers < 1 or client_cores < 1:
        raise ValueError("need at least one server and one client core")
    ordered = sorted(set(cpus))
    if not ordered:
        raise ValueError("no cores to pin to")
    if len(ordered) <= client_cores:
        return [ordered[i % len(ordered)] for i in range(servers)], ordered
    for_servers, for_client = ordered[:-client_cores], ordered[-client_cores:]
    return [for_servers[i % len(for_servers)] for i in range(servers)], for_client


def describe_plan(server_cores: list[int], client_cores: list[int]) -> str:
    """``servers 0,0 · client 1`` plus cores per server, for the table."""
    per = len(set(server_cores)) / len(server_cores)
    return (f"servers {','.join(map(str, server_cores))} · client {','.join(map(str, client_cores))} "
            f"({per:.2g} core/server)")


@contextlib.contextmanager
def _client_on(cores: list[int] | None) -> Iterator[None]:
    """Pin the calling thread (and so the client threads it starts) to ``cores`` meanwhile; what
    ``taskset -c`` does to a process, done here with the same system call."""
    if cores is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _spread_send(procs: list[Server], raw_for: dict[str, bytes], calls: int, conns: int,
                 deadline: float) -> LoadResult:
    """``calls`` SendMessage over ``conns`` connections, connection i to ``procs[i % len]``."""
    per = [conns // len(procs) + (1 if i < conns % len(procs) else 0) for i in range(len(procs))]
    share = [calls * p // conns for p in per]
    share[0] += calls - sum(share)
    out: list[LoadResult] = [LoadResult() for _ in procs]

    def one(i: int) -> None:
        p = procs[i]
        out[i] = run_fixed(p.host, p.port, [raw_for[p.name]], share[i], max(1, per[i]), check=_check_send,
                           deadline=deadline)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(procs))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    total = LoadResult(wall=time.perf_counter() - t0)
    for r in out:
        total.merge(r)
    return total


def _level(ctx: Context, t: Table, build: str, baseline, url: str, level: int, n: int, conns: int) -> None:
    """``level`` processes of ``build`` (the current one, or ``baseline``'s) on database ``url``: send, then drain."""
    plan = pin_plan(level, sorted(os.sched_getaffinity(0))) if ctx.pin else None
    procs = [start_tsunagi(ctx.work, f"scale{level}-{i}" + ("-base" if baseline is not None else ""), store=url,
                           baseline=baseline, cores=None if plan is None else [plan[0][i]]) for i in range(level)]
    with _client_on(None if plan is None else plan[1]):
        _run_level(t, build, procs, level, n, conns, "" if plan is None else describe_plan(*plan))


def _run_level(t: Table, build: str, procs: list[Server], level: int, n: int, conns: int, pinned: str) -> None:
    name = f"{build} ×{level}"
    try:
        with ThreadPoolExecutor(max_workers=level) as ex:
            list(ex.map(lambda p: wait_ready(p, 30.0), procs))
        down = [p for p in procs if not p.available]
        if down:
            t.add(server=name, procs=level, build=build, pinned=pinned,
                  _note=f"not available: {down[0].name}: {down[0].reason}")
            return
        api = Sqs(procs[0])
        qurl = api.create("scale")
        raws = {p.name: send_raw(p, qurl) for p in procs}
        warm = _spread_send(procs, raws, min(200, n // 10), conns, time.monotonic() + 20)
        c0 = sum(p.cpu() for p in procs)
        res = _spread_send(procs, raws, n, conns, time.monotonic() + 30)
        c1 = sum(p.cpu() for p in procs)
        acked = api.counts(qurl)[0]
        expected = res.calls - res.errors + warm.calls - warm.errors
        row = t.add(**load_row(procs[0], res, c1 - c0, res.calls), procs=level, op="SendMessage", build=build,
                    pinned=pinned)
        row["server"] = name
        if acked != expected:
            row["errors"] += abs(acked - expected)
            row["_note"] = f"queue holds {acked}, {expected} sends acknowledged"
        c2 = sum(p.cpu() for p in procs)
        d = drain(procs[0], qurl, acked, conns, deadline=time.monotonic() + 40, spread=procs)
        c3 = sum(p.cpu() for p in procs)
        row = t.add(**load_row(procs[0], d, c3 - c2, d.extra["deleted"], calls=d.extra["msgs"]),
                    procs=level, op="Receive(10)+DeleteBatch", build=build, pinned=pinned)
        row["server"] = name
        left = api.counts(qurl)
        problems = []
        if d.extra["msgs"] != acked:
            problems.append(f"received {d.extra['msgs']} of {acked}")
        if d.extra["dups"]:
            problems.append(f"{d.extra['dups']} received twice")
        if left[0] or left[1]:
            problems.append(f"queue not empty at the end ({left[0]} visible, {left[1]} in flight)")
        if problems:
            row["errors"] += max(1, abs(acked - d.extra["deleted"]) + d.extra["dups"])
            row["_note"] = "; ".join(problems) + (f"; {row['_note']}" if row.get("_note") else "")
        api.delete(qurl)
        api.close()
        log(f"  scaling {build} {level} procs: send {res.calls / res.wall:,.0f}/s, recv+del "
            f"{d.extra['deleted'] / d.wall if d.wall else 0:,.0f}/s")
    finally:
        for p in procs:
            p.stop()


@scenario("scaling", needs=frozenset(), order=80)
def scaling(ctx: Context) -> list[Table]:
    """SendMessage and Receive+Delete throughput with 1, 2 and 4 tsunagi processes on one PostgreSQL."""
    conns = 2 * ctx.conns
    t = Table(f"Scaling: 1, 2 and 4 tsunagi processes on one PostgreSQL database ({conns} client connections "
              "spread over the processes" + ("; pinned to cores with taskset)" if ctx.pin else ")"),
              [Col("server", "servers", "text"), Col("op", "op", "text"), Col("calls", "msgs", "int"),
               Col("errors", "errors", "int"), Col("rate", "msgs/s", "int"), Col("p50", "p50 ms", "ms"),
               Col("p99", "p99 ms", "ms"), Col("cpu_us", "CPU µs/msg (all procs)", "num"),
               Col("x1", "× 1 process", "ratio")] + ([Col("pinned", "cores", "text")] if ctx.pin else []))
    if ctx.dbs is None:
        t.add(server="tsunagi-pg", _note=f"not available: {ctx.pg_reason or 'no PostgreSQL (--no-pg)'}")
        return [t]
    builds = [("tsunagi-pg", None)] + ([("tsunagi-base-pg", ctx.baseline)] if ctx.baseline is not None else [])
    urls: dict[str, str] = {}
    for build, _ in builds:
        url = ctx.dbs.create("scaling" if build == "tsunagi-pg" else "scalingbase")
        if url:
            urls[build] = url
        else:
            t.add(server=build, _note=f"not available: {ctx.dbs.reason}")
    n = ctx.count(6000, 2000)
    for level in LEVELS:          # with --baseline: each level on the current build, then on the baseline
        for build, baseline in builds:
            if build not in urls:
                continue
            if ctx.remaining() < 45:
                t.notes.append(f"{build} {level} processes: skipped (time budget)")
                continue
            _level(ctx, t, build, baseline, urls[build], level, n, conns)
    for r in t.rows:
        base = next((x for x in t.rows if x.get("procs") == 1 and x.get("op") == r.get("op") and x.get("rate")
                     and x.get("build") == r.get("build")), None)
        if base and r.get("rate"):
            r["x1"] = r["rate"] / base["rate"]
    t.notes.append("`× 1 process` = msgs/s relative to one process. On this 2-core machine the client, PostgreSQL "
                   "and every tsunagi process share two cores, so this shows that processes sharing a database "
                   "work together correctly and what they add here, not the scaling a bigger machine would give.")
    if ctx.pin:
        t.notes.append("`cores`: the core of each tsunagi process and the client's (`taskset -c`); PostgreSQL is not "
                       "pinned. Where servers share a core, the rows compare the same server cores split over more "
                       "processes, not more cores (see docs/SCALING.md).")
    return [t]

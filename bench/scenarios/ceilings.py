"""Ceilings measured in the same run: the bare HTTP handler, SQLite and PostgreSQL commit rates."""
from __future__ import annotations

import sqlite3
import time

from ..client import pct, run_fixed
from ..core import Context, log, measure
from ..report import Col, Table
from . import scenario

GCI = "Action=GetCallerIdentity&Version=2011-06-15"


def bare_gci(ctx: Context, name: str = "bare") -> dict | None:
    """STS GetCallerIdentity bytes sent to a bare handler (cached: the gateway table reuses it)."""
    key = f"{name}_gci"
    if key in ctx.cache:
        return ctx.cache[key]
    s = ctx.servers.get(name)
    if s is None or not s.available:
        ctx.cache[key] = None
        return None
    raw = s.signer.query("sts", GCI)
    n = ctx.count(20000, 8000)
    run_fixed(s.host, s.port, [raw], 500, ctx.conns)  # warm-up
    res, cpu = measure(s, lambda: run_fixed(s.host, s.port, [raw], n, ctx.conns))
    ctx.cache[key] = {"res": res, "cpu": cpu, "n": res.calls}
    return ctx.cache[key]


def _sqlite(path: str, batch: int, seconds: float) -> tuple[float, list[float]]:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS m (id INTEGER PRIMARY KEY, q TEXT, body TEXT, visible REAL)")
    body = "x" * 200
    rows, lat = 0, []
    pc = time.perf_counter
    t0 = pc()
    end = t0 + seconds
    while True:
        t = pc()
        if t >= end:
            break
        db.execute("BEGIN")
        for _ in range(batch):
            db.execute("INSERT INTO m (q, body, visible) VALUES (?, ?, ?)", ("q", body, t))
        db.execute("COMMIT")
        lat.append(pc() - t)
        rows += batch
    wall = pc() - t0
    db.close()
    return rows / wall, lat


def _pg(url: str, batch: int, seconds: float) -> tuple[float, list[float]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TABLE IF NOT EXISTS m (id bigserial PRIMARY KEY, q text, body text, visible float8)")
        body = "x" * 200
        rows, lat = 0, []
        pc = time.perf_counter
        t0 = pc()
        end = t0 + seconds
        while True:
            t = pc()
            if t >= end:
                break
            if batch == 1:
                db.execute("INSERT INTO m (q, body, visible) VALUES (%s, %s, %s)", ("q", body, t))
            else:
                with db.transaction(), db.cursor() as cur:
                    cur.executemany("INSERT INTO m (q, body, visible) VALUES (%s, %s, %s)",
                                    [("q", body, t)] * batch)
            lat.append(pc() - t)
            rows += batch
        wall = pc() - t0
    return rows / wall, lat


@scenario("ceilings", needs={"bare", "pg"}, order=10)
def ceilings(ctx: Context) -> list[Table]:
    """Bare handlers (tsunagi's HTTP server, uvicorn) req/s and CPU/request; SQLite and PostgreSQL commit rates."""
    t = Table("Ceilings (same machine, same run)",
              [Col("what", "ceiling", "text"), Col("rate", "ops/s", "int"), Col("unit", "op", "text"),
               Col("p50", "p50 ms", "ms"), Col("p99", "p99 ms", "ms"), Col("cpu_us", "server CPU µs/op", "num")])
    for name, label in (("bare", "bare handler on tsunagi's HTTP server"), ("bare-uvicorn", "bare uvicorn handler")):
        bare = bare_gci(ctx, name)
        if bare is None:
            t.add(what=label, server=name,
                  _note=f"not available: {ctx.servers[name].reason if name in ctx.servers else 'not started'}")
            continue
        res = bare["res"]
        t.add(what=f"{label}, canned 200 ({ctx.conns} conns)", rate=res.calls / res.wall, unit="request",
              p50=pct(res.latencies, 50) * 1e3, p99=pct(res.latencies, 99) * 1e3,
              cpu_us=bare["cpu"] * 1e6 / res.calls, server=name,
              _note=f"{res.errors} errors: {res.samples[0]}" if res.errors else None)
    secs = 1.0 if ctx.quick else 2.0
    path = str(ctx.work / "ceiling.sqlite")
    for batch in (1, 10):
        rate, lat = _sqlite(path, batch, secs)
        t.add(what=f"SQLite WAL sync=NORMAL, {batch} row{'s' if batch > 1 else ''}/commit", rate=rate,
              unit="row", p50=pct(lat, 50) * 1e3, p99=pct(lat, 99) * 1e3, server="sqlite")
    for suffix in ("", "-wal", "-shm"):
        (ctx.work / f"ceiling.sqlite{suffix}").unlink(missing_ok=True)
    if ctx.pg_ceiling_url:
        for batch in (1, 10):
            try:
                rate, lat = _pg(ctx.pg_ceiling_url, batch, secs)
                t.add(what=f"PostgreSQL, {batch} row{'s' if batch > 1 else ''}/commit", rate=rate, unit="row",
                      p50=pct(lat, 50) * 1e3, p99=pct(lat, 99) * 1e3, server="postgresql")
            except Exception as e:  # noqa: BLE001
                log(f"postgres ceiling failed: {e}")
                t.add(what=f"PostgreSQL, {batch} rows/commit", server="postgresql", _note=f"failed: {e}")
    else:
        t.add(what="PostgreSQL single-row commits", server="postgresql", _note=f"not available: {ctx.pg_reason}")
    t.notes.append("SQLite/PostgreSQL rates are measured from the harness process (commit latency, one client).")
    return [t]

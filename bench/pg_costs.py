"""PostgreSQL's own cost per SQS call, the inputs of docs/SCALING.md's model.

``.venv/bin/python -m bench.pg_costs [--n 2000]``: one ``tsunagi serve --store postgresql://…`` on a scratch
database (created here, dropped at the end), a queue, then ``--n`` SendMessage over 4 connections and a drain
with ReceiveMessage(10) + DeleteMessageBatch. For each phase it prints, per message:

- tsunagi's CPU (the server process, as the bench reads it);
- the CPU of the PostgreSQL backends serving that database (``/proc/<pid>/schedstat``, ns on CPU; the
  backends are found in ``pg_stat_activity``; the WAL writer and checkpointer are not counted);
- transactions committed in that database (``pg_stat_database.xact_commit``), less the server's idle rate
  measured beforehand;
- WAL bytes written for that database: the records between two ``pg_current_wal_lsn()`` that touch its
  blocks or belong to a transaction that did (``pg_walinspect``, created in the scratch database only), so
  other databases' work on a shared cluster is not counted.

Statistics reach ``pg_stat_database`` up to ~10 s after a backend goes idle, so each reading waits 11 s.
Not part of ``make bench`` (no table in RESULTS.md); the figures go into docs/SCALING.md by hand.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import psycopg

from .cli import PG_ADMIN, ScratchDBs
from .client import run_fixed
from .core import log
from .scenarios.sqs import Sqs, _check_send, drain, send_raw
from .servers import BENCH, start_tsunagi, wait_ready

FLUSH = 11.0        # seconds: PostgreSQL 15 backends report their statistics at most this late when idle


def _one(cur: psycopg.Cursor) -> tuple:
    row = cur.fetchone()
    if row is None:
        raise RuntimeError("query returned no row")
    return row


def _backend_cpu(admin: psycopg.Connection, db: str) -> float:
    """Seconds on CPU of the backends connected to ``db`` (their lifetime so far)."""
    total = 0
    for (pid,) in admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (db,)).fetchall():
        try:
            total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


def _pids(admin: psycopg.Connection, db: str) -> set[int]:
    return {p for (p,) in admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (db,)).fetchall()}


def _commits(admin: psycopg.Connection, db: str) -> int:
    admin.execute("SELECT pg_stat_clear_snapshot()")
    return int(_one(admin.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (db,)))[0])


def _lsn(admin: psycopg.Connection) -> str:
    return str(_one(admin.execute("SELECT pg_current_wal_lsn()"))[0])


def _wal_bytes(scratch: psycopg.Connection, start: str, end: str) -> tuple[int, int]:
    """(bytes, records) of WAL between ``start`` and ``end`` that belong to this database."""
    oid = _one(scratch.execute("SELECT oid FROM pg_database WHERE datname = current_database()"))[0]
    row = _one(scratch.execute(
        """WITH r AS (SELECT * FROM pg_get_wal_records_info(%s::pg_lsn, %s::pg_lsn)),
                ours AS (SELECT DISTINCT xid FROM r WHERE block_ref LIKE %s AND xid <> '0'::xid)
           SELECT coalesce(sum(record_length), 0), count(*) FROM r
            WHERE block_ref LIKE %s OR xid IN (SELECT xid FROM ours)""",
        (start, end, f"%/{oid}/%", f"%/{oid}/%")))
    return int(row[0]), int(row[1])


def commit_ceiling(url: str, conns: int, seconds: float) -> tuple[float, float]:
    """One-row INSERT + COMMIT in a loop on ``conns`` connections for ``seconds``: (commits/s, p50 ms). What
    the cluster's WAL flush allows with group commit among that many sessions, not a tsunagi figure."""
    import threading

    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE TABLE IF NOT EXISTS commit_probe (id bigserial PRIMARY KEY, body text)")
    counts = [0] * conns
    lat: list[float] = []
    stop = time.monotonic() + seconds

    def one(i: int) -> None:
        with psycopg.connect(url, autocommit=True) as c:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                c.execute("INSERT INTO commit_probe (body) VALUES (%s)", ("x" * 200,))
                lat.append(time.perf_counter() - t0)
                counts[i] += 1

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat.sort()
    return sum(counts) / (time.monotonic() - t0), lat[len(lat) // 2] * 1e3 if lat else 0.0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.pg_costs", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="SendMessage calls (2000)")
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--ceiling", type=float, default=3.0,
                    help="seconds of the commit ceiling (1-row commits on 1 and 8 connections); 0 skips it")
    ap.add_argument("--idle", type=float, default=20.0, help="seconds of idle before the load, for the idle rate")
    args = ap.parse_args(argv)
    dbs = ScratchDBs(PG_ADMIN)
    url = dbs.create("pgcost")
    if url is None:
        raise SystemExit(dbs.reason)
    db = url.rsplit("/", 1)[1]
    work = BENCH / ".work" / f"pgcost-{time.strftime('%Y%m%d-%H%M%S')}"
    srv = start_tsunagi(work, "pgcost", store=url)
    try:
        wait_ready(srv, 30.0)
        if not srv.available:
            raise SystemExit(f"tsunagi did not start: {srv.reason}")
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin, psycopg.connect(url, autocommit=True) as scratch:
            scratch.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
            api = Sqs(srv)
            qurl = api.create("pgcost")
            raw = send_raw(srv, qurl)
            run_fixed(srv.host, srv.port, [raw], 200, args.conns, check=_check_send)      # warm-up
            drain(srv, qurl, 200, args.conns)
            time.sleep(FLUSH)
            x0 = _commits(admin, db)
            time.sleep(args.idle)
            idle_rate = (_commits(admin, db) - x0) / args.idle
            log(f"idle: {idle_rate:.2f} commits/s in {db}")

            def phase(name: str, fn) -> dict:
                pids0 = _pids(admin, db)
                c0, b0, x0, l0 = srv.cpu(), _backend_cpu(admin, db), _commits(admin, db), _lsn(admin)
                t0 = time.monotonic()
                res, msgs = fn()
                wall = time.monotonic() - t0
                c1, b1, l1 = srv.cpu(), _backend_cpu(admin, db), _lsn(admin)
                pids1 = _pids(admin, db)
                wal, recs = _wal_bytes(scratch, l0, l1)       # at once: a busy cluster recycles its WAL soon
                time.sleep(FLUSH)
                x1 = _commits(admin, db)
                commits = (x1 - x0) - idle_rate * (wall + FLUSH)
                out = {"phase": name, "msgs": msgs, "errors": res.errors, "msgs/s": msgs / wall,
                       "tsunagi µs/msg": (c1 - c0) / msgs * 1e6, "pg backend µs/msg": (b1 - b0) / msgs * 1e6,
                       "commits/msg": commits / msgs, "WAL bytes/msg": wal / msgs, "WAL records/msg": recs / msgs,
                       "backends": f"{len(pids0)} → {len(pids1)} ({len(pids0 ^ pids1)} changed)"}
                log(f"{name}: " + ", ".join(f"{k} {v:,.2f}" if isinstance(v, float) else f"{k} {v}"
                                            for k, v in out.items() if k != "phase"))
                return out

            def send():
                r = run_fixed(srv.host, srv.port, [raw], args.n, args.conns, check=_check_send)
                return r, r.calls - r.errors

            def recv():
                r = drain(srv, qurl, args.n, args.conns)
                return r, r.extra["deleted"]

            rows = [phase("SendMessage", send), phase("Receive(10)+DeleteBatch", recv)]
            print("| phase | msgs | errors | msgs/s | tsunagi CPU µs/msg | PG backend CPU µs/msg | commits/msg | "
                  "WAL bytes/msg | WAL records/msg | backends |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
            for r in rows:
                print(f"| {r['phase']} | {r['msgs']:,} | {r['errors']} | {r['msgs/s']:,.0f} | "
                      f"{r['tsunagi µs/msg']:,.0f} | {r['pg backend µs/msg']:,.0f} | {r['commits/msg']:.2f} | "
                      f"{r['WAL bytes/msg']:,.0f} | {r['WAL records/msg']:.1f} | {r['backends']} |")
            print(f"\nidle commits/s in the database (subtracted): {idle_rate:.2f}")
        if args.ceiling > 0:
            for n in (1, 8):
                rate, p50 = commit_ceiling(url, n, args.ceiling)
                print(f"commit ceiling, 1-row INSERT commits on {n} connection(s): {rate:,.0f} commits/s, "
                      f"p50 {p50:.2f} ms")
    finally:
        srv.stop()
        dbs.drop_all()


if __name__ == "__main__":
    main()

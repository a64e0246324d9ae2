"""What scenarios get: the running servers, counts scaled per server, and measuring helpers."""
from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import Conn, LoadResult, pct
from .report import Col, Table
from .servers import Server

AWS_ORDER = ["tsunagi", "tsunagi-base", "tsunagi-pg", "tsunagi-base-pg", "ministack", "moto", "localstack"]
# the older build (--baseline) and the server whose counts and per-name settings it shares
BASE_OF = {"tsunagi-base": "tsunagi", "tsunagi-base-pg": "tsunagi-pg"}
TWIN = {v: k for k, v in BASE_OF.items()}
ROUNDS = 5                               # paired rounds of the gateway's × bare (one server and the bare handler)
PAIRED_ROUNDS = 20                       # rounds of a current build and its baseline (even: each goes first 10 times)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Context:
    quick: bool
    conns: int
    servers: dict[str, Server]
    work: Path
    deadline: float                      # time.monotonic() by which the whole run should be done
    pg_ceiling_url: str | None = None
    pg_reason: str = ""
    cache: dict = field(default_factory=dict)
    dbs: Any = None                      # cli.ScratchDBs: fresh PostgreSQL databases (None with --no-pg)
    baseline: Any = None                 # baseline.Baseline with --baseline, else None
    pin: bool = False                    # --pin: the scaling scenario pins servers and client to cores

    def aws(self) -> list[Server]:
        """AWS-compatible servers in display order (available or not)."""
        return [self.servers[n] for n in AWS_ORDER if n in self.servers]

    def groups(self) -> list[list[Server]]:
        """``aws()`` with each current build and its baseline twin together: [tsunagi, tsunagi-base],
        [tsunagi-pg, tsunagi-base-pg], [ministack], ... (a pair is measured in alternating rounds)."""
        out: list[list[Server]] = []
        for s in self.aws():
            if s.name in BASE_OF and BASE_OF[s.name] in self.servers:
                continue                                  # goes with its twin
            twin = self.servers.get(TWIN.get(s.name, ""))
            out.append([s, twin] if twin is not None else [s])
        return out

    def count(self, full: int, quick: int, server: Server | None = None, minimum: int = 20) -> int:
        n = quick if self.quick else full
        if server is not None:
            n = int(n * server.scale)
        return max(minimum, n)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def measure(server: Server, fn: Callable[[], LoadResult]) -> tuple[LoadResult, float]:
    """Run ``fn`` and return its result and the server's CPU seconds spent meanwhile."""
    c0 = server.cpu()
    res = fn()
    return res, server.cpu() - c0


def unavailable_row(table: Table, s: Server, why: str | None = None) -> None:
    table.add(server=s.name, _note=f"not available: {why or s.reason}")


def load_row(s: Server, res: LoadResult, cpu: float, units: int, **extra) -> dict:
    """The standard columns: calls, errors, units/s, p50/p99 (ms), server CPU µs per unit."""
    row = {
        "server": s.name,
        "calls": res.calls,
        "errors": res.errors,
        "rate": units / res.wall if res.wall > 0 else None,
        "p50": _ms(pct(res.latencies, 50)),
        "p99": _ms(pct(res.latencies, 99)),
        "cpu_us": cpu * 1e6 / units if units else None,
    }
    if res.samples:
        row["_note"] = f"{res.errors} errors, e.g. {res.samples[0]}"
    row.update(extra)
    return row


def _ms(v: float | None) -> float | None:
    return None if v is None else v * 1000.0


def std_cols(rate_head: str, cpu_head: str) -> list[Col]:
    return [Col("server", "server", "text"), Col("calls", "calls", "int"), Col("errors", "errors", "int"),
            Col("rate", rate_head, "int"), Col("p50", "p50 ms", "ms"), Col("p99", "p99 ms", "ms"),
            Col("cpu_us", cpu_head, "num"), Col("ratio", "tsunagi/x", "ratio")]


def add_ratios(table: Table, key: str = "cpu_us", out: str = "ratio", ref: str = "tsunagi",
               match: tuple[str, ...] = ()) -> None:
    """``out`` = ref's ``key`` / this row's ``key`` (rows matched on ``match`` columns too)."""
    for r in table.rows:
        if r.get("server") in (ref, "bare", "bare-uvicorn") or r.get(key) in (None, 0):
            continue
        refs = [x for x in table.rows if x.get("server") == ref and all(x.get(m) == r.get(m) for m in match)]
        if refs and refs[0].get(key):
            r[out] = refs[0][key] / r[key]


def target_note(table: Table, label: str, key: str, limit: float, unit: str, server: str = "tsunagi") -> None:
    rows = [r for r in table.rows if r.get("server") == server and r.get(key) is not None]
    if not rows:
        table.notes.append(f"target {label} ≤ {limit:g} {unit}: {server} not measured")
        return
    v = rows[0][key]
    verdict = "met" if v <= limit and not rows[0].get("errors") else "NOT met"
    table.notes.append(f"target {label} ≤ {limit:g} {unit}: {server} {v:,.1f} {unit} → {verdict}")


# ---------------------------------------------------------------- paired rounds

@dataclass
class Rounds:
    """A server's measurement taken in rounds: the merged load, CPU, units, and each round's figures."""
    total: LoadResult = field(default_factory=LoadResult)
    cpu: float = 0.0
    units: int = 0
    cpu_us: list[float | None] = field(default_factory=list)     # CPU µs/unit, per round
    rate: list[float | None] = field(default_factory=list)       # units/s, per round
    extra: dict = field(default_factory=dict)                    # whatever the scenario keeps per server

    def add(self, res: LoadResult, cpu: float, units: int) -> None:
        """One round's load, server CPU seconds and units (calls, messages, ...)."""
        self.total.merge(res, wall=True)
        self.cpu += cpu
        self.units += units
        self.cpu_us.append(cpu * 1e6 / units if units else None)
        self.rate.append(units / res.wall if units and res.wall else None)

    def keys(self) -> dict:
        """What a row keeps of the rounds (hidden columns) for the baseline comparison."""
        return {"_rounds": self.cpu_us, "_rounds_rate": self.rate, "_nrounds": sum(1 for c in self.cpu_us if c is not None),
                "_lat": self.total.latencies}


StepFn = Callable[[Server, Rounds, int, int], "tuple[LoadResult, float, int]"]


def in_rounds(group: list[Server], step: StepFn, setup: Callable[[Server], dict] | None = None,
              rounds: int = PAIRED_ROUNDS, alone: int = 1) -> dict[str, Rounds | Exception]:
    """Measure the servers of ``group`` with ``step(server, state, round, nrounds) -> (load, cpu s, units)``.

    ``setup(server)`` (not measured) fills ``state.extra`` first, for every server of the group. A server
    alone (no twin): ``alone`` rounds (1: the whole measurement at once, as without a baseline). A current
    build with its baseline: ``rounds`` alternating rounds, each with the same share of the work on both,
    the order flipped every round (current first, then baseline first, ...) so that neither always runs
    second. Each server's state merges its rounds; a server whose setup or step raises gets the exception
    instead and drops out of later rounds.
    """
    n = rounds if len(group) > 1 else alone
    out: dict[str, Rounds | Exception] = {s.name: Rounds() for s in group}
    for s in group:
        if setup is not None:
            try:
                out[s.name].extra.update(setup(s))  # type: ignore[union-attr]
            except Exception as e:  # noqa: BLE001
                log(f"{s.name}: {type(e).__name__}: {e}")
                out[s.name] = e
    for r in range(n):
        for s in (group if r % 2 == 0 else group[::-1]):
            st = out[s.name]
            if isinstance(st, Exception):
                continue
            try:
                res, cpu, units = step(s, st, r, n)
            except Exception as e:  # noqa: BLE001
                log(f"{s.name}: {type(e).__name__}: {e}")
                out[s.name] = e
                continue
            st.add(res, cpu, units)
    return out


def each_in_rounds(ctx: Context, table: Table, step: StepFn, finish: Callable[[Server, Rounds], None],
                   setup: Callable[[Server], dict] | None = None, alone: int = 1,
                   skip: Callable[[Server], str | None] | None = None, rounds: int = PAIRED_ROUNDS) -> None:
    """:func:`in_rounds` over ``ctx.groups()``; then ``finish(server, state)`` adds the rows, in display
    order. Unavailable or dead servers, those ``skip(server)`` gives a reason for (the reason is the row's
    note) and failures become rows with the reason."""
    for group in ctx.groups():
        why = {s.name: skip(s) for s in group if s.available} if skip else {}
        live = [s for s in group if s.available and s.alive() and not why.get(s.name)]
        states = in_rounds(live, step, setup, rounds=rounds, alone=alone) if live else {}
        for s in group:
            if not s.available:
                unavailable_row(table, s)
                continue
            if why.get(s.name):
                table.add(server=s.name, _note=why[s.name])
                continue
            st = states.get(s.name)
            if st is None:
                unavailable_row(table, s, f"process died: {s.proc.tail() if s.proc else ''}")
            elif isinstance(st, Exception):
                table.add(server=s.name, _note=f"failed: {type(st).__name__}: {str(st)[:200]}")
            else:
                try:
                    finish(s, st)
                except Exception as e:  # noqa: BLE001
                    log(f"{s.name}: {type(e).__name__}: {e}")
                    table.add(server=s.name, _note=f"failed: {type(e).__name__}: {str(e)[:200]}")


def pool(s: Server, n: int) -> list[Conn]:
    """``n`` keep-alive connections to ``s`` kept across rounds (``run_fixed(pool=...)``, ``drain(pool=...)``)."""
    return [Conn(s.host, s.port) for _ in range(n)]


def close_all(conns: list[Conn]) -> None:
    for c in conns:
        c.close()


def share(total: int, r: int, n: int) -> int:
    """Round ``r``'s part of ``total`` over ``n`` rounds (they add up to ``total``)."""
    return total // n + (1 if r < total % n else 0)


def paired_ratios(a: list[float | None], b: list[float | None]) -> list[float]:
    """Round-by-round a/b where both were measured."""
    return [x / y for x, y in zip(a, b, strict=False) if x and y]


def median_interval(xs: list[float], coverage: float = 0.9) -> tuple[float, float, float]:
    """A distribution-free interval for the median of ``xs``: order statistics (k, n+1-k), the narrowest with
    at least ``coverage``; (low, high, its coverage). 20 rounds: the 6th and 15th values, 96%."""
    v, n = sorted(xs), len(xs)
    cdf, cum = [], 0.0
    for i in range(n + 1):
        cum += math.comb(n, i) / 2 ** n
        cdf.append(cum)                        # P(Binomial(n, 1/2) <= i)
    k = 1
    while k + 1 <= (n + 1) // 2 and 1 - 2 * cdf[k] >= coverage:
        k += 1
    return v[k - 1], v[n - k], 1 - 2 * cdf[k - 1]


def pair_note(table: Table, key: str = "_rounds") -> None:
    """A note per current/baseline pair in ``table``: the median round's CPU ratio and the rounds' spread."""
    rows = {r.get("server"): r for r in table.rows if r.get(key)}
    for base, cur in BASE_OF.items():
        if base in rows and cur in rows:
            ratios = paired_ratios(rows[cur][key], rows[base][key])
            if ratios:
                lo, hi, cov = median_interval(ratios)
                table.notes.append(
                    f"{cur} / {base} CPU per unit, paired: {statistics.median(ratios):.3f}× (median of "
                    f"{len(ratios)} alternating rounds, {cov:.0%} interval {lo:.3f}–{hi:.3f}×; rounds "
                    f"{min(ratios):.3f}–{max(ratios):.3f}×)")

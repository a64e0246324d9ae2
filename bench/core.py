"""What scenarios get: the running servers, counts scaled per server, and measuring helpers."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import LoadResult, pct
from .report import Col, Table
from .servers import Server

AWS_ORDER = ["tsunagi", "tsunagi-pg", "ministack", "moto", "localstack"]


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

    def aws(self) -> list[Server]:
        """AWS-compatible servers in display order (available or not)."""
        return [self.servers[n] for n in AWS_ORDER if n in self.servers]

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

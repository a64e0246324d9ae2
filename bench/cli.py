"""``python -m bench``: start the servers, run the scenarios, print tables, append to RESULTS.md."""
from __future__ import annotations

import argparse
import shutil
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from . import baseline as baselines
from . import scenarios
from .core import AWS_ORDER, BASE_OF, Context, log, median_interval, paired_ratios
from .procs import cpu_seconds, rss_bytes
from .report import Col, Table, append_results, machine, render_text
from .scenarios.sqs import _nominal
from .servers import (
    BENCH,
    Server,
    start_bare,
    start_localstack,
    start_ministack,
    start_moto,
    start_tsunagi,
    wait_ready,
)

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
BUDGET, BUDGET_BASELINE = 540, 840


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="reduced counts, no 1M backlog (for development)")
    p.add_argument("--only", default="", help="comma-separated scenarios or groups, e.g. sqs,gateway or sqs.send")
    p.add_argument("--servers", default="",
                   help=f"comma-separated subset of {','.join(AWS_ORDER)} (default: all but localstack, and "
                        "the tsunagi-base ones only with --baseline)")
    p.add_argument("--baseline", default="", metavar="DIR|REV",
                   help="also run an older tsunagi as tsunagi-base (SQLite) and tsunagi-base-pg: DIR, a checkout with "
                        "its .venv (make -C DIR install), or REV, a git revision of this repository (worktree and "
                        "venv made once under bench/.work/baselines/)")
    p.add_argument("--with-localstack", action="store_true", help="also install and run LocalStack (slow)")
    p.add_argument("--no-pg", action="store_true", help="skip PostgreSQL (tsunagi-pg and the PG ceiling)")
    p.add_argument("--pg-admin-url", default=PG_ADMIN, help=f"where to create scratch databases ({PG_ADMIN})")
    p.add_argument("--conns", type=int, default=4, help="concurrent keep-alive connections (4)")
    p.add_argument("--budget", type=float, default=None,
                   help=f"seconds the whole run may take ({BUDGET}, {BUDGET_BASELINE} with --baseline); late steps "
                        "are skipped to keep it")
    p.add_argument("--pin", action="store_true",
                   help="scaling: pin each tsunagi process and the load generator to fixed cores (taskset -c); "
                        "see bench/README.md")
    p.add_argument("--no-results", action="store_true", help="do not append to bench/RESULTS.md")
    p.add_argument("--list", action="store_true", help="list scenarios and exit")
    return p.parse_args(argv)


class ScratchDBs:
    """Fresh PostgreSQL databases for this run, dropped at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.names: list[str] = []
        self.reason = ""

    def create(self, suffix: str) -> str | None:
        try:
            import psycopg
        except ImportError:
            self.reason = "psycopg not installed in .venv"
            return None
        name = f"tsunagi_bench_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:4]}_{suffix}"
        try:
            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=3) as c:
                c.execute(f'CREATE DATABASE "{name}"')
        except Exception as e:  # noqa: BLE001
            self.reason = f"cannot create a database at {self.admin_url}: {str(e).strip()[:120]}"
            return None
        self.names.append(name)
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def drop_all(self) -> None:
        if not self.names:
            return
        import psycopg

        try:
            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=3) as c:
                for n in self.names:
                    c.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
        except Exception as e:  # noqa: BLE001
            log(f"could not drop scratch databases {self.names}: {e}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.list:
        for s in scenarios.load():
            print(f"{s.name:14} {s.doc.splitlines()[0] if s.doc else ''}")
        return 0
    chosen = scenarios.select([o.strip() for o in args.only.split(",") if o.strip()] or None)
    needs = set().union(*(s.needs for s in chosen)) if chosen else set()
    base = baselines.resolve(args.baseline, log) if args.baseline else None
    explicit = [n.strip() for n in args.servers.split(",") if n.strip()]
    wanted = explicit or [n for n in AWS_ORDER if (n != "localstack" or args.with_localstack)
                          and (n not in BASE_OF or base is not None)]
    if args.with_localstack and "localstack" not in wanted:
        wanted.append("localstack")
    if args.no_pg:
        wanted = [n for n in wanted if n not in ("tsunagi-pg", "tsunagi-base-pg")]
    if base is None and any(n in BASE_OF for n in wanted):
        raise SystemExit(f"--servers {','.join(n for n in wanted if n in BASE_OF)} needs --baseline DIR|REV")
    if base is not None and explicit and not any(n in BASE_OF for n in wanted):
        log("--baseline given, but --servers lists neither tsunagi-base nor tsunagi-base-pg: no baseline servers")
    t_start = time.monotonic()             # after a baseline's first install: that does not eat the budget
    budget = args.budget if args.budget is not None else (BUDGET_BASELINE if base is not None else BUDGET)
    work = BENCH / ".work" / time.strftime("%Y%m%d-%H%M%S")
    work.mkdir(parents=True, exist_ok=True)
    runs = sorted(d for d in (BENCH / ".work").iterdir() if d.is_dir() and d.name[:1].isdigit())
    for old in runs[:-5]:   # keep the last five runs' logs (not bench/.work/baselines)
        shutil.rmtree(old, ignore_errors=True)
    facts = machine()
    log(f"{facts['nproc']} CPUs ({facts['cpu']}), Python {facts['python']}, load {facts['load']}; scenarios: "
        f"{', '.join(s.name for s in chosen)}; logs in {work}")
    if base is not None:
        facts["baseline"] = base.describe()
        log(f"baseline: {base.describe()}")
        for w in base.warnings:
            log(f"baseline: {w}")

    dbs = ScratchDBs(args.pg_admin_url)
    pg_ceiling = pg_reason = None
    if "pg" in needs and not args.no_pg:
        pg_ceiling = dbs.create("ceiling")
        pg_reason = dbs.reason
    elif args.no_pg:
        pg_reason = "--no-pg"

    servers: dict[str, Server] = {}
    try:
        if "bare" in needs:
            servers["bare"] = start_bare(work)
            servers["bare-uvicorn"] = start_bare(work, "uvicorn")
        if "aws" in needs:
            for name in wanted:
                if name in ("tsunagi", "tsunagi-base"):
                    servers[name] = start_tsunagi(work, name, baseline=base if name in BASE_OF else None,
                                                  like=BASE_OF.get(name, ""))
                elif name in ("tsunagi-pg", "tsunagi-base-pg"):
                    url = dbs.create("server" if name == "tsunagi-pg" else "base")
                    if url:
                        servers[name] = start_tsunagi(work, name, store=url, baseline=base if name in BASE_OF
                                                      else None, like=BASE_OF.get(name, ""))
                    else:
                        servers[name] = Server(name, reason=dbs.reason, like=BASE_OF.get(name, ""))
                elif name == "moto":
                    servers[name] = start_moto(work, log)
                elif name == "ministack":
                    servers[name] = start_ministack(work, log)
                elif name == "localstack":
                    servers[name] = start_localstack(work, log)
                else:
                    raise SystemExit(f"unknown server {name!r}; known: {', '.join(AWS_ORDER)}")
        with ThreadPoolExecutor(max_workers=max(1, len(servers))) as ex:
            list(ex.map(wait_ready, servers.values()))
        tables = [servers_table(servers)]
        print(render_text(tables[0]) + "\n", flush=True)

        ctx = Context(quick=args.quick, conns=args.conns, servers=servers, work=work,
                      deadline=t_start + budget, pg_ceiling_url=pg_ceiling, pg_reason=pg_reason or "",
                      dbs=None if args.no_pg else dbs, baseline=base, pin=args.pin)
        for sc in chosen:
            if ctx.remaining() < 20:
                log(f"skipping {sc.name}: out of time budget")
                continue
            log(f"scenario {sc.name} ...")
            t0 = time.monotonic()
            try:
                out = sc.fn(ctx)
            except Exception as e:  # noqa: BLE001
                log(f"scenario {sc.name} failed: {type(e).__name__}: {e}")
                out = [Table(sc.name, [Col("server", "server", "text")],
                             [{"server": "-", "_note": f"scenario failed: {type(e).__name__}: {e}"}])]
            log(f"scenario {sc.name} done in {time.monotonic() - t0:.1f}s")
            for t in out:
                t.key = t.key or sc.name
                print(render_text(t) + "\n", flush=True)
            tables.extend(out)
        summ = summary(tables, [n for n in AWS_ORDER if n in servers])
        if summ.rows:
            print(render_text(summ) + "\n", flush=True)
            tables.insert(1, summ)
        if base is not None:
            comp = compare(tables, servers, base)
            if comp.rows:
                print(render_text(comp) + "\n", flush=True)
                tables.insert(2 if summ.rows else 1, comp)
    finally:
        for s in servers.values():
            s.stop()
        dbs.drop_all()
    wall = time.monotonic() - t_start
    if not args.no_results:
        descr = [f"{s.name}: {s.version or '?'}" + ("" if s.available else " (not available)")
                 for s in servers.values()]
        append_results(tables, facts, descr, wall)
        log("appended to bench/RESULTS.md")
    log(f"total {wall:.0f} s")
    for name in ("tsunagi", "tsunagi-pg", "tsunagi-base", "tsunagi-base-pg"):
        shutil.rmtree(work / f"{name}-data", ignore_errors=True)
    return 0


# (scenario, column, label, target, rows to pick: {column: value} or None)
SUMMARY = [
    ("gateway", "xbare", "gateway CPU/request vs bare handler", "≤ 2×", None),
    ("sqs.send", "cpu_us", "SendMessage CPU µs/call", "≤ 150 µs", None),
    ("sqs.batch", "cpu_us", "SendMessageBatch CPU µs/msg", "≤ 30 µs", None),
    ("sqs.recvdel", "cpu_us", "Receive(10)+DeleteBatch CPU µs/msg", "≤ 60 µs", None),
    ("sqs.longpoll", "p50", "send → long-poll receipt p50 ms", "≤ 2 ms", None),
    ("sns.latency", "p50", "SNS publish → 3 queues received p50 ms", "≤ 5 ms", None),
    ("sns.burst", "deliv", "SNS deliveries/s, 3 subscriptions", "≥ 20× peers", None),
    ("sns.burst", "cpu_us", "SNS CPU µs/publish, 3 subscriptions", "–", None),
    ("lambda.cold", "p50", "Lambda cold start p50 ms", "≤ 150 ms", None),
    ("lambda.warm", "p50", "Lambda warm invoke p50 ms (raw)", "≤ 5 ms", {"conc": 1}),
    ("lambda.warm", "rate", "Lambda warm invokes/s, concurrency 1", "–", {"conc": 1}),
    ("lambda.warm", "rate", "Lambda warm invokes/s, concurrency 10", "–", {"conc": 10}),
    ("lambda.boto3", "p50", "Lambda warm invoke p50 ms (boto3)", "–", None),
    ("esm.latency", "p50", "ESM send → handler start p50 ms", "≤ 10 ms", None),
    ("esm.throughput", "rate", "ESM msgs/s into a no-op (batch 10)", "≥ 2,000", None),
    ("s3.small", "rate", "S3 PutObject 4 KiB objects/s", "≥ 5× moto", {"op": "PutObject"}),
    ("s3.small", "rate", "S3 GetObject 4 KiB objects/s", "≥ 5× moto", {"op": "GetObject"}),
    ("s3.large", "up", "S3 multipart upload MB/s", "≥ 200", None),
    ("s3.large", "down", "S3 large GET MB/s", "≥ 200", None),
    ("s3.notify", "p50", "S3 put → SQS notification p50 ms", "≤ 5 ms", None),
    ("kms", "cpu_us", "KMS Encrypt CPU µs/call", "≤ 1/5 of moto, LocalStack", {"op": "Encrypt"}),
    ("kms", "cpu_us", "KMS Decrypt CPU µs/call", "≤ 1/5 of moto, LocalStack", {"op": "Decrypt"}),
    ("logs.put", "rate", "Logs PutLogEvents events/s (10,000-event batches)", "–", None),
    ("logs.put", "cpu_us", "Logs PutLogEvents CPU µs/event", "–", None),
    ("logs.filter", "wall_m", "FilterLogEvents \"ERROR\", every page: s per 1M events", "–", None),
    ("logs.insights", "wall_m", "Insights stats count() by bin(1m): s per 1M events", "–", None),
    ("cloudwatch.alarms", "pass_ms", "alarm evaluation CPU ms per pass, 1,000 alarms", "–", None),
]


def summary(tables: list[Table], names: list[str]) -> Table:
    """One line per headline figure: the target and every server's value."""
    by_key = {x.key: x for x in tables}
    if any(r.get("server") == "rabbitmq" and len(r) > 2 for x in tables for r in x.rows):
        names = [*names, "rabbitmq"]
    t = Table("Summary: headline figures, each with its target (errors shown in brackets)",
              [Col("what", "figure", "text"), Col("target", "target", "text")]
              + [Col(n, n, "num") for n in names])
    for key, col, label, target, pick in SUMMARY:
        src = by_key.get(key)
        if src is None:
            continue
        row = {"what": label, "target": target}
        for r in src.rows:
            if pick and any(r.get(k) != v for k, v in pick.items()):
                continue
            if r.get("server") in names and r.get(col) is not None and r["server"] not in row:
                row[r["server"]] = r[col] if not r.get("errors") else f"{r[col]:,.0f} ({r['errors']} err)"
        t.rows.append(row)
    sc = by_key.get("scaling")
    if sc and "tsunagi-pg" in names:
        for op in ("SendMessage", "Receive(10)+DeleteBatch"):
            row = {"what": f"scaling {op} msgs/s, 1 → 2 → 4 processes on one PostgreSQL", "target": "–"}
            for build in ("tsunagi-pg", "tsunagi-base-pg"):
                rs = [r for r in sc.rows if r.get("op") == op and r.get("rate") and r.get("build") == build]
                if rs and build in names:
                    row[build] = " → ".join(f"{r['rate']:,.0f}" for r in rs)
            if len(row) > 2:
                t.rows.append(row)
    bl = by_key.get("sqs.backlog")
    if bl:
        for label, col in (("backlog: send µs/call, smallest → largest", "send_us"),
                           ("backlog: recv+del µs/msg, smallest → largest", "recv_us")):
            row = {"what": label, "target": "flat"}
            for n in names:
                rs = [r for r in bl.rows if r.get("server") == n and r.get(col)]
                if len(rs) >= 2:
                    row[n] = f"{rs[0][col]:,.0f} → {rs[-1][col]:,.0f} @{_k(rs[-1]['level'])}"
            t.rows.append(row)
    return t


# which way is better for each summary column: CPU and latency lower, throughput higher
LOWER, HIGHER = "lower", "higher"
BETTER = {"cpu_us": LOWER, "p50": LOWER, "xbare": LOWER, "send_us": LOWER, "recv_us": LOWER,
          "rate": HIGHER, "deliv": HIGHER, "up": HIGHER, "down": HIGHER, "wall_m": LOWER, "pass_ms": LOWER}
WORSE = 0.05          # the acceptance rule: no figure worse than the baseline by more than 5%


def _worse(ratio: float, better: str) -> bool:
    """current/baseline ``ratio`` worse by more than WORSE (CPU/latency higher, throughput lower)."""
    return ratio > 1 + WORSE if better == LOWER else ratio < 1 - WORSE


def compare(tables: list[Table], servers: dict[str, Server], base) -> Table:
    """Every headline figure of the current build over the baseline's, per store, with a verdict.

    Figures measured in paired rounds (CPU per unit; units/s of Lambda warm invokes at concurrency 1 and S3
    small objects) use the median round's ratio (``paired``) and an interval for it; latency p50s taken in
    alternating rounds compare the two p50s and their intervals (``interleaved``); the rest is the ratio of
    two single measurements (``one run``).
    """
    pairs = [(cur, b) for b, cur in BASE_OF.items() if b in servers and cur in servers]
    cols = [Col("what", "figure", "text"), Col("better", "better", "text")]
    for cur, b in pairs:
        short = "base" if cur == "tsunagi" else "base-pg"
        cols += [Col(cur, cur, "num"), Col(b, b, "num"), Col(f"x_{cur}", f"{cur} / {short}", "text")]
    cols += [Col("how", "ratio from", "text"), Col("check", f"worse > {WORSE:.0%}?", "text")]
    t = Table(f"Current build / baseline ({base.describe()}): above 1 = current higher "
              f"(worse for CPU and latency, better for throughput)", cols)
    by_key = {x.key: x for x in tables}
    flagged: list[str] = []
    checked = 0

    def add(label: str, better: str, rows: dict[str, dict | None], col: str) -> None:
        nonlocal checked
        out: dict = {"what": label, "better": better}
        hows: dict[str, list[str]] = {}        # kind -> its round counts, one per store
        checks: list[str] = []
        for cur, b in pairs:
            rc: dict = rows.get(cur) or {}
            rb: dict = rows.get(b) or {}
            vc, vb = rc.get(col), rb.get(col)
            out[cur], out[b] = vc, vb
            if not vc or not vb:
                continue
            errs = rc.get("errors") or 0
            key = {"cpu_us": "_rounds", "rate": "_rounds_rate"}.get(col, "")
            paired = paired_ratios(rc.get(key) or [], rb.get(key) or []) if key else []
            lat_c, lat_b = rc.get("_lat"), rb.get("_lat")
            clear = False
            if len(paired) >= 2:
                ratio = statistics.median(paired)
                lo, hi, cov = median_interval(paired)
                hows.setdefault("paired", []).append(f"×{len(paired)}")
                clear = cov >= 0.9 and _worse(lo if better == LOWER else hi, better)
                how = (f"median of {len(paired)} paired rounds, {cov:.0%} interval {lo:.3f}–{hi:.3f}×"
                       + ("" if clear else ": may be noise, run again"))
            elif col == "p50" and lat_c and lat_b and rc.get("_nrounds", 1) > 1:
                # the two builds' samples were taken in alternating rounds: compare the p50s' intervals
                ratio = vc / vb
                lo_c, hi_c, cov = median_interval(lat_c)
                lo_b, hi_b, cov_b = median_interval(lat_b)
                hows.setdefault("interleaved", []).append(f"×{rc['_nrounds']}")
                clear = min(cov, cov_b) >= 0.9 and _worse(lo_c / hi_b if better == LOWER else hi_c / lo_b, better)
                how = (f"samples interleaved in {rc['_nrounds']} rounds; p50 {cov:.0%} intervals "
                       f"{lo_c * 1e3:.2f}–{hi_c * 1e3:.2f} vs {lo_b * 1e3:.2f}–{hi_b * 1e3:.2f} ms"
                       + ("" if clear else ": may be noise, run again"))
            else:
                ratio = vc / vb
                hows.setdefault("one run", [])
                how = "one run each: may be noise, run again"
            out[f"x_{cur}"] = f"{ratio:.3f}×"
            checked += 1
            store = "SQLite" if cur == "tsunagi" else "PostgreSQL"
            berrs = rb.get("errors") or 0
            if errs or berrs:
                checks.append(f"errors ({store})")
                flagged.append(f"ERRORS: {label} ({store}): {cur} {errs}, {b} {berrs} errors")
            elif _worse(ratio, better):
                word = "WORSE" if clear else "WORSE?"
                checks.append(f"{word} ({store})")
                flagged.append(f"{word} {label} ({store}): {cur} {_num(vc)} vs {b} {_num(vb)} → {ratio:.3f}× "
                               f"({how}; {better} is better)")
        out["how"] = ", ".join(f"{kind} {'/'.join(dict.fromkeys(ns))}".strip() for kind, ns in hows.items())
        out["check"] = "; ".join(checks) or ("ok" if hows else "–")
        t.rows.append(out)

    for key, col, label, _target, pick in SUMMARY:
        src = by_key.get(key)
        if src is None:
            continue
        if col == "xbare":                     # the builds' own CPU per request, paired round by round
            col, label = "cpu_us", "gateway CPU µs/request (STS GetCallerIdentity)"
        rows = {}
        for name in servers:
            rows[name] = next((r for r in src.rows if r.get("server") == name and r.get(col) is not None
                               and not (pick and any(r.get(k) != v for k, v in pick.items()))), None)
        add(label, BETTER[col], rows, col)
    bl = by_key.get("sqs.backlog")
    if bl:                                     # the largest backlog both builds of a pair reached
        for col, label in (("send_us", "backlog send µs/call"), ("recv_us", "backlog recv+del µs/msg")):
            for cur, b in pairs:
                lv = {n: {_nominal(r["level"]): r for r in bl.rows if r.get("server") == n and r.get(col)}
                      for n in (cur, b)}
                common = sorted(set(lv[cur]) & set(lv[b]))
                if common:
                    at = common[-1]
                    add(f"{label} at {_k(at)} ({cur})", LOWER, {cur: lv[cur][at], b: lv[b][at]}, col)
    sc = by_key.get("scaling")
    if sc and ("tsunagi-pg", "tsunagi-base-pg") in pairs:
        for op in ("SendMessage", "Receive(10)+DeleteBatch"):
            for level in (1, 2, 4):
                rows = {bld: next((r for r in sc.rows if r.get("build") == bld and r.get("op") == op
                                   and r.get("procs") == level and r.get("rate")), None)
                        for bld in ("tsunagi-pg", "tsunagi-base-pg")}
                if all(rows.values()):
                    add(f"scaling {op} msgs/s, {level} process{'es' if level > 1 else ''}", HIGHER, rows, "rate")
    if flagged:
        t.notes.append(f"{len(flagged)} of {checked} comparisons worse than the baseline by more than {WORSE:.0%} "
                       "(or with errors); `WORSE` = even the paired rounds' interval for the median is past the "
                       "limit, `WORSE?` = the figure is, but it may be noise:")
        t.notes.extend(flagged)
    else:
        t.notes.append(f"no figure worse than the baseline by more than {WORSE:.0%} ({checked} comparisons)")
    t.notes.append("`paired ×N`: CPU per unit (or units/s) taken in N alternating rounds (current, baseline, then "
                   "baseline, current, ...), the median round's ratio; `interleaved ×N`: latency samples taken in N "
                   "alternating rounds, the ratio of the two p50s; `one run`: each build measured once, right after "
                   "the other, the noisiest (see bench/README.md, \"Comparing with a baseline\").")
    return t


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _k(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1e6 else f"{n / 1e3:g}k"


def servers_table(servers: dict[str, Server]) -> Table:
    """Versions, startup time, idle RSS and idle CPU (a busy poll loop would skew per-call CPU)."""
    t = Table("Servers", [Col("server", "server", "text"), Col("version", "version", "text"),
                          Col("port", "port", "text"), Col("startup", "ready s", "num"),
                          Col("rss", "idle RSS MB", "mb"), Col("idle", "idle CPU %", "num")])
    live = [s for s in servers.values() if s.available]
    c0 = {s.name: cpu_seconds(s.proc.pid) for s in live if s.proc}
    time.sleep(1.0)
    for s in servers.values():
        if s.available and s.proc:
            t.add(server=s.name, version=s.version, port=s.port, startup=s.startup_s, rss=rss_bytes(s.proc.pid),
                  idle=(cpu_seconds(s.proc.pid) - c0[s.name]) * 100)
        else:
            t.add(server=s.name, version=s.version, _note=f"not available: {s.reason}")
    return t

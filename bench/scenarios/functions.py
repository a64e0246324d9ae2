"""Lambda: a no-op Python handler — cold start, warm invoke latency and invokes/s, and boto3's view.

- ``lambda.cold``: each round a fresh function: CreateFunction (zip in the request), wait until its
  State is Active, first Invoke; the whole span is the cold start (create and first invoke shown apart).
- ``lambda.warm``: one function, warmed up, then Invoke (RequestResponse, rest-json POST
  /2015-03-31/functions/<name>/invocations) through the raw client: p50/p99 and invokes/s with 1 and
  10 concurrent connections; server CPU (the server and its worker processes) per invoke.
- ``lambda.boto3``: the same warm invoke through a boto3 client, one thread: what a user's script
  feels, with the client's own CPU per call.

moto and LocalStack run functions only in Docker, which this machine does not have: "n/a".
"""
from __future__ import annotations

import time
import uuid

from ..client import Conn, LoadResult, pct, run_fixed
from ..core import (
    Context,
    Rounds,
    add_ratios,
    close_all,
    each_in_rounds,
    load_row,
    log,
    measure,
    pool,
    share,
    unavailable_row,
)
from ..report import Col, Table
from ..servers import Server
from . import scenario
from ._aws import FUNCTION_PEERS, NOOP, Api, invoke_raw, not_docker, zip_of


def _check_invoke(status: int, body: bytes) -> str | None:
    if status != 200 or body.strip() != b"null":
        return f"HTTP {status}: {body[:160]!r}"
    return None


def _each_fn(ctx: Context, t: Table, fn) -> None:
    for s in ctx.aws():
        if not s.available:
            unavailable_row(t, s)
        elif s.like not in FUNCTION_PEERS:
            t.add(server=s.name, _note=not_docker(s.name))
        elif not s.alive():
            unavailable_row(t, s, "process died")
        else:
            try:
                fn(s)
            except Exception as e:  # noqa: BLE001
                log(f"{s.name}: {type(e).__name__}: {e}")
                t.add(server=s.name, _note=f"failed: {type(e).__name__}: {str(e)[:200]}")


def _no_functions(s: Server) -> str | None:
    """Why ``s`` has no function rows (moto and LocalStack need Docker), or None."""
    return None if s.like in FUNCTION_PEERS else not_docker(s.name)


def warm_function(ctx: Context, s: Server) -> str:
    """One no-op function per server, created once and shared by lambda.warm and lambda.boto3."""
    key = ("lambda.warm", s.name)
    if key not in ctx.cache:
        api = Api(s)
        name = f"bench-warm-{uuid.uuid4().hex[:8]}"
        api.create_function(name, zip_of(NOOP))
        api.close()
        ctx.cache[key] = name
        run_fixed(s.host, s.port, [invoke_raw(s.signer, name)], 20, 1, check=_check_invoke)
    return ctx.cache[key]


@scenario("lambda.cold", order=50)
def cold(ctx: Context) -> list[Table]:
    """Cold start: CreateFunction + Active + first Invoke of a fresh no-op function, p50/p99."""
    t = Table("Lambda cold start: a fresh no-op Python function each round (CreateFunction → Active → first Invoke)",
              [Col("server", "server", "text"), Col("calls", "rounds", "int"), Col("errors", "errors", "int"),
               Col("create", "create p50 ms", "ms"), Col("first", "1st invoke p50 ms", "ms"),
               Col("p50", "cold p50 ms", "ms"), Col("p99", "cold p99 ms", "ms"),
               Col("cpu_ms", "CPU ms/cold start", "num"), Col("ratio", "tsunagi/x p50", "ratio")])
    zipped = zip_of(NOOP)

    def setup(s: Server) -> dict:
        return {"api": Api(s), "rounds": ctx.count(20, 8, s, minimum=5), "creates": [], "firsts": [], "names": [],
                "conn": Conn(s.host, s.port), "spent": 0.0}

    def step(s: Server, st: Rounds, r: int, k: int) -> tuple[LoadResult, float, int]:
        # all the rounds at once, or (with a baseline) a k-th of them, alternating with the baseline
        x = st.extra
        api, conn = x["api"], x["conn"]
        res = LoadResult()
        pc = time.perf_counter

        def run() -> LoadResult:
            t_start = pc()
            for _ in range(share(x["rounds"], r, k)):
                if ctx.remaining() < 40 or x["spent"] + pc() - t_start > 30:
                    res.samples.append("stopped early (time budget)")
                    break
                name = f"bench-cold-{uuid.uuid4().hex[:8]}"
                raw_create = api.create_function_raw(name, zipped)
                raw_invoke = invoke_raw(s.signer, name)
                t0 = pc()
                status, body = conn.request(raw_create)
                res.calls += 1
                if status not in (200, 201):
                    res.error(f"CreateFunction HTTP {status}: {body[:120]!r}")
                    continue
                x["names"].append(name)
                if b'"State":"Active"' not in body.replace(b" ", b""):
                    api.wait_active(name)
                t1 = pc()
                status, body = conn.request(raw_invoke)
                t2 = pc()
                err = _check_invoke(status, body)
                if err:
                    res.error(f"first Invoke: {err}")
                    continue
                x["creates"].append(t1 - t0)
                x["firsts"].append(t2 - t1)
                res.latencies.append(t2 - t0)
            res.wall = pc() - t_start
            x["spent"] += res.wall
            return res

        res, cpu = measure(s, run)
        return res, cpu, res.calls

    def finish(s: Server, st: Rounds) -> None:
        x, res = st.extra, st.total
        row = t.add(**load_row(s, res, st.cpu, res.calls), **st.keys())
        row["cpu_ms"] = st.cpu * 1e3 / max(1, res.calls)
        row["create"] = (pct(x["creates"], 50) or 0) * 1e3 if x["creates"] else None
        row["first"] = (pct(x["firsts"], 50) or 0) * 1e3 if x["firsts"] else None
        x["conn"].close()
        for n in x["names"]:
            x["api"].delete_function(n)
        x["api"].close()

    each_in_rounds(ctx, t, step, finish, setup, skip=_no_functions)
    add_ratios(t, key="p50")
    ts = next((x for x in t.rows if x.get("server") == "tsunagi" and x.get("p50") is not None), None)
    if ts:
        t.notes.append(f"target cold start p50 ≤ 150 ms: tsunagi {ts['p50']:.0f} ms → "
                       f"{'met' if ts['p50'] <= 150 and not ts.get('errors') else 'NOT met'} (MiniStack ~210 ms in issue 5)")
    t.notes.append("CPU ms/cold start: the server and its worker processes, deleting the functions not included.")
    return [t]


@scenario("lambda.warm", order=51)
def warm(ctx: Context) -> list[Table]:
    """Warm Invoke of a no-op function through the API: p50/p99, invokes/s at concurrency 1 and 10."""
    t = Table("Lambda warm invoke, no-op Python handler (raw client, RequestResponse)",
              [Col("server", "server", "text"), Col("conc", "conc", "int"), Col("calls", "calls", "int"),
               Col("errors", "errors", "int"), Col("rate", "invokes/s", "int"), Col("p50", "p50 ms", "ms"),
               Col("p99", "p99 ms", "ms"), Col("cpu_us", "CPU µs/invoke", "num"),
               Col("ratio", "tsunagi/x p50", "ratio"), Col("xrate", "tsunagi rate ×", "ratio")])

    seconds = 8 if ctx.quick else 15

    def setup(s: Server) -> dict:
        name = warm_function(ctx, s)
        return {"raw": invoke_raw(s.signer, name), "n": ctx.count(600, 200, s, minimum=30), "pool": pool(s, 1)}

    def step(s: Server, st: Rounds, r: int, k: int) -> tuple[LoadResult, float, int]:
        # concurrency 1: all at once, or (with a baseline) a k-th, alternating with the baseline
        x = st.extra
        limit = time.monotonic() + seconds / k
        res, cpu = measure(s, lambda: run_fixed(s.host, s.port, [x["raw"]], share(x["n"], r, k), 1,
                                                check=_check_invoke, deadline=limit, pool=x["pool"]))
        return res, cpu, res.calls

    def finish(s: Server, st: Rounds) -> None:
        # concurrency 10 in one go, right after (its rate would not survive being cut into small rounds)
        raw = st.extra["raw"]
        close_all(st.extra["pool"])
        t.add(**load_row(s, st.total, st.cpu, st.total.calls, conc=1), **st.keys())
        n = ctx.count(1500, 500, s, minimum=30)
        run_fixed(s.host, s.port, [raw], 10 * 5, 10, check=_check_invoke)   # warm the extra workers up first
        limit = time.monotonic() + seconds
        res, cpu = measure(s, lambda: run_fixed(s.host, s.port, [raw], n, 10, check=_check_invoke, deadline=limit))
        t.add(**load_row(s, res, cpu, res.calls, conc=10))

    each_in_rounds(ctx, t, step, finish, setup, skip=_no_functions)
    add_ratios(t, key="p50", match=("conc",))
    for r in t.rows:
        ref = next((x for x in t.rows if x.get("server") == "tsunagi" and x.get("conc") == r.get("conc")), None)
        if ref and r.get("server") != "tsunagi" and r.get("rate") and ref.get("rate"):
            r["xrate"] = ref["rate"] / r["rate"]
    ts = next((x for x in t.rows if x.get("server") == "tsunagi" and x.get("conc") == 1 and x.get("p50")), None)
    if ts:
        t.notes.append(f"target warm invoke p50 ≤ 5 ms: tsunagi {ts['p50']:.2f} ms → "
                       f"{'met' if ts['p50'] <= 5 and not ts.get('errors') else 'NOT met'} (MiniStack ~15 ms in issue 5)")
    t.notes.append("`tsunagi rate ×` = tsunagi's invokes/s divided by that server's at the same concurrency.")
    return [t]


@scenario("lambda.boto3", order=52)
def boto3_warm(ctx: Context) -> list[Table]:
    """Warm Invoke through a boto3 client (what users feel): p50/p99, invokes/s, client CPU per call."""
    t = Table("Lambda warm invoke through boto3 (one thread, default client config): what a user's script feels",
              [Col("server", "server", "text"), Col("calls", "calls", "int"), Col("errors", "errors", "int"),
               Col("rate", "invokes/s", "int"), Col("p50", "p50 ms", "ms"), Col("p99", "p99 ms", "ms"),
               Col("cpu_us", "server CPU µs/invoke", "num"), Col("client_us", "client CPU µs/call", "num"),
               Col("ratio", "tsunagi/x p50", "ratio")])
    import boto3

    def setup(s: Server) -> dict:
        name = warm_function(ctx, s)
        client = boto3.client("lambda", endpoint_url=f"http://{s.host}:{s.port}", region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="test")
        for _ in range(10):
            client.invoke(FunctionName=name, Payload=b"{}")
        return {"name": name, "client": client, "n": ctx.count(400, 150, s, minimum=30), "client_cpu": 0.0,
                "seconds": 8.0 if ctx.quick else 15.0}

    def step(s: Server, st: Rounds, r: int, k: int) -> tuple[LoadResult, float, int]:
        # all the calls at once, or (with a baseline) a k-th of them, alternating with the baseline
        x = st.extra
        client, name = x["client"], x["name"]
        limit = time.monotonic() + x["seconds"] / k

        def run() -> LoadResult:
            res = LoadResult()
            pc = time.perf_counter
            t_start = pc()
            for _ in range(share(x["n"], r, k)):
                if time.monotonic() > limit:
                    break
                t0 = pc()
                try:
                    resp = client.invoke(FunctionName=name, Payload=b"{}")
                    body = resp["Payload"].read()
                    res.latencies.append(pc() - t0)
                    res.calls += 1
                    if resp.get("FunctionError") or body.strip() != b"null":
                        res.error(f"{resp.get('FunctionError')}: {body[:120]!r}")
                except Exception as e:  # noqa: BLE001
                    res.calls += 1
                    res.error(f"{type(e).__name__}: {e}")
            res.wall = pc() - t_start
            return res

        c0 = time.process_time()
        res, cpu = measure(s, run)
        x["client_cpu"] += time.process_time() - c0
        return res, cpu, res.calls

    def finish(s: Server, st: Rounds) -> None:
        res = st.total
        t.add(**load_row(s, res, st.cpu, res.calls), **st.keys(),
              client_us=st.extra["client_cpu"] * 1e6 / max(1, res.calls))

    each_in_rounds(ctx, t, step, finish, setup, skip=_no_functions)
    add_ratios(t, key="p50")
    t.notes.append("client CPU µs/call: the harness process's own CPU (botocore serialising, signing, parsing) — "
                   "the same for every server, and why the raw client is used for server figures.")
    return [t]

"""The gateway's own cost: STS GetCallerIdentity through the full stack vs the bare handler.

A server's ``× bare`` is measured in paired rounds: :data:`ROUNDS` times, a slice of calls to the bare
handler, then the same share of the server's calls; each round gives a ratio of CPU per request, and
the median round is reported. With ``--baseline`` the current build and its baseline take turns round
by round (each after its own bare slice), which also pairs their CPU per request. A ratio of two figures taken minutes apart moves with whatever the
machine did in between (seen: the same code 1.5× and 2.2× on one VM); taken side by side, it does
not. The bare and bare-uvicorn rows are the ceilings scenario's one long run, for reference.
"""
from __future__ import annotations

import statistics

from ..client import LoadResult, run_fixed
from ..core import (
    PAIRED_ROUNDS,
    ROUNDS,
    Context,
    Rounds,
    add_ratios,
    close_all,
    each_in_rounds,
    load_row,
    measure,
    pair_note,
    pool,
    share,
    std_cols,
    target_note,
    unavailable_row,
)
from ..report import Col, Table
from ..servers import Server
from . import scenario
from .ceilings import GCI, bare_gci


def _check(status: int, body: bytes) -> str | None:
    if status != 200 or b"GetCallerIdentityResult" not in body:
        return f"HTTP {status}: {body[:160]!r}"
    return None


@scenario("gateway", needs={"bare", "aws"}, order=20)
def gateway(ctx: Context) -> list[Table]:
    """STS GetCallerIdentity (query protocol POST) requests/s and server CPU µs/request."""
    t = Table(f"Gateway: STS GetCallerIdentity, {ctx.conns} keep-alive conns",
              std_cols("req/s", "CPU µs/req") + [Col("bare_us", "paired bare µs/req", "num"),
                                                  Col("xbare", "× bare", "ratio")])
    for name in ("bare", "bare-uvicorn"):
        bare = bare_gci(ctx, name)
        if bare:
            t.add(**load_row(ctx.servers[name], bare["res"], bare["cpu"], bare["res"].calls))
        elif name in ctx.servers:
            unavailable_row(t, ctx.servers[name])
    bare_s = ctx.servers.get("bare")
    bare_raw = bare_s.signer.query("sts", GCI) if bare_s is not None and bare_s.available else None
    bare_pool = pool(bare_s, ctx.conns) if bare_s is not None and bare_raw is not None else []

    def setup(s: Server) -> dict:
        raw = s.signer.query("sts", GCI)
        n = ctx.count(20000, 8000, s)
        conns = pool(s, ctx.conns)
        run_fixed(s.host, s.port, [raw], min(500, n), ctx.conns, check=_check, pool=conns)  # warm-up
        return {"raw": raw, "n": n, "bares": [], "ratios": [], "pool": conns}

    def step(s: Server, st: Rounds, r: int, k: int) -> tuple[LoadResult, float, int]:
        x = st.extra
        m = share(x["n"], r, k)
        if bare_s is not None and bare_raw is not None:
            nb = max(m, ctx.count(20000, 8000) // k)
            bres, bcpu = measure(bare_s, lambda: run_fixed(bare_s.host, bare_s.port, [bare_raw], nb, ctx.conns,
                                                           pool=bare_pool))
            x["bares"].append(bcpu * 1e6 / bres.calls if bres.calls else None)
        res, c = measure(s, lambda: run_fixed(s.host, s.port, [x["raw"]], m, ctx.conns, check=_check,
                                              pool=x["pool"]))
        if x["bares"] and x["bares"][-1] and res.calls:
            x["ratios"].append(c * 1e6 / res.calls / x["bares"][-1])
        return res, c, res.calls

    def finish(s: Server, st: Rounds) -> None:
        x = st.extra
        close_all(x["pool"])
        row = t.add(**load_row(s, st.total, st.cpu, st.total.calls), **st.keys())
        if x["ratios"]:
            row["xbare"] = statistics.median(x["ratios"])
            row["bare_us"] = statistics.median(b for b in x["bares"] if b)

    each_in_rounds(ctx, t, step, finish, setup, alone=ROUNDS)
    close_all(bare_pool)
    add_ratios(t)
    rows = [r for r in t.rows if r.get("server") == "tsunagi" and r.get("xbare")]
    if rows:
        v = rows[0]["xbare"]
        t.notes.append(f"target tsunagi ≤ 2× bare handler CPU/request: {v:.2f}× → {'met' if v <= 2 else 'NOT met'}")
        t.notes.append("`bare` is a canned reply on tsunagi's own HTTP server (the same server, as the target "
                       "asks); `bare-uvicorn` the same reply through uvicorn, for reference.")
        t.notes.append(f"`× bare`: the median of {ROUNDS} paired rounds ({PAIRED_ROUNDS} with --baseline) (bare "
                       "handler, then the server, one after the other), each round's CPU/request over the bare "
                       "handler's in that round; `paired bare µs/req` is the bare handler's median in those rounds.")
    else:
        target_note(t, "gateway", "xbare", 2, "× bare")
    pair_note(t)
    return [t]

"""The gateway's own cost: STS GetCallerIdentity through the full stack vs the bare handler."""
from __future__ import annotations

from ..client import run_fixed
from ..core import Context, add_ratios, load_row, measure, std_cols, target_note, unavailable_row
from ..report import Col, Table
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
              std_cols("req/s", "CPU µs/req") + [Col("xbare", "× bare", "ratio")])
    for name in ("bare", "bare-uvicorn"):
        bare = bare_gci(ctx, name)
        if bare:
            t.add(**load_row(ctx.servers[name], bare["res"], bare["cpu"], bare["res"].calls))
        elif name in ctx.servers:
            unavailable_row(t, ctx.servers[name])
    for s in ctx.aws():
        if not s.available:
            unavailable_row(t, s)
            continue
        raw = s.signer.query("sts", GCI)
        n = ctx.count(20000, 8000, s)
        run_fixed(s.host, s.port, [raw], min(500, n), ctx.conns, check=_check)  # warm-up
        res, cpu = measure(s, lambda s=s, raw=raw, n=n: run_fixed(s.host, s.port, [raw], n, ctx.conns, check=_check))
        t.add(**load_row(s, res, cpu, res.calls))
    base = next((r["cpu_us"] for r in t.rows if r.get("server") == "bare" and r.get("cpu_us")), None)
    if base:
        for r in t.rows:
            if r.get("cpu_us"):
                r["xbare"] = r["cpu_us"] / base
    add_ratios(t)
    rows = [r for r in t.rows if r.get("server") == "tsunagi" and r.get("xbare")]
    if rows:
        v = rows[0]["xbare"]
        t.notes.append(f"target tsunagi ≤ 2× bare handler CPU/request: {v:.2f}× → {'met' if v <= 2 else 'NOT met'}")
        t.notes.append("`bare` is a canned reply on tsunagi's own HTTP server (the same server, as the target "
                       "asks); `bare-uvicorn` the same reply through uvicorn, for reference.")
    else:
        target_note(t, "gateway", "xbare", 2, "× bare")
    return [t]

"""The cost of ``--auth strict``: every request's SigV4 signature verified, against the same server open.

Two tsunagi processes of this build on SQLite, one ``--auth open`` and one ``--auth strict`` (the root
key pair ``test`` / ``test``, what the bench client signs with), take turns in paired rounds: a slice of
calls to the open one, then the same slice to the strict one (the other way round every other round). The added CPU per request is the median
round's difference. Two requests: STS GetCallerIdentity (query protocol, the gateway's reference
request) and SQS GetQueueUrl (json protocol). Each is signed once and replayed: a signature stays
valid for 15 minutes, and strict mode verifies it on every request (the signing key is derived once
per key and day; the canonical request, its hash and the HMAC are computed each time).
The issue's target: at most 15 µs of server CPU per request.

The strict server runs ``--policies off``, so the figure is what verifying signatures costs. A third
server, ``--auth strict`` with the default ``--policies warn`` (identity policies evaluated on every
call, a root caller's resource owner looked up), is measured in the same rounds and shown beside it:
that difference is the authorize step's, not the signature's.
"""
from __future__ import annotations

import statistics

from ..client import run_fixed
from ..core import Context, close_all, log, measure, pool, share
from ..report import Col, Table
from ..servers import start_tsunagi, wait_ready
from . import scenario
from .ceilings import GCI

ROUNDS = 7
STRICT_ROUNDS = 15      # the difference sought is a few µs in ~100: more, smaller rounds for a steadier median
TARGET_US = 15.0


def _ok(marker: bytes):
    def check(status: int, body: bytes) -> str | None:
        if status != 200 or marker not in body:
            return f"HTTP {status}: {body[:160]!r}"
        return None
    return check


@scenario("auth.strict", needs=frozenset(), order=22)
def strict(ctx: Context) -> list[Table]:
    """Added server CPU µs/request of --auth strict (paired rounds against --auth open)."""
    t = Table(f"--auth strict: added CPU per request ({ctx.conns} keep-alive conns, {STRICT_ROUNDS} paired rounds)",
              [Col("request", "request", "text"), Col("open_us", "open µs/req", "num"),
               Col("strict_us", "strict µs/req", "num"), Col("added_us", "added µs/req", "num"),
               Col("warn_us", "strict+warn µs/req", "num"), Col("warn_added_us", "added (strict+warn)", "num"),
               Col("calls", "calls/server", "int"), Col("errors", "errors", "int")])
    args = {"open": ["--auth", "open", "--policies", "off"], "strict": ["--auth", "strict", "--policies", "off"],
            "warn": ["--auth", "strict", "--policies", "warn"]}
    servers = {mode: start_tsunagi(ctx.work, f"auth-{mode}", extra_args=a) for mode, a in args.items()}
    try:
        for s in servers.values():
            wait_ready(s, 30.0)
        bad = [f"{s.name}: {s.reason}" for s in servers.values() if not s.available]
        if bad:
            t.notes.append("not measured: " + "; ".join(bad))
            return [t]
        requests = {}
        for mode, s in servers.items():
            conns = pool(s, 1)
            status, _ = conns[0].request(s.signer.sqs("CreateQueue", {"QueueName": "auth-bench"}))
            close_all(conns)
            if status != 200:
                t.notes.append(f"not measured: CreateQueue on {s.name} answered {status}")
                return [t]
            requests[mode] = {
                "STS GetCallerIdentity (query)": (s.signer.query("sts", GCI), _ok(b"GetCallerIdentityResult")),
                "SQS GetQueueUrl (json)": (s.signer.sqs("GetQueueUrl", {"QueueName": "auth-bench"}),
                                           _ok(b"QueueUrl")),
            }
        n = ctx.count(20000, 6000)
        for name in requests["open"]:
            pools = {mode: pool(s, ctx.conns) for mode, s in servers.items()}
            per: dict[str, list[float]] = {mode: [] for mode in servers}
            try:
                for mode, s in servers.items():     # warm-up
                    raw, check = requests[mode][name]
                    run_fixed(s.host, s.port, [raw], min(500, n), ctx.conns, check=check, pool=pools[mode])
                errors = 0
                for r in range(STRICT_ROUNDS):
                    m = share(n, r, STRICT_ROUNDS)
                    order = list(servers.items())
                    for mode, s in (order if r % 2 == 0 else order[::-1]):    # no server always goes first
                        raw, check = requests[mode][name]
                        conns = pools[mode]
                        res, cpu = measure(s, lambda s=s, raw=raw, check=check, m=m, conns=conns: run_fixed(
                            s.host, s.port, [raw], m, ctx.conns, check=check, pool=conns))
                        errors += res.errors
                        if res.calls:
                            per[mode].append(cpu * 1e6 / res.calls)
            finally:
                for conns in pools.values():
                    close_all(conns)
            added = [b - a for a, b in zip(per["open"], per["strict"], strict=False)]
            warn_added = [b - a for a, b in zip(per["open"], per["warn"], strict=False)]
            row = t.add(request=name, open_us=statistics.median(per["open"]) if per["open"] else None,
                        strict_us=statistics.median(per["strict"]) if per["strict"] else None,
                        added_us=statistics.median(added) if added else None,
                        warn_us=statistics.median(per["warn"]) if per["warn"] else None,
                        warn_added_us=statistics.median(warn_added) if warn_added else None, calls=n, errors=errors)
            log(f"auth.strict {name}: open {row['open_us']}, strict {row['strict_us']}, added {row['added_us']}, "
                f"strict+warn added {row['warn_added_us']}")
    finally:
        for s in servers.values():
            s.stop()
    worst = max((r["added_us"] for r in t.rows if r.get("added_us") is not None), default=None)
    if worst is None:
        t.notes.append(f"target --auth strict adds ≤ {TARGET_US:.0f} µs CPU/request: not measured")
    else:
        t.notes.append(f"target --auth strict adds ≤ {TARGET_US:.0f} µs CPU/request: worst {worst:.1f} µs → "
                       f"{'met' if worst <= TARGET_US else 'NOT met'}")
    t.notes.append(f"`added`: the median over {STRICT_ROUNDS} rounds of (strict − open) CPU/request, each round the same "
                   "slice of calls to each server (in turn, the order reversed every other round); open and strict run `--policies off` "
                   "(the signature check alone), strict+warn the default `--policies warn` (identity policies "
                   "evaluated by the authorize step too).")
    return [t]


# == --policies enforce ====================================================================================

_USER_POLICY = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:*",'
                '"Resource":"arn:aws:sqs:*:000000000000:auth-bench"}]}')


def _user_signer(s, t: Table):
    """A signer for an IAM user ``bench`` (made through the API) whose inline policy allows SQS on the queue."""
    import re
    from urllib.parse import urlencode

    from botocore.credentials import Credentials

    from ..client import Signer

    conns = pool(s, 1)
    try:
        for body in ({"Action": "CreateUser", "UserName": "bench"},
                     {"Action": "PutUserPolicy", "UserName": "bench", "PolicyName": "sqs",
                      "PolicyDocument": _USER_POLICY},
                     {"Action": "CreateAccessKey", "UserName": "bench"}):
            status, out = conns[0].request(s.signer.query("iam", urlencode({**body, "Version": "2010-05-08"})))
            if status != 200:
                t.notes.append(f"not measured: IAM {body['Action']} on {s.name} answered {status}")
                return None
    finally:
        close_all(conns)
    key = re.search(rb"<AccessKeyId>([^<]+)</AccessKeyId>", out)
    secret = re.search(rb"<SecretAccessKey>([^<]+)</SecretAccessKey>", out)
    if key is None or secret is None:
        t.notes.append("not measured: no access key in CreateAccessKey's answer")
        return None
    return Signer(s.host, s.port, creds=Credentials(key.group(1).decode(), secret.group(1).decode()))


@scenario("auth.policies", needs=frozenset(), order=23)
def policies(ctx: Context) -> list[Table]:
    """Added server CPU µs/request of --policies enforce under --auth strict (paired rounds against --policies off)."""
    t = Table(f"--auth strict --policies enforce: added CPU per request ({ctx.conns} keep-alive conns, "
              f"{ROUNDS} paired rounds)",
              [Col("request", "request", "text"), Col("off_us", "policies off µs/req", "num"),
               Col("enforce_us", "enforce µs/req", "num"), Col("added_us", "added µs/req", "num"),
               Col("calls", "calls/server", "int"), Col("errors", "errors", "int")])
    modes = ("off", "enforce")
    servers = {mode: start_tsunagi(ctx.work, f"policies-{mode}", extra_args=["--auth", "strict", "--policies", mode])
               for mode in modes}
    try:
        for s in servers.values():
            wait_ready(s, 30.0)
        bad = [f"{s.name}: {s.reason}" for s in servers.values() if not s.available]
        if bad:
            t.notes.append("not measured: " + "; ".join(bad))
            return [t]
        requests = {}
        for mode, s in servers.items():
            conns = pool(s, 1)
            status, out = conns[0].request(s.signer.sqs("CreateQueue", {"QueueName": "auth-bench"}))
            close_all(conns)
            if status != 200:
                t.notes.append(f"not measured: CreateQueue on {s.name} answered {status}")
                return [t]
            url = f"http://{s.host}:{s.port}/000000000000/auth-bench"
            user = _user_signer(s, t)
            if user is None:
                return [t]
            requests[mode] = {
                "SQS GetQueueUrl (json), root": (s.signer.sqs("GetQueueUrl", {"QueueName": "auth-bench"}),
                                                 _ok(b"QueueUrl")),
                "SQS GetQueueAttributes (json), IAM user with a policy": (
                    user.sqs("GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["VisibilityTimeout"]}),
                    _ok(b"VisibilityTimeout")),
            }
        n = ctx.count(20000, 6000)
        for name in requests["off"]:
            pools = {mode: pool(s, ctx.conns) for mode, s in servers.items()}
            per: dict[str, list[float]] = {mode: [] for mode in modes}
            try:
                for mode, s in servers.items():     # warm-up
                    raw, check = requests[mode][name]
                    run_fixed(s.host, s.port, [raw], min(500, n), ctx.conns, check=check, pool=pools[mode])
                errors = 0
                for r in range(ROUNDS):
                    m = share(n, r, ROUNDS)
                    order = list(servers.items())
                    for mode, s in (order if r % 2 == 0 else order[::-1]):    # no server always goes first
                        raw, check = requests[mode][name]
                        conns = pools[mode]
                        res, cpu = measure(s, lambda s=s, raw=raw, check=check, m=m, conns=conns: run_fixed(
                            s.host, s.port, [raw], m, ctx.conns, check=check, pool=conns))
                        errors += res.errors
                        if res.calls:
                            per[mode].append(cpu * 1e6 / res.calls)
            finally:
                for conns in pools.values():
                    close_all(conns)
            added = [b - a for a, b in zip(per["off"], per["enforce"], strict=False)]
            row = t.add(request=name, off_us=statistics.median(per["off"]) if per["off"] else None,
                        enforce_us=statistics.median(per["enforce"]) if per["enforce"] else None,
                        added_us=statistics.median(added) if added else None, calls=n, errors=errors)
            log(f"auth.policies {name}: off {row['off_us']}, enforce {row['enforce_us']}, added {row['added_us']}")
    finally:
        for s in servers.values():
            s.stop()
    t.notes.append(f"`added`: the median over {ROUNDS} rounds of (enforce − off) CPU/request, both servers "
                   "--auth strict; the root is allowed in its account without identity policies (its queue's "
                   "owner is still looked up), the IAM user's inline policy is evaluated on every call.")
    return [t]

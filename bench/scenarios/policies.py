"""The cost of ``--policies enforce`` between services: an SNS publish fanned out to three SQS queues.

Two tsunagi processes of this build on SQLite, one ``--policies off`` and one ``--policies enforce``,
each with a topic and three subscribed queues whose queue policies let the topic send (the seed-000
form: ``Principal "*"``, ``ArnEquals aws:SourceArn`` = the topic), take turns in paired rounds: a
slice of Publish calls to the off one, then the same slice to the enforcing one. Under enforce every
publish evaluates the three queue policies (compiled once per policy text) before its transaction.
The added CPU per publish is the median round's difference; the issue's target is at most 10 % of
the off server's CPU per publish.
"""
from __future__ import annotations

import json
import statistics

from ..client import run_fixed
from ..core import Context, close_all, log, measure, pool, share
from ..report import Col, Table
from ..servers import start_tsunagi, wait_ready
from . import scenario
from ._aws import Api, sns_raw
from .sns import MESSAGE, _check_publish

ROUNDS = 7
TARGET_PCT = 10.0


def _seed_policy(api: Api, url: str, queue_arn: str, topic: str) -> None:
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "SID", "Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": "*",
        "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]}
    api.call("SetQueueAttributes", {"QueueUrl": url, "Attributes": {"Policy": json.dumps(policy)}})


@scenario("policies.enforce", needs=frozenset(), order=23)
def enforce(ctx: Context) -> list[Table]:
    """Added server CPU per SNS → 3 SQS publish of --policies enforce (paired rounds against off)."""
    t = Table(f"--policies enforce: added CPU per SNS publish to 3 SQS queues ({ctx.conns} keep-alive conns, "
              f"{ROUNDS} paired rounds)",
              [Col("mode", "request", "text"), Col("off_us", "off µs/publish", "num"),
               Col("enforce_us", "enforce µs/publish", "num"), Col("added_us", "added µs", "num"),
               Col("added_pct", "added %", "num"), Col("calls", "publishes/server", "int"),
               Col("errors", "errors", "int")])
    servers = {mode: start_tsunagi(ctx.work, f"policies-{mode}", extra_args=["--policies", mode])
               for mode in ("off", "enforce")}
    try:
        for s in servers.values():
            wait_ready(s, 30.0)
        bad = [f"{s.name}: {s.reason}" for s in servers.values() if not s.available]
        if bad:
            t.notes.append("not measured: " + "; ".join(bad))
            return [t]
        publish = {}
        for mode, s in servers.items():
            api = Api(s)
            topic = api.topic("pol")
            for i in range(3):
                url = api.create(f"pol{i}")
                arn = api.queue_arn(url)
                _seed_policy(api, url, arn, topic)
                api.subscribe_sqs(topic, arn)
            publish[mode] = sns_raw(s.signer, "Publish", {"TopicArn": topic, "Message": MESSAGE})
        n = ctx.count(6000, 1500)
        pools = {mode: pool(s, ctx.conns) for mode, s in servers.items()}
        per: dict[str, list[float]] = {"off": [], "enforce": []}
        errors = 0
        try:
            for mode, s in servers.items():     # warm-up
                run_fixed(s.host, s.port, [publish[mode]], min(300, n), ctx.conns, check=_check_publish,
                          pool=pools[mode])
            for r in range(ROUNDS):
                m = share(n, r, ROUNDS)
                for mode, s in servers.items():
                    raw, conns = publish[mode], pools[mode]
                    res, cpu = measure(s, lambda s=s, raw=raw, m=m, conns=conns: run_fixed(
                        s.host, s.port, [raw], m, ctx.conns, check=_check_publish, pool=conns))
                    errors += res.errors
                    if res.calls:
                        per[mode].append(cpu * 1e6 / res.calls)
        finally:
            for conns in pools.values():
                close_all(conns)
        added = [b - a for a, b in zip(per["off"], per["enforce"], strict=False)]
        pct = [100.0 * (b - a) / a for a, b in zip(per["off"], per["enforce"], strict=False) if a > 0]
        row = t.add(mode="Publish → 3 queues (queue policies, aws:SourceArn)",
                    off_us=statistics.median(per["off"]) if per["off"] else None,
                    enforce_us=statistics.median(per["enforce"]) if per["enforce"] else None,
                    added_us=statistics.median(added) if added else None,
                    added_pct=statistics.median(pct) if pct else None, calls=n, errors=errors)
        log(f"policies.enforce: off {row['off_us']}, enforce {row['enforce_us']}, added {row['added_pct']} %")
    finally:
        for s in servers.values():
            s.stop()
    worst = next((r["added_pct"] for r in t.rows if r.get("added_pct") is not None), None)
    if worst is None:
        t.notes.append(f"target --policies enforce adds ≤ {TARGET_PCT:.0f} % CPU per publish: not measured")
    else:
        t.notes.append(f"target --policies enforce adds ≤ {TARGET_PCT:.0f} % CPU per publish: {worst:.1f} % → "
                       f"{'met' if worst <= TARGET_PCT else 'NOT met'}")
    t.notes.append(f"`added`: the median over {ROUNDS} rounds of (enforce − off) CPU/publish, each round one slice "
                   "to the off server then the same slice to the enforcing one.")
    return [t]

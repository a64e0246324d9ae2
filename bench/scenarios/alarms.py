"""CloudWatch alarm evaluation cost, in process: N metric alarms (each on its own metric with a minute of
data) evaluated once by the evaluator the server runs every minute, on SQLite or PostgreSQL; also the cost
of one ``Counters.add`` (what SQS, SNS and Lambda pay per counted call on their hot paths).

    .venv/bin/python -m bench.scenarios.alarms --n 1000
    .venv/bin/python -m bench.scenarios.alarms --n 1000 --store postgresql://postgres@127.0.0.1:5432/<db>
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import timeit

from tsunagi.config import Config
from tsunagi.ports.cloudwatch import Counters, Datum
from tsunagi.server import assemble
from tsunagi.store.base import open_store


async def run(n: int, store_url: str | None) -> dict[str, float]:
    data_dir = tempfile.mkdtemp(prefix="bench-alarms-")
    config = Config(data_dir=data_dir)
    store = open_store(store_url, data_dir)
    platform = assemble(config, store, services=["sns", "sqs", "cloudwatch"])
    await store.open()
    cw = platform.services["cloudwatch"]
    try:
        now = platform.clock.now_ms()
        await cw.metrics.put("000000000000", "us-east-1", [
            Datum("Bench", f"m{i}", float(i % 10), now) for i in range(n)])
        for i in range(n):
            await cw.alarms.put_metric_alarm("000000000000", "us-east-1", {
                "AlarmName": f"a{i}", "Namespace": "Bench", "MetricName": f"m{i}", "Statistic": "Maximum",
                "Period": 60, "EvaluationPeriods": 1, "Threshold": 5.0, "ComparisonOperator": "GreaterThanThreshold"})
        t0 = time.perf_counter()
        changed = await cw.alarms.evaluate_all()          # every alarm leaves INSUFFICIENT_DATA
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        await cw.alarms.evaluate_all()                    # the steady state: no change
        steady = time.perf_counter() - t0
    finally:
        await store.close()
    return {"alarms": n, "changed": changed, "first_s": first, "steady_s": steady}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--store", default=None, help="a PostgreSQL URL (default: SQLite in a scratch directory)")
    args = ap.parse_args()
    out = asyncio.run(run(args.n, args.store))
    counters = Counters()
    dims = (("QueueName", "q"),)
    add = counters.add
    per_add = min(timeit.repeat(lambda: add("000000000000", "us-east-1", "AWS/SQS", "NumberOfMessagesSent", dims),
                                number=100_000, repeat=3)) / 100_000
    print(f"store: {'postgresql' if args.store else 'sqlite'} (pid {os.getpid()})")
    print(f"{out['alarms']} alarms, {out['changed']} changed: first evaluation {out['first_s']:.2f} s, "
          f"steady evaluation {out['steady_s']:.2f} s = {out['steady_s'] / out['alarms'] * 1000:.2f} ms per alarm")
    print(f"Counters.add: {per_add * 1e6:.2f} µs per counted call")


if __name__ == "__main__":
    main()

"""CloudWatch's background work: alarm evaluation (every ``cloudwatch_evaluation_seconds``, aligned to
the clock) and the retention roll-ups (1 s data kept 3 h, then as 1 minute; 1 minute data 15 days, then
as 5 minutes; 5 minutes 63 days, then as 1 hour; 1 hour 455 days). Each runs on one server at a time:
a lease in the store (``cw_leases``) names the holder and lapses if it stops renewing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from typing import TYPE_CHECKING

import orjson

from tsunagi.ports.cloudwatch import Datum
from tsunagi.ports.sqs import SQS
from tsunagi.services.cloudwatch.data import Agg
from tsunagi.store.cloudwatch import Bucket

if TYPE_CHECKING:
    from tsunagi.services.cloudwatch.service import CloudWatchService

log = logging.getLogger("tsunagi.cloudwatch")

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# (period, kept for, rolled into)
RETENTION = ((1, 3 * HOUR_MS, 60), (60, 15 * DAY_MS, 300), (300, 63 * DAY_MS, 3600), (3600, 455 * DAY_MS, None))
SWEEP_EVERY_S = 300.0
BATCH = 2000


class Background:
    def __init__(self, service: CloudWatchService) -> None:
        self.service = service
        self.holder = uuid.uuid4().hex
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        self._stopping.clear()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._evaluate_loop(), name="tsunagi-cloudwatch-alarms"),
                       loop.create_task(self._sweep_loop(), name="tsunagi-cloudwatch-retention"),
                       loop.create_task(self._publish_loop(), name="tsunagi-cloudwatch-publish")]

    async def stop(self) -> None:
        self._stopping.set()
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        try:
            await self.flush()                   # what was counted since the last flush
        except Exception as e:
            log.warning("publishing the last counted metrics failed: %s", e)

    async def flush(self) -> int:
        """Put what the services counted (AWS/SQS, AWS/SNS, AWS/Lambda, AWS/S3) as metric data."""
        n = 0
        for (account, region), data in self.service.counters.drain().items():
            await self.service.metrics.put(account, region, data)
            n += len(data)
        return n

    async def sample(self) -> int:
        """The gauges AWS publishes each minute: every queue's depths and the age of its oldest message."""
        sqs = self.service.platform.ports.find(SQS)
        if sqs is None:
            return 0
        now = self.service.clock.now_ms()
        by_place: dict[tuple[str, str], list[Datum]] = {}
        for g in await sqs.gauges():
            dims = (("QueueName", g.name),)
            by_place.setdefault((g.account, g.region), []).extend([
                Datum("AWS/SQS", "ApproximateNumberOfMessagesVisible", float(g.visible), now, "Count", dims),
                Datum("AWS/SQS", "ApproximateNumberOfMessagesNotVisible", float(g.in_flight), now, "Count", dims),
                Datum("AWS/SQS", "ApproximateNumberOfMessagesDelayed", float(g.delayed), now, "Count", dims),
                Datum("AWS/SQS", "ApproximateAgeOfOldestMessage", float(int(g.oldest_age_s)), now, "Seconds", dims)])
        for (account, region), data in by_place.items():
            await self.service.metrics.put(account, region, data)
        return sum(len(d) for d in by_place.values())

    async def _publish_loop(self) -> None:
        every = self.service.platform.config.cloudwatch_publish_seconds
        while not self._stopping.is_set():
            now = self.service.clock.now()
            await self._sleep(math.ceil(now / every) * every - now)
            if self._stopping.is_set():
                break
            try:
                await self.flush()
                # gauges once per round on one server only (several would add their samples up)
                if await self.service.repo.lease("gauges", self.holder, self.service.clock.now_ms(),
                                                 int(every * 3000)):
                    await self.sample()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("publishing AWS's metrics failed: %s", e)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), max(0.05, seconds))

    async def _evaluate_loop(self) -> None:
        every = self.service.platform.config.cloudwatch_evaluation_seconds
        # a moment after the boundary, so that what was published on it (the minute's gauges) is seen
        lag = min(2.0, every / 4)
        while not self._stopping.is_set():
            now = self.service.clock.now()
            due = math.ceil((now - lag) / every) * every + lag
            await self._sleep(due - now)          # aligned: 2 s past each minute by default
            if self._stopping.is_set():
                break
            try:
                if await self.service.repo.lease("alarms", self.holder, self.service.clock.now_ms(),
                                                 int(every * 3000)):
                    await self.service.alarms.evaluate_all()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("evaluating alarms failed: %s", e)

    async def _sweep_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                if await self.service.repo.lease("retention", self.holder, self.service.clock.now_ms(),
                                                 int(SWEEP_EVERY_S * 3000)):
                    await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("the CloudWatch retention sweep failed: %s", e)
            await self._sleep(SWEEP_EVERY_S)

    async def sweep(self) -> int:
        """Roll aged data up into the next period (or drop it) and forget alarm history past 30 days."""
        repo = self.service.repo
        now = self.service.clock.now_ms()
        moved = 0
        for period, keep, into in RETENTION:
            before = now - keep
            if into is None:
                moved += await repo.delete_aged(period, before)
                continue
            while True:
                rows = await repo.aged(period, before, BATCH)
                if not rows:
                    break
                merged: dict[tuple[str, ...], tuple[Bucket, Agg]] = {}
                for b in rows:
                    ts = b.ts - b.ts % (into * 1000)
                    key = (b.account, b.region, b.namespace, b.name, b.dims, str(ts), b.unit)
                    if key not in merged:
                        merged[key] = (b._replace(period=into, ts=ts), Agg())
                    merged[key][1].add(b.n, b.total, b.lo, b.hi, orjson.loads(b.vals) if b.vals != "{}" else None)
                async with repo.store.transaction() as tx:
                    for target, agg in merged.values():
                        old = await repo.bucket_values(tx, target)
                        vals = agg.vals
                        if old and old != "{}":
                            both = Agg(vals=orjson.loads(old))
                            both.add(0, 0, math.inf, -math.inf, vals)
                            vals = both.vals
                        await repo.merge_bucket(tx, target._replace(n=agg.n, total=agg.total, lo=agg.lo, hi=agg.hi,
                                                                    vals=orjson.dumps(vals).decode()))
                    for b in rows:
                        await repo.delete_bucket(tx, b)
                moved += len(rows)
                if len(rows) < BATCH:
                    break
        await repo.delete_stale_metrics(now - 455 * DAY_MS)
        await repo.prune_history(now - 30 * DAY_MS)
        return moved

"""Delivery records (why each delivery happened or not) are kept for a while, then swept by age."""

from __future__ import annotations

import asyncio

from tsunagi.store.base import open_store
from tsunagi.store.sns import SnsRepo


def test_old_delivery_records_are_swept_and_recent_ones_stay(store_url, tmp_path):
    async def body():
        store = open_store(store_url, str(tmp_path))
        await store.open()
        await store.reset()
        try:
            repo = SnsRepo(store)
            rows = [(f"m{i}", "arn:aws:sns:us-east-1:000000000000:t", "sub", "sqs", "delivered", None, at)
                    for i, at in enumerate([1_000, 2_000, 3_000, 9_000, 10_000])]
            await repo.record(store, rows)
            # When records before t=5,000 are swept (in batches smaller than their number)
            removed = await repo.prune_deliveries(5_000, batch=2)
            # Then exactly the three old ones are gone
            left = await repo.deliveries(limit=10)
            return removed, sorted(r[0] for r in left)
        finally:
            await store.close()

    assert asyncio.run(body()) == (3, ["m3", "m4"])

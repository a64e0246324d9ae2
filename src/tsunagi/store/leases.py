"""Shared limits: leases in the database (``queries/*/leases.sql``) for limits AWS applies to a resource,
which must hold across every server sharing a PostgreSQL database, not on each one alone (an event
source mapping's MaximumConcurrency, a function's reserved concurrency, the account's concurrency).

A scope (``"esm:<uuid>"``, say) may have at most ``limit`` leases. :meth:`Leases.take` counts the
scope's live leases and adds one, in a transaction that holds the scope's advisory lock so that two
servers never both see room for one; :meth:`Leases.give` removes it. Leases carry this server's node
id and an expiry: while a server holds any, it pushes their expiry forward every ``RENEW_S``; a server
killed without giving its leases back stops renewing, and its share is free again within ``LEASE_S``.

On SQLite one server owns the store: its in-process counts are the whole truth, and :attr:`shared`
is False (callers then take no leases and pay no writes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from tsunagi.store import queries
from tsunagi.store.base import Store

log = logging.getLogger("tsunagi.store.leases")

LEASE_S = 30.0      # a lease not renewed for this long is free again
RENEW_S = 10.0      # how often a server renews the leases it holds


class Leases:
    def __init__(self, store: Store, node: str | None = None) -> None:
        self.store = store
        self.node = node or uuid.uuid4().hex
        self.shared = store.dialect == "postgresql"
        self.q = queries.load("leases", store.dialect)
        self._held = 0
        self._renewer: asyncio.Task[None] | None = None

    async def take(self, scope: str, limit: int) -> str | None:
        """A lease in ``scope`` if fewer than ``limit`` are live (across servers), else None."""
        holder = uuid.uuid4().hex
        now = time.time()
        async with self.store.transaction() as tx:
            await tx.fetchone(self.q.lock_scope, (f"lease:{scope}",))
            await tx.execute(self.q.drop_expired, (scope, now))
            row = await tx.fetchone(self.q.held, (scope,))
            if row is not None and int(row[0]) >= limit:
                return None
            await tx.execute(self.q.take, (scope, holder, self.node, now + LEASE_S))
        self._held += 1
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew(), name="tsunagi-leases")
        return holder

    async def give(self, scope: str, holder: str) -> None:
        """Give a lease back (best effort: one not given back expires)."""
        self._held = max(self._held - 1, 0)
        try:
            await self.store.execute(self.q.give, (scope, holder))
        except Exception:
            log.warning("could not give back lease %s of %s; it expires in %.0f s", holder, scope, LEASE_S)

    async def _renew(self) -> None:
        while self._held > 0:
            await asyncio.sleep(RENEW_S)
            try:
                await self.store.execute(self.q.renew, (time.time() + LEASE_S, self.node))
            except Exception:
                log.warning("renewing this server's leases failed; trying again in %.0f s", RENEW_S)

    async def close(self) -> None:
        """Stop renewing and give back every lease this server holds."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(BaseException):
                await self._renewer
        if self.shared:
            with contextlib.suppress(Exception):
                await self.store.execute(self.q.give_node, (self.node,))

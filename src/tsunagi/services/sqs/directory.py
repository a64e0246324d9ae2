"""Which queue a request means: queue URLs and ARNs to :class:`Queue`, names to URLs and ARNs, and
the cache of parsed queues the hot paths read.

A queue is looked up by the URL the client gave (any URL whose last two path parts are account and
name; a region in the path before them, or in an ``sqs.<region>.`` host, wins over the request's) or by its ARN, and kept parsed
until it changes. Changes are announced on the store's ``sqs-meta`` channel (every server forgets the
queue); on PostgreSQL, where another server may change a queue without this one hearing of it in
time, a cached queue is also trusted for :data:`CACHE_TTL_PG_S` only.

The directory also listens for the ``sqs`` channel (a message may be available: wake this server's
long polls) and for the store reconnecting (forget everything, wake every poll).
"""

from __future__ import annotations

import logging
import re
import time

from tsunagi.context import RequestContext
from tsunagi.services.sqs.attributes import Queue
from tsunagi.services.sqs.errors import missing, queue_does_not_exist
from tsunagi.services.sqs.waiters import SCAN, SENT, Waiters
from tsunagi.store.base import Store
from tsunagi.store.sqs import META_CHANNEL, NOTIFY_CHANNEL, SqsRepo

log = logging.getLogger("tsunagi.sqs")

CACHE_TTL_PG_S = 5.0
_MAX_CACHED_URLS = 10_000

_SQS_HOST_REGION = re.compile(r"(?:^|\.)sqs\.([a-z0-9-]+)\.")


# a region as a queue URL's path names it: /eu-west-1/<account>/<name>
REGION_PART = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")


def queue_url(ctx: RequestContext, account: str, name: str, region: str | None = None,
              default_region: str | None = None) -> str:
    """A queue's URL as the client that asks should see it (the host it used): ``{host}/{account}/{name}``
    for a queue of the server's default region, ``{host}/{region}/{account}/{name}`` for any other, so
    that one name in two regions is two URLs, each leading back to its own queue."""
    if region is None or region == default_region:
        return f"{ctx.scheme}://{ctx.host}/{account}/{name}"
    return f"{ctx.scheme}://{ctx.host}/{region}/{account}/{name}"


def queue_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{account}:{name}"


class QueueDirectory:
    def __init__(self, store: Store, repo: SqsRepo, waiters: Waiters, default_region: str = "us-east-1") -> None:
        self.store = store
        self.default_region = default_region
        self.repo = repo
        self.waiters = waiters
        self.shared = store.shared          # other servers may change a queue: trust the cache briefly
        self._by_url: dict[tuple[str, str, str], Queue] = {}
        self._by_arn: dict[str, Queue] = {}
        self._listening = False

    # == what the store announces ==============================================================
    def listen(self) -> None:
        if not self._listening:
            self.store.targeted(NOTIFY_CHANNEL)      # other servers notify this one only while it waits
            self.store.listen(NOTIFY_CHANNEL, self._on_notify)
            self.store.listen(META_CHANNEL, self._on_meta)
            self.store.listen("*", self._on_reconnect)
            self._listening = True

    def _on_notify(self, payload: str) -> None:
        # "<queue id>:1": one message was sent, the poll woken looks once; "<queue id>": a batch, or
        # messages of unknown number, the poll chains on while it fills whole batches (store.sqs.sent_note)
        queue_id, _, count = payload.partition(":")
        try:
            self.waiters.wake(int(queue_id), SENT if count == "1" else SCAN)
        except ValueError:
            pass

    def _on_meta(self, payload: str) -> None:
        try:
            self.forget(int(payload))
        except ValueError:
            pass

    def _on_reconnect(self, _payload: str) -> None:
        self.forget_all()
        self.waiters.wake_all()

    # == the cache =============================================================================
    def forget(self, queue_id: int) -> None:
        """Drop a queue from the cache (it changed, or is gone)."""
        for key in [k for k, q in self._by_url.items() if q.id == queue_id]:
            del self._by_url[key]
        for arn in [k for k, q in self._by_arn.items() if q.id == queue_id]:
            del self._by_arn[arn]

    def forget_all(self) -> None:
        self._by_url.clear()
        self._by_arn.clear()

    # a monotonic clock for the cache's ages (not the event loop's: in Python 3.11 asking for the running
    # loop is a getpid system call, on every cached lookup)
    _now_mono = staticmethod(time.monotonic)

    def _fresh(self, q: Queue) -> bool:
        return not self.shared or self._now_mono() - q.loaded_at < CACHE_TTL_PG_S

    # == lookups ===============================================================================
    def url(self, ctx: RequestContext, account: str, region: str, name: str) -> str:
        """The URL of the queue ``name`` of ``account`` in ``region``, on the host ``ctx`` used."""
        return queue_url(ctx, account, name, region, self.default_region)

    def cached(self, ctx: RequestContext, url: str | None) -> Queue | None:
        """The queue ``url`` names for ``ctx``'s caller when it is cached (and fresh), without awaiting:
        the message operations try this before :meth:`by_url`."""
        if not url:
            return None
        q = self._by_url.get((ctx.account, ctx.region, url))
        if q is not None and (not self.shared or self._fresh(q)):
            return q
        return None

    async def by_url(self, ctx: RequestContext, url: str | None) -> Queue:
        """The queue ``url`` names for ``ctx``'s caller (cached); QueueDoesNotExist when there is none."""
        if not url:
            raise missing("QueueUrl")
        key = (ctx.account, ctx.region, url)
        q = self._by_url.get(key)
        if q is not None and (not self.shared or self._fresh(q)):
            return q
        account, region, name = self.parse_url(ctx, url)
        row = await self.repo.queue_by_name(account, region, name)
        if row is None:
            await self._explain_missing(account, region, name)
            raise queue_does_not_exist()
        if not self._listening:
            self.listen()
        q = Queue.from_row(row, self._now_mono())
        if len(self._by_url) > _MAX_CACHED_URLS:
            self._by_url.clear()
        self._by_url[key] = q
        return q

    async def _explain_missing(self, account: str, region: str, name: str) -> None:
        """The error keeps AWS's words; the server's log says when the queue is in another region
        (the client's region picks the queue a URL names, so a hard-coded region is the usual cause)."""
        try:
            elsewhere = [r for r in await self.repo.queue_regions_by_name(account, name) if r != region]
        except Exception:   # noqa: BLE001 - only a hint; the caller gets its QueueDoesNotExist regardless
            return
        if elsewhere:
            log.warning("SQS: no queue %r in account %s, region %s (the client's region); a queue of that name "
                        "exists in %s: create it in %s or use a client in that region", name, account, region,
                        ", ".join(elsewhere), region)

    @staticmethod
    def parse_url(ctx: RequestContext, url: str) -> tuple[str, str, str]:
        """(account, region, name) of a queue URL."""
        path = url.split("?", 1)[0].rstrip("/")
        if "://" in path:
            host, _, path = path.split("://", 1)[1].partition("/")
        else:
            host = ""
        parts = [p for p in path.split("/") if p]
        region = ctx.region
        m = _SQS_HOST_REGION.search(host) if host else None
        if m:
            region = m.group(1)
        if len(parts) >= 3 and REGION_PART.match(parts[-3]):
            region = parts[-3]
        if len(parts) >= 2:
            return parts[-2], region, parts[-1]
        if len(parts) == 1 and not host:
            return ctx.account, region, parts[0]
        raise queue_does_not_exist()

    async def by_arn(self, arn: str) -> Queue | None:
        """The queue an ARN names (cached), or None. Call it *before* opening a transaction the queue is
        used in: on SQLite a plain read inside an open transaction would wait for that transaction."""
        q = self._by_arn.get(arn)
        if q is not None and self._fresh(q):
            return q
        row = await self.repo.queue_by_arn(arn)
        if row is None:
            return None
        q = Queue.from_row(row, self._now_mono())
        self._by_arn[arn] = q
        return q

    async def current(self, q: Queue) -> Queue:
        """``q`` as stored now, not cached (attributes may have changed on another server), or
        QueueDoesNotExist."""
        row = await self.repo.queue_by_id(q.id)
        if row is None:
            raise queue_does_not_exist()
        return Queue.from_row(row)

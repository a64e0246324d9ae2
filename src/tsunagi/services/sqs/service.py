"""SQS: queues and messages with AWS's semantics, on the store.

Plain Python: params in (botocore's member names), dicts out (the operation's output shape),
:mod:`tsunagi.services.sqs.errors` raised. The service is one method per operation over parts that
each do one thing:

- :mod:`.directory`: which queue a URL or ARN names, and the cache of parsed queues;
- :mod:`.queues`: creating, deleting, listing queues, their attributes, tags and permissions;
- :mod:`.sending`: SendMessage(Batch) and the messages other services add in their transactions;
- :mod:`.receiving`: ReceiveMessage, long polls, redrive, DeleteMessage, ChangeMessageVisibility;
- :mod:`.sealing`: encryption at rest (``KmsMasterKeyId`` through KMS, ``SqsManagedSseEnabled``);
- :mod:`.movetasks`: message move tasks (redrive out of a dead-letter queue);
- :mod:`.sweeper`: retention and deduplication records swept in the background;
- :mod:`.port`: what the rest of tsunagi may ask of SQS.

Queue attributes are :mod:`.attributes`, message rules :mod:`.messages`; all SQL lives in
:mod:`tsunagi.store.sqs`.
"""

from __future__ import annotations

from typing import Any

from tsunagi.ports.cloudwatch import COUNTERS, Counters, Series
from tsunagi.ports.sqs import SQS
from tsunagi.services.base import Platform, RequestContext, Service
from tsunagi.services.sqs.directory import QueueDirectory
from tsunagi.services.sqs.movetasks import MoveTasks
from tsunagi.services.sqs.port import SqsPortImpl
from tsunagi.services.sqs.queues import Queues
from tsunagi.services.sqs.receiving import PG_POLL_BACKSTOP_S, Receiving
from tsunagi.services.sqs.sealing import Sealer
from tsunagi.services.sqs.sending import Sending
from tsunagi.services.sqs.sweeper import Sweeper
from tsunagi.services.sqs.waiters import Waiters
from tsunagi.store.sqs import SqsRepo

Params = dict[str, Any]
Result = dict[str, Any]

# The message operations' parts: the gateway calls these parts' methods directly
# (:meth:`SqsService.operation_impl`), saving every call the forwarding coroutine below.
_HOT_PARTS = {"send_message": "sending", "send_message_batch": "sending", "receive_message": "receiving",
              "delete_message": "receiving", "delete_message_batch": "receiving",
              "change_message_visibility": "receiving", "change_message_visibility_batch": "receiving"}


class _CountersOnFirstUse:
    """The AWS/SQS counters, found on the first message counted rather than when SQS starts: finding
    them loads CloudWatch (on a new store each service loads when first needed), which a server's first
    SQS requests (a test suite's ListQueues, CreateQueue) then do not wait for. Once CloudWatch has
    started, sending and receiving count into its counters directly (nothing, when it is not served)."""

    def __init__(self, svc: SqsService) -> None:
        self.svc = svc

    def _find(self) -> Counters | None:
        svc = self.svc
        ports = svc.platform.ports
        found = ports.find(COUNTERS)
        if COUNTERS.service not in ports.starting:      # not behind a wrapper that waits for its start
            svc.sending.counters = svc.receiving.counters = found
        return found

    def add(self, account: str, region: str, namespace: str, name: str, dimensions: tuple[tuple[str, str], ...],
            value: float = 1.0, unit: str = "Count") -> None:
        found = self._find()
        if found is not None:
            found.add(account, region, namespace, name, dimensions, value, unit)

    def count(self, series: Series, value: float = 1.0) -> None:
        found = self._find()
        if found is not None:
            found.count(series, value)


class SqsService(Service):
    name = "sqs"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.repo = SqsRepo(self.store)
        # a shared store: another server's send may go unheard (a wait that began during it), so a
        # parked queue is looked at every PG_POLL_BACKSTOP_S by one of its polls
        self.waiters = Waiters(PG_POLL_BACKSTOP_S if self.store.shared else None)
        self.directory = QueueDirectory(self.store, self.repo, self.waiters, platform.config.default_region)
        self.queues = Queues(self.repo, self.directory, self.clock, self.waiters)
        self.sealer = Sealer(platform.ports, self.clock, self.repo)
        self.sending = Sending(self.store, self.repo, self.directory, self.clock, self.waiters, self.sealer)
        self.receiving = Receiving(self.store, self.repo, self.directory, self.clock, self.waiters, self.sealer)
        self.moves = MoveTasks(self.repo, self.directory, self.clock, self.waiters, platform.leases)
        self.sweeper = Sweeper(self.repo, self.clock)
        platform.ports.provide(SQS, SqsPortImpl(self.directory, self.sending, self.receiving, self.sealer))

    # == lifecycle =============================================================================
    async def start(self) -> None:
        self.sending.counters = self.receiving.counters = _CountersOnFirstUse(self)
        self.directory.listen()
        self.sweeper.start()
        await self.moves.resume()

    async def stop(self) -> None:
        self.waiters.close()
        await self.sweeper.stop()
        await self.moves.stop()

    async def on_reset(self) -> None:
        self.directory.forget_all()
        self.sealer.forget()
        await self.moves.stop()
        await self.moves.resume()
        self.waiters.deleted.clear()
        self.waiters.wake_all()

    async def sweep(self) -> None:
        """Delete expired messages (retention) and old deduplication / receive-attempt records."""
        await self.sweeper.sweep()

    def operation_impl(self, name: str) -> Any:
        """The coroutine function that serves operation ``name`` (its Python name) for the gateway's
        dispatch: the part's own method for the message operations, else this service's."""
        part = _HOT_PARTS.get(name)
        return getattr(getattr(self, part), name) if part is not None else getattr(self, name, None)

    # == queues ================================================================================
    async def create_queue(self, ctx: RequestContext, params: Params) -> Result:
        return await self.queues.create_queue(ctx, params)

    async def delete_queue(self, ctx: RequestContext, params: Params) -> Result:
        return await self.queues.delete_queue(ctx, params)

    async def get_queue_url(self, ctx: RequestContext, params: Params) -> Result:
        return await self.queues.get_queue_url(ctx, params)

    async def list_queues(self, ctx: RequestContext, params: Params) -> Result:
        return await self.queues.list_queues(ctx, params)

    async def get_queue_attributes(self, ctx: RequestContext, params: Params) -> Result:
        return await self.queues.get_queue_attributes(ctx, params)

    async def set_queue_attributes(self, ctx: RequestContext, params: Params) -> Result:
        return await self.queues.set_queue_attributes(ctx, params)

    async def purge_queue(self, ctx: RequestContext, params: Params) -> Result:
        return await self.queues.purge_queue(ctx, params)

    async def tag_queue(self, ctx: RequestContext, params: Params) -> Result:
        return await self.queues.tag_queue(ctx, params)

    async def untag_queue(self, ctx: RequestContext, params: Params) -> Result:
        return await self.queues.untag_queue(ctx, params)

    async def list_queue_tags(self, ctx: RequestContext, params: Params) -> Result:
        return await self.queues.list_queue_tags(ctx, params)

    async def add_permission(self, ctx: RequestContext, params: Params) -> Result:
        return await self.queues.add_permission(ctx, params)

    async def remove_permission(self, ctx: RequestContext, params: Params) -> Result:
        return await self.queues.remove_permission(ctx, params)

    async def list_dead_letter_source_queues(self, ctx: RequestContext, params: Params) -> Result:
        return await self.queues.list_dead_letter_source_queues(ctx, params)

    # == sending ===============================================================================
    async def send_message(self, ctx: RequestContext, params: Params) -> Result:
        return await self.sending.send_message(ctx, params)

    async def send_message_batch(self, ctx: RequestContext, params: Params) -> Result:
        return await self.sending.send_message_batch(ctx, params)

    # == receiving and after ===================================================================
    async def receive_message(self, ctx: RequestContext, params: Params) -> Result:
        return await self.receiving.receive_message(ctx, params)

    async def delete_message(self, ctx: RequestContext, params: Params) -> Result:
        return await self.receiving.delete_message(ctx, params)

    async def delete_message_batch(self, ctx: RequestContext, params: Params) -> Result:
        return await self.receiving.delete_message_batch(ctx, params)

    async def change_message_visibility(self, ctx: RequestContext, params: Params) -> Result:
        return await self.receiving.change_message_visibility(ctx, params)

    async def change_message_visibility_batch(self, ctx: RequestContext, params: Params) -> Result:
        return await self.receiving.change_message_visibility_batch(ctx, params)

    # == message move tasks ====================================================================
    async def start_message_move_task(self, ctx: RequestContext, params: Params) -> Result:
        return await self.moves.start_task(ctx, params)

    async def list_message_move_tasks(self, ctx: RequestContext, params: Params) -> Result:
        return await self.moves.list_tasks(ctx, params)

    async def cancel_message_move_task(self, ctx: RequestContext, params: Params) -> Result:
        return await self.moves.cancel_task(ctx, params)


__all__ = ["SqsService"]

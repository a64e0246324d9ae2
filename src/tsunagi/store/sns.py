"""The SNS repository: the statements SNS runs (``queries/*/sns.sql``), rows as named tuples.

Topics and subscriptions are small tables read on every publish (the service caches them and
invalidates the cache through :data:`META_CHANNEL`, which every change here notifies). A publish
writes, in its own transaction: the FIFO deduplication record and sequence number (here), the SQS
messages (through SQS's port), the outbox rows for every other protocol, and the delivery records
(the platform's table, ``store/deliveries.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from tsunagi.store import queries
from tsunagi.store.base import Store, Tx

META_CHANNEL = "sns-meta"     # payload: a topic ARN whose topic or subscriptions changed ("*": all)


class TopicRow(NamedTuple):
    id: int
    account: str
    region: str
    name: str
    arn: str
    fifo: int                   # 1 for a FIFO topic
    attributes: str             # JSON: the settable attributes as AWS returns them
    tags: str                   # JSON: {key: value}
    created_at: int


class NewTopic(NamedTuple):
    account: str
    region: str
    name: str
    arn: str
    fifo: bool
    attributes: str
    tags: str
    created_at: int


class SubscriptionRow(NamedTuple):
    arn: str
    topic_arn: str
    account: str                # the subscription's owner
    region: str
    protocol: str
    endpoint: str
    attributes: str             # JSON: FilterPolicy, RawMessageDelivery, RedrivePolicy, …
    pending: int                # 1 until confirmed
    token: str | None           # the confirmation token while pending
    created_at: int


class NewSubscription(NamedTuple):
    arn: str
    topic_arn: str
    account: str
    region: str
    protocol: str
    endpoint: str
    attributes: str
    pending: bool
    token: str | None
    created_at: int


class SubscriptionCounts(NamedTuple):
    confirmed: int
    pending: int


class Dedup(NamedTuple):
    """The message a FIFO deduplication id already stands for."""

    message_id: str
    seq: str


class SigningKeyRow(NamedTuple):
    id: str
    private_pem: str
    cert_pem: str


class MailRow(NamedTuple):
    id: int
    account: str
    region: str
    kind: str                   # email | email-json | sms | push
    recipient: str
    sender: str
    subject: str
    body: str
    topic_arn: str | None
    subscription_arn: str | None
    message_id: str | None
    subscribe_url: str | None   # set on subscription confirmations
    created_at: int


class NewMailRow(NamedTuple):
    account: str
    region: str
    kind: str
    recipient: str
    sender: str
    subject: str
    body: str
    topic_arn: str | None
    subscription_arn: str | None
    message_id: str | None
    subscribe_url: str | None
    created_at: int


class SnsRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.q = queries.load("sns", store.dialect)

    # == topics ================================================================================
    async def create_topic(self, row: NewTopic) -> bool:
        """Insert a topic; False if one with that name exists already."""
        async with self.store.transaction() as tx:
            n = await tx.execute(self.q.create_topic, (row.account, row.region, row.name, row.arn, int(row.fifo),
                                                       row.attributes, row.tags, row.created_at))
            if n:
                tx.notify(META_CHANNEL, row.arn)
            return n > 0

    async def topic(self, arn: str) -> TopicRow | None:
        row = await self.store.fetchone(self.q.topic, (arn,))
        return TopicRow._make(row) if row is not None else None

    async def list_topics(self, account: str, region: str, after: str, limit: int) -> list[str]:
        """Topic ARNs after ``after``, in order."""
        return [str(r[0]) for r in await self.store.fetchall(self.q.list_topics, (account, region, after, limit))]

    async def update_topic(self, arn: str, attributes: str | None = None, tags: str | None = None) -> int:
        n = 0
        async with self.store.transaction() as tx:
            if attributes is not None:
                n = await tx.execute(self.q.set_topic_attributes, (attributes, arn))
            if tags is not None:
                n = await tx.execute(self.q.set_topic_tags, (tags, arn))
            tx.notify(META_CHANNEL, arn)
            return n

    async def delete_topic(self, arn: str) -> None:
        """A topic, its subscriptions and its deduplication records."""
        async with self.store.transaction() as tx:
            await tx.execute(self.q.delete_topic_subscriptions, (arn,))
            await tx.execute(self.q.delete_topic, (arn,))
            await tx.execute(self.q.delete_topic_dedup, (arn,))
            tx.notify(META_CHANNEL, arn)

    async def next_seq(self, tx: Tx, arn: str, n: int = 1) -> int:
        """Reserve ``n`` FIFO sequence numbers of a topic inside ``tx``; returns the last one."""
        row = await tx.fetchone(self.q.next_seq, (n, arn))
        return int(row[0]) if row else 0

    # == subscriptions =========================================================================
    async def add_subscription(self, sub: NewSubscription) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.add_subscription, (sub.arn, sub.topic_arn, sub.account, sub.region, sub.protocol,
                                                       sub.endpoint, sub.attributes, int(sub.pending), sub.token,
                                                       sub.created_at))
            tx.notify(META_CHANNEL, sub.topic_arn)

    async def subscription(self, arn: str) -> SubscriptionRow | None:
        row = await self.store.fetchone(self.q.subscription, (arn,))
        return SubscriptionRow._make(row) if row is not None else None

    async def subscription_exists(self, arn: str) -> bool:
        return await self.store.fetchone(self.q.subscription_exists, (arn,)) is not None

    async def find_subscription(self, topic_arn: str, protocol: str, endpoint: str) -> SubscriptionRow | None:
        row = await self.store.fetchone(self.q.find_subscription, (topic_arn, protocol, endpoint))
        return SubscriptionRow._make(row) if row is not None else None

    async def subscriptions_of(self, topic_arn: str) -> list[SubscriptionRow]:
        return [SubscriptionRow._make(r) for r in await self.store.fetchall(self.q.subscriptions_of, (topic_arn,))]

    async def list_subscriptions(self, account: str, region: str, after: str, limit: int) -> list[SubscriptionRow]:
        rows = await self.store.fetchall(self.q.list_subscriptions, (account, region, after, limit))
        return [SubscriptionRow._make(r) for r in rows]

    async def list_by_topic(self, topic_arn: str, after: str, limit: int) -> list[SubscriptionRow]:
        return [SubscriptionRow._make(r) for r in await self.store.fetchall(self.q.list_by_topic,
                                                                             (topic_arn, after, limit))]

    async def count_subscriptions(self, topic_arn: str) -> SubscriptionCounts:
        row = await self.store.fetchone(self.q.count_subscriptions, (topic_arn,))
        return SubscriptionCounts(int(row[0]), int(row[1])) if row else SubscriptionCounts(0, 0)

    async def update_subscription(self, arn: str, topic_arn: str, attributes: str) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.set_subscription_attributes, (attributes, arn))
            tx.notify(META_CHANNEL, topic_arn)

    async def confirm(self, arn: str, topic_arn: str, attributes: str) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(self.q.confirm_subscription, (attributes, arn))
            tx.notify(META_CHANNEL, topic_arn)

    async def pending_by_token(self, topic_arn: str, token: str) -> SubscriptionRow | None:
        row = await self.store.fetchone(self.q.pending_by_token, (topic_arn, token))
        return SubscriptionRow._make(row) if row is not None else None

    async def delete_subscription(self, arn: str, topic_arn: str) -> int:
        async with self.store.transaction() as tx:
            n = await tx.execute(self.q.delete_subscription, (arn,))
            tx.notify(META_CHANNEL, topic_arn)
            return n

    # == FIFO deduplication ======================================================================
    async def claim_dedup(self, tx: Tx, topic_arn: str, dedup_id: str, message_id: str, seq: str, now_ms: int,
                          window_ms: int) -> Dedup | None:
        """Reserve a deduplication id in ``tx``; returns the message it stands for if it is taken."""
        n = await tx.execute(self.q.claim_dedup, (topic_arn, dedup_id, message_id, seq, now_ms, now_ms - window_ms))
        if n:
            return None
        row = await tx.fetchone(self.q.dedup, (topic_arn, dedup_id))
        return Dedup(str(row[0]), str(row[1])) if row else None

    # == the signing key ========================================================================
    async def signing_key(self) -> SigningKeyRow | None:
        row = await self.store.fetchone(self.q.signing_key)
        return SigningKeyRow._make(row) if row is not None else None

    async def add_signing_key(self, key: SigningKeyRow, now_ms: int) -> None:
        """Keep the first key written (another node may have won the race: read it back)."""
        await self.store.execute(self.q.add_signing_key, (key.id, key.private_pem, key.cert_pem, now_ms))

    async def certificate(self, key_id: str) -> str | None:
        row = await self.store.fetchone(self.q.certificate, (key_id,))
        return str(row[0]) if row else None

    # == the local mailbox ========================================================================
    async def add_mail(self, tx: Tx | Store, rows: Iterable[NewMailRow]) -> None:
        await tx.executemany(self.q.add_mail, list(rows))

    async def mail(self, recipient: str | None, after_id: int, limit: int, kind: str | None = None) -> list[MailRow]:
        """The mailbox after ``after_id``: to ``recipient`` only, of ``kind`` only, when given."""
        if recipient and kind:
            rows = await self.store.fetchall(self.q.mail_to_kind, (recipient, kind, after_id, limit))
        elif recipient:
            rows = await self.store.fetchall(self.q.mail_to, (recipient, after_id, limit))
        elif kind:
            rows = await self.store.fetchall(self.q.mail_kind, (kind, after_id, limit))
        else:
            rows = await self.store.fetchall(self.q.mail, (after_id, limit))
        return [MailRow._make(r) for r in rows]

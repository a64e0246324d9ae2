"""What the rest of tsunagi may ask of SNS (implemented by ``services/sns/port.py``).

Callers: the outbox's ``sns`` deliveries (S3 event notifications, function destinations:
``publish``), checks that a topic exists (``topic``), and the gateway's ``/_tsunagi/sns/`` routes
(signing certificates, the local mailbox, delivery records).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple, Protocol

from tsunagi.context import RequestContext
from tsunagi.ports import PortKey
from tsunagi.ports.sqs import MessageAttributeValue
from tsunagi.store.deliveries import Delivery


class TopicRef(Protocol):
    @property
    def arn(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def fifo(self) -> bool: ...
    @property
    def attributes(self) -> Mapping[str, str]:
        """The topic's stored attributes (Policy, KmsMasterKeyId, DeliveryPolicy, …)."""
        ...


class MailMessage(NamedTuple):
    """One message in the local mailbox (e-mail and SMS deliveries, subscription confirmations)."""

    id: int
    account: str
    region: str
    kind: str                   # email | email-json | sms
    recipient: str
    sender: str
    subject: str
    body: str
    topic_arn: str | None
    subscription_arn: str | None
    message_id: str | None
    subscribe_url: str | None
    created_at: int             # ms since the epoch


class SnsPort(Protocol):
    async def topic(self, arn: str) -> TopicRef | None:
        """The topic an ARN names, or None."""
        ...

    async def publish(self, ctx: RequestContext, topic_arn: str, message: str, *, subject: str | None = None,
                      attributes: Mapping[str, MessageAttributeValue] | None = None, group_id: str | None = None,
                      dedup_id: str | None = None) -> str:
        """Publish as ``ctx``'s principal, in ``ctx``'s journey (validation, errors and the topic's policy
        as for Publish); returns the message id."""
        ...

    async def certificate(self, key_id: str) -> str | None:
        """The PEM certificate whose key signs notifications (the SigningCertURL's target)."""
        ...

    async def mailbox(self, recipient: str | None, after_id: int, limit: int) -> list[MailMessage]:
        ...

    async def deliveries(self, *, message_id: str | None = None, topic_arn: str | None = None,
                         limit: int = 1000) -> list[Delivery]:
        """Delivery records of a message or a topic (what happened for each subscription, and why)."""
        ...


SNS: PortKey[SnsPort] = PortKey("sns")

"""What the rest of tsunagi may ask of SNS (implemented by ``services/sns/port.py``).

Callers: the outbox's ``sns`` deliveries (S3 event notifications, function destinations:
``publish``), checks that a topic exists (``topic``), the gateway's ``/_tsunagi/sns/`` routes
(signing certificates, the local mailbox, delivery records), and SNS's own outbox handlers
(``pipes/sns_delivery.py``: whether a subscription still exists, the local mailbox).

Also here, the values SNS's service and its outbox handlers both use: the retry schedule of a
delivery policy (:class:`RetryPolicy`) and the SenderId of what SNS puts in a queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from tsunagi.context import RequestContext
from tsunagi.ports import PortKey
from tsunagi.ports.resources import ResourcePolicy
from tsunagi.ports.sqs import MessageAttributeValue
from tsunagi.store.deliveries import Delivery

SNS_SENDER_ID = "AIDAIT2UOQQY3AUEKVGXU"     # the SenderId SQS shows for messages SNS delivered

# An outbox row of a topic with a KMS key (``KmsMasterKeyId``) keeps only these members in the clear
# (what the outbox, retries and delivery records need); the rest (the body, the endpoint, the headers,
# ...) is sealed in ``SEALED`` and opened by :meth:`SnsPort.open_delivery` when the row runs.
SEALED = "sealed"
CLEAR_MEMBERS = ("message_id", "source_arn", "pipe", "protocol", "attempt", "dlq", "kind")


def sealed_form(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of a row's payload: an opened sealed payload back to its clear members and the
    sealed blob (a retry stores that, never the opened members); any other payload as it is."""
    if SEALED not in payload:
        return dict(payload)
    return {k: payload[k] for k in (*CLEAR_MEMBERS, SEALED) if k in payload}

# AWS's default healthyRetryPolicy (http/https subscriptions), in the DeliveryPolicy's JSON form.
DEFAULT_RETRY: dict[str, Any] = {"minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3,
                                 "numMaxDelayRetries": 0, "numNoDelayRetries": 0, "numMinDelayRetries": 0,
                                 "backoffFunction": "linear"}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A delivery policy's retry schedule: when each retry of a failed delivery is due."""

    min_delay: int = 20
    max_delay: int = 20
    num_retries: int = 3
    num_no_delay: int = 0
    num_min_delay: int = 0
    num_max_delay: int = 0
    backoff: str = "linear"

    @classmethod
    def from_json(cls, doc: Mapping[str, Any] | None) -> RetryPolicy:
        """From a ``healthyRetryPolicy`` document (missing members take AWS's defaults)."""
        d = {**DEFAULT_RETRY, **(doc or {})}
        return cls(int(d["minDelayTarget"]), int(d["maxDelayTarget"]), int(d["numRetries"]),
                   int(d["numNoDelayRetries"]), int(d["numMinDelayRetries"]), int(d["numMaxDelayRetries"]),
                   str(d["backoffFunction"]))

    def delay(self, retry: int) -> float | None:
        """Seconds to wait before retry number ``retry`` (1-based); None when retries are used up.

        AWS's four phases: immediate retries, retries at minDelayTarget, the backoff phase from
        minDelayTarget to maxDelayTarget along backoffFunction, then retries at maxDelayTarget.
        """
        if retry > self.num_retries:
            return None
        if retry <= self.num_no_delay:
            return 0.0
        k = retry - self.num_no_delay
        if k <= self.num_min_delay:
            return float(self.min_delay)
        k -= self.num_min_delay
        backoff_n = max(0, self.num_retries - self.num_no_delay - self.num_min_delay - self.num_max_delay)
        if k > backoff_n:
            return float(self.max_delay)
        if backoff_n <= 1:
            return float(self.max_delay if backoff_n == 1 and k == 1 and self.max_delay else self.min_delay)
        frac = (k - 1) / (backoff_n - 1)
        span = self.max_delay - self.min_delay
        if self.backoff == "linear":
            shape = frac
        elif self.backoff == "arithmetic":
            shape = frac * frac
        elif self.backoff == "geometric":
            shape = frac ** 3
        else:  # exponential
            shape = (2 ** (frac * 6) - 1) / 63
        return float(self.min_delay + span * shape)


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


class NewMail(NamedTuple):
    """A message for the local mailbox (e-mail and SMS deliveries, subscription confirmations)."""

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
    created_at: int             # ms since the epoch


class MailMessage(NamedTuple):
    """One message in the local mailbox (e-mail and SMS deliveries, subscription confirmations)."""

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

    async def open_delivery(self, target: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """An outbox row's payload with its sealed members opened (a payload that is not sealed, as it
        is). SNS's ``KMS*`` error when KMS will not decrypt the data key (a disabled key, one pending
        deletion, a key that no longer exists)."""
        ...

    async def subscribed(self, subscription_arn: str) -> bool:
        """Whether the subscription still exists (a delivery to one deleted since is skipped)."""
        ...

    async def certificate(self, key_id: str) -> str | None:
        """The PEM certificate whose key signs notifications (the SigningCertURL's target)."""
        ...

    async def add_mail(self, mail: NewMail) -> None:
        """Put a message in the local mailbox (what ``tsunagi mail`` reads when no SMTP server is set)."""
        ...

    async def mailbox(self, recipient: str | None, after_id: int, limit: int,
                      kind: str | None = None) -> list[MailMessage]:
        """The local mailbox after message ``after_id``, oldest first (``recipient``'s messages only, and
        those of ``kind`` only: ``email``, ``email-json``, ``sms`` or ``push``, if given)."""
        ...

    async def sms_reply(self, account: str, region: str, phone: str, text: str) -> bool:
        """A text from ``phone`` to the account (what a phone's reply would be): an opt-out keyword
        (``STOP``...) opts the number out. Whether it did."""
        ...

    async def deliveries(self, *, message_id: str | None = None, topic_arn: str | None = None,
                         limit: int = 1000) -> list[Delivery]:
        """Delivery records of a message (in the order written), or of a topic (the most recent first),
        or SNS's most recent: what happened for each subscription, and why."""
        ...

    async def resource_policy(self, ctx: RequestContext, arn: str) -> ResourcePolicy | None:
        """The topic ``arn`` names, its owner and its policy (the gateway's authorize step), or None."""
        ...


SNS: PortKey[SnsPort] = PortKey("sns")

"""Topics and subscriptions as the operations find them: ARN checks, lookups with AWS's errors, and
the per-topic cache the publish path reads.

A publish needs its topic and the topic's subscriptions: they are cached per topic ARN and dropped
when a change is notified on :data:`~tsunagi.store.sns.META_CHANNEL` (every change to a topic or
its subscriptions sends one). When other servers share the store (PostgreSQL), a notification
from another node may come late or be lost with a reconnect, so entries also expire after
:data:`CACHE_TTL_SHARED_S`. Operations that show or change a topic read it fresh.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any, NamedTuple

from tsunagi.services.sns.attributes import Subscription, Topic
from tsunagi.services.sns.errors import invalid, subscription_not_found, topic_not_found
from tsunagi.store.sns import META_CHANNEL, SnsRepo

CACHE_TTL_SHARED_S = 5.0
CACHE_MAX = 10_000            # topics cached at most (the cache starts over beyond)
PAGE = 100                    # List* page size

TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_.-]{1,256})$")
SUB_ARN = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_.-]{1,256}):[0-9a-f-]{36}$")


class TopicEntry(NamedTuple):
    """A cached topic (None: there is none by that ARN) and its subscriptions, pending ones included."""

    loaded_at: float              # time.monotonic()
    topic: Topic | None
    subscriptions: list[Subscription]


def arn_problem(param: str, arn: Any) -> str:
    """AWS's words for a malformed ARN in ``param``: the reason when it has too few parts."""
    parts = len(arn.split(":")) if isinstance(arn, str) else 0
    if isinstance(arn, str) and parts < 6:
        return f"{param} Reason: An ARN must have at least 6 elements, not {parts}"
    return param


def check_topic_arn(arn: Any, param: str = "TopicArn") -> str:
    """``arn`` if it is a well-formed topic ARN, else AWS's InvalidParameter for ``param``."""
    if not isinstance(arn, str) or TOPIC_ARN.match(arn) is None:
        raise invalid(arn_problem(param, arn))
    return arn


def check_subscription_arn(arn: Any) -> str:
    if not isinstance(arn, str) or not SUB_ARN.match(arn):
        raise invalid(arn_problem("SubscriptionArn", arn))
    return arn


def page_token(after: str) -> str:
    """The NextToken of a page that ends at ``after``."""
    return base64.urlsafe_b64encode(after.encode()).decode()


def page_after(token: Any) -> str:
    """Where the page a NextToken asks for starts ("" for the first page)."""
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(str(token).encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise invalid("NextToken") from None


class Catalog:
    def __init__(self, repo: SnsRepo) -> None:
        self.repo = repo
        self.store = repo.store
        self._entries: dict[str, TopicEntry] = {}
        self._listening = False

    def listen(self) -> None:
        """Follow changes (this node's and, on a shared store, the others')."""
        if not self._listening:
            self.store.listen(META_CHANNEL, self._on_change)
            self.store.listen("*", self._on_change)          # a reconnected listener: anything may have changed
            self._listening = True

    def _on_change(self, payload: str) -> None:
        if payload in ("", "*"):
            self._entries.clear()
        else:
            self._entries.pop(payload, None)

    def forget(self, topic_arn: str) -> None:
        """Drop a topic's entry (this node changed it; the notification follows on commit)."""
        self._entries.pop(topic_arn, None)

    def clear(self) -> None:
        self._entries.clear()

    # -- cached: the publish path ----------------------------------------------------------------
    async def entry(self, arn: str) -> TopicEntry:
        now = time.monotonic()      # (not the loop's time: asking for the loop is a getpid system call in 3.11)
        hit = self._entries.get(arn)
        if hit is not None and (not self.store.shared or now - hit.loaded_at < CACHE_TTL_SHARED_S):
            return hit
        row = await self.repo.topic(arn)
        topic = Topic.from_row(row) if row is not None else None
        subs = [Subscription.from_row(r) for r in await self.repo.subscriptions_of(arn)] if topic else []
        if len(self._entries) > CACHE_MAX:
            self._entries.clear()
        entry = self._entries[arn] = TopicEntry(now, topic, subs)
        return entry

    async def find_topic(self, arn: str) -> Topic | None:
        """The topic ``arn`` names (cached), or None."""
        return (await self.entry(arn)).topic

    async def topic(self, arn: Any, param: str = "TopicArn") -> tuple[Topic, list[Subscription]]:
        """The topic ``arn`` names and its subscriptions (cached), or AWS's error."""
        hit = self._entries.get(arn) if isinstance(arn, str) else None
        if hit is None or hit.topic is None:        # (a topic's own ARN needs no checking)
            check_topic_arn(arn, param)
        entry = await self.entry(arn)
        if entry.topic is None:
            raise topic_not_found()
        return entry.topic, entry.subscriptions

    # -- fresh: operations that show or change -----------------------------------------------------
    async def fresh_topic(self, arn: Any, param: str = "TopicArn") -> Topic:
        check_topic_arn(arn, param)
        row = await self.repo.topic(arn)
        if row is None:
            raise topic_not_found()
        return Topic.from_row(row)

    async def subscription(self, arn: Any) -> Subscription:
        check_subscription_arn(arn)
        row = await self.repo.subscription(arn)
        if row is None:
            raise subscription_not_found()
        return Subscription.from_row(row)

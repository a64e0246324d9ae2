"""Subscriptions: Subscribe (endpoint checks per protocol, the confirmation http/https and e-mail
endpoints must answer), ConfirmSubscription, Unsubscribe, the List operations and the attributes."""

from __future__ import annotations

import re
import secrets
from typing import Any

import orjson

from tsunagi.context import RequestContext
from tsunagi.ids import uuid4
from tsunagi.ports.outbox import OutboxItem
from tsunagi.ports.sns import DEFAULT_RETRY
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.base import Platform
from tsunagi.services.sns import attributes as tattrs
from tsunagi.services.sns.attributes import Subscription, Topic
from tsunagi.services.sns.catalog import (
    PAGE,
    Catalog,
    check_subscription_arn,
    check_topic_arn,
    page_after,
    page_token,
)
from tsunagi.services.sns.envelope import base_url, confirmation, confirmation_email, sns_json
from tsunagi.services.sns.errors import AuthorizationError, NotFound, invalid, topic_not_found
from tsunagi.services.sns.keys import SigningKeys
from tsunagi.store.sns import NewSubscription, SnsRepo, SubscriptionRow
from tsunagi.store.sns_mobile import MobileRepo

PROTOCOLS = ("http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose")
PENDING_PROTOCOLS = frozenset({"http", "https", "email", "email-json"})

_LAMBDA_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,140}(:[A-Za-z0-9$_-]+)?$")
_FIREHOSE_ARN = re.compile(r"^arn:aws[a-z-]*:firehose:[a-z0-9-]+:\d{12}:deliverystream/.+$")
_APP_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:endpoint/.+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9]{5,15}$")


def check_endpoint(topic: Topic, protocol: str, endpoint: str) -> None:
    """AWS's error when ``endpoint`` is not one ``protocol`` can deliver to from ``topic``."""
    if topic.fifo and protocol not in ("sqs", "lambda", "firehose"):
        raise invalid(f"Invalid protocol type: {protocol}")
    if protocol in ("http", "https"):
        if not endpoint.lower().startswith(f"{protocol}://") or len(endpoint) <= len(protocol) + 3:
            raise invalid("Endpoint must match the specified protocol")
    elif protocol == "sqs":
        if not tattrs.SQS_ARN.match(endpoint):
            raise invalid("SQS endpoint ARN")
        queue_fifo = endpoint.endswith(".fifo")   # (a FIFO topic may deliver to a standard queue too)
        if queue_fifo and not topic.fifo:
            raise invalid("Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to "
                          "standard SNS topics")
    elif protocol == "lambda":
        if not _LAMBDA_ARN.match(endpoint):
            raise invalid("Lambda endpoint ARN")
    elif protocol in ("email", "email-json"):
        if not _EMAIL.match(endpoint):
            raise invalid("Email address")
    elif protocol == "sms":
        if not _PHONE.match(endpoint.replace("-", "").replace(" ", "")):
            raise invalid("Invalid SMS endpoint")
    elif protocol == "application":
        if not _APP_ARN.match(endpoint):
            raise invalid("Endpoint ARN")
    elif protocol == "firehose" and not _FIREHOSE_ARN.match(endpoint):
        raise invalid("Firehose endpoint ARN")


def listed(sub: Subscription) -> dict[str, Any]:
    """A subscription as ListSubscriptions and ListSubscriptionsByTopic show it."""
    return {"SubscriptionArn": "PendingConfirmation" if sub.pending else sub.arn, "Owner": sub.account,
            "Protocol": sub.protocol, "Endpoint": sub.endpoint, "TopicArn": sub.topic_arn}


def _page(rows: list[SubscriptionRow]) -> dict[str, Any]:
    out: dict[str, Any] = {"Subscriptions": [listed(Subscription.from_row(r)) for r in rows[:PAGE]]}
    if len(rows) > PAGE:
        out["NextToken"] = page_token(rows[PAGE - 1].arn)
    return out


class Subscriptions:
    def __init__(self, platform: Platform, repo: SnsRepo, catalog: Catalog, keys: SigningKeys) -> None:
        self.platform = platform
        self.store = platform.store
        self.clock = platform.clock
        self.repo = repo
        self.catalog = catalog
        self.keys = keys
        self.endpoints = MobileRepo(platform.store)

    async def subscribe(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self.catalog.fresh_topic(params.get("TopicArn"))
        protocol = str(params.get("Protocol") or "").lower()
        if protocol not in PROTOCOLS:
            raise invalid(f"Amazon SNS does not support this protocol string: {params.get('Protocol')}")
        endpoint = params.get("Endpoint") or ""
        check_endpoint(topic, protocol, endpoint)
        if protocol == "application" and await self.endpoints.endpoint(endpoint) is None:
            raise NotFound("Endpoint does not exist")
        stored: dict[str, str] = {}
        for key, value in (params.get("Attributes") or {}).items():
            stored[key] = tattrs.check_subscription_attribute(key, value, protocol)
        if stored.get("FilterPolicy"):
            stored.setdefault("FilterPolicyScope", "MessageAttributes")
            try:
                tattrs.compile_filter(stored["FilterPolicy"], stored["FilterPolicyScope"])
            except ServiceError as e:      # Subscribe names the parameter the policy came in: Attributes
                raise invalid("Attributes Reason: " + e.message.removeprefix("Invalid parameter: ")) from None
        existing = await self.repo.find_subscription(topic.arn, protocol, endpoint)
        if existing is not None:
            sub = Subscription.from_row(existing)
            if any(sub.attributes.get(k, "") != v for k, v in stored.items()):
                raise invalid("Attributes Reason: Subscription already exists with different attributes")
            if sub.pending and not params.get("ReturnSubscriptionArn"):
                return {"SubscriptionArn": "pending confirmation"}
            return {"SubscriptionArn": sub.arn}
        arn = f"{topic.arn}:{uuid4()}"
        pending = protocol in PENDING_PROTOCOLS
        token = secrets.token_hex(64) if pending else None
        await self.repo.add_subscription(NewSubscription(arn, topic.arn, ctx.account, ctx.region, protocol, endpoint,
                                                         orjson.dumps(stored).decode(), pending, token,
                                                         self.clock.now_ms()))
        self.catalog.forget(topic.arn)
        if pending:
            assert token is not None
            await self._send_confirmation(ctx, topic, arn, protocol, endpoint, token)
            if not params.get("ReturnSubscriptionArn"):
                return {"SubscriptionArn": "pending confirmation"}
        return {"SubscriptionArn": arn}

    async def _send_confirmation(self, ctx: RequestContext, topic: Topic, sub_arn: str, protocol: str,
                                 endpoint: str, token: str) -> None:
        """The SubscriptionConfirmation an http/https or e-mail endpoint gets, through the outbox."""
        signer = await self.keys.signer_now()
        doc = confirmation("SubscriptionConfirmation", uuid4(), topic.arn, token, base_url(ctx, self.platform.config),
                           signer, topic.signature_version, self.clock.now_ms())
        if protocol in ("http", "https"):
            headers = {"x-amz-sns-message-type": "SubscriptionConfirmation", "x-amz-sns-message-id": doc["MessageId"],
                       "x-amz-sns-topic-arn": topic.arn, "Content-Type": "text/plain; charset=UTF-8"}
            item = OutboxItem("sns-http", sub_arn, {
                "url": endpoint, "body": sns_json(doc), "headers": headers, "message_id": doc["MessageId"],
                "source_arn": topic.arn, "protocol": protocol, "attempt": 1, "retry": DEFAULT_RETRY}, ctx.trace_id)
        else:
            subject, body = confirmation_email(protocol, doc, topic.attributes.get("DisplayName", ""))
            display = topic.attributes.get("DisplayName") or "AWS Notifications"
            item = OutboxItem("sns-mail", sub_arn, {
                "kind": protocol, "to": endpoint, "from": f"{display} <no-reply@sns.amazonaws.com>",
                "subject": subject, "body": body, "message_id": doc["MessageId"], "source_arn": topic.arn,
                "protocol": protocol, "account": ctx.account, "region": ctx.region, "attempt": 1,
                "subscribe_url": doc["SubscribeURL"]}, ctx.trace_id)
        async with self.store.transaction() as tx:
            await self.platform.outbox.add(tx, [item])

    async def confirm_subscription(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic_arn = check_topic_arn(str(params.get("TopicArn") or ""))
        token = params.get("Token") or ""
        row = await self.repo.pending_by_token(topic_arn, token) if token else None
        if row is None:
            if await self.repo.topic(topic_arn) is None:
                raise topic_not_found()
            raise invalid("Token")
        sub = Subscription.from_row(row)
        if sub.pending:
            attrs = dict(sub.attributes)
            auth = str(params.get("AuthenticateOnUnsubscribe") or "false").lower() == "true"
            attrs["ConfirmationWasAuthenticated"] = "true" if auth else "false"
            await self.repo.confirm(sub.arn, sub.topic_arn, orjson.dumps(attrs).decode())
            self.catalog.forget(sub.topic_arn)
        return {"SubscriptionArn": sub.arn}

    async def unsubscribe(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = check_subscription_arn(params.get("SubscriptionArn"))
        row = await self.repo.subscription(arn)
        if row is not None:
            sub = Subscription.from_row(row)
            if sub.attributes.get("ConfirmationWasAuthenticated") == "true" and ctx.account != sub.account:
                raise AuthorizationError("User is not authorized to unsubscribe from this subscription")
            await self.repo.delete_subscription(arn, sub.topic_arn)
            self.catalog.forget(sub.topic_arn)
        return {}

    async def list_subscriptions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        after = page_after(params.get("NextToken"))
        return _page(await self.repo.list_subscriptions(ctx.account, ctx.region, after, PAGE + 1))

    async def list_subscriptions_by_topic(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self.catalog.fresh_topic(params.get("TopicArn"))
        after = page_after(params.get("NextToken"))
        return _page(await self.repo.list_by_topic(topic.arn, after, PAGE + 1))

    async def get_subscription_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        sub = await self.catalog.subscription(params.get("SubscriptionArn"))
        attrs: dict[str, str] = {
            "ConfirmationWasAuthenticated": sub.attributes.get("ConfirmationWasAuthenticated",
                                                               "false" if sub.protocol in PENDING_PROTOCOLS
                                                               else "true"),
            "PendingConfirmation": "true" if sub.pending else "false",
            "Owner": sub.account,
            "RawMessageDelivery": sub.attributes.get("RawMessageDelivery", "false"),
            "TopicArn": sub.topic_arn,
            "Endpoint": sub.endpoint,
            "Protocol": sub.protocol,
            "SubscriptionArn": sub.arn,
            "SubscriptionPrincipal": f"arn:aws:iam::{sub.account}:root",
        }
        for key, value in sub.attributes.items():
            if key not in attrs and value != "":
                attrs[key] = value
        if sub.protocol in ("http", "https"):
            topic_row = await self.repo.topic(sub.topic_arn)
            topic_policy = Topic.from_row(topic_row).attributes.get("DeliveryPolicy") if topic_row else None
            attrs["EffectiveDeliveryPolicy"] = orjson.dumps(
                tattrs.effective_delivery_policy(topic_policy, sub.attributes.get("DeliveryPolicy"))).decode()
        return {"Attributes": attrs}

    async def set_subscription_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        sub = await self.catalog.subscription(params.get("SubscriptionArn"))
        name = params.get("AttributeName") or ""
        value = tattrs.check_subscription_attribute(name, params.get("AttributeValue"), sub.protocol)
        attrs = dict(sub.attributes)
        attrs[name] = value
        if name == "FilterPolicy":
            if value:
                attrs.setdefault("FilterPolicyScope", "MessageAttributes")
            else:
                attrs.pop("FilterPolicy", None)
                attrs.pop("FilterPolicyScope", None)
        if attrs.get("FilterPolicy"):
            tattrs.compile_filter(attrs["FilterPolicy"], attrs.get("FilterPolicyScope", "MessageAttributes"))
        await self.repo.update_subscription(sub.arn, sub.topic_arn, orjson.dumps(attrs).decode())
        self.catalog.forget(sub.topic_arn)
        return {}

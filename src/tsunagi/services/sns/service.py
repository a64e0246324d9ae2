"""SNS: topics, subscriptions and publishing with AWS's semantics, on the store.

Plain Python: params in (botocore's member names), dicts out, :mod:`.errors` raised. SQL lives in
:mod:`tsunagi.store.sns`; deliveries (one strategy per protocol) in :mod:`tsunagi.pipes.sns_delivery`.

A publish is one transaction: the FIFO deduplication record and sequence number, the message
inserted into every subscribed SQS queue (same store), an outbox row for every other
subscription, and the delivery records. Once Publish answers 200, every matching subscription
gets the message or its dead-letter queue does, across crashes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from tsunagi.filters.policy import attributes_view, body_view
from tsunagi.ids import uuid4, uuid7
from tsunagi.pipes.sns_delivery import Fanout, SnsPipe, Strategy
from tsunagi.ports.sns import SNS
from tsunagi.ports.sqs import SQS
from tsunagi.services.base import Platform, RequestContext, Service
from tsunagi.services.sns import attributes as tattrs
from tsunagi.services.sns.attributes import Subscription, Topic
from tsunagi.services.sns.envelope import Outgoing, confirmation, confirmation_email, sns_json
from tsunagi.services.sns.errors import (
    AuthorizationError,
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    InvalidParameterValue,
    NotFound,
    ResourceNotFound,
    ServiceError,
    TagLimitExceeded,
    TooManyEntriesInBatchRequest,
    invalid,
    subscription_not_found,
    topic_not_found,
)
from tsunagi.services.sns.port import SnsPortImpl
from tsunagi.services.sns.signing import Signer, generate
from tsunagi.store.sns import META_CHANNEL, Outcome, SnsRepo

log = logging.getLogger("tsunagi.sns")

MAX_MESSAGE_BYTES = 262_144
DEDUP_WINDOW_MS = 5 * 60 * 1000
SEQ_BASE = 10**19
PAGE = 100
RECORD_SWEEP_S = 300.0   # how often old delivery records are swept
CACHE_TTL_PG_S = 5.0
SIGNING_RESTART_S = 10.0  # a signing process that ended is started again after this long


PROTOCOLS = ("http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose")
PENDING_PROTOCOLS = frozenset({"http", "https", "email", "email-json"})

_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_.-]{1,256})$")
_SUB_ARN = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_.-]{1,256}):[0-9a-f-]{36}$")
_LAMBDA_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,140}(:[A-Za-z0-9$_-]+)?$")
_FIREHOSE_ARN = re.compile(r"^arn:aws[a-z-]*:firehose:[a-z0-9-]+:\d{12}:deliverystream/.+$")
_APP_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:endpoint/.+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9]{5,15}$")
_ATTR_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_GROUP = re.compile(r"^[!-~]{1,128}$")


@dataclass(slots=True)
class _Entry:
    """A validated message to publish."""

    message: str
    per_protocol: dict[str, str] | None
    subject: str | None
    attributes: dict[str, dict[str, Any]]
    group_id: str | None
    dedup_id: str | None
    id: str | None = None        # PublishBatch entry id


class SnsService(Service):
    name = "sns"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.repo = SnsRepo(self.store)
        self.pg = self.store.dialect == "postgresql"
        self.pipe = SnsPipe(platform, self.repo)
        self.signer: Signer | None = None
        self._signing_started = float("-inf")   # loop time the signing processes were last started
        self._topics: dict[str, tuple[float, Topic | None, list[Subscription]]] = {}
        self._listening = False
        self._sweeper: asyncio.Task[None] | None = None
        platform.ports.provide(SNS, SnsPortImpl(self))

    # == lifecycle ===========================================================================
    async def start(self) -> None:
        if not self._listening:
            self.store.listen(META_CHANNEL, self._on_meta)
            self.store.listen("*", self._on_meta)
            self._listening = True
        self.pipe.register()
        await self.pipe.outbox.start()
        await self._load_signer()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_records())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self.signer is not None:
            self.signer.close_processes()
        await self.pipe.outbox.stop()

    async def _sweep_records(self) -> None:
        """Delivery records are for tracing recent messages: they go after ``TSUNAGI_DELIVERY_RECORD_HOURS``
        (default 24), so the table does not grow without end."""
        keep_ms = int(self.platform.config.delivery_record_hours * 3_600_000)
        while True:
            try:
                removed = await self.repo.prune_deliveries(self.clock.now_ms() - keep_ms)
                if removed:
                    log.info("sns: removed %d delivery records older than %.0f h", removed, keep_ms / 3_600_000)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # housekeeping: try again next round
                log.warning("sns: sweeping delivery records failed: %s", e)
            await asyncio.sleep(RECORD_SWEEP_S)

    async def on_reset(self) -> None:
        self._topics.clear()
        if self.signer is not None:
            self.signer.close_processes()
        self.signer = None

    def _on_meta(self, payload: str) -> None:
        if payload in ("", "*"):
            self._topics.clear()
        else:
            self._topics.pop(payload, None)

    async def _load_signer(self) -> Signer:
        signer = self.signer
        if signer is not None:
            if (self.platform.config.sns_signing_processes and not signer.processes_alive()
                    and asyncio.get_running_loop().time() - self._signing_started > SIGNING_RESTART_S):
                await self._start_signing(signer)   # a signing process ended: start them again
            return signer
        row = await self.repo.signing_key()
        if row is None:
            key_id, key_pem, cert_pem = await asyncio.to_thread(generate)
            await self.repo.add_signing_key(key_id, key_pem, cert_pem, self.clock.now_ms())
            row = await self.repo.signing_key()
            assert row is not None
        if self.signer is None:     # another request may have loaded it during the awaits
            self.signer = Signer(row[0], row[1], row[2])
            if self.platform.config.sns_signing_processes:
                await self._start_signing(self.signer)
        return self.signer

    async def _start_signing(self, signer: Signer) -> None:
        self._signing_started = asyncio.get_running_loop().time()
        signer.close_processes()
        await signer.start_processes(self.platform.config.sns_signing_processes)

    def _base_url(self, ctx: RequestContext) -> str:
        if ctx.request is not None:
            return ctx.endpoint
        host = self.platform.config.host
        if host in ("0.0.0.0", "::", ""):
            host = "localhost"
        return f"http://{host}:{self.platform.config.port}"

    @staticmethod
    def _check_topic_arn(arn: Any, param: str = "TopicArn") -> re.Match[str]:
        m = _TOPIC_ARN.match(arn) if isinstance(arn, str) else None
        if m is None:
            raise invalid(param)
        return m

    async def _topic_entry(self, arn: str) -> tuple[Topic | None, list[Subscription]]:
        now = asyncio.get_running_loop().time()
        hit = self._topics.get(arn)
        if hit is not None and (not self.pg or now - hit[0] < CACHE_TTL_PG_S):
            return hit[1], hit[2]
        row = await self.repo.topic(arn)
        topic = Topic.from_row(row) if row else None
        subs = [Subscription.from_row(r) for r in await self.repo.subscriptions_of(arn)] if topic else []
        if len(self._topics) > 10_000:
            self._topics.clear()
        self._topics[arn] = (now, topic, subs)
        return topic, subs

    async def _topic(self, arn: Any, param: str = "TopicArn") -> Topic:
        self._check_topic_arn(arn, param)
        topic, _ = await self._topic_entry(arn)
        if topic is None:
            raise topic_not_found()
        return topic

    async def _fresh_topic(self, arn: Any) -> Topic:
        self._check_topic_arn(arn)
        row = await self.repo.topic(arn)
        if row is None:
            raise topic_not_found()
        return Topic.from_row(row)

    async def _subscription(self, arn: Any) -> Subscription:
        if not isinstance(arn, str) or not _SUB_ARN.match(arn):
            raise invalid("SubscriptionArn")
        row = await self.repo.subscription(arn)
        if row is None:
            raise subscription_not_found()
        return Subscription.from_row(row)

    # == topics ================================================================================
    async def create_topic(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("Name") or ""
        given = dict(params.get("Attributes") or {})
        fifo_attr = str(given.get("FifoTopic", "false")).lower() == "true"
        if fifo_attr or name.endswith(".fifo"):
            if not fifo_attr:
                raise invalid("Topic Name")
            if not tattrs.FIFO_TOPIC_NAME.match(name):
                raise invalid("Fifo Topic names must end with .fifo and must be made up of only uppercase and "
                              "lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 "
                              "and 256 characters long.")
        elif not tattrs.TOPIC_NAME.match(name):
            raise invalid("Topic Name")
        fifo = fifo_attr
        stored: dict[str, str] = {}
        for key, value in given.items():
            stored[key] = tattrs.check_topic_attribute(key, value, fifo, creating=True)
        if params.get("DataProtectionPolicy"):
            stored["DataProtectionPolicy"] = str(params["DataProtectionPolicy"])
        stored.pop("FifoTopic", None)
        tags = self._tag_list(params.get("Tags"))
        arn = f"arn:aws:sns:{ctx.region}:{ctx.account}:{name}"
        stored.setdefault("Policy", tattrs.default_policy(arn, ctx.account))
        stored.setdefault("DisplayName", "")
        if fifo:
            stored.setdefault("ContentBasedDeduplication", "false")
        created = await self.repo.create_topic(ctx.account, ctx.region, name, arn, fifo,
                                               orjson.dumps(stored).decode(), orjson.dumps(tags).decode(),
                                               self.clock.now_ms())
        if not created:
            existing = await self._fresh_topic(arn)
            for key in given:
                if key == "FifoTopic":
                    continue
                if existing.attributes.get(key, "") != stored.get(key):
                    raise invalid("Attributes Reason: Topic already exists with different attributes")
            if tags and any(existing.tags.get(k) != v for k, v in tags.items()):
                raise invalid("Tags Reason: Topic already exists with different tags")
        return {"TopicArn": arn}

    @staticmethod
    def _tag_list(tags: Any) -> dict[str, str]:
        out: dict[str, str] = {}
        for tag in tags or []:
            key = tag.get("Key")
            value = tag.get("Value")
            if key is None or value is None:
                raise invalid("Tags")
            if not 1 <= len(key) <= 128 or len(value) > 256:
                raise invalid("Tags")
            out[key] = value
        if len(out) > 50:
            raise TagLimitExceeded("Could not complete request: tag quota of per resource exceeded")
        return out

    async def delete_topic(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = str(params.get("TopicArn") or "")
        self._check_topic_arn(arn)
        await self.repo.delete_topic(arn)
        self._topics.pop(arn, None)
        return {}

    async def list_topics(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        after = self._token(params.get("NextToken"))
        rows = await self.repo.list_topics(ctx.account, ctx.region, after, PAGE + 1)
        out: dict[str, Any] = {"Topics": [{"TopicArn": r[0]} for r in rows[:PAGE]]}
        if len(rows) > PAGE:
            out["NextToken"] = self._make_token(rows[PAGE - 1][0])
        return out

    @staticmethod
    def _make_token(after: str) -> str:
        return base64.urlsafe_b64encode(after.encode()).decode()

    @staticmethod
    def _token(token: Any) -> str:
        if not token:
            return ""
        try:
            return base64.urlsafe_b64decode(str(token).encode()).decode()
        except (ValueError, UnicodeDecodeError):
            raise invalid("NextToken") from None

    async def get_topic_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self._fresh_topic(params.get("TopicArn"))
        confirmed, pending = await self.repo.count_subscriptions(topic.arn)
        attrs: dict[str, str] = {
            "Policy": topic.attributes.get("Policy", ""),
            "Owner": topic.account,
            "SubscriptionsPending": str(pending),
            "TopicArn": topic.arn,
            "EffectiveDeliveryPolicy": orjson.dumps(self._effective_topic_delivery(topic)).decode(),
            "SubscriptionsConfirmed": str(confirmed),
            "DisplayName": topic.attributes.get("DisplayName", ""),
            "SubscriptionsDeleted": "0",
        }
        for key, value in topic.attributes.items():
            if key not in attrs and key != "DataProtectionPolicy":
                attrs[key] = value
        if topic.fifo:
            attrs["FifoTopic"] = "true"
            attrs.setdefault("ContentBasedDeduplication", "false")
        return {"Attributes": attrs}

    @staticmethod
    def _effective_topic_delivery(topic: Topic) -> dict[str, Any]:
        own = topic.attributes.get("DeliveryPolicy")
        if not own:
            return tattrs.DEFAULT_EFFECTIVE_DELIVERY
        doc = orjson.loads(own)
        http = {**tattrs.DEFAULT_EFFECTIVE_DELIVERY["http"], **(doc.get("http") or {})}
        http["defaultHealthyRetryPolicy"] = {**tattrs.DEFAULT_RETRY, **(http.get("defaultHealthyRetryPolicy") or {})}
        return {**doc, "http": http}

    async def set_topic_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self._fresh_topic(params.get("TopicArn"))
        name = params.get("AttributeName") or ""
        value = tattrs.check_topic_attribute(name, params.get("AttributeValue"), topic.fifo, creating=False)
        attrs = dict(topic.attributes)
        if name == "Policy" and not value:
            value = tattrs.default_policy(topic.arn, topic.account)
        attrs[name] = value
        await self.repo.update_topic(topic.arn, attributes=orjson.dumps(attrs).decode())
        self._topics.pop(topic.arn, None)
        return {}

    async def get_data_protection_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self._fresh_topic(params.get("ResourceArn"))
        policy = topic.attributes.get("DataProtectionPolicy")
        return {"DataProtectionPolicy": policy} if policy else {}

    async def put_data_protection_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self._fresh_topic(params.get("ResourceArn"))
        attrs = dict(topic.attributes)
        attrs["DataProtectionPolicy"] = str(params.get("DataProtectionPolicy") or "")
        await self.repo.update_topic(topic.arn, attributes=orjson.dumps(attrs).decode())
        return {}

    # -- tags -----------------------------------------------------------------------------------
    async def _tagged(self, arn: Any) -> Topic:
        if not isinstance(arn, str) or not _TOPIC_ARN.match(arn):
            raise ResourceNotFound("Resource does not exist")
        row = await self.repo.topic(arn)
        if row is None:
            raise ResourceNotFound("Resource does not exist")
        return Topic.from_row(row)

    async def tag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self._tagged(params.get("ResourceArn"))
        tags = dict(topic.tags)
        tags.update(self._tag_list(params.get("Tags")))
        if len(tags) > 50:
            raise TagLimitExceeded("Could not complete request: tag quota of per resource exceeded")
        await self.repo.update_topic(topic.arn, tags=orjson.dumps(tags).decode())
        return {}

    async def untag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self._tagged(params.get("ResourceArn"))
        tags = dict(topic.tags)
        for key in params.get("TagKeys") or []:
            tags.pop(key, None)
        await self.repo.update_topic(topic.arn, tags=orjson.dumps(tags).decode())
        return {}

    async def list_tags_for_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self._tagged(params.get("ResourceArn"))
        return {"Tags": [{"Key": k, "Value": v} for k, v in topic.tags.items()]}

    # -- permissions ----------------------------------------------------------------------------
    async def add_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self._fresh_topic(params.get("TopicArn"))
        label = params.get("Label") or ""
        accounts = list(params.get("AWSAccountId") or [])
        actions = list(params.get("ActionName") or [])
        if not accounts or not actions:
            raise invalid("AWSAccountId" if not accounts else "ActionName")
        policy = orjson.loads(topic.attributes.get("Policy") or tattrs.default_policy(topic.arn, topic.account))
        statements = policy.setdefault("Statement", [])
        if isinstance(statements, dict):
            statements = policy["Statement"] = [statements]
        if any(s.get("Sid") == label for s in statements):
            raise invalid("Statement already exists")
        principals = [f"arn:aws:iam::{a}:root" for a in accounts]
        sns_actions = [f"SNS:{a}" for a in actions]
        statements.append({"Sid": label, "Effect": "Allow",
                           "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                           "Action": sns_actions[0] if len(sns_actions) == 1 else sns_actions,
                           "Resource": topic.arn})
        attrs = dict(topic.attributes)
        attrs["Policy"] = orjson.dumps(policy).decode()
        await self.repo.update_topic(topic.arn, attributes=orjson.dumps(attrs).decode())
        return {}

    async def remove_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self._fresh_topic(params.get("TopicArn"))
        label = params.get("Label") or ""
        policy = orjson.loads(topic.attributes.get("Policy") or "{}")
        statements = policy.get("Statement") or []
        if isinstance(statements, dict):
            statements = [statements]
        policy["Statement"] = [s for s in statements if s.get("Sid") != label]
        attrs = dict(topic.attributes)
        attrs["Policy"] = orjson.dumps(policy).decode()
        await self.repo.update_topic(topic.arn, attributes=orjson.dumps(attrs).decode())
        return {}

    # == subscriptions ===========================================================================
    async def subscribe(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self._fresh_topic(params.get("TopicArn"))
        protocol = str(params.get("Protocol") or "").lower()
        if protocol not in PROTOCOLS:
            raise invalid(f"Amazon SNS does not support this protocol string: {params.get('Protocol')}")
        endpoint = params.get("Endpoint") or ""
        await self._check_endpoint(topic, protocol, endpoint)
        stored: dict[str, str] = {}
        for key, value in (params.get("Attributes") or {}).items():
            stored[key] = tattrs.check_subscription_attribute(key, value, protocol)
        if stored.get("FilterPolicy"):
            stored.setdefault("FilterPolicyScope", "MessageAttributes")
            tattrs.compile_filter(stored["FilterPolicy"], stored["FilterPolicyScope"])
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
        now = self.clock.now_ms()
        await self.repo.add_subscription(arn, topic.arn, ctx.account, ctx.region, protocol, endpoint,
                                         orjson.dumps(stored).decode(), pending, token, now)
        self._topics.pop(topic.arn, None)
        if pending:
            assert token is not None
            await self._send_confirmation(ctx, topic, arn, protocol, endpoint, token)
            if not params.get("ReturnSubscriptionArn"):
                return {"SubscriptionArn": "pending confirmation"}
        return {"SubscriptionArn": arn}

    async def _check_endpoint(self, topic: Topic, protocol: str, endpoint: str) -> None:
        if topic.fifo and protocol not in ("sqs", "lambda", "firehose"):
            raise invalid(f"Invalid protocol type: {protocol}")
        if protocol in ("http", "https"):
            if not endpoint.lower().startswith(f"{protocol}://") or len(endpoint) <= len(protocol) + 3:
                raise invalid("Endpoint must match the specified protocol")
        elif protocol == "sqs":
            if not tattrs.SQS_ARN.match(endpoint):
                raise invalid("SQS endpoint ARN")
            queue_fifo = endpoint.endswith(".fifo")
            if topic.fifo and not queue_fifo:
                raise invalid("Invalid parameter: Endpoint Reason: Please use FIFO SQS queue")
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
            raise NotFound("Endpoint does not exist")      # tsunagi has no platform endpoints
        elif protocol == "firehose" and not _FIREHOSE_ARN.match(endpoint):
            raise invalid("Firehose endpoint ARN")

    async def _send_confirmation(self, ctx: RequestContext, topic: Topic, sub_arn: str, protocol: str,
                                 endpoint: str, token: str) -> None:
        signer = await self._load_signer()
        now = self.clock.now_ms()
        doc = confirmation("SubscriptionConfirmation", uuid4(), topic.arn, token, self._base_url(ctx), signer,
                           topic.signature_version, now)
        if protocol in ("http", "https"):
            headers = {"x-amz-sns-message-type": "SubscriptionConfirmation", "x-amz-sns-message-id": doc["MessageId"],
                       "x-amz-sns-topic-arn": topic.arn, "Content-Type": "text/plain; charset=UTF-8"}
            item = ("sns-http", sub_arn, {"url": endpoint, "body": sns_json(doc), "headers": headers,
                                          "message_id": doc["MessageId"], "topic": topic.arn, "protocol": protocol,
                                          "attempt": 1, "retry": tattrs.DEFAULT_RETRY})
        else:
            subject, body = confirmation_email(protocol, doc, topic.attributes.get("DisplayName", ""))
            display = topic.attributes.get("DisplayName") or "AWS Notifications"
            item = ("sns-mail", sub_arn, {"kind": protocol, "to": endpoint, "from": f"{display} "
                                          "<no-reply@sns.amazonaws.com>", "subject": subject, "body": body,
                                          "message_id": doc["MessageId"], "topic": topic.arn,
                                          "account": ctx.account, "region": ctx.region, "attempt": 1,
                                          "subscribe_url": doc["SubscribeURL"]})
        async with self.store.transaction() as tx:
            await self.pipe.outbox.add(tx, [item])

    async def confirm_subscription(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic_arn = str(params.get("TopicArn") or "")
        self._check_topic_arn(topic_arn)
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
            self._topics.pop(sub.topic_arn, None)
        return {"SubscriptionArn": sub.arn}

    async def unsubscribe(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = params.get("SubscriptionArn")
        if not isinstance(arn, str) or not _SUB_ARN.match(arn):
            raise invalid("SubscriptionArn")
        row = await self.repo.subscription(arn)
        if row is not None:
            sub = Subscription.from_row(row)
            if sub.attributes.get("ConfirmationWasAuthenticated") == "true" and ctx.account != sub.account:
                raise AuthorizationError("User is not authorized to unsubscribe from this subscription")
            await self.repo.delete_subscription(arn, sub.topic_arn)
            self._topics.pop(sub.topic_arn, None)
        return {}

    @staticmethod
    def _listed(sub: Subscription) -> dict[str, Any]:
        return {"SubscriptionArn": "PendingConfirmation" if sub.pending else sub.arn, "Owner": sub.account,
                "Protocol": sub.protocol, "Endpoint": sub.endpoint, "TopicArn": sub.topic_arn}

    async def list_subscriptions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        after = self._token(params.get("NextToken"))
        rows = await self.repo.list_subscriptions(ctx.account, ctx.region, after, PAGE + 1)
        out: dict[str, Any] = {"Subscriptions": [self._listed(Subscription.from_row(r)) for r in rows[:PAGE]]}
        if len(rows) > PAGE:
            out["NextToken"] = self._make_token(rows[PAGE - 1][0])
        return out

    async def list_subscriptions_by_topic(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self._fresh_topic(params.get("TopicArn"))
        after = self._token(params.get("NextToken"))
        rows = await self.repo.list_by_topic(topic.arn, after, PAGE + 1)
        out: dict[str, Any] = {"Subscriptions": [self._listed(Subscription.from_row(r)) for r in rows[:PAGE]]}
        if len(rows) > PAGE:
            out["NextToken"] = self._make_token(rows[PAGE - 1][0])
        return out

    async def get_subscription_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        sub = await self._subscription(params.get("SubscriptionArn"))
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
        sub = await self._subscription(params.get("SubscriptionArn"))
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
        self._topics.pop(sub.topic_arn, None)
        return {}

    # == publishing ================================================================================
    async def publish(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        phone = params.get("PhoneNumber")
        topic_arn = params.get("TopicArn")
        target_arn = params.get("TargetArn")
        given = [x for x in (topic_arn, target_arn, phone) if x]
        if not given:
            raise invalid("TopicArn or TargetArn Reason: no value for required parameter")
        if len(given) > 1:
            raise invalid("TopicArn or TargetArn or PhoneNumber Reason: Only one of them may be specified")
        if phone:
            return await self._publish_sms(ctx, phone, params)
        if target_arn:
            if _APP_ARN.match(target_arn):
                raise NotFound("Endpoint does not exist")      # tsunagi has no platform endpoints
            topic_arn = target_arn
        topic = await self._topic(topic_arn, "TopicArn" if params.get("TopicArn") else "TargetArn")
        entry = self._entry(topic, params)
        results = await self._publish(ctx, topic, [entry])
        return results[0]

    def _entry(self, topic: Topic, params: dict[str, Any], entry_id: str | None = None) -> _Entry:
        message = params.get("Message")
        if message is None:
            raise invalid("Message")
        if message == "":
            raise invalid("Empty message")
        subject = params.get("Subject")
        if subject is not None and (subject == "" or len(subject) > 100
                                    or any(not (32 <= ord(c) < 127) for c in subject)):
            raise invalid("Subject")
        per_protocol = None
        structure = params.get("MessageStructure")
        if structure is not None:
            if structure != "json":
                raise invalid("MessageStructure")
            try:
                doc = orjson.loads(message)
            except orjson.JSONDecodeError:
                raise invalid("Message Structure - JSON message body failed to parse") from None
            if not isinstance(doc, dict) or "default" not in doc:
                raise invalid("Message Structure - No default entry in JSON message body")
            per_protocol = {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in doc.items()}
        attributes = self._attributes(params.get("MessageAttributes") or {})
        size = len(message.encode("utf-8", "surrogatepass"))
        for name, attr in attributes.items():
            size += len(name.encode()) + len(attr["DataType"].encode())
            value = attr.get("StringValue")
            size += len(value.encode("utf-8", "surrogatepass")) if value is not None else len(
                attr.get("BinaryValue") or b"")
        if size > MAX_MESSAGE_BYTES:
            raise invalid("Message too long")
        group = params.get("MessageGroupId")
        dedup = params.get("MessageDeduplicationId")
        if topic.fifo:
            if not group:
                raise invalid("The MessageGroupId parameter is required for FIFO topics")
            if not _GROUP.match(group):
                raise invalid("MessageGroupId Reason: The MessageGroupId can contain up to 128 alphanumeric "
                              "characters (a-z, A-Z, 0-9) and punctuation")
            if dedup:
                if not _GROUP.match(dedup):
                    raise invalid("MessageDeduplicationId Reason: The MessageDeduplicationId can contain up to "
                                  "128 alphanumeric characters (a-z, A-Z, 0-9) and punctuation")
            elif topic.content_dedup:
                dedup = hashlib.sha256(message.encode("utf-8", "surrogatepass")).hexdigest()
            else:
                raise invalid("The topic should either have ContentBasedDeduplication enabled or "
                              "MessageDeduplicationId provided explicitly")
        else:
            if dedup:
                raise invalid("MessageDeduplicationId Reason: The request includes MessageDeduplicationId "
                              "parameter that is not valid for this topic type")
            group = None
        return _Entry(message, per_protocol, subject, attributes, group, dedup, entry_id)

    @staticmethod
    def _attributes(given: dict[str, Any]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, attr in given.items():
            if not _ATTR_NAME.match(name) or name.startswith((".", "AWS.", "Amazon.")) or name.endswith(".") \
                    or ".." in name:
                raise InvalidParameterValue(f"The message attribute name '{name}' is invalid.")
            dtype = (attr or {}).get("DataType")
            if not dtype:
                raise InvalidParameterValue(f"The message attribute '{name}' must contain non-empty message "
                                            "attribute type.")
            base = dtype.split(".", 1)[0]
            if base not in ("String", "Number", "Binary"):
                raise InvalidParameterValue(f"The message attribute '{name}' has an invalid message attribute "
                                            "type, the set of supported type prefixes is Binary, Number, and "
                                            "String.")
            if base == "Binary":
                value = attr.get("BinaryValue")
                if value is None or len(value) == 0:
                    raise InvalidParameterValue(f"The message attribute '{name}' must contain non-empty message "
                                                f"attribute value for message attribute type '{dtype}'.")
                out[name] = {"DataType": dtype, "BinaryValue": bytes(value)}
                continue
            value = attr.get("StringValue")
            if value is None or value == "":
                raise InvalidParameterValue(f"The message attribute '{name}' must contain non-empty message "
                                            f"attribute value for message attribute type '{dtype}'.")
            if base == "Number":
                try:
                    float(value)
                except ValueError:
                    raise InvalidParameterValue(f"An invalid or out-of-range value '{value}' was supplied for "
                                                f"the message attribute '{name}'.") from None
            if dtype == "String.Array":
                try:
                    arr = orjson.loads(value)
                except orjson.JSONDecodeError:
                    arr = None
                if not isinstance(arr, list) or any(isinstance(x, dict | list) for x in arr):
                    raise InvalidParameterValue(f"The message attribute '{name}' with type 'String.Array' has "
                                                "an invalid value.")
            out[name] = {"DataType": dtype, "StringValue": value}
        return out

    async def _publish(self, ctx: RequestContext, topic: Topic, entries: list[_Entry]) -> list[dict[str, Any]]:
        """Deliver validated entries in one transaction; returns each entry's result."""
        signer = await self._load_signer()
        _, subs = await self._topic_entry(topic.arn)
        base = self._base_url(ctx)
        now = self.clock.now_ms()
        version = topic.signature_version
        display = topic.attributes.get("DisplayName", "")
        self.pipe.topic_delivery_policy[topic.arn] = topic.attributes.get("DeliveryPolicy")
        live = [s for s in subs if not s.pending]
        msgs = [Outgoing(uuid7(), topic.arn, e.message, e.per_protocol, e.subject, e.attributes, now, base, signer,
                         version, e.group_id, e.dedup_id, display_name=display) for e in entries]
        # Filters and lookups happen before the transaction (on SQLite a read inside it would wait on it):
        # filters first, then each message's signature goes to a signing process, then the steps are
        # prepared (their lookups overlap the signing).
        plans: list[list[Any]] = []
        for msg in msgs:
            steps: list[Any] = []
            for sub in live:
                reason = self._filtered(sub, msg)
                if reason is not None:
                    steps.append((sub, reason))
                    continue
                strategy = self.pipe.strategy(sub.protocol)
                signed = strategy.signs(sub)
                if signed is not None:
                    msg.sign_soon(signed)
                steps.append(strategy)
            plans.append(steps)
        for msg, steps in zip(msgs, plans, strict=True):
            for i, sub in enumerate(live):
                if isinstance(steps[i], Strategy):
                    steps[i] = await steps[i].prepare(self.pipe, msg, sub)
        results: list[dict[str, Any]] = []
        sqs = self.platform.ports.find(SQS)
        async with self.store.transaction() as tx:
            fan = Fanout(ctx.trace_id, sqs.deferred() if sqs is not None else None)
            records: list[tuple[str, str, int, list[Outcome]]] = []
            last_seq = await self.repo.next_seq(tx, topic.arn, len(msgs)) if topic.fifo else 0
            for i, (msg, steps) in enumerate(zip(msgs, plans, strict=True)):
                out: dict[str, Any] = {"MessageId": msg.message_id}
                if topic.fifo:
                    seq = str(SEQ_BASE + last_seq - len(msgs) + 1 + i)
                    assert msg.dedup_id is not None
                    dup = await self.repo.claim_dedup(tx, topic.arn, msg.dedup_id, msg.message_id, seq, now,
                                                      DEDUP_WINDOW_MS)
                    if dup is not None:
                        out["MessageId"], out["SequenceNumber"] = dup
                        results.append(out)
                        continue
                    msg.sequence_number = out["SequenceNumber"] = seq   # steps build envelopes when applied
                outcomes: list[Outcome] = []
                for step in steps:
                    if isinstance(step, tuple):
                        sub, reason = step
                        outcomes.append((sub.arn, sub.protocol, "filtered", reason))
                        continue
                    outcome, why = await step.apply(tx, fan)
                    outcomes.append((step.sub.arn, step.sub.protocol, outcome, why))
                records.append((msg.message_id, topic.arn, now, outcomes))
                results.append(out)
            if sqs is not None and fan.sqs_rows is not None:
                await sqs.flush_in(tx, fan.sqs_rows)
            if fan.outbox:
                await self.pipe.outbox.add(tx, fan.outbox)
            await self.repo.record_fanout(tx, records)
        for message_id, topic_arn, _, outcomes in records:
            for sub_arn, _, outcome, reason in outcomes:
                if outcome == "filtered":
                    log.info("SNS: message %s on %s not delivered to %s: %s", message_id, topic_arn, sub_arn, reason)
        return results

    @staticmethod
    def _filtered(sub: Subscription, msg: Outgoing) -> str | None:
        """Why the subscription's filter policy rejects the message, or None when it accepts it."""
        policy = sub.filter
        if policy is None:
            return None
        if sub.body_scope:
            view = body_view(msg.message)
            if view is None:
                return "filter policy (MessageBody scope) did not match: the message body is not a JSON object"
        else:
            view = attributes_view(msg.attributes)
        if policy.matches(view):
            return None
        return f"filter policy did not match: {orjson.dumps(policy.document).decode()[:500]}"

    async def publish_batch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self._topic(params.get("TopicArn"))
        entries = list(params.get("PublishBatchRequestEntries") or [])
        if not entries:
            raise EmptyBatchRequest("The batch request doesn't contain any entries")
        if len(entries) > 10:
            raise TooManyEntriesInBatchRequest("The batch request contains more entries than permissible")
        seen: set[str] = set()
        total = 0
        for e in entries:
            entry_id = e.get("Id")
            if not isinstance(entry_id, str) or not _BATCH_ID.match(entry_id):
                raise InvalidBatchEntryId("The Id of a batch entry in a batch request doesn't abide by the "
                                          "specification.")
            if entry_id in seen:
                raise BatchEntryIdsNotDistinct("Two or more batch entries in the request have the same Id.")
            seen.add(entry_id)
            total += len((e.get("Message") or "").encode("utf-8", "surrogatepass"))
        if total > MAX_MESSAGE_BYTES:
            raise BatchRequestTooLong("The length of all the messages put together is more than the limit.")
        good: list[_Entry] = []
        failed: list[dict[str, Any]] = []
        for e in entries:
            try:
                good.append(self._entry(topic, e, e["Id"]))
            except ServiceError as err:
                failed.append({"Id": e["Id"], "Code": err.code, "Message": err.message, "SenderFault": True})
        successful: list[dict[str, Any]] = []
        if good:
            published = await self._publish(ctx, topic, good)
            for entry, out in zip(good, published, strict=True):
                successful.append({"Id": entry.id, **out})
        return {"Successful": successful, "Failed": failed}

    async def _publish_sms(self, ctx: RequestContext, phone: str, params: dict[str, Any]) -> dict[str, Any]:
        """A direct SMS: there is no SMS gateway here, so it goes to the local mailbox, addressed to the number."""
        if not _PHONE.match(phone.replace("-", "").replace(" ", "")):
            raise invalid("PhoneNumber Reason: input incorrectly formatted")
        message = params.get("Message") or ""
        if not message:
            raise invalid("Empty message")
        message_id = uuid7()
        sender = ((params.get("MessageAttributes") or {}).get("AWS.SNS.SMS.SenderID") or {}).get("StringValue") \
            or "SNS"
        async with self.store.transaction() as tx:
            await self.pipe.outbox.add(tx, [("sns-mail", f"sms:{phone}", {
                "kind": "sms", "to": phone, "from": sender, "subject": "", "body": message, "message_id": message_id,
                "topic": None, "account": ctx.account, "region": ctx.region, "attempt": 1, "local_only": True,
                "subscribe_url": "direct"})])
        return {"MessageId": message_id}

    # == reading delivery records and the mailbox (console, CLI) ====================================
    async def deliveries(self, *, message_id: str | None = None, topic_arn: str | None = None,
                         limit: int = 1000) -> list[dict[str, Any]]:
        rows = await self.repo.deliveries(message_id=message_id, topic_arn=topic_arn, limit=limit)
        return [{"MessageId": r[0], "TopicArn": r[1], "SubscriptionArn": r[2], "Protocol": r[3], "Outcome": r[4],
                 "Reason": r[5], "Time": r[6]} for r in rows]

    async def mailbox(self, recipient: str | None = None, after_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self.repo.mail(recipient, after_id, limit)
        keys = ("Id", "Account", "Region", "Kind", "To", "From", "Subject", "Body", "TopicArn", "SubscriptionArn",
                "MessageId", "SubscribeURL", "Time")
        return [dict(zip(keys, r, strict=True)) for r in rows]


__all__ = ["SnsService"]

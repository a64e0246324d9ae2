"""Topic and subscription attributes: names, defaults, validation with AWS's messages, and the
parsed forms (:class:`Topic`, :class:`Subscription`) the publish path uses. The retry schedule of a
delivery policy is :class:`tsunagi.ports.sns.RetryPolicy` (SNS's outbox handlers follow it too)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from tsunagi.filters.policy import FilterPolicyError, Policy, compile_policy
from tsunagi.ports.sns import DEFAULT_RETRY
from tsunagi.services.sns.errors import invalid
from tsunagi.store.sns import SubscriptionRow, TopicRow

TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
FIFO_TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,251}\.fifo$")
SQS_ARN = re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,80}$")

_FEEDBACK = tuple(f"{p}{k}" for p in ("Application", "Firehose", "HTTP", "Lambda", "SQS")
                  for k in ("SuccessFeedbackRoleArn", "SuccessFeedbackSampleRate", "FailureFeedbackRoleArn"))
TOPIC_SETTABLE = frozenset({"DeliveryPolicy", "DisplayName", "Policy", "KmsMasterKeyId", "SignatureVersion",
                            "TracingConfig", "ContentBasedDeduplication", "ArchivePolicy", "FifoThroughputScope",
                            "DataProtectionPolicy", "FifoTopic", *_FEEDBACK})
SUB_SETTABLE = frozenset({"DeliveryPolicy", "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery",
                          "RedrivePolicy", "SubscriptionRoleArn", "ReplayPolicy"})
RAW_PROTOCOLS = frozenset({"sqs", "http", "https", "firehose"})
BACKOFF = frozenset({"linear", "arithmetic", "geometric", "exponential"})

DEFAULT_EFFECTIVE_DELIVERY = {"http": {"defaultHealthyRetryPolicy": DEFAULT_RETRY,
                                       "disableSubscriptionOverrides": False,
                                       "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"}}}


def default_policy(arn: str, account: str) -> str:
    """The policy AWS gives a new topic."""
    return orjson.dumps({
        "Version": "2008-10-17", "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                       "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic",
                       "SNS:Publish"],
            "Resource": arn, "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
        }],
    }).decode()


def _bool(name: str, value: Any) -> str:
    s = str(value).strip().lower()
    if s not in ("true", "false"):
        raise invalid(f"Attributes Reason: {name}: Invalid value [{value}]. Must be true or false.")
    return s


def _json_obj(name: str, value: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise invalid(f"{name}: failed to parse JSON.") from None
    if not isinstance(doc, dict):
        raise invalid(f"{name}: must be a JSON object.")
    return doc


def check_topic_attribute(name: str, value: Any, fifo: bool, *, creating: bool) -> str:
    """One topic attribute as stored; raises AWS's error if the name or value is not allowed."""
    if name not in TOPIC_SETTABLE:
        raise invalid("AttributeName")
    value = "" if value is None else str(value)
    if name == "FifoTopic":
        if not creating:
            raise invalid("AttributeName")
        return _bool(name, value)
    if name in ("ContentBasedDeduplication", "ArchivePolicy", "FifoThroughputScope") and not fifo:
        raise invalid(f"Attributes Reason: {name} is only valid for FIFO topics" if name != "ArchivePolicy"
                      else "ArchivePolicy: The ArchivePolicy attribute is only supported for FIFO topics")
    if name == "ContentBasedDeduplication":
        return _bool(name, value)
    if name == "FifoThroughputScope" and value not in ("Topic", "MessageGroup"):
        raise invalid(f"Attributes Reason: FifoThroughputScope: Invalid value [{value}]. "
                      "Please use either Topic or MessageGroup")
    if name == "SignatureVersion" and value not in ("1", "2"):
        raise invalid("Attributes Reason: SignatureVersion: value must be 1 or 2")
    if name == "TracingConfig" and value not in ("Active", "PassThrough"):
        raise invalid(f"Attributes Reason: TracingConfig: Invalid value [{value}]. "
                      "Please use either Active or PassThrough")
    if name == "DisplayName" and len(value) > 100:
        raise invalid("DisplayName")
    if name == "Policy" and value:
        doc = _json_obj("Policy", value)
        if "Statement" not in doc:
            raise invalid("Policy Error: null")
    if name == "DeliveryPolicy" and value:
        check_topic_delivery_policy(value)
    if name == "ArchivePolicy" and value:
        doc = _json_obj("ArchivePolicy", value)
        days = doc.get("MessageRetentionPeriod")
        if not isinstance(days, int) or not 1 <= days <= 365:
            raise invalid("ArchivePolicy: MessageRetentionPeriod must be an integer between 1 and 365")
    return value


# == delivery policies ==============================================================================

def _check_retry(prefix: str, doc: Any) -> None:
    if not isinstance(doc, dict):
        raise invalid(f"DeliveryPolicy: {prefix} must be an object")
    known = set(DEFAULT_RETRY)
    for key in doc:
        if key not in known:
            raise invalid(f"DeliveryPolicy: {prefix}.{key} is not a valid property")
    merged = {**DEFAULT_RETRY, **doc}
    for key in known - {"backoffFunction"}:
        if not isinstance(merged[key], int) or isinstance(merged[key], bool) or merged[key] < 0:
            raise invalid(f"DeliveryPolicy: {prefix}.{key} must be a non-negative integer")
    if merged["backoffFunction"] not in BACKOFF:
        raise invalid(f"DeliveryPolicy: {prefix}.backoffFunction must be one of linear, arithmetic, "
                      "geometric, exponential")
    if not 1 <= merged["minDelayTarget"] <= merged["maxDelayTarget"]:
        raise invalid(f"DeliveryPolicy: {prefix}.minDelayTarget must be between 1 and maxDelayTarget")
    if merged["maxDelayTarget"] > 3600:
        raise invalid(f"DeliveryPolicy: {prefix}.maxDelayTarget must be <= 3600")
    if merged["numRetries"] > 100:
        raise invalid(f"DeliveryPolicy: {prefix}.numRetries must be <= 100")
    if merged["numNoDelayRetries"] + merged["numMinDelayRetries"] + merged["numMaxDelayRetries"] \
            > merged["numRetries"]:
        raise invalid(f"DeliveryPolicy: {prefix}.numRetries must be >= numNoDelayRetries + "
                      "numMinDelayRetries + numMaxDelayRetries")


def check_topic_delivery_policy(value: str) -> dict[str, Any]:
    doc = _json_obj("DeliveryPolicy", value)
    for proto, section in doc.items():
        if not isinstance(section, dict):
            raise invalid(f"DeliveryPolicy: {proto} must be an object")
        if "defaultHealthyRetryPolicy" in section:
            _check_retry(f"{proto}.defaultHealthyRetryPolicy", section["defaultHealthyRetryPolicy"])
    return doc


def check_subscription_delivery_policy(value: str) -> dict[str, Any]:
    doc = _json_obj("DeliveryPolicy", value)
    for key in doc:
        if key not in ("healthyRetryPolicy", "throttlePolicy", "requestPolicy"):
            raise invalid(f"DeliveryPolicy: {key} is not a valid property")
    if "healthyRetryPolicy" in doc:
        _check_retry("healthyRetryPolicy", doc["healthyRetryPolicy"])
    return doc


def effective_delivery_policy(topic_policy: str | None, sub_policy: str | None) -> dict[str, Any]:
    """What an http/https subscription follows: its own policy unless the topic disables overrides."""
    topic = orjson.loads(topic_policy) if topic_policy else {}
    http = topic.get("http") or {}
    retry = {**DEFAULT_RETRY, **(http.get("defaultHealthyRetryPolicy") or {})}
    out: dict[str, Any] = {"healthyRetryPolicy": retry}
    if http.get("defaultThrottlePolicy"):
        out["throttlePolicy"] = http["defaultThrottlePolicy"]
    out["requestPolicy"] = http.get("defaultRequestPolicy") or {"headerContentType": "text/plain; charset=UTF-8"}
    if sub_policy and not http.get("disableSubscriptionOverrides"):
        sub = orjson.loads(sub_policy)
        if sub.get("healthyRetryPolicy"):
            out["healthyRetryPolicy"] = {**DEFAULT_RETRY, **sub["healthyRetryPolicy"]}
        if sub.get("throttlePolicy"):
            out["throttlePolicy"] = sub["throttlePolicy"]
        if sub.get("requestPolicy"):
            out["requestPolicy"] = sub["requestPolicy"]
    return out


# == subscription attributes =========================================================================

def check_subscription_attribute(name: str, value: Any, protocol: str) -> str:
    if name not in SUB_SETTABLE:
        raise invalid("AttributeName")
    value = "" if value is None else str(value)
    if name == "RawMessageDelivery":
        v = _bool(name, value)
        if protocol not in RAW_PROTOCOLS:
            raise invalid(f"Delivery protocol [{protocol}] does not support raw message delivery.")
        return v
    if name == "FilterPolicyScope":
        if value not in ("MessageAttributes", "MessageBody"):
            raise invalid(f"Attributes Reason: FilterPolicyScope: Invalid value [{value}]. "
                          "Please use either MessageBody or MessageAttributes")
        return value
    if name == "DeliveryPolicy" and value:
        if protocol not in ("http", "https"):
            raise invalid(f"DeliveryPolicy: Delivery protocol [{protocol}] does not support delivery policies")
        check_subscription_delivery_policy(value)
    if name == "RedrivePolicy" and value:
        doc = _json_obj("RedrivePolicy", value)
        arn = doc.get("deadLetterTargetArn")
        if not arn:
            raise invalid("RedrivePolicy: deadLetterTargetArn is missing")
        if not isinstance(arn, str) or not SQS_ARN.match(arn):
            raise invalid(f"RedrivePolicy: deadLetterTargetArn is an invalid arn: {arn}")
    return value


def compile_filter(value: str, scope: str) -> Policy | None:
    """The compiled FilterPolicy (None for an empty one), or AWS's error."""
    if not value:
        return None
    try:
        return compile_policy(value, nested=scope == "MessageBody")
    except FilterPolicyError as e:
        raise invalid(f"FilterPolicy: {e}") from None


# == parsed rows ======================================================================================

@dataclass(slots=True)
class Topic:
    id: int
    account: str
    region: str
    name: str
    arn: str
    fifo: bool
    attributes: dict[str, str]
    tags: dict[str, str]
    created_at: int

    @classmethod
    def from_row(cls, row: TopicRow) -> Topic:
        return cls(int(row.id), row.account, row.region, row.name, row.arn, bool(row.fifo),
                   orjson.loads(row.attributes), orjson.loads(row.tags), int(row.created_at))

    @property
    def content_dedup(self) -> bool:
        return self.attributes.get("ContentBasedDeduplication") == "true"

    @property
    def signature_version(self) -> str:
        return self.attributes.get("SignatureVersion") or "1"


@dataclass(slots=True)
class Subscription:
    """A subscription as the operations and the publish path use it; the attributes a publish reads
    for every subscription (filter, raw delivery, dead-letter queue) are parsed once, when it is loaded."""

    arn: str
    topic_arn: str
    account: str
    region: str
    protocol: str
    endpoint: str
    attributes: dict[str, str]
    pending: bool
    token: str | None
    created_at: int
    filter: Policy | None = field(default=None)
    raw: bool = False                   # RawMessageDelivery
    body_scope: bool = False            # FilterPolicyScope MessageBody
    dlq_arn: str | None = None          # RedrivePolicy's deadLetterTargetArn

    @classmethod
    def from_row(cls, row: SubscriptionRow) -> Subscription:
        attrs = orjson.loads(row.attributes)
        body_scope = attrs.get("FilterPolicyScope") == "MessageBody"
        policy = None
        fp = attrs.get("FilterPolicy")
        if fp:
            try:
                policy = compile_policy(fp, nested=body_scope)
            except FilterPolicyError:
                policy = None
        return cls(row.arn, row.topic_arn, row.account, row.region, row.protocol, row.endpoint, attrs,
                   bool(row.pending), row.token, int(row.created_at), policy,
                   attrs.get("RawMessageDelivery") == "true", body_scope, _dead_letter_arn(attrs.get("RedrivePolicy")))


def _dead_letter_arn(redrive_policy: str | None) -> str | None:
    if not redrive_policy:
        return None
    try:
        return str(orjson.loads(redrive_policy).get("deadLetterTargetArn") or "") or None
    except orjson.JSONDecodeError:
        return None

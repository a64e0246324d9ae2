"""Queue attributes: names, defaults, validation with AWS's messages, and the parsed form
(:class:`Queue`) the hot paths use without re-reading JSON."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from tsunagi.ports.cloudwatch import Series
from tsunagi.services.sqs.errors import InvalidAttributeName, InvalidAttributeValue, InvalidParameterValue
from tsunagi.store.sqs import QueueRow

# name -> (min, max) for the integer attributes
INT_RANGES: dict[str, tuple[int, int]] = {
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1024, 1_048_576),
    "MessageRetentionPeriod": (60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "VisibilityTimeout": (0, 43_200),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400),
}
DEFAULTS: dict[str, str] = {
    "DelaySeconds": "0",
    "MaximumMessageSize": "1048576",
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
    "SqsManagedSseEnabled": "true",
}
FIFO_DEFAULTS: dict[str, str] = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}
FIFO_ONLY = frozenset({"FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"})
SETTABLE = frozenset(INT_RANGES) | {"Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId",
                                    "SqsManagedSseEnabled"} | FIFO_ONLY
READ_ONLY = frozenset({"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                       "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp",
                       "QueueArn"})
ALL_NAMES = SETTABLE | READ_ONLY
# The order GetQueueAttributes(All) lists them in.
ORDER = ("QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
         "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp", "VisibilityTimeout",
         "MaximumMessageSize", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds",
         "Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
         "SqsManagedSseEnabled", "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope",
         "FifoThroughputLimit")

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
ARN_RE = re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,80}$")


def bad_value(name: str) -> InvalidAttributeValue:
    return InvalidAttributeValue(f"Invalid value for the parameter {name}.")


def unknown(name: str) -> InvalidAttributeName:
    return InvalidAttributeName(f"Unknown Attribute {name}.")


def _int(name: str, value: Any) -> str:
    lo, hi = INT_RANGES[name]
    try:
        n = int(str(value).strip())
    except ValueError:
        raise bad_value(name) from None
    if not lo <= n <= hi:
        raise bad_value(name)
    return str(n)


def _bool(name: str, value: Any) -> str:
    s = str(value).strip().lower()
    if s not in ("true", "false"):
        raise bad_value(name)
    return s


@dataclass(frozen=True, slots=True)
class RedrivePolicy:
    """A queue's ``RedrivePolicy``: its dead-letter queue and how many receives send a message there."""

    dlq_arn: str
    max_receive: int

    def to_json(self) -> str:
        return orjson.dumps({"deadLetterTargetArn": self.dlq_arn, "maxReceiveCount": self.max_receive}).decode()


def parse_redrive_policy(value: str) -> RedrivePolicy:
    """Check a RedrivePolicy's shape (the target's existence and type are checked by the service)."""
    def invalid(reason: str) -> InvalidParameterValue:
        return InvalidParameterValue(f"Value {value} for parameter RedrivePolicy is invalid. Reason: {reason}")

    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise invalid("Redrive policy is not a valid JSON map.") from None
    if not isinstance(doc, dict):
        raise invalid("Redrive policy is not a valid JSON map.")
    for key in ("deadLetterTargetArn", "maxReceiveCount"):
        if key not in doc:
            raise invalid(f"Redrive policy does not contain mandatory attribute: {key}.")
    unknown_keys = set(doc) - {"deadLetterTargetArn", "maxReceiveCount"}
    if unknown_keys:
        raise invalid(f"Only following attributes are supported: [deadLetterTargetArn, maxReceiveCount], "
                      f"found: {sorted(unknown_keys)[0]}.")
    arn = doc["deadLetterTargetArn"]
    if not isinstance(arn, str) or not ARN_RE.match(arn):
        raise invalid("Invalid value for deadLetterTargetArn.")
    try:
        count = int(doc["maxReceiveCount"])
    except (TypeError, ValueError):
        raise invalid("Invalid value for maxReceiveCount.") from None
    if not 1 <= count <= 1000:
        raise invalid(f"Invalid value for maxReceiveCount: {count}, valid values are from 1 to 1000 both "
                      "inclusive.")
    return RedrivePolicy(arn, count)


@dataclass(frozen=True, slots=True)
class RedriveAllowPolicy:
    """A dead-letter queue's ``RedriveAllowPolicy``: which source queues may use it."""

    permission: str                     # allowAll | denyAll | byQueue
    sources: tuple[str, ...] = ()

    def allows(self, source_arn: str) -> bool:
        if self.permission == "allowAll":
            return True
        if self.permission == "denyAll":
            return False
        return source_arn in self.sources


def parse_redrive_allow_policy(value: str) -> RedriveAllowPolicy:
    def invalid(reason: str) -> InvalidParameterValue:
        return InvalidParameterValue(f"Value {value} for parameter RedriveAllowPolicy is invalid. Reason: {reason}")

    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise invalid("Redrive allow policy is not a valid JSON map.") from None
    if not isinstance(doc, dict) or "redrivePermission" not in doc:
        raise invalid("Amazon SQS can't create the redrive allow policy, as it's in an unsupported format.")
    permission = doc["redrivePermission"]
    if permission not in ("allowAll", "denyAll", "byQueue"):
        raise invalid("Amazon SQS can't create the redrive allow policy, as it's in an unsupported format.")
    sources = doc.get("sourceQueueArns")
    if permission == "byQueue":
        if not isinstance(sources, list) or not sources:
            raise invalid("Amazon SQS can't create the redrive allow policy. When you specify the byQueue "
                          "permission type, you must also specify one or more sourceQueueArns values.")
        if len(sources) > 10:
            raise invalid("Amazon SQS can't create the redrive allow policy. The maximum number of source queue "
                          "ARNs you can specify is 10.")
        if not all(isinstance(s, str) and ARN_RE.match(s) for s in sources):
            raise invalid("Invalid value for sourceQueueArns.")
        return RedriveAllowPolicy(permission, tuple(sources))
    if sources is not None:
        raise invalid("Amazon SQS can't create the redrive allow policy. To specify one or more source queue "
                      "ARNs, you must set redrivePermission to byQueue.")
    return RedriveAllowPolicy(permission)


def normalize(attributes: dict[str, Any], *, fifo: bool, creating: bool) -> dict[str, str]:
    """Validate attributes given to CreateQueue/SetQueueAttributes; return them as AWS stores them.

    An empty Policy/RedrivePolicy/RedriveAllowPolicy/KmsMasterKeyId means "remove" (value "").
    """
    out: dict[str, str] = {}
    for name, raw in attributes.items():
        if name not in SETTABLE:
            raise unknown(name)
        if name in FIFO_ONLY and not fifo:
            if name == "FifoQueue" and creating and str(raw).strip().lower() == "false":
                continue
            raise unknown(name)
        if name == "FifoQueue" and not creating:
            if fifo and str(raw).strip().lower() == "true":
                continue            # what the queue already is: accepted, as AWS accepts it
            if fifo:
                raise InvalidAttributeValue("Invalid value for the parameter FifoQueue. Reason: Modifying queue "
                                            "type is not supported.")
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        value = "" if raw is None else str(raw)
        if name in INT_RANGES:
            out[name] = _int(name, value)
        elif name in ("SqsManagedSseEnabled", "ContentBasedDeduplication", "FifoQueue"):
            out[name] = _bool(name, value)
        elif name == "DeduplicationScope":
            if value not in ("messageGroup", "queue"):
                raise bad_value(name)
            out[name] = value
        elif name == "FifoThroughputLimit":
            if value not in ("perQueue", "perMessageGroupId"):
                raise bad_value(name)
            out[name] = value
        elif name == "Policy":
            if value.strip():
                try:
                    doc = orjson.loads(value)
                except orjson.JSONDecodeError:
                    raise bad_value(name) from None
                if not isinstance(doc, dict):
                    raise bad_value(name)
            out[name] = value
        elif name == "RedrivePolicy":
            out[name] = parse_redrive_policy(value).to_json() if value.strip() else ""
        elif name == "RedriveAllowPolicy":
            if value.strip():
                parse_redrive_allow_policy(value)
            out[name] = value
        else:  # KmsMasterKeyId
            out[name] = value
    if out.get("SqsManagedSseEnabled") == "true" and out.get("KmsMasterKeyId"):
        raise InvalidAttributeName("You can use one type of server-side encryption (SSE) at one time. You can "
                                   "either enable KMS SSE or SQS SSE.")
    return out


def merge(current: dict[str, str], changes: dict[str, str]) -> dict[str, str]:
    """The stored attributes after SetQueueAttributes."""
    merged = dict(current)
    for name, value in changes.items():
        if value == "" and name in ("Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId"):
            merged.pop(name, None)
            if name == "KmsMasterKeyId":
                merged.pop("KmsDataKeyReusePeriodSeconds", None)
            continue
        merged[name] = value
    if changes.get("KmsMasterKeyId"):
        merged["SqsManagedSseEnabled"] = "false"
        merged.setdefault("KmsDataKeyReusePeriodSeconds", "300")
    elif changes.get("SqsManagedSseEnabled") == "true":
        merged.pop("KmsMasterKeyId", None)
        merged.pop("KmsDataKeyReusePeriodSeconds", None)
    if "KmsDataKeyReusePeriodSeconds" in merged and "KmsMasterKeyId" not in merged:
        # Kept but only shown with a key, as AWS does.
        pass
    if merged.get("FifoThroughputLimit") == "perMessageGroupId" and merged.get("DeduplicationScope") == "queue":
        raise InvalidAttributeValue("Invalid value for the parameter FifoThroughputLimit. Reason: "
                                    "To enable high throughput for FIFO queues, set DeduplicationScope to "
                                    "messageGroup and FifoThroughputLimit to perMessageGroupId.")
    return merged


@dataclass(slots=True)
class Queue:
    """A queue's row, parsed once and cached by the service."""

    id: int
    account: str
    region: str
    name: str
    arn: str
    fifo: bool
    attributes: dict[str, str]
    tags: dict[str, str]
    created_at: int
    modified_at: int
    delay_ms: int = 0
    max_size: int = 1_048_576
    retention_ms: int = 345_600_000
    visibility: int = 30
    wait: int = 0
    content_dedup: bool = False
    dedup_by_group: bool = False
    redrive: RedrivePolicy | None = None
    allow: RedriveAllowPolicy | None = None
    kms_key: str | None = None          # KmsMasterKeyId: messages are encrypted at rest under it
    kms_reuse_s: int = 300              # KmsDataKeyReusePeriodSeconds
    sse_sqs: bool = False               # SqsManagedSseEnabled: sealed under the SQS-owned key
    loaded_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    # its AWS/SQS metrics' series (Counters.count), made once per parsed queue
    sent_metric: Series = ("", "", "", "", (), "")
    received_metric: Series = ("", "", "", "", (), "")
    deleted_metric: Series = ("", "", "", "", (), "")

    @classmethod
    def from_row(cls, row: QueueRow, loaded_at: float = 0.0) -> Queue:
        attrs: dict[str, str] = orjson.loads(row.attributes)
        q = cls(int(row.id), row.account, row.region, row.name, row.arn, bool(row.fifo), attrs,
                orjson.loads(row.tags), int(row.created_at), int(row.modified_at), loaded_at=loaded_at)
        q.delay_ms = int(attrs.get("DelaySeconds", "0")) * 1000
        q.max_size = int(attrs.get("MaximumMessageSize", DEFAULTS["MaximumMessageSize"]))
        q.retention_ms = int(attrs.get("MessageRetentionPeriod", DEFAULTS["MessageRetentionPeriod"])) * 1000
        q.visibility = int(attrs.get("VisibilityTimeout", "30"))
        q.wait = int(attrs.get("ReceiveMessageWaitTimeSeconds", "0"))
        q.content_dedup = attrs.get("ContentBasedDeduplication") == "true"
        q.dedup_by_group = attrs.get("DeduplicationScope") == "messageGroup"
        rp = attrs.get("RedrivePolicy")
        q.redrive = parse_redrive_policy(rp) if rp else None
        rap = attrs.get("RedriveAllowPolicy")
        q.allow = parse_redrive_allow_policy(rap) if rap else None
        q.kms_key = attrs.get("KmsMasterKeyId") or None
        q.kms_reuse_s = int(attrs.get("KmsDataKeyReusePeriodSeconds", "300"))
        q.sse_sqs = q.kms_key is None and attrs.get("SqsManagedSseEnabled") == "true"
        dims = (("QueueName", q.name),)
        q.sent_metric = (q.account, q.region, "AWS/SQS", "NumberOfMessagesSent", dims, "Count")
        q.received_metric = (q.account, q.region, "AWS/SQS", "NumberOfMessagesReceived", dims, "Count")
        q.deleted_metric = (q.account, q.region, "AWS/SQS", "NumberOfMessagesDeleted", dims, "Count")
        return q

    def visible_attributes(self) -> dict[str, str]:
        """The stored attributes as GetQueueAttributes shows them."""
        out = dict(self.attributes)
        if "KmsMasterKeyId" not in out:
            out.pop("KmsDataKeyReusePeriodSeconds", None)
        return out

"""Event notifications: the bucket's configuration, destination checks, and event records.

Records follow AWS's event message structure (``eventVersion`` 2.1). They are written to the
outbox in the same transaction as the change that caused them (see ``Objects.commit``), in the
journey of the request that caused them (its trace id) and recorded as pipe ``s3``; the outbox
delivers them to SQS (the body is ``{"Records": [...]}``), SNS (the same JSON as the
message, subject "Amazon S3 Notification") or Lambda (the same JSON as the event).
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import quote_plus

from tsunagi.clock import Clock
from tsunagi.context import RequestContext, Source
from tsunagi.policy import Dialect
from tsunagi.ports import Ports
from tsunagi.ports.awslambda import LAMBDA
from tsunagi.ports.delivery_policy import OFF, resource_check
from tsunagi.ports.outbox import OutboxItem, OutboxPort, to_service
from tsunagi.ports.sns import SNS
from tsunagi.ports.sqs import SQS
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.s3.buckets import Buckets
from tsunagi.services.s3.common import Bucket, customer_id, json_dumps, stamp, strip_etag
from tsunagi.services.s3.errors import err, invalid_argument
from tsunagi.store.base import Store, Tx
from tsunagi.store.s3 import S3Repo

EVENT_TYPES = frozenset({
    "s3:ReducedRedundancyLostObject", "s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy", "s3:ObjectCreated:CompleteMultipartUpload", "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated", "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post", "s3:ObjectRestore:Completed", "s3:ObjectRestore:Delete", "s3:Replication:*",
    "s3:Replication:OperationFailedReplication", "s3:Replication:OperationNotTracked",
    "s3:Replication:OperationMissedThreshold", "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:LifecycleTransition", "s3:IntelligentTiering", "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete", "s3:LifecycleExpiration:DeleteMarkerCreated", "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put", "s3:ObjectTagging:Delete", "s3:ObjectAcl:Put"})

# configuration list member → (ARN member, outbox kind, what AWS calls a missing one)
_KINDS = {
    "QueueConfigurations": ("QueueArn", "sqs", "The destination queue does not exist"),
    "TopicConfigurations": ("TopicArn", "sns", "The destination topic does not exist"),
    "LambdaFunctionConfigurations": ("LambdaFunctionArn", "lambda", "The destination Lambda does not exist"),
}
_SUBJECT = "Amazon S3 Notification"
S3_PRINCIPAL = "s3.amazonaws.com"


def event_matches(configured: list[str], event: str) -> bool:
    full = "s3:" + event
    family = full.rsplit(":", 1)[0] + ":*"
    return full in configured or family in configured


def key_matches(config: dict[str, Any], key: str) -> bool:
    rules = ((config.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
    for rule in rules:
        name, value = (rule.get("Name") or "").lower(), rule.get("Value") or ""
        if name == "prefix" and not key.startswith(value):
            return False
        if name == "suffix" and not key.endswith(value):
            return False
    return True


def _rules(config: dict[str, Any]) -> list[tuple[str, str]]:
    """A configuration's key filter as (``prefix`` | ``suffix``, value) pairs."""
    rules = ((config.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
    return [((r.get("Name") or "").lower(), r.get("Value") or "") for r in rules]


def _events_meet(a: str, b: str) -> bool:
    """Whether event types ``a`` and ``b`` (``s3:ObjectCreated:*``, ``s3:ObjectCreated:Put``) share an event."""
    if a == b:
        return True
    if a.endswith(":*") and b.startswith(a[:-1]):
        return True
    return b.endswith(":*") and a.startswith(b[:-1])


def _keys_meet(a: list[tuple[str, str]], b: list[tuple[str, str]]) -> bool:
    """Whether some key passes both filters: prefixes (and suffixes) that are not one a prefix (a
    suffix) of the other keep every key apart."""
    pa, pb = dict(a).get("prefix", ""), dict(b).get("prefix", "")
    sa, sb = dict(a).get("suffix", ""), dict(b).get("suffix", "")
    return (pa.startswith(pb) or pb.startswith(pa)) and (sa.endswith(sb) or sb.endswith(sa))


def _check_overlap(one: dict[str, Any], two: dict[str, Any]) -> None:
    """AWS refuses two configurations of a bucket that would both match some event on some key."""
    for a in one["Events"]:
        for b in two["Events"]:
            if _events_meet(a, b) and _keys_meet(_rules(one), _rules(two)):
                raise invalid_argument("Configurations overlap. Configurations on the same bucket cannot share a "
                                       "common event type.", "Event", b)


def _parses(arn: str, kind: str) -> bool:
    """Whether ``arn`` reads as an ARN of the destination's service (checked even with
    SkipDestinationValidation, which skips only the existence and permission checks)."""
    parts = arn.split(":", 5)
    return len(parts) == 6 and parts[0] == "arn" and parts[1].startswith("aws") and parts[2] == kind \
        and bool(parts[5])


def iso_time(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(round(t * 1000)) % 1000:03d}Z"


def sequencer(value: int) -> str:
    """The event's ``sequencer``: hexadecimal, as S3 writes it (compare a key's sequencers as numbers)."""
    return f"{value:018X}"


def event_record(*, event: str, region: str, now: float, principal: str, source_ip: str, request_id: str,
                 config_id: str, bucket: str, bucket_owner: str, key: str, size: int | None, etag: str | None,
                 version_id: str | None, seq: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/")}
    if size is not None:
        obj["size"] = size
    if etag:
        obj["eTag"] = strip_etag(etag)
    if version_id is not None:
        obj["versionId"] = version_id
    obj["sequencer"] = seq
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": iso_time(now),
        "eventName": event,
        "userIdentity": {"principalId": principal},
        "requestParameters": {"sourceIPAddress": source_ip},
        "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": request_id},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": config_id,
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": customer_id(bucket_owner)},
                       "arn": f"arn:aws:s3:::{bucket}"},
            "object": obj,
        },
        **(extra or {}),
    }


def _delivery(ctx: RequestContext, kind: str, arn: str, body: str, b: Bucket) -> OutboxItem:
    """The outbox row that delivers ``body`` to ``arn``: in the caller's journey (its trace id and the
    trace header it sent, which a queue shows as the message's ``AWSTraceHeader``), from the
    bucket as ``s3.amazonaws.com`` (for the destination's resource policy), recorded as pipe ``s3``
    under the request id that caused it."""
    if kind == "sqs":
        params: dict[str, Any] = {"MessageBody": body}
    elif kind == "sns":
        params = {"Message": body, "Subject": _SUBJECT}
    else:
        params = {"Payload": body}
    return to_service(kind, arn, params, source=Source(b.arn, S3_PRINCIPAL, b.account),
                      trace_id=ctx.trace_id, pipe="s3", message_id=ctx.request_id, trace_header=ctx.trace_header)


class Notifications:
    """A bucket's notification configuration, and the outbox rows an object event causes."""

    def __init__(self, store: Store, repo: S3Repo, buckets: Buckets, ports: Ports, outbox: OutboxPort,
                 clock: Clock, policies: str = OFF) -> None:
        self.policies = policies            # --policies: off | warn | enforce
        self.store = store
        self.repo = repo
        self.buckets = buckets
        self.ports = ports
        self.outbox = outbox
        self.clock = clock

    # == events ===================================================================================
    async def events_for(self, tx: Tx, ctx: RequestContext, b: Bucket, event: str, key: str, *,
                         size: int | None = None, etag: str | None = None, version_id: str | None = None,
                         now: float, extra: dict[str, Any] | None = None) -> list[OutboxItem]:
        """Outbox rows for an event on ``key`` (``event`` without the ``s3:`` prefix), called inside the
        transaction that wrote the key (after the repository took the key's lock): the sequencer is
        drawn there, so a key's events order as their commits did, on every server. ``extra``: members
        the record carries besides AWS's usual ones (``glacierEventData``)."""
        conf = b.config.get("notification")
        if not conf:
            return []
        out = []
        seq = None
        for member, (arn_member, kind, _missing) in _KINDS.items():
            for c in conf.get(member) or []:
                if not event_matches(c.get("Events") or [], event) or not key_matches(c, key):
                    continue
                seq = seq or sequencer(await self.repo.next_sequencer(tx))
                # an IAM user's or role session's unique id (AWS:AIDA…, AWS:AROA…:session); the account's
                # root by its customer id, as the bucket owner is
                who = ctx.principal_id
                principal = customer_id(ctx.account) if who == ctx.account else f"AWS:{who}"
                record = event_record(event=event, region=b.region, now=now, principal=principal,
                                      source_ip=ctx.source_ip, request_id=ctx.request_id, config_id=c.get("Id", ""),
                                      bucket=b.name, bucket_owner=b.account, key=key, size=size, etag=etag,
                                      version_id=version_id, seq=seq, extra=extra)
                body = json_dumps({"Records": [record]})
                out.append(_delivery(ctx, kind, c[arn_member], body, b))
        return out

    # == configuration ============================================================================
    async def put_bucket_notification_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        conf = params.get("NotificationConfiguration") or {}
        clean: dict[str, Any] = {}
        failures: list[tuple[str, str]] = []
        ids: set[str] = set()
        placed: list[dict[str, Any]] = []
        for member, (arn_member, kind, missing) in _KINDS.items():
            entries = []
            for c in conf.get(member) or []:
                arn = c.get(arn_member)
                events = c.get("Events") or []
                if not arn or not events:
                    raise err("MalformedXML", "The XML you provided was not well-formed or did not validate against "
                              "our published schema", 400)
                for e in events:
                    if e not in EVENT_TYPES:
                        raise invalid_argument("The event is not supported for notifications", "Event", e)
                self._check_filter(c)
                cid = c.get("Id") or str(uuid.uuid4())
                if cid in ids:
                    raise invalid_argument("Configurations overlap. Configuration id's must be unique.", "Id", cid)
                ids.add(cid)
                entry = {"Id": cid, arn_member: arn, "Events": list(events)}
                rules = _rules(c)
                if rules:      # AWS answers the rule names as Prefix and Suffix, however they were sent
                    entry["Filter"] = {"Key": {"FilterRules": [{"Name": n.capitalize(), "Value": v} for n, v in rules]}}
                for other in placed:
                    _check_overlap(other, entry)
                placed.append(entry)
                entries.append(entry)
                if not _parses(arn, kind):
                    failures.append((arn, "The ARN could not be parsed"))
                elif not params.get("SkipDestinationValidation"):
                    why = await self._check_destination(kind, arn, missing)
                    if why:
                        failures.append((arn, why))
                    else:
                        refused = await self._check_permission(kind, arn, b)
                        if refused:
                            failures.append(refused)
            if entries:
                clean[member] = entries
        if conf.get("EventBridgeConfiguration") is not None:
            clean["EventBridgeConfiguration"] = {}
        if failures:
            fields: dict[str, Any] = {}
            for i, (arn, why) in enumerate(failures, 1):
                fields[f"ArgumentName{i}"] = arn
                fields[f"ArgumentValue{i}"] = why
            raise ServiceError("Unable to validate the following destination configurations", code="InvalidArgument",
                               status=400, **fields)
        if clean:
            b.config["notification"] = clean
        else:
            b.config.pop("notification", None)
        tests = self._test_events(ctx, b, clean)
        async with self.store.transaction() as tx:
            await self.repo.set_bucket_config_tx(tx, b.name, json_dumps(b.config))
            if tests:
                await self.outbox.add(tx, tests)
        return {}

    async def get_bucket_notification_configuration(self, ctx: RequestContext, params: dict[str, Any]
                                                    ) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        return dict(b.config.get("notification") or {})

    @staticmethod
    def _check_filter(c: dict[str, Any]) -> None:
        rules = ((c.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
        seen = set()
        for rule in rules:
            name = (rule.get("Name") or "").lower()
            if name not in ("prefix", "suffix"):
                raise invalid_argument("filter rule name must be either prefix or suffix", "FilterRule.Name",
                                       rule.get("Name"))
            if name in seen:
                raise invalid_argument("Cannot specify more than one prefix rule in a filter." if name == "prefix"
                                       else "Cannot specify more than one suffix rule in a filter.",
                                       "FilterRule.Name", rule.get("Name"))
            seen.add(name)

    async def _check_destination(self, kind: str, arn: str, missing: str) -> str | None:
        """None when the destination exists, else AWS's reason."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            return missing
        ports = self.ports
        found: object | None = None
        if kind == "sqs":
            sqs = ports.find(SQS)
            found = await sqs.queue(arn) if sqs is not None else None
        elif kind == "sns":
            sns = ports.find(SNS)
            found = await sns.topic(arn) if sns is not None else None
        else:
            lam = ports.find(LAMBDA)
            found = await lam.function(arn, parts[4], parts[3]) if lam is not None else None
        return None if found is not None else missing

    async def _check_permission(self, kind: str, arn: str, b: Bucket) -> tuple[str, str] | None:
        """Whether the destination's resource policy lets S3 deliver this bucket's events, as AWS checks
        when the configuration is set: None when it does (or ``--policies`` is off), else AWS's
        (ArgumentName, ArgumentValue). Under ``warn`` the configuration is accepted and the refusal logged."""
        if self.policies == OFF:
            return None
        parts = arn.split(":", 5)
        ports = self.ports
        policy: str | None
        if kind == "sqs":
            sqs = ports.find(SQS)
            queue = await sqs.queue(arn) if sqs is not None else None
            if queue is None:
                return None
            policy, dialect, action = queue.attributes.get("Policy"), Dialect.SQS, "sqs:SendMessage"
            owner = queue.account
            refused = (arn, "Permissions on the destination queue do not allow S3 to publish notifications from "
                            "this bucket")
        elif kind == "sns":
            sns = ports.find(SNS)
            topic = await sns.topic(arn) if sns is not None else None
            if topic is None:
                return None
            policy, dialect, action, owner = topic.attributes.get("Policy"), Dialect.SNS, "SNS:Publish", topic.account
            refused = (arn, "Permissions on the destination topic do not allow S3 to publish notifications from "
                            "this bucket")
        else:
            lam = ports.find(LAMBDA)
            fn = await lam.function(arn, parts[4], parts[3]) if lam is not None else None
            if fn is None:
                return None
            policy, dialect, action, owner = fn.policy, Dialect.LAMBDA, "lambda:InvokeFunction", fn.account
            refused = (f"{arn}, null", f"Not authorized to invoke function [{arn}]")
            arn = fn.arn            # (function policies name the unqualified function)
        verdict = resource_check(self.policies, policy=policy, dialect=dialect, resource_arn=arn,
                                 resource_account=owner, principal=S3_PRINCIPAL, action=action,
                                 source_arn=b.arn, source_account=b.account, configuring=True)
        return refused if not verdict.allowed else None

    def _test_events(self, ctx: RequestContext, b: Bucket, conf: dict[str, Any]) -> list[OutboxItem]:
        """AWS sends ``s3:TestEvent`` to queue and topic destinations when a configuration is set."""
        now = stamp(self.clock)
        body = json_dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": iso_time(now),
                           "Bucket": b.name, "RequestId": ctx.request_id, "HostId": ctx.request_id})
        out = []
        seen = set()
        for member in ("QueueConfigurations", "TopicConfigurations"):
            arn_member, kind, _ = _KINDS[member]
            for c in conf.get(member) or []:
                if c[arn_member] in seen:
                    continue
                seen.add(c[arn_member])
                out.append(_delivery(ctx, kind, c[arn_member], body, b))
        return out

"""CloudWatch Logs: groups, streams, events, filter patterns, retention and tags.

Other services write through :meth:`LogsService.append` (the Lambda runtime's function logs):
one transaction per batch, creating the group and stream on first use.

Reading:
- GetLogEvents pages through one stream in (timestamp, insertion) order. Its tokens are
  ``f/<56 digits>`` and ``b/<56 digits>`` like AWS's; each encodes a position between two events.
  At the end of the stream the token passed in comes back unchanged, so a poller that keeps
  calling with ``nextForwardToken`` sees new events as they arrive.
- FilterLogEvents reads a whole group (or some of its streams), applying a filter pattern
  (:mod:`tsunagi.services.logs.patterns`). Pages stop at the limit, at 1 MB, or after scanning
  a bounded number of events; a ``nextToken`` is returned whenever more may follow.

Retention: events older than the group's retention are never returned, and a periodic sweep
deletes them (and takes them out of ``storedBytes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

from tsunagi.ports.logs import LOGS
from tsunagi.services.base import Platform, RequestContext, Service
from tsunagi.services.logs.deliveries import Deliveries
from tsunagi.services.logs.destinations import Destinations
from tsunagi.services.logs.errors import (
    BAD_TOKEN,
    GROUP_EXISTS,
    NO_GROUP,
    NO_RESOURCE,
    NO_STREAM,
    STREAM_EXISTS,
    InvalidParameter,
    LogsValidation,
    ResourceAlreadyExists,
    ResourceNotFound,
    TooManyTags,
    constraint,
)
from tsunagi.services.logs.exports import Exports
from tsunagi.services.logs.fanout import Fanout
from tsunagi.services.logs.insights.operations import Insights
from tsunagi.services.logs.kms_keys import KmsKeys
from tsunagi.services.logs.listing import GroupListing, scan
from tsunagi.services.logs.metric_filters import MetricFilters
from tsunagi.services.logs.patterns import FilterPatternError, compile_pattern
from tsunagi.services.logs.policies import Policies
from tsunagi.services.logs.port import LogsPortImpl
from tsunagi.services.logs.subscriptions import Subscriptions
from tsunagi.services.logs.tokens import decode as _unb64
from tsunagi.services.logs.tokens import encode as _b64
from tsunagi.services.logs.tokens import name_after
from tsunagi.store.logs import FOREVER, NEVER, EventRow, GroupRow, LogsRepo, StreamRow

log = logging.getLogger("tsunagi.logs")

RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                  2922, 3288, 3653)
DAY_MS = 86_400_000
EVENT_OVERHEAD = 26                 # bytes AWS adds per event when sizing a batch
MAX_BATCH_BYTES = 1_048_576
MAX_EVENT_BYTES = 1_048_576
MAX_PAGE_BYTES = 1_048_576          # GetLogEvents / FilterLogEvents pages
TOO_OLD_MS = 14 * DAY_MS
TOO_NEW_MS = 2 * 3_600_000
MAX_SPAN_MS = DAY_MS
MAX_TAGS = 50
SCAN_BATCH = 1000                   # FilterLogEvents reads this many events per query …
SCAN_BUDGET = 50_000                # … and at most this many per call before answering with a nextToken

_GROUP_NAME = re.compile(r"[\.\-_/#A-Za-z0-9]+")
_STREAM_NAME = re.compile(r"[^:*]*")
_SEQ_TOKEN = re.compile(r"([fb])/(\d{26})(\d{30})")
_IDENTIFIER = re.compile(r"[\w#+=/:,.@-]*", re.ASCII)
_TAG_ARN = re.compile(r"[\w+=/:,.@-]*", re.ASCII)
_DESTINATION_ARN = re.compile(r"arn:[^:]+:logs:([^:]*):(\d{12}):destination:([^:*]+)")
_GROUP_ARN = re.compile(r"arn:[^:]+:logs:([^:]*):(\d{12}):log-group:([^:]+)(?::\*)?")


def _position_token(direction: str, ts: int, event_id: int) -> str:
    return f"{direction}/{max(ts, 0):026d}{max(event_id, 0):030d}"


def _event_id(ts: int, row_id: int) -> str:
    return f"{max(ts, 0):020d}{row_id:036d}"


class LogsService(Service):
    name = "logs"
    sweep_interval = 60.0           # seconds between retention sweeps

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.repo = LogsRepo(self.store)
        self._known: dict[tuple[str, str, str, str], tuple[int, int]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self.insights = Insights(self)
        self.listing = GroupListing(self)
        self.fanout = Fanout(self)              # subscription deliveries and metric filter data on writes
        self.subscriptions = Subscriptions(self)
        self.metric_filters = MetricFilters(self)
        self.policies = Policies(self)          # resource, account and data protection policies
        self.destinations = Destinations(self)
        self.exports = Exports(self)            # export tasks to S3
        self.deliveries = Deliveries(self)      # vended-log delivery sources, destinations and deliveries
        self.kms_keys = KmsKeys(self)
        platform.ports.provide(LOGS, LogsPortImpl(self))

    # == lifecycle =============================================================================
    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="tsunagi-logs-retention")

    async def stop(self) -> None:
        await self.insights.stop()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sweeper
            self._sweeper = None
        await self.fanout.stop()
        await self.exports.stop()

    async def on_reset(self) -> None:
        self._known.clear()
        await self.insights.stop()
        self.fanout.clear()

    async def _sweep_loop(self) -> None:
        while True:
            try:
                # one server sweeps for all that share the database
                removed = await self.sweep() if self.store.leads() else 0
                if removed:
                    log.info("retention: deleted %d expired log events", removed)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("retention sweep failed; will try again")
            await asyncio.sleep(self.sweep_interval)

    async def sweep(self) -> int:
        """Delete every event older than its group's retention; returns how many were deleted."""
        now = self.clock.now_ms()
        total = 0
        for group_id, days in await self.repo.groups_with_retention():
            cutoff = now - int(days) * DAY_MS
            while True:
                n = await self.repo.delete_expired(int(group_id), cutoff)
                total += n
                if n < 5000:
                    break
                await asyncio.sleep(0)   # let requests in between batches
        return total

    # == the internal API ======================================================================
    async def append(self, account: str, region: str, group: str, stream: str,
                     events: list[tuple[int, str]]) -> None:
        """Write ``(timestamp_ms, message)`` events to a stream, creating the group and stream if
        missing, in one transaction. For other services (function logs); no batch limits apply."""
        rows = [(int(ts), msg, len(msg.encode("utf-8", "surrogatepass"))) for ts, msg in events]
        key = (account, region, group, stream)
        plan = await self.fanout.plan(account, region, group)
        written = [(ts, msg) for ts, msg, _ in rows]
        then = self.fanout.in_transaction(self.fanout.deliveries(plan, account, region, group, stream, written,
                                                                 through_port=True, trace_id=None)) if plan else None
        ids = await self.repo.append(account, region, group, stream, rows, self.clock.now_ms(),
                                     self._known.get(key), then)
        self.fanout.after_commit(plan, account, region, group, written)
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[key] = ids

    # == helpers ===============================================================================
    @staticmethod
    def _group_arn(region: str, account: str, name: str) -> str:
        return f"arn:aws:logs:{region}:{account}:log-group:{name}"

    @staticmethod
    def _check_group_name(name: str, member: str = "logGroupName") -> None:
        if not _GROUP_NAME.fullmatch(name):
            raise constraint(name, member, "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+")

    @staticmethod
    def _check_stream_name(name: str, member: str = "logStreamName") -> None:
        if not _STREAM_NAME.fullmatch(name):
            raise constraint(name, member, "Member must satisfy regular expression pattern: [^:*]*")

    async def _group(self, ctx: RequestContext, name: str) -> GroupRow:
        self._check_group_name(name)
        row = await self.repo.group(ctx.account, ctx.region, name)
        if row is None:
            raise ResourceNotFound(NO_GROUP)
        return row

    async def _group_of(self, ctx: RequestContext, params: dict[str, Any]) -> GroupRow:
        """The group named by logGroupName or logGroupIdentifier (a name or an ARN)."""
        name = params.get("logGroupName")
        ident = params.get("logGroupIdentifier")
        if name and ident:
            raise InvalidParameter("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        if ident:
            return await self._group_by_identifier(ctx, ident)
        if not name:
            raise InvalidParameter("Either logGroupName or logGroupIdentifier must be specified.")
        return await self._group(ctx, name)

    async def _group_by_identifier(self, ctx: RequestContext, ident: str) -> GroupRow:
        if not _IDENTIFIER.fullmatch(ident):   # AWS takes the ARN without ":*" here
            raise constraint(ident, "logGroupIdentifier",
                             "Member must satisfy regular expression pattern: [\\w#+=/:,.@-]*")
        if not ident.startswith("arn:"):
            return await self._group(ctx, ident)
        m = _GROUP_ARN.fullmatch(ident)
        if m is None:
            raise InvalidParameter(f"Invalid log group identifier: {ident}")
        region, account, name = m.groups()
        if account != ctx.account or region != ctx.region:
            raise ResourceNotFound(NO_GROUP)
        return await self._group(ctx, name)

    async def _stream(self, group: GroupRow, name: str) -> StreamRow:
        self._check_stream_name(name)
        row = await self.repo.stream(group.id, name)
        if row is None:
            raise ResourceNotFound(NO_STREAM)
        return row

    def _cutoff(self, group: GroupRow) -> int:
        """Events before this timestamp have expired (the group's retention)."""
        days = group.retention_days
        return self.clock.now_ms() - int(days) * DAY_MS if days else NEVER

    def _group_out(self, row: GroupRow, *, brief: bool = False, metric_filters: int = 0,
                   data_protection: str | None = None) -> dict[str, Any]:
        account, region, name, created = row.account, row.region, row.name, row.created_at
        retention, kms, cls, protection, stored = (row.retention_days, row.kms_key_id, row.group_class,
                                                   row.deletion_protection, row.stored_bytes)
        arn = self._group_arn(region, account, name)
        out: dict[str, Any] = {"logGroupName": name, "creationTime": int(created), "arn": f"{arn}:*"}
        if brief:
            return out
        if retention:
            out["retentionInDays"] = int(retention)
        out["metricFilterCount"] = metric_filters
        out["storedBytes"] = max(int(stored), 0)
        if kms:
            out["kmsKeyId"] = kms
        out["logGroupClass"] = cls
        out["logGroupArn"] = arn
        if data_protection:
            out["dataProtectionStatus"] = data_protection
        out["deletionProtectionEnabled"] = bool(protection)
        return out

    def _stream_out(self, group: GroupRow, row: StreamRow) -> dict[str, Any]:
        name, created, first, last, ingested, seq = (row.name, row.created_at, row.first_event_at,
                                                     row.last_event_at, row.last_ingestion_at, row.upload_seq)
        out: dict[str, Any] = {"logStreamName": name, "creationTime": int(created)}
        if first is not None:
            out["firstEventTimestamp"] = int(first)
            out["lastEventTimestamp"] = int(last if last is not None else first)
            out["lastIngestionTime"] = int(ingested if ingested is not None else created)
        if seq:
            out["uploadSequenceToken"] = f"{int(seq):056d}"
        out["arn"] = f"{self._group_arn(group.region, group.account, group.name)}:log-stream:{name}"
        out["storedBytes"] = 0      # AWS has reported 0 for streams since 2019
        return out

    async def _tag_target(self, ctx: RequestContext, arn: str) -> str:
        """The logGroupArn a resource ARN names (the group must exist)."""
        if not _TAG_ARN.fullmatch(arn):        # AWS takes the ARN without ":*" here
            raise constraint(arn, "resourceArn", "Member must satisfy regular expression pattern: [\\w+=/:,.@-]*")
        m = _GROUP_ARN.fullmatch(arn)
        if m is None:
            d = _DESTINATION_ARN.fullmatch(arn)
            if d is not None:
                if d.group(2) != ctx.account or d.group(1) != ctx.region or \
                        not await self.destinations.exists(ctx.account, ctx.region, d.group(3)):
                    raise ResourceNotFound(NO_RESOURCE)
                return arn
            raise InvalidParameter(f"Invalid resource ARN: {arn}")
        region, account, name = m.groups()
        if account != ctx.account or region != ctx.region:
            raise ResourceNotFound(NO_GROUP)
        group = await self._group(ctx, name)
        return self._group_arn(group.region, group.account, group.name)

    async def _add_tags(self, arn: str, tags: dict[str, str]) -> None:
        current = await self.repo.tags(arn)
        if len(current.keys() | tags.keys()) > MAX_TAGS:
            raise TooManyTags(f"A resource can have no more than {MAX_TAGS} tags.", resourceName=arn)
        await self.repo.put_tags(arn, tags)

    # == log groups ============================================================================
    async def create_log_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["logGroupName"]
        self._check_group_name(name)
        tags = params.get("tags") or {}
        if len(tags) > MAX_TAGS:
            raise TooManyTags(f"A resource can have no more than {MAX_TAGS} tags.")
        arn = self._group_arn(ctx.region, ctx.account, name)
        created = await self.repo.create_group(
            ctx.account, ctx.region, name, self.clock.now_ms(), params.get("kmsKeyId"),
            params.get("logGroupClass") or "STANDARD", bool(params.get("deletionProtectionEnabled")), arn, tags)
        if not created:
            raise ResourceAlreadyExists(GROUP_EXISTS)
        if params.get("logGroupClass") == "DELIVERY":     # AWS keeps a Delivery class group's events one day
            group = await self.repo.group(ctx.account, ctx.region, name)
            if group is not None:
                await self.repo.set_retention(group.id, 1)
        return {}

    async def delete_log_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = await self._group(ctx, params["logGroupName"])
        if group.deletion_protection:
            raise LogsValidation(f"Log group {group.name} has deletion protection enabled; turn it off with "
                                 "PutLogGroupDeletionProtection before deleting the log group.")
        await self.repo.delete_group(group.id, self._group_arn(group.region, group.account, group.name))
        self.fanout.forget(ctx.account, ctx.region, group.name)
        await self.policies.forget_group(ctx.account, ctx.region, group.name,
                                         self._group_arn(group.region, group.account, group.name))
        for key in [k for k in self._known if k[:3] == (ctx.account, ctx.region, group.name)]:
            del self._known[key]
        return {}

    async def put_log_group_deletion_protection(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = await self._group_of(ctx, params)
        await self.repo.set_protection(group.id, bool(params["deletionProtectionEnabled"]))
        return {}

    async def describe_log_groups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("logGroupNamePrefix")
        contains = params.get("logGroupNamePattern")
        idents = params.get("logGroupIdentifiers")
        if prefix and contains is not None:
            raise InvalidParameter("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
        if idents and (prefix or contains):
            raise InvalidParameter("logGroupIdentifiers cannot be combined with logGroupNamePrefix or "
                                   "logGroupNamePattern.")
        names: list[str] | None = None
        if idents:
            names = []
            if not all(_IDENTIFIER.fullmatch(i) for i in idents):     # no ":*" ARNs here either
                raise constraint(f"[{', '.join(idents)}]", "logGroupIdentifiers", "Member must satisfy constraint: "
                                 "[Member must satisfy regular expression pattern: [\\w#+=/:,.@-]*]")
            for ident in idents:
                m = _GROUP_ARN.fullmatch(ident) if ident.startswith("arn:") else None
                if m is None:
                    names.append(ident)
                elif m.group(2) == ctx.account and m.group(1) == ctx.region:
                    names.append(m.group(3))
        cls = params.get("logGroupClass")

        async def of_class(row: GroupRow) -> bool:
            return bool(row.group_class == cls)
        rows, more = await scan(self.repo, ctx.account, ctx.region, of_class if cls else None,
                                after=name_after(params.get("nextToken")), limit=int(params.get("limit") or 50),
                                prefix=prefix, contains=contains or None, names=names)
        brief = contains is not None
        counts = {} if brief else await self.fanout.repo.metric_counts([r.id for r in rows])
        protection = {} if brief or not rows else await self.policies.protection_statuses(ctx.account, ctx.region)
        out: dict[str, Any] = {"logGroups": [self._group_out(r, brief=brief, metric_filters=counts.get(r.id, 0),
                                                             data_protection=protection.get(r.name))
                                             for r in rows]}
        if more:
            out["nextToken"] = _b64({"n": rows[-1].name})
        return out

    async def list_log_groups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.listing.list_log_groups(ctx, params)

    async def put_retention_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        days = params.get("retentionInDays")
        if days not in RETENTION_DAYS:
            raise constraint(days, "retentionInDays", "Member must satisfy enum value set: "
                             f"[{', '.join(str(d) for d in RETENTION_DAYS)}]")
        group = await self._group(ctx, params["logGroupName"])
        await self.repo.set_retention(group.id, int(days))
        return {}

    async def delete_retention_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = await self._group(ctx, params["logGroupName"])
        await self.repo.set_retention(group.id, None)
        return {}

    # == tags ==================================================================================
    async def tag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = await self._tag_target(ctx, params["resourceArn"])
        await self._add_tags(arn, params.get("tags") or {})
        return {}

    async def untag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = await self._tag_target(ctx, params["resourceArn"])
        await self.repo.remove_tags(arn, params.get("tagKeys") or [])
        return {}

    async def list_tags_for_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = await self._tag_target(ctx, params["resourceArn"])
        return {"tags": await self.repo.tags(arn)}

    async def tag_log_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = await self._group(ctx, params["logGroupName"])
        await self._add_tags(self._group_arn(group.region, group.account, group.name), params.get("tags") or {})
        return {}

    async def untag_log_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = await self._group(ctx, params["logGroupName"])
        await self.repo.remove_tags(self._group_arn(group.region, group.account, group.name), params.get("tags") or [])
        return {}

    async def list_tags_log_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = await self._group(ctx, params["logGroupName"])
        return {"tags": await self.repo.tags(self._group_arn(group.region, group.account, group.name))}

    # == Logs Insights (services/logs/insights/operations.py) ===================================
    async def start_query(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.insights.start_query(ctx, params)

    async def get_query_results(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.insights.get_query_results(ctx, params)

    async def stop_query(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.insights.stop_query(ctx, params)

    async def describe_queries(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.insights.describe_queries(ctx, params)

    async def get_log_record(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.insights.get_log_record(ctx, params)

    async def put_query_definition(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.insights.put_query_definition(ctx, params)

    async def describe_query_definitions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.insights.describe_query_definitions(ctx, params)

    async def delete_query_definition(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.insights.delete_query_definition(ctx, params)
    # == subscription filters (subscriptions.py) and metric filters (metric_filters.py) ==========
    async def put_subscription_filter(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.subscriptions.put(ctx, params)

    async def describe_subscription_filters(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.subscriptions.describe(ctx, params)

    async def delete_subscription_filter(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.subscriptions.delete(ctx, params)

    async def put_metric_filter(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.metric_filters.put(ctx, params)

    async def describe_metric_filters(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.metric_filters.describe(ctx, params)

    async def delete_metric_filter(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.metric_filters.delete(ctx, params)

    async def test_metric_filter(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.metric_filters.test(ctx, params)

    # == policies (policies.py) and destinations (destinations.py) ==============================
    async def put_resource_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.policies.put_resource_policy(ctx, params)

    async def describe_resource_policies(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.policies.describe_resource_policies(ctx, params)

    async def delete_resource_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.policies.delete_resource_policy(ctx, params)

    async def put_account_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.policies.put_account_policy(ctx, params)

    async def describe_account_policies(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.policies.describe_account_policies(ctx, params)

    async def delete_account_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.policies.delete_account_policy(ctx, params)

    async def put_data_protection_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.policies.put_data_protection_policy(ctx, params)

    async def get_data_protection_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.policies.get_data_protection_policy(ctx, params)

    async def delete_data_protection_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.policies.delete_data_protection_policy(ctx, params)

    async def put_destination(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.destinations.put(ctx, params)

    async def put_destination_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.destinations.put_policy(ctx, params)

    async def describe_destinations(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.destinations.describe(ctx, params)

    async def delete_destination(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.destinations.delete(ctx, params)

    # == KMS keys (kms_keys.py) ==============================================================
    async def associate_kms_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.kms_keys.associate(ctx, params)

    async def disassociate_kms_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.kms_keys.disassociate(ctx, params)

    # == export tasks (exports.py) ===========================================================
    async def create_export_task(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.exports.create(ctx, params)

    async def describe_export_tasks(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.exports.describe(ctx, params)

    async def cancel_export_task(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.exports.cancel(ctx, params)

    # == vended-log deliveries (deliveries.py) ================================================
    async def put_delivery_source(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.deliveries.put_source(ctx, params)

    async def get_delivery_source(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.deliveries.get_source(ctx, params)

    async def describe_delivery_sources(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.deliveries.describe_sources(ctx, params)

    async def delete_delivery_source(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.deliveries.delete_source(ctx, params)

    async def put_delivery_destination(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.deliveries.put_destination(ctx, params)

    async def get_delivery_destination(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.deliveries.get_destination(ctx, params)

    async def describe_delivery_destinations(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.deliveries.describe_destinations(ctx, params)

    async def delete_delivery_destination(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.deliveries.delete_destination(ctx, params)

    async def put_delivery_destination_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.deliveries.put_destination_policy(ctx, params)

    async def get_delivery_destination_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.deliveries.get_destination_policy(ctx, params)

    async def delete_delivery_destination_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.deliveries.delete_destination_policy(ctx, params)

    async def create_delivery(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.deliveries.create(ctx, params)

    async def get_delivery(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.deliveries.get(ctx, params)

    async def describe_deliveries(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.deliveries.describe(ctx, params)

    async def update_delivery_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.deliveries.update(ctx, params)

    async def delete_delivery(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.deliveries.delete(ctx, params)

    # == log streams ===========================================================================
    async def create_log_stream(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["logStreamName"]
        self._check_stream_name(name)
        group = await self._group(ctx, params["logGroupName"])
        if not await self.repo.create_stream(group.id, name, self.clock.now_ms()):
            raise ResourceAlreadyExists(STREAM_EXISTS)
        return {}

    async def delete_log_stream(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = await self._group(ctx, params["logGroupName"])
        stream = await self._stream(group, params["logStreamName"])
        await self.repo.delete_stream(group.id, stream.id)
        self._known.pop((ctx.account, ctx.region, group.name, stream.name), None)
        return {}

    async def describe_log_streams(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = await self._group_of(ctx, params)
        prefix = params.get("logStreamNamePrefix")
        by_last_event = params.get("orderBy") == "LastEventTime"
        if by_last_event and prefix:
            raise InvalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
        descending = bool(params.get("descending"))
        limit = int(params.get("limit") or 50)
        after: tuple[int, str] | None = None
        if params.get("nextToken"):
            doc = _unb64(params["nextToken"])
            try:
                after = (int(doc["t"]), str(doc["n"]))
            except (TypeError, KeyError, ValueError):
                raise InvalidParameter(BAD_TOKEN) from None
        rows = await self.repo.list_streams(group.id, prefix=prefix, by_last_event=by_last_event,
                                            descending=descending, after=after, limit=limit + 1)
        page = rows[:limit]
        out: dict[str, Any] = {"logStreams": [self._stream_out(group, r) for r in page]}
        if len(rows) > limit:
            last = page[-1]
            out["nextToken"] = _b64({"t": NEVER if last.last_event_at is None else last.last_event_at, "n": last.name})
        return out

    # == writing ===============================================================================
    async def put_log_events(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        events = params["logEvents"]
        sized: list[tuple[int, str, int]] = []
        total = 0
        for ev in events:
            message = ev["message"]
            size = len(message.encode("utf-8", "surrogatepass"))
            if size + EVENT_OVERHEAD > MAX_EVENT_BYTES:
                raise InvalidParameter(f"Log event too large: {size + EVENT_OVERHEAD} bytes exceeds limit of "
                                       f"{MAX_EVENT_BYTES}")
            total += size + EVENT_OVERHEAD
            sized.append((int(ev["timestamp"]), message, size))
        if total > MAX_BATCH_BYTES:
            raise InvalidParameter(f"Upload too large: {total} bytes exceeds limit of {MAX_BATCH_BYTES}")
        if any(sized[i][0] > sized[i + 1][0] for i in range(len(sized) - 1)):
            raise InvalidParameter("Log events in a single PutLogEvents request must be in chronological order.")
        group = await self._group(ctx, params["logGroupName"])
        stream = await self._stream(group, params["logStreamName"])

        now = self.clock.now_ms()
        too_old_before = now - TOO_OLD_MS
        expired_before = now - int(group.retention_days) * DAY_MS if group.retention_days else NEVER
        too_new_after = now + TOO_NEW_MS
        # Events are in order: the too old / expired ones are a prefix, the too new ones a suffix.
        old_end = sum(1 for ts, _, _ in sized if ts < too_old_before)
        expired_end = sum(1 for ts, _, _ in sized if ts < expired_before)
        new_start = len(sized) - sum(1 for ts, _, _ in sized if ts > too_new_after)
        valid = sized[max(old_end, expired_end):new_start]
        if valid and valid[-1][0] - valid[0][0] > MAX_SPAN_MS:
            raise InvalidParameter("The batch of log events in a single PutLogEvents request cannot span more "
                                   "than 24 hours.")
        plan = await self.fanout.plan(ctx.account, ctx.region, group.name)
        written = [(ts, msg) for ts, msg, _ in valid]
        then = self.fanout.in_transaction(self.fanout.deliveries(
            plan, ctx.account, ctx.region, group.name, stream.name, written, through_port=False,
            trace_id=ctx.trace_id)) if plan and written else None
        seq = await self.repo.put(group.id, stream.id, valid, now, then)
        if seq is None:  # deleted while we were writing
            raise ResourceNotFound(NO_STREAM)
        if written:
            self.fanout.after_commit(plan, ctx.account, ctx.region, group.name, written)
        out: dict[str, Any] = {"nextSequenceToken": f"{seq:056d}"}
        rejected: dict[str, int] = {}
        if new_start < len(sized):
            rejected["tooNewLogEventStartIndex"] = new_start
        if old_end:
            rejected["tooOldLogEventEndIndex"] = old_end
        if expired_end:
            rejected["expiredLogEventEndIndex"] = expired_end
        if rejected:
            out["rejectedLogEventsInfo"] = rejected
        return out

    # == reading ===============================================================================
    async def get_log_events(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = await self._group_of(ctx, params)
        stream = await self._stream(group, params["logStreamName"])
        start = params.get("startTime")
        start = NEVER if start is None else int(start)
        end = params.get("endTime")
        end = FOREVER if end is None else int(end)
        limit = int(params.get("limit") or 10_000)
        window: dict[str, Any] = {"start": start, "end": end, "cutoff": self._cutoff(group), "limit": limit}
        stream_id = stream.id
        token = params.get("nextToken")
        home = (max(start, 0), 0)   # "before the first event in range"

        if token:
            m = _SEQ_TOKEN.fullmatch(token)
            if m is None:
                raise InvalidParameter(BAD_TOKEN)
            direction, pos = m.group(1), (int(m.group(2)), int(m.group(3)))
            if direction == "f":
                rows = _fit(await self.repo.stream_events(stream_id, after=pos, ascending=True, **window))
                if not rows:
                    return {"events": [], "nextForwardToken": token,
                            "nextBackwardToken": _position_token("b", pos[0], pos[1] + 1)}
            else:
                rows = _fit(await self.repo.stream_events(stream_id, before=pos, ascending=False, **window))
                rows.reverse()
                if not rows:
                    return {"events": [], "nextForwardToken": _position_token("f", pos[0], pos[1] - 1),
                            "nextBackwardToken": token}
        elif params.get("startFromHead"):
            rows = _fit(await self.repo.stream_events(stream_id, ascending=True, **window))
        else:
            rows = _fit(await self.repo.stream_events(stream_id, ascending=False, **window))
            rows.reverse()
        if not rows:
            return {"events": [], "nextForwardToken": _position_token("f", *home),
                    "nextBackwardToken": _position_token("b", *home)}
        first, last = rows[0], rows[-1]
        return {
            "events": [{"timestamp": r.ts, "message": r.message, "ingestionTime": r.ingested_at} for r in rows],
            "nextForwardToken": _position_token("f", last.ts, last.id),
            "nextBackwardToken": _position_token("b", first.ts, first.id),
        }

    async def filter_log_events(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = await self._group_of(ctx, params)
        names = params.get("logStreamNames")
        prefix = params.get("logStreamNamePrefix")
        if names and prefix:
            raise InvalidParameter("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
        try:
            pattern = compile_pattern(params.get("filterPattern"))
        except FilterPatternError as e:
            raise InvalidParameter(f"Invalid filter pattern: {e}") from None
        start = params.get("startTime")
        end = params.get("endTime")
        limit = int(params.get("limit") or 10_000)
        position: tuple[int, int] | None = None
        ascending = params.get("startFromHead", True) is not False
        if params.get("nextToken"):
            doc = _unb64(params["nextToken"])
            try:
                ascending = doc["d"] == "f"
                position = (int(doc["t"]), int(doc["i"]))
            except (TypeError, KeyError, ValueError):
                raise InvalidParameter(BAD_TOKEN) from None

        found: list[EventRow] = []
        page_bytes = 0
        scanned = 0
        more = False
        cursor = position
        while not more:
            rows = await self.repo.group_events(
                group.id, stream_names=names, stream_prefix=prefix,
                start=NEVER if start is None else int(start), end=FOREVER if end is None else int(end),
                cutoff=self._cutoff(group), position=cursor, ascending=ascending, limit=SCAN_BATCH,
                contains=pattern.required)
            for i, row in enumerate(rows):
                if pattern.match(row.message):
                    size = row.size + EVENT_OVERHEAD
                    if found and page_bytes + size > MAX_PAGE_BYTES:
                        more = True
                        break
                    found.append(row)
                    page_bytes += size
                cursor = (row.ts, row.id)
                if len(found) >= limit:
                    # the last event there is ends the search without a token
                    more = i < len(rows) - 1 or len(rows) == SCAN_BATCH
                    return self._filtered(found, cursor if more else None, ascending)
            scanned += len(rows)
            if len(rows) < SCAN_BATCH:
                break
            if scanned >= SCAN_BUDGET:
                more = True
        return self._filtered(found, cursor if more else None, ascending)

    @staticmethod
    def _filtered(found: list[EventRow], cursor: tuple[int, int] | None, ascending: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "events": [{"logStreamName": r.stream, "timestamp": r.ts, "message": r.message,
                        "ingestionTime": r.ingested_at, "eventId": _event_id(r.ts, r.id)} for r in found],
            "searchedLogStreams": [],
        }
        if cursor is not None:
            out["nextToken"] = _b64({"d": "f" if ascending else "b", "t": cursor[0], "i": cursor[1]})
        return out


def _fit(rows: list[EventRow]) -> list[EventRow]:
    """The leading rows that fit in one response (1 MB, counting 26 bytes per event)."""
    total = 0
    for i, row in enumerate(rows):
        total += row.size + EVENT_OVERHEAD
        if total > MAX_PAGE_BYTES and i:
            return rows[:i]
    return rows

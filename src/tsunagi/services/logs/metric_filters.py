"""Metric filters: PutMetricFilter, DescribeMetricFilters, DeleteMetricFilter, TestMetricFilter, and
the data points they make from every append.

A filter's one transformation names a metric (namespace, name), the value each matching event adds
(a number, or ``$.selector`` of a JSON event / ``$field`` of a space-delimited pattern), an optional
``defaultValue``, up to three ``dimensions`` (each an extracted ``$.selector`` / ``$field``) and a unit.
A matching event whose value is not a number, or lacks a dimension's field, adds nothing. When a
write has events in a minute and none of them matches, the default value (if any) is reported once
for that minute, as AWS reports it "during a period when logs are ingested but no matching logs are
found". Data go to the CloudWatch metrics port (:mod:`tsunagi.ports.cloudwatch`) after the write
commits; a server without the metrics service skips them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tsunagi.ports.cloudwatch import CLOUDWATCH, Datum
from tsunagi.services.base import Platform, RequestContext
from tsunagi.services.logs import emf
from tsunagi.services.logs.errors import (
    BAD_TOKEN,
    InvalidParameter,
    LimitExceeded,
    ResourceNotFound,
    constraint,
)
from tsunagi.services.logs.patterns import FilterPattern, FilterPatternError, compile_pattern
from tsunagi.services.logs.subscriptions import check_filter_name, delete_filter
from tsunagi.services.logs.tokens import decode, encode
from tsunagi.store.logs_filters import METRIC

if TYPE_CHECKING:
    from tsunagi.services.logs.service import LogsService

log = logging.getLogger("tsunagi.logs")

MAX_PER_GROUP = 100
MAX_DIMENSIONS = 3
NO_FILTER = "The specified metric filter does not exist."
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_METRIC_NAME = re.compile(r"[^:*$]*")


def _number(text: str | None) -> float | None:
    if text is None or not _NUMBER.fullmatch(text.strip()):
        return None
    return float(text)


@dataclass
class MetricFilter:
    name: str
    pattern: FilterPattern
    namespace: str
    metric: str
    value: str                      # a number, or $.selector / $field
    default: float | None
    dimensions: dict[str, str]
    unit: str

    @classmethod
    def of(cls, name: str, pattern: FilterPattern, doc: dict[str, Any]) -> MetricFilter:
        t = (doc.get("metricTransformations") or [{}])[0]
        default = t.get("defaultValue")
        return cls(name, pattern, str(t.get("metricNamespace", "")), str(t.get("metricName", "")),
                   str(t.get("metricValue", "")), None if default is None else float(default),
                   dict(t.get("dimensions") or {}), str(t.get("unit") or "None"))

    def datum(self, ts: int, message: str) -> Datum | None:
        """The data point one matching event adds, or None."""
        if self.value.startswith("$"):
            value = _number(self.pattern.value(message, self.value))
        else:
            value = _number(self.value)
        if value is None:
            return None
        dims = []
        for key, ref in sorted(self.dimensions.items()):
            text = self.pattern.value(message, ref)
            if text is None or text == "":
                return None
            dims.append((key, text))
        return Datum(self.namespace, self.metric, value, ts, self.unit, tuple(dims))

    def data(self, events: Sequence[tuple[int, str]]) -> list[Datum]:
        out: list[Datum] = []
        quiet: dict[int, int] = {}          # minute -> a timestamp in it, for minutes without a match
        matched_minutes: set[int] = set()
        for ts, message in events:
            minute = ts // 60_000
            if self.pattern.match(message):
                matched_minutes.add(minute)
                d = self.datum(ts, message)
                if d is not None:
                    out.append(d)
            else:
                quiet.setdefault(minute, ts)
        if self.default is not None:
            for minute, ts in quiet.items():
                if minute not in matched_minutes:
                    out.append(Datum(self.namespace, self.metric, self.default, ts, self.unit))
        return out


async def emit(platform: Platform, filters: Sequence[MetricFilter], account: str, region: str, group: str,
               events: Sequence[tuple[int, str]], embedded: Sequence[tuple[int, str]] = ()) -> None:
    """Hand the data points of one write (its filters' and its EMF documents') to the metrics port
    (skipped when it is absent)."""
    port = platform.ports.find(CLOUDWATCH)
    if port is None:
        return
    data = [d for f in filters for d in f.data(events)]
    if embedded:
        data.extend(emf.data(embedded, group, platform.clock.now_ms()))
    if not data:
        return
    try:
        await port.put(account, region, data)
    except Exception:
        log.exception("metric filters of %s: could not record %d data points", group, len(data))


def _check_reference(ref: str, member: str, pattern: FilterPattern) -> None:
    """A ``$.selector`` needs a JSON pattern, a ``$field`` a space-delimited pattern naming it."""
    if ref.startswith("$."):
        if pattern.kind != "json":
            raise InvalidParameter(f"Invalid {member}: {ref} can only be extracted by a JSON filter pattern.")
    elif ref.startswith("$"):
        if pattern.kind != "delimited" or pattern.fields is None:
            raise InvalidParameter(f"Invalid {member}: {ref} can only be extracted by a space-delimited filter "
                                   "pattern that names the field.")
        if ref[1:] not in pattern.selectors:
            raise InvalidParameter(f"Invalid {member}: the filter pattern has no field named {ref[1:]}.")
    else:
        raise InvalidParameter(f"Invalid {member}: {ref}")


class MetricFilters:
    def __init__(self, service: LogsService) -> None:
        self._svc = service

    @staticmethod
    def _compile(text: str) -> FilterPattern:
        try:
            return compile_pattern(text)
        except FilterPatternError as e:
            raise InvalidParameter(f"Invalid metric filter pattern: {e}") from None

    def _transformation(self, t: dict[str, Any], pattern: FilterPattern) -> dict[str, Any]:
        for member in ("metricName", "metricNamespace"):
            if not _METRIC_NAME.fullmatch(t[member]):
                raise constraint(t[member], f"metricTransformations.1.member.{member}",
                                 "Member must satisfy regular expression pattern: [^:*$]*")
        value = t["metricValue"].strip()
        if value.startswith("$"):
            _check_reference(value, "metric value", pattern)
        elif _number(value) is None:
            raise InvalidParameter(f"Invalid metric value: {value}. It must be a number or a $-prefixed "
                                   "field of the filter pattern.")
        dims = t.get("dimensions") or {}
        if dims:
            if t.get("defaultValue") is not None:
                raise InvalidParameter("A metric transformation with dimensions cannot have a default value.")
            if len(dims) > MAX_DIMENSIONS:
                raise LimitExceeded(f"A metric filter can have at most {MAX_DIMENSIONS} dimensions.")
            for ref in dims.values():
                _check_reference(ref, "dimension value", pattern)
        out = {"metricName": t["metricName"], "metricNamespace": t["metricNamespace"], "metricValue": value}
        if t.get("defaultValue") is not None:
            out["defaultValue"] = float(t["defaultValue"])
        if dims:
            out["dimensions"] = dict(dims)
        if t.get("unit"):
            out["unit"] = t["unit"]
        return out

    async def put(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        svc = self._svc
        name = params["filterName"]
        check_filter_name(name)
        group = await svc._group(ctx, params["logGroupName"])
        text = params.get("filterPattern") or ""
        pattern = self._compile(text)
        doc: dict[str, Any] = {"metricTransformations": [self._transformation(t, pattern)
                                                         for t in params["metricTransformations"]],
                               "applyOnTransformedLogs": bool(params.get("applyOnTransformedLogs"))}
        for member in ("fieldSelectionCriteria", "emitSystemFieldDimensions"):
            if params.get(member):
                doc[member] = params[member]
        created = await svc.fanout.repo.put(group.id, METRIC, name, text, doc, svc.clock.now_ms(), MAX_PER_GROUP)
        if created is None:
            raise ResourceNotFound("The specified log group does not exist.")
        if not created:
            raise LimitExceeded("Resource limit exceeded.")
        svc.fanout.forget(ctx.account, ctx.region, group.name)
        return {}

    async def describe(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        svc = self._svc
        group_id = None
        prefix = params.get("filterNamePrefix")
        if params.get("logGroupName"):
            group_id = (await svc._group(ctx, params["logGroupName"])).id
        elif prefix:
            raise InvalidParameter("If you specify filterNamePrefix, you must also specify logGroupName.")
        if prefix:
            check_filter_name(prefix)
        metric, namespace = params.get("metricName"), params.get("metricNamespace")
        if bool(metric) != bool(namespace):
            raise InvalidParameter("metricName and metricNamespace must be specified together.")
        if metric and (params.get("logGroupName") or prefix):
            raise InvalidParameter("If you specify metricName and metricNamespace, you cannot specify "
                                   "logGroupName or filterNamePrefix.")
        limit = int(params.get("limit") or 50)
        after = None
        if params.get("nextToken"):
            doc = decode(params["nextToken"])
            if not isinstance(doc, dict) or not isinstance(doc.get("g"), str) or not isinstance(doc.get("f"), str):
                raise InvalidParameter(BAD_TOKEN)
            after = (doc["g"], doc["f"])
        found: list[dict[str, Any]] = []
        more = False
        while not more:
            rows = await svc.fanout.repo.list(ctx.account, ctx.region, METRIC, group_id=group_id, prefix=prefix,
                                              after=after, limit=200)
            for r in rows:
                fields = r.fields
                ts = fields.get("metricTransformations") or []
                if metric and not any(t.get("metricName") == metric and t.get("metricNamespace") == namespace
                                      for t in ts):
                    continue
                if len(found) == limit:
                    more = True
                    break
                found.append({"filterName": r.name, "filterPattern": r.pattern, **fields,
                              "creationTime": int(r.created_at), "logGroupName": r.group})
            if len(rows) < 200:
                break
            after = (rows[-1].group, rows[-1].name)
        out: dict[str, Any] = {"metricFilters": found}
        if more:
            out["nextToken"] = encode({"g": found[-1]["logGroupName"], "f": found[-1]["filterName"]})
        return out

    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await delete_filter(self._svc, ctx, params, METRIC, NO_FILTER)

    async def test(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        pattern = self._compile(params.get("filterPattern") or "")
        return {"matches": [{"eventNumber": i, "eventMessage": message, "extractedValues": pattern.extracted(message)}
                            for i, message in enumerate(params["logEventMessages"], 1) if pattern.match(message)]}

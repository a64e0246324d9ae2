"""Metric data in and out: PutMetricData's checks, writing data as per-period aggregates, ListMetrics,
GetMetricStatistics and the series GetMetricData and alarms read."""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from tsunagi.ports.cloudwatch import Datum
from tsunagi.services.cloudwatch.data import Agg, canonical_dims, dims_of, is_percentile, values_map
from tsunagi.services.cloudwatch.errors import (
    InvalidNextToken,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
)
from tsunagi.store.cloudwatch import Bucket, CloudWatchRepo

TWO_WEEKS_MS = 14 * 86_400_000
TWO_HOURS_MS = 2 * 3_600_000
MAX_DATAPOINTS = 1440
LIST_PAGE = 500
RECENT_MS = 3 * 3_600_000
VALUE_LIMIT = 2.0 ** 360
MAX_VALUES_PER_DATUM = 150


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _check_value(v: Any, where: str) -> float:
    f = float(v)
    if math.isnan(f) or math.isinf(f) or abs(f) > VALUE_LIMIT or (f != 0 and abs(f) < 2.0 ** -360):
        raise InvalidParameterValue(f"The value {_show(f)} for parameter {where} is invalid.")
    return f


def _show(f: float) -> str:
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    return repr(f)


def parse_datum(i: int, d: Mapping[str, Any], now: int) -> tuple[Datum, dict[str, float] | None]:
    """One MetricDatum of PutMetricData checked as AWS checks it (``i`` is its 1-based position)."""
    p = f"MetricData.member.{i}"
    has_value, has_stats, has_values = "Value" in d, "StatisticValues" in d, "Values" in d
    if has_value and has_stats:
        raise InvalidParameterCombination(f"The parameters {p}.Value and {p}.StatisticValues are mutually "
                                          "exclusive and you have specified both.")
    if has_value and has_values:
        raise InvalidParameterCombination(f"The parameters {p}.Value and {p}.Values are mutually "
                                          "exclusive and you have specified both.")
    if has_stats and has_values:
        raise InvalidParameterCombination(f"The parameters {p}.StatisticValues and {p}.Values are mutually "
                                          "exclusive and you have specified both.")
    if "Counts" in d and not has_values:
        raise InvalidParameterCombination(f"The parameter {p}.Counts must be specified with {p}.Values.")
    dims = d.get("Dimensions") or []
    names = [x.get("Name", "") for x in dims]
    if len(set(names)) != len(names):
        raise InvalidParameterValue(f"The parameter {p}.Dimensions must not contain duplicate dimension names.")
    res = d.get("StorageResolution", 60)
    if res not in (1, 60):
        raise InvalidParameterValue(f"The value {res} for parameter {p}.StorageResolution is invalid.")
    ts = ms(d["Timestamp"]) if "Timestamp" in d else now
    if ts < now - TWO_WEEKS_MS:
        raise InvalidParameterValue(f"The parameter {p}.Timestamp must specify a time within the past two weeks.")
    if ts > now + TWO_HOURS_MS:
        raise InvalidParameterValue(f"The parameter {p}.Timestamp must specify a time no more than two hours "
                                    "in the future.")
    unit = d.get("Unit", "None")
    common: dict[str, Any] = {"namespace": "", "name": d["MetricName"], "timestamp_ms": ts, "unit": unit,
                              "dimensions": tuple((x["Name"], x["Value"]) for x in dims),
                              "storage_resolution": res}
    if has_value:
        v = _check_value(d["Value"], f"{p}.Value")
        return Datum(value=v, **common), None
    if has_stats:
        s = d["StatisticValues"]
        sp = f"{p}.StatisticValues"
        n = _check_value(s["SampleCount"], f"{sp}.SampleCount")
        total = _check_value(s["Sum"], f"{sp}.Sum")
        lo = _check_value(s["Minimum"], f"{sp}.Minimum")
        hi = _check_value(s["Maximum"], f"{sp}.Maximum")
        if n <= 0:
            raise InvalidParameterValue(f"The parameter {sp}.SampleCount must be greater than 0.")
        if lo > hi:
            raise InvalidParameterValue(f"The parameter {sp}.Maximum must be greater than {sp}.Minimum.")
        return Datum(value=total / n, count=n, total=total, minimum=lo, maximum=hi, **common), None
    if has_values:
        values = [_check_value(v, f"{p}.Values") for v in d["Values"]]
        counts = d.get("Counts")
        if counts is not None:
            if len(counts) != len(values):
                raise InvalidParameterValue(f"The parameters {p}.Values and {p}.Counts must be of the same size.")
            counts = [_check_value(c, f"{p}.Counts") for c in counts]
            if any(c < 0 for c in counts):
                raise InvalidParameterValue(f"The parameter {p}.Counts must not contain negative values.")
        if len(values) > MAX_VALUES_PER_DATUM:
            raise InvalidParameterValue(f"The parameter {p}.Values must contain at most 150 values.")
        if not values:
            raise MissingParameter(f"The parameter {p}.Values must not be empty.")
        return _values_datum(values, counts, common)
    raise MissingParameter(f"The parameter {p}.Value, {p}.StatisticValues or {p}.Values is required.")


def _values_datum(values: Sequence[float], counts: Sequence[float] | None,
                 common: dict[str, Any]) -> tuple[Datum, dict[str, float] | None]:
    cs = list(counts) if counts is not None else [1.0] * len(values)
    n = sum(cs)
    total = sum(v * c for v, c in zip(values, cs, strict=True))
    present = [v for v, c in zip(values, cs, strict=True) if c > 0] or list(values)
    d = Datum(value=total / n if n else 0.0, count=n, total=total, minimum=min(present), maximum=max(present),
              **common)
    return d, values_map(values, cs)


class Metrics:
    """Writes and reads metric data through the store."""

    def __init__(self, repo: CloudWatchRepo) -> None:
        self.repo = repo

    async def put(self, account: str, region: str, data: Sequence[Datum],
                  values: Sequence[dict[str, float] | None] = ()) -> None:
        """Record ``data``: each datum merged into its bucket (1 s for high resolution, else 60 s).
        ``values`` (by position) are the value -> count maps of data given as Values and Counts."""
        buckets: dict[tuple[str, str, str, int, int, str], Agg] = {}
        touched: dict[tuple[str, str, str], int] = {}
        for i, d in enumerate(data):
            dims = canonical_dims(d.dimensions)
            period = 1 if d.storage_resolution == 1 else 60
            ts = d.timestamp_ms - d.timestamp_ms % (period * 1000)
            key = (d.namespace, d.name, dims, period, ts, d.unit)
            agg = buckets.get(key)
            if agg is None:
                agg = buckets[key] = Agg()
            extra = values[i] if i < len(values) else None
            if extra is not None:
                vals = extra
            elif d.count == 1 and d.total is None:
                vals = values_map([d.value], None)
            else:
                vals = None        # a statistic set: no values to read percentiles from
            total = d.total if d.total is not None else d.value * d.count
            lo = d.minimum if d.minimum is not None else d.value
            hi = d.maximum if d.maximum is not None else d.value
            agg.add(d.count, total, lo, hi, vals)
            mkey = (d.namespace, d.name, dims)
            touched[mkey] = max(touched.get(mkey, 0), d.timestamp_ms)
        async with self.repo.store.transaction() as tx:
            for (ns, name, dims, period, ts, unit), agg in sorted(buckets.items()):
                b = Bucket(account, region, ns, name, dims, period, ts, unit, agg.n, agg.total, agg.lo, agg.hi, "{}")
                old = await self.repo.bucket_values(tx, b)
                vals = agg.vals
                if old is not None and old != "{}":
                    merged = Agg(vals=orjson.loads(old))
                    merged.add(0, 0, math.inf, -math.inf, vals)
                    vals = merged.vals
                await self.repo.merge_bucket(tx, b._replace(vals=orjson.dumps(vals).decode()))
            now = max(touched.values(), default=0)
            await self.repo.touch_metrics(tx, [(account, region, ns, name, dims, max(at, now))
                                               for (ns, name, dims), at in sorted(touched.items())])

    # == ListMetrics ============================================================================
    async def list_metrics(self, account: str, region: str, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        after = ("", "", "")
        token = params.get("NextToken")
        if token:
            try:
                after = tuple(orjson.loads(base64.urlsafe_b64decode(token.encode())))  # type: ignore[assignment]
                if len(after) != 3 or not all(isinstance(x, str) for x in after):
                    raise ValueError
            except (ValueError, binascii.Error, orjson.JSONDecodeError):
                raise InvalidNextToken("The service cannot decode the NextToken parameter.") from None
        want = params.get("Dimensions") or []
        recent = params.get("RecentlyActive")
        if recent is not None and recent != "PT3H":
            raise InvalidParameterValue(f"The value {recent} for parameter RecentlyActive is invalid.")
        out: list[dict[str, Any]] = []
        last = after
        while len(out) < LIST_PAGE:
            rows = await self.repo.metrics(account, region, params.get("Namespace"), params.get("MetricName"),
                                           last, LIST_PAGE)
            if not rows:
                last = ("", "", "")
                break
            for r in rows:
                last = (r.namespace, r.name, r.dims)
                if recent and r.updated_at < now - RECENT_MS:
                    continue
                dims = dims_of(r.dims)
                if not _dims_match(dims, want):
                    continue
                out.append({"Namespace": r.namespace, "MetricName": r.name,
                            "Dimensions": [{"Name": k, "Value": v} for k, v in dims]})
                if len(out) >= LIST_PAGE:
                    break
            if len(rows) < LIST_PAGE and len(out) < LIST_PAGE:
                last = ("", "", "")
                break
        result: dict[str, Any] = {"Metrics": out}
        if last != ("", "", "") and len(out) >= LIST_PAGE:
            result["NextToken"] = base64.urlsafe_b64encode(orjson.dumps(list(last))).decode()
        return result

    # == reading ================================================================================
    async def series(self, account: str, region: str, namespace: str, name: str,
                     dims: Sequence[tuple[str, str]], unit: str | None, start: int, end: int,
                     period: int) -> dict[tuple[int, str], Agg]:
        """The metric's buckets between ``start`` and ``end`` (ms) regrouped by ``period`` seconds from
        ``start``: (bucket start, unit) -> statistics."""
        rows = await self.repo.data(account, region, namespace, name, canonical_dims(dims), start, end)
        out: dict[tuple[int, str], Agg] = {}
        step = period * 1000
        for r in rows:
            if unit is not None and r.unit != unit:
                continue
            t = start + (r.ts - start) // step * step
            agg = out.get((t, r.unit))
            if agg is None:
                agg = out[(t, r.unit)] = Agg()
            agg.add(r.n, r.total, r.lo, r.hi, orjson.loads(r.vals) if r.vals != "{}" else None)
        return out

    async def get_metric_statistics(self, account: str, region: str, p: Mapping[str, Any]) -> dict[str, Any]:
        stats = p.get("Statistics") or []
        ext = p.get("ExtendedStatistics") or []
        if not stats and not ext:
            raise InvalidParameterCombination("Must specify either Statistics or ExtendedStatistics, but not both.")
        for s in ext:
            if not is_percentile(s):
                raise InvalidParameterValue(f"The value {s} for parameter ExtendedStatistics is not supported.")
        start, end = ms(p["StartTime"]), ms(p["EndTime"])
        period = p["Period"]
        check_period(period, "Period")
        start = align_start(start, period)
        check_range(start, end, period)
        series = await self.series(account, region, p["Namespace"], p["MetricName"],
                                   [(d["Name"], d["Value"]) for d in p.get("Dimensions") or []],
                                   p.get("Unit"), start, end, period)
        points = []
        for (t, unit), agg in sorted(series.items()):
            dp: dict[str, Any] = {"Timestamp": datetime.fromtimestamp(t / 1000).astimezone(), "Unit": unit}
            for s in stats:
                dp[s] = agg.stat(s)
            if ext:
                dp["ExtendedStatistics"] = {s: v for s in ext if (v := agg.stat(s)) is not None}
            points.append(dp)
        return {"Label": p["MetricName"], "Datapoints": points}


def _dims_match(dims: Sequence[tuple[str, str]], want: Sequence[Mapping[str, Any]]) -> bool:
    have = dict(dims)
    for f in want:
        if f["Name"] not in have:
            return False
        if "Value" in f and have[f["Name"]] != f["Value"]:
            return False
    return True


def check_period(period: int, name: str) -> None:
    if period <= 0 or (period < 60 and period not in (1, 5, 10, 30)) or (period >= 60 and period % 60):
        raise InvalidParameterValue(f"The parameter {name} must be 1, 5, 10, 30, or a multiple of 60.")


def align_start(start: int, period: int) -> int:
    """AWS rounds the start time down: to the second for high-resolution periods, else to the minute."""
    unit = 1000 if period < 60 else 60_000
    return start - start % unit


def check_range(start: int, end: int, period: int) -> None:
    if start >= end:
        raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
    n = math.ceil((end - start) / (period * 1000))
    if n > MAX_DATAPOINTS:
        raise InvalidParameterCombination(
            f"You have requested up to {n:,} datapoints, which exceeds the limit of 1,440. You may reduce the "
            "datapoints requested by increasing Period, or decreasing the time range.")

"""GetMetricData: metric stat queries and metric math over them, ordered, paged by MaxDatapoints.

Alarms on metric math use :func:`evaluate_queries` too, so an alarm sees exactly what GetMetricData shows.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from tsunagi.services.cloudwatch import mathexpr
from tsunagi.services.cloudwatch.data import STATISTICS, is_percentile
from tsunagi.services.cloudwatch.errors import (
    InvalidNextToken,
    InvalidParameterCombination,
    InvalidParameterValue,
    ValidationError,
)
from tsunagi.services.cloudwatch.metrics import Metrics, align_start, check_period, ms

_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
MAX_QUERIES = 500
DEFAULT_MAX_DATAPOINTS = 100_800
MAX_PERIODS = 1_000_000          # bounds the grid an expression is evaluated on (FILL, constants)


def check_stat(stat: str, where: str) -> None:
    if stat not in STATISTICS and not is_percentile(stat):
        raise InvalidParameterValue(f"The value {stat} for parameter {where} is not supported.")


async def evaluate_queries(metrics: Metrics, account: str, region: str, queries: Sequence[Mapping[str, Any]],
                           start: int, end: int, prefix: str = "MetricDataQueries") -> list[tuple[Mapping[str, Any],
                                                                                             list[mathexpr.Labeled]]]:
    """Every query's series between ``start`` and ``end`` (ms): (query, series) in the queries' order."""
    if len(queries) > MAX_QUERIES:
        raise InvalidParameterValue(f"The collection {prefix} must not have a size greater than {MAX_QUERIES}.")
    by_id: dict[str, Mapping[str, Any]] = {}
    for i, q in enumerate(queries, 1):
        qid = q["Id"]
        if not _ID.match(qid):
            raise ValidationError(f"The value {qid} for parameter {prefix}.member.{i}.Id is invalid: it must start "
                                  "with a lowercase letter and contain only letters, numbers and underscores.")
        if qid in by_id:
            raise ValidationError(f"The value {qid} for parameter {prefix}.member.{i}.Id is not unique.")
        has_stat, has_expr = "MetricStat" in q, "Expression" in q
        if has_stat == has_expr:
            raise ValidationError(f"The parameter {prefix}.member.{i} must specify either an Expression or a "
                                  "MetricStat, but not both.")
        if has_stat:
            check_period(q["MetricStat"]["Period"], f"{prefix}.member.{i}.MetricStat.Period")
            check_stat(q["MetricStat"]["Stat"], f"{prefix}.member.{i}.MetricStat.Stat")
        elif "Period" in q:
            check_period(q["Period"], f"{prefix}.member.{i}.Period")
        by_id[qid] = q
    if start >= end:
        raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
    finest = min([q["MetricStat"]["Period"] for q in queries if "MetricStat" in q]
                 + [q["Period"] for q in queries if "Period" in q and "MetricStat" not in q] + [60])
    if (end - start) // (finest * 1000) > MAX_PERIODS:
        raise InvalidParameterCombination(
            f"The time range spans more than {MAX_PERIODS:,} periods of {finest} seconds: increase the Period or "
            "decrease the time range.")
    stat_ids = [q["Id"] for q in queries if "MetricStat" in q]
    periods = [q["MetricStat"]["Period"] for q in queries if "MetricStat" in q]
    base_period = min(periods) if periods else 60
    env: dict[str, mathexpr.Value] = {}
    labels: dict[str, str] = {}
    for q in queries:
        if "MetricStat" not in q:
            continue
        st = q["MetricStat"]
        m = st["Metric"]
        period = st["Period"]
        s = align_start(start, period)
        series = await metrics.series(account, region, m.get("Namespace", ""), m.get("MetricName", ""),
                                      [(d["Name"], d["Value"]) for d in m.get("Dimensions") or []],
                                      st.get("Unit"), s, end, period)
        points: dict[int, float] = {}
        merged: dict[int, Any] = {}
        for (t, _unit), agg in sorted(series.items()):
            if t in merged:
                merged[t].add(agg.n, agg.total, agg.lo, agg.hi, agg.vals)
            else:
                merged[t] = agg
        for t, agg in merged.items():
            v = agg.stat(st["Stat"])
            if v is not None:
                points[t] = v
        label = q.get("Label") or m.get("MetricName", "")
        labels[q["Id"]] = label
        env[q["Id"]] = mathexpr.Labeled(label, points)
    parsed = {}
    for q in queries:
        if "Expression" in q:
            try:
                parsed[q["Id"]] = mathexpr.parse(q["Expression"])
            except mathexpr.MathError as e:
                raise ValidationError(f"Error in expression '{q['Id']}': {e}") from None
    # evaluate expressions in dependency order
    done: set[str] = set(env)
    pending = dict(parsed)
    while pending:
        progressed = False
        for qid, node in list(pending.items()):
            refs = mathexpr.references(node) - {"REPEAT", "LINEAR"}
            unknown = [r for r in refs if r not in by_id]
            if unknown:
                raise ValidationError(f"Error in expression '{qid}': Unrecognized identifier {sorted(unknown)[0]}.")
            if qid in refs:
                raise ValidationError(f"Error in expression '{qid}': an expression cannot refer to itself.")
            uses_metrics = _calls(node, "METRICS")
            if not refs <= done or (uses_metrics and not set(stat_ids) <= done):
                continue
            q = by_id[qid]
            period = q.get("Period") or base_period
            s0 = align_start(start, period)
            grid = list(range(s0, end, period * 1000))
            ev = mathexpr.Evaluator(env, grid, period, stat_ids)
            try:
                value = ev.eval(node)
            except mathexpr.MathError as e:
                raise ValidationError(f"Error in expression '{qid}': {e}") from None
            except (OverflowError, ValueError, ZeroDivisionError):
                raise ValidationError(f"Error in expression '{qid}': the expression could not be computed.") from None
            label = q.get("Label") or qid
            if isinstance(value, float):
                value = mathexpr.Labeled(label, {t: value for t in grid} if not math.isnan(value) else {})
            elif isinstance(value, mathexpr.Labeled):
                value = mathexpr.Labeled(label, value.points)
            env[qid] = value
            done.add(qid)
            del pending[qid]
            progressed = True
        if not progressed:
            raise ValidationError(f"Error in expression '{sorted(pending)[0]}': the expressions refer to each "
                                  "other in a cycle.")
    out: list[tuple[Mapping[str, Any], list[mathexpr.Labeled]]] = []
    for q in queries:
        v = env[q["Id"]]
        if isinstance(v, list):
            out.append((q, v))
        elif isinstance(v, mathexpr.Labeled):
            out.append((q, [v]))
    return out


def _calls(node: Any, fn: str) -> bool:
    if not isinstance(node, tuple):
        return False
    if node[0] == "call" and node[1] == fn:
        return True
    return any(_calls(p, fn) for p in node[1:] if isinstance(p, tuple)) or any(
        _calls(x, fn) for p in node[1:] if isinstance(p, list) for x in p)


async def get_metric_data(metrics: Metrics, account: str, region: str, p: Mapping[str, Any]) -> dict[str, Any]:
    start, end = ms(p["StartTime"]), ms(p["EndTime"])
    max_points = p.get("MaxDatapoints", DEFAULT_MAX_DATAPOINTS)
    if max_points <= 0:
        raise InvalidParameterValue(f"The value {max_points} for parameter MaxDatapoints is invalid.")
    descending = p.get("ScanBy", "TimestampDescending") != "TimestampAscending"
    offset = 0
    token = p.get("NextToken")
    if token:
        try:
            doc = orjson.loads(base64.urlsafe_b64decode(token.encode()))
            offset = int(doc["o"])
            if offset < 0:
                raise ValueError
        except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError):
            raise InvalidNextToken("The service cannot decode the NextToken parameter.") from None
    evaluated = await evaluate_queries(metrics, account, region, p["MetricDataQueries"], start, end)
    results = []
    seen = 0
    budget_left = max_points
    more = False
    for q, series_list in evaluated:
        if not q.get("ReturnData", True):
            continue
        for s in series_list:
            times = sorted(s.points, reverse=descending)
            skip = min(len(times), max(0, offset - seen))
            seen += len(times)
            rest = times[skip:]
            take = rest[:budget_left]
            budget_left -= len(take)
            if len(take) < len(rest):
                more = True
            results.append({"Id": q["Id"], "Label": s.label,
                            "Timestamps": [datetime.fromtimestamp(t / 1000).astimezone() for t in take],
                            "Values": [s.points[t] for t in take],
                            "StatusCode": "PartialData" if len(take) < len(rest) else "Complete"})
    out: dict[str, Any] = {"MetricDataResults": results, "Messages": []}
    if more:
        out["NextToken"] = base64.urlsafe_b64encode(orjson.dumps({"o": offset + max_points})).decode()
    return out

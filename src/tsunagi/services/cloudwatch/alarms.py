"""Alarms: metric alarms (a static threshold on a metric or on metric math) and composite alarms (a rule
over other alarms' states), their configuration checks, DescribeAlarms' filters, history, SetAlarmState,
and evaluation: each alarm's state from its data, changed in the store compare-and-set, with the SNS
actions of the new state published through the SNS port in AWS's notification payload."""

from __future__ import annotations

import base64
import binascii
import contextlib
import importlib.util
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson

from tsunagi.context import Source, internal_context
from tsunagi.ports.sns import SNS
from tsunagi.services.base import Platform
from tsunagi.services.cloudwatch import query
from tsunagi.services.cloudwatch.data import Agg, is_percentile
from tsunagi.services.cloudwatch.errors import (
    InvalidFormat,
    InvalidNextToken,
    InvalidParameterCombination,
    InvalidParameterValue,
    LimitExceeded,
    MissingParameter,
    ResourceNotFound,
    ValidationError,
)
from tsunagi.services.cloudwatch.metrics import Metrics, check_period, ms
from tsunagi.store.cloudwatch import AlarmRow, CloudWatchRepo

log = logging.getLogger("tsunagi.cloudwatch")

STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
OPERATORS = {
    "GreaterThanOrEqualToThreshold": (">=", lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (">", lambda v, t: v > t, "greater than"),
    "LessThanThreshold": ("<", lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": ("<=", lambda v, t: v <= t, "less than or equal to"),
}
MISSING = ("missing", "notBreaching", "breaching", "ignore")
MAX_ACTIONS = 5
HISTORY_DAYS = 30


def iso(ms_: int) -> str:
    """AWS's alarm timestamp form: 2026-12-03T04:40:00.000+0000."""
    t = datetime.fromtimestamp(ms_ / 1000, UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


def when(ms_: int) -> datetime:
    return datetime.fromtimestamp(ms_ / 1000, UTC)


@cache
def region_name(region: str) -> str:
    for partition in _endpoints()["partitions"]:
        r = partition["regions"].get(region)
        if r is not None:
            return str(r.get("description", region))
    return region


def _endpoints() -> dict[str, Any]:
    """botocore's endpoints.json: read as a file (botocore's loader would import its SDK code into the
    server for it), unless ``~/.aws/models`` may hold the user's own, which botocore's loader prefers."""
    if not os.path.isdir(os.path.join(os.path.expanduser("~"), ".aws", "models")):
        spec = importlib.util.find_spec("botocore")
        if spec is not None and spec.submodule_search_locations:
            path = os.path.join(next(iter(spec.submodule_search_locations)), "data", "endpoints.json")
            with contextlib.suppress(OSError), open(path, "rb") as f:
                data: dict[str, Any] = orjson.loads(f.read())
                return data
    from botocore.loaders import Loader

    loaded: dict[str, Any] = Loader().load_data("endpoints")
    return loaded


def alarm_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"


# == composite alarm rules ====================================================================
_RULE_TOKEN = re.compile(r"\s*(?:(?P<fn>ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*(?:\"(?P<q>[^\"]*)\"|(?P<bare>[^()\s\"]+))\s*\)"
                         r"|(?P<kw>AND|OR|NOT|TRUE|FALSE)\b|(?P<p>[()]))")


def parse_rule(rule: str) -> Any:
    toks: list[tuple[str, str]] = []
    pos = 0
    text = rule.strip()
    while pos < len(text):
        m = _RULE_TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ValidationError(f"Error in alarm rule at position {pos + 1}: unexpected input.")
        if m.group("fn"):
            toks.append((m.group("fn"), m.group("q") if m.group("q") is not None else m.group("bare")))
        elif m.group("kw"):
            toks.append(("kw", m.group("kw")))
        else:
            toks.append(("p", m.group("p")))
        pos = m.end()
    i = 0

    def peek() -> tuple[str, str] | None:
        return toks[i] if i < len(toks) else None

    def expr() -> Any:
        nonlocal i
        left = term()
        while (t := peek()) is not None and t == ("kw", "OR"):
            i += 1
            left = ("or", left, term())
        return left

    def term() -> Any:
        nonlocal i
        left = factor()
        while (t := peek()) is not None and t == ("kw", "AND"):
            i += 1
            left = ("and", left, factor())
        return left

    def factor() -> Any:
        nonlocal i
        t = peek()
        if t is None:
            raise ValidationError("Error in alarm rule: unexpected end of the rule.")
        i += 1
        if t == ("kw", "NOT"):
            return ("not", factor())
        if t in (("kw", "TRUE"), ("kw", "FALSE")):
            return ("const", t[1] == "TRUE")
        if t == ("p", "("):
            node = expr()
            if peek() != ("p", ")"):
                raise ValidationError("Error in alarm rule: a parenthesis is not closed.")
            i += 1
            return node
        if t[0] in STATES:
            return ("state", t[0], t[1])
        raise ValidationError(f"Error in alarm rule: unexpected '{t[1]}'.")

    if not toks:
        raise ValidationError("The alarm rule must not be empty.")
    node = expr()
    if i != len(toks):
        raise ValidationError(f"Error in alarm rule: unexpected '{toks[i][1]}'.")
    return node


def rule_alarms(node: Any) -> set[str]:
    if node[0] == "state":
        return {node[2].rsplit(":alarm:", 1)[-1]}
    if node[0] == "const":
        return set()
    return set().union(*(rule_alarms(n) for n in node[1:]))


def eval_rule(node: Any, states: Mapping[str, str]) -> bool:
    kind = node[0]
    if kind == "const":
        return bool(node[1])
    if kind == "state":
        return states.get(node[2].rsplit(":alarm:", 1)[-1]) == node[1]
    if kind == "not":
        return not eval_rule(node[1], states)
    if kind == "and":
        return eval_rule(node[1], states) and eval_rule(node[2], states)
    return eval_rule(node[1], states) or eval_rule(node[2], states)


# == the part ================================================================================
class Alarms:
    def __init__(self, platform: Platform, repo: CloudWatchRepo, metrics: Metrics) -> None:
        self.platform = platform
        self.repo = repo
        self.metrics = metrics
        self.clock = platform.clock

    # -- configuration ---------------------------------------------------------------------------
    def _check_actions(self, p: Mapping[str, Any], account: str, region: str) -> None:
        for member in ("OKActions", "AlarmActions", "InsufficientDataActions"):
            actions = p.get(member) or []
            if len(actions) > MAX_ACTIONS:
                raise ValidationError(f"The collection {member} must not have a size greater than {MAX_ACTIONS}.")
            for arn in actions:
                parts = arn.split(":")
                if len(parts) < 6 or parts[0] != "arn":
                    raise ValidationError(f"Invalid arn syntax: {arn}")
                if parts[2] != "sns":
                    raise ValidationError(f"The action {arn} is not supported: tsunagi's alarms act by "
                                          "publishing to SNS topics.")
                if parts[3] != region:
                    raise ValidationError(f"Invalid region {parts[3]} specified. Only {region} is supported.")

    async def put_metric_alarm(self, account: str, region: str, p: dict[str, Any]) -> None:
        has_metric = "MetricName" in p or "Namespace" in p
        metrics_q = p.get("Metrics")
        if has_metric and metrics_q:
            raise InvalidParameterCombination("The parameters MetricName and Metrics are mutually exclusive and you "
                                              "have specified both.")
        if "ThresholdMetricId" in p:
            raise ValidationError("Anomaly detection alarms (ThresholdMetricId) are not supported by tsunagi.")
        for unbuilt in ("EvaluationCriteria", "EvaluationInterval", "EvaluationWindow"):
            if unbuilt in p:
                raise ValidationError(f"{unbuilt} is not supported by tsunagi: give a static threshold "
                                      "(Threshold, ComparisonOperator, EvaluationPeriods).")
        for required in ("EvaluationPeriods", "ComparisonOperator"):
            if required not in p:
                raise MissingParameter(f"The parameter {required} is required.")
        if "Threshold" not in p:
            raise MissingParameter("The parameter Threshold is required.")
        if p["ComparisonOperator"] not in OPERATORS:
            raise ValidationError(f"The comparison operator {p['ComparisonOperator']} is supported only for "
                                  "anomaly detection alarms.")
        n = p["EvaluationPeriods"]
        m = p.get("DatapointsToAlarm", n)
        if m > n:
            raise ValidationError("DatapointsToAlarm must be less than or equal to EvaluationPeriods.")
        tmd = p.get("TreatMissingData", "missing")
        if tmd not in MISSING:
            raise ValidationError(f"The value {tmd} for parameter TreatMissingData is invalid: it must be one of "
                                  "breaching, notBreaching, ignore, missing.")
        if metrics_q:
            returning = [q for q in metrics_q if q.get("ReturnData", True)]
            if len(returning) != 1:
                raise ValidationError("Exactly one element of the metrics list should return data.")
            for q in metrics_q:
                if "MetricStat" in q:
                    query.check_stat(q["MetricStat"]["Stat"], "Metrics.MetricStat.Stat")
            period = self._math_period(metrics_q)
            for q in metrics_q:
                if "Expression" in q:
                    from tsunagi.services.cloudwatch import mathexpr
                    try:
                        mathexpr.parse(q["Expression"])
                    except mathexpr.MathError as e:
                        raise ValidationError(f"Error in expression '{q['Id']}': {e}") from None
        else:
            for required in ("MetricName", "Namespace", "Period"):
                if required not in p:
                    raise MissingParameter(f"The parameter {required} is required.")
            if ("Statistic" in p) == ("ExtendedStatistic" in p):
                raise InvalidParameterCombination("Exactly one of the parameters Statistic and ExtendedStatistic "
                                                  "must be specified.")
            if "ExtendedStatistic" in p and not is_percentile(p["ExtendedStatistic"]):
                raise InvalidParameterValue(f"The value {p['ExtendedStatistic']} for parameter ExtendedStatistic "
                                            "is not supported.")
            period = p["Period"]
            check_period(period, "Period")
            if period < 60 and period not in (10, 30):
                raise ValidationError("Period must be 10, 30 or a multiple of 60 for an alarm.")
        if period * n > 86_400 and period < 3600 or period * n > 7 * 86_400:
            raise ValidationError("The evaluation period (Period times EvaluationPeriods) must not exceed one day.")
        self._check_actions(p, account, region)
        await self._save(account, region, p, "MetricAlarm")

    async def put_composite_alarm(self, account: str, region: str, p: dict[str, Any]) -> None:
        node = parse_rule(p["AlarmRule"])
        names = rule_alarms(node)
        if p["AlarmName"] in names:
            raise ValidationError("A composite alarm cannot refer to itself in its rule.")
        existing = {a.name for a in await self.repo.alarms(account, region)}
        missing = sorted(names - existing)
        if missing:
            raise ValidationError(f"Could not save the composite alarm as alarms [{', '.join(missing)}] in the "
                                  "alarm rule do not exist")
        self._check_actions(p, account, region)
        await self._save(account, region, p, "CompositeAlarm")

    @staticmethod
    def _math_period(queries: Sequence[Mapping[str, Any]]) -> int:
        periods = [q["MetricStat"]["Period"] for q in queries if "MetricStat" in q]
        periods += [q["Period"] for q in queries if "Period" in q and "MetricStat" not in q]
        if not periods:
            raise ValidationError("A metric math alarm must include at least one metric.")
        return int(min(periods))

    async def _save(self, account: str, region: str, p: dict[str, Any], kind: str) -> None:
        name = p["AlarmName"]
        now = self.clock.now_ms()
        old = await self.repo.alarm(account, region, name)
        if old is not None and old.kind != kind:
            raise ValidationError(f"An alarm named {name} of another type exists already.")
        if old is None and len(await self.repo.alarms(account, region)) >= 100_000:
            raise LimitExceeded("The maximum number of alarms has been reached.")
        doc = {k: v for k, v in p.items() if k != "Tags"}
        arn = alarm_arn(account, region, name)
        summary = f'Alarm "{name}" {"updated" if old is not None else "created"}'
        data = {"version": "1.0", "type": "Update" if old is not None else "Create",
                "updatedAlarm": self._describe_doc(kind, doc, arn)}
        row = AlarmRow(account, region, name, kind, orjson.dumps(doc).decode(), int(p.get("ActionsEnabled", True)),
                       "INSUFFICIENT_DATA", "Unchecked: Initial alarm creation", None, now, now, now)
        await self.repo.put_alarm(row, (account, region, name, kind, now, "ConfigurationUpdate", summary,
                                        orjson.dumps(data).decode()))
        if p.get("Tags"):
            await self.repo.tag(arn, [(t["Key"], t["Value"]) for t in p["Tags"]])

    @staticmethod
    def _describe_doc(kind: str, doc: Mapping[str, Any], arn: str) -> dict[str, Any]:
        return {"alarmName": doc["AlarmName"], "alarmArn": arn, "type": kind}

    # -- reading ---------------------------------------------------------------------------------
    def describe(self, row: AlarmRow) -> dict[str, Any]:
        doc = orjson.loads(row.doc)
        out: dict[str, Any] = {
            "AlarmName": row.name, "AlarmArn": alarm_arn(row.account, row.region, row.name),
            "AlarmConfigurationUpdatedTimestamp": when(row.configured_at), "ActionsEnabled": bool(row.actions_enabled),
            "OKActions": doc.get("OKActions", []), "AlarmActions": doc.get("AlarmActions", []),
            "InsufficientDataActions": doc.get("InsufficientDataActions", []),
            "StateValue": row.state, "StateReason": row.reason, "StateUpdatedTimestamp": when(row.state_at),
            "StateTransitionedTimestamp": when(row.transitioned_at)}
        if "AlarmDescription" in doc:
            out["AlarmDescription"] = doc["AlarmDescription"]
        if row.reason_data:
            out["StateReasonData"] = row.reason_data
        if row.kind == "CompositeAlarm":
            out["AlarmRule"] = doc["AlarmRule"]
            return out
        for k in ("MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period", "Unit",
                  "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator",
                  "EvaluateLowSampleCountPercentile", "Metrics"):
            if k in doc:
                out[k] = doc[k]
        out["TreatMissingData"] = doc.get("TreatMissingData", "missing")
        if "Dimensions" not in out and "Metrics" not in out:
            out["Dimensions"] = []
        return out

    async def describe_alarms(self, account: str, region: str, p: Mapping[str, Any]) -> dict[str, Any]:
        if p.get("AlarmNames") and p.get("AlarmNamePrefix"):
            raise InvalidParameterCombination("The parameters AlarmNames and AlarmNamePrefix are mutually exclusive "
                                              "and you have specified both.")
        if p.get("ChildrenOfAlarmName") and p.get("ParentsOfAlarmName"):
            raise InvalidParameterCombination("The parameters ChildrenOfAlarmName and ParentsOfAlarmName are "
                                              "mutually exclusive and you have specified both.")
        types = p.get("AlarmTypes") or ["MetricAlarm"]
        rows = await self.repo.alarms(account, region)
        by_name = {r.name: r for r in rows}
        if p.get("ChildrenOfAlarmName"):
            parent = by_name.get(p["ChildrenOfAlarmName"])
            children = rule_alarms(parse_rule(orjson.loads(parent.doc)["AlarmRule"])) \
                if parent is not None and parent.kind == "CompositeAlarm" else set()
            rows = [r for r in rows if r.name in children]
            types = p.get("AlarmTypes") or ["MetricAlarm", "CompositeAlarm"]
        if p.get("ParentsOfAlarmName"):
            child = p["ParentsOfAlarmName"]
            rows = [r for r in rows if r.kind == "CompositeAlarm"
                    and child in rule_alarms(parse_rule(orjson.loads(r.doc)["AlarmRule"]))]
            types = p.get("AlarmTypes") or ["CompositeAlarm"]
        if p.get("AlarmNames"):
            rows = [r for r in rows if r.name in set(p["AlarmNames"])]
        if p.get("AlarmNamePrefix"):
            rows = [r for r in rows if r.name.startswith(p["AlarmNamePrefix"])]
        if p.get("StateValue"):
            rows = [r for r in rows if r.state == p["StateValue"]]
        if p.get("ActionPrefix"):
            pre = p["ActionPrefix"]
            rows = [r for r in rows if any(a.startswith(pre) for k in ("OKActions", "AlarmActions",
                                                                       "InsufficientDataActions")
                                           for a in orjson.loads(r.doc).get(k, []))]
        rows = [r for r in rows if r.kind in types]
        start = _offset(p.get("NextToken"))
        limit = p.get("MaxRecords", 50)
        page = rows[start:start + limit]
        out: dict[str, Any] = {
            "MetricAlarms": [self.describe(r) for r in page if r.kind == "MetricAlarm"],
            "CompositeAlarms": [self.describe(r) for r in page if r.kind == "CompositeAlarm"]}
        if start + limit < len(rows):
            out["NextToken"] = _token(start + limit)
        return out

    async def describe_alarms_for_metric(self, account: str, region: str, p: Mapping[str, Any]) -> dict[str, Any]:
        want_dims = sorted((d["Name"], d["Value"]) for d in p.get("Dimensions") or [])
        out = []
        for r in await self.repo.alarms(account, region):
            if r.kind != "MetricAlarm":
                continue
            doc = orjson.loads(r.doc)
            if doc.get("MetricName") != p["MetricName"] or doc.get("Namespace") != p["Namespace"]:
                continue
            if "Dimensions" in p and sorted((d["Name"], d["Value"]) for d in doc.get("Dimensions") or []) != want_dims:
                continue
            if any(k in p and doc.get(k) != p[k] for k in ("Statistic", "ExtendedStatistic", "Period", "Unit")):
                continue
            out.append(self.describe(r))
        return {"MetricAlarms": out}

    async def delete_alarms(self, account: str, region: str, names: Sequence[str]) -> None:
        rows = {r.name: r for r in await self.repo.alarms(account, region)}
        missing = [n for n in names if n not in rows]
        if missing:
            raise ResourceNotFound(f"{', '.join(missing)} does not exist")
        for r in rows.values():
            if r.kind == "CompositeAlarm" and r.name not in names:
                used = rule_alarms(parse_rule(orjson.loads(r.doc)["AlarmRule"])) & set(names)
                if used:
                    raise ValidationError(f"Could not delete the alarm {sorted(used)[0]} as it is referenced by "
                                          f"the composite alarm {r.name}")
        for n in names:
            await self.repo.delete_alarm(account, region, n, alarm_arn(account, region, n))

    async def history(self, account: str, region: str, p: Mapping[str, Any]) -> dict[str, Any]:
        start = ms(p["StartDate"]) if "StartDate" in p else 0
        end = ms(p["EndDate"]) if "EndDate" in p else 2 ** 62
        rows = await self.repo.history(account, region, p.get("AlarmName"), start, end)
        if p.get("HistoryItemType"):
            rows = [r for r in rows if r.item_type == p["HistoryItemType"]]
        types = p.get("AlarmTypes") or ["MetricAlarm", "CompositeAlarm"]
        rows = [r for r in rows if r.alarm_type in types]
        if p.get("ScanBy") == "TimestampAscending":
            rows.reverse()
        off = _offset(p.get("NextToken"))
        limit = p.get("MaxRecords", 100)
        page = rows[off:off + limit]
        out: dict[str, Any] = {"AlarmHistoryItems": [
            {"AlarmName": r.alarm_name, "AlarmType": r.alarm_type, "Timestamp": when(r.ts),
             "HistoryItemType": r.item_type, "HistorySummary": r.summary, "HistoryData": r.data} for r in page]}
        if off + limit < len(rows):
            out["NextToken"] = _token(off + limit)
        return out

    async def set_actions_enabled(self, account: str, region: str, names: Sequence[str], enabled: bool) -> None:
        for n in names:
            await self.repo.set_actions_enabled(account, region, n, enabled)

    async def set_alarm_state(self, account: str, region: str, p: Mapping[str, Any]) -> None:
        row = await self.repo.alarm(account, region, p["AlarmName"])
        if row is None:
            raise ResourceNotFound(f"Alarm {p['AlarmName']} not found")
        data = p.get("StateReasonData")
        if data is not None:
            try:
                orjson.loads(data)
            except orjson.JSONDecodeError:
                raise InvalidFormat("The parameter StateReasonData must be valid JSON.") from None
        await self.transition(row, p["StateValue"], p["StateReason"], data)
        # the composite alarms over it see the new state at once, as on AWS (the next evaluation of the
        # alarm itself may change it back)
        rows = await self.repo.alarms(account, region)
        await self.evaluate_composites(rows, {(r.account, r.region, r.name): r.state for r in rows})

    # -- evaluation ------------------------------------------------------------------------------
    async def evaluate_all(self) -> int:
        """Evaluate every alarm once (metric alarms, then composites on their new states); the number of
        state changes."""
        rows = await self.repo.all_alarms()
        changed = 0
        states: dict[tuple[str, str, str], str] = {(r.account, r.region, r.name): r.state for r in rows}
        for r in rows:
            if r.kind != "MetricAlarm":
                continue
            try:
                new = await self.evaluate_metric_alarm(r)
            except Exception as e:   # one alarm's bad data must not stop the others
                log.warning("evaluating alarm %s failed: %s", r.name, e)
                continue
            if new is not None and await self.transition(r, *new):
                states[(r.account, r.region, r.name)] = new[0]
                changed += 1
        changed += await self.evaluate_composites(rows, states)
        return changed

    async def evaluate_composites(self, rows: Sequence[AlarmRow], states: dict[tuple[str, str, str], str]) -> int:
        """Composite alarms' states from their children's ``states`` (updated as they change)."""
        changed = 0
        for r in rows:
            if r.kind != "CompositeAlarm":
                continue
            doc = orjson.loads(r.doc)
            try:
                node = parse_rule(doc["AlarmRule"])
            except Exception:
                continue
            local = {name: s for (a, g, name), s in states.items() if a == r.account and g == r.region}
            value = "ALARM" if eval_rule(node, local) else "OK"
            if value != r.state:
                reason = (f"arn:aws:cloudwatch:{r.region}:{r.account}:alarm:{r.name} transitioned to {value}: "
                          "its rule evaluated to " + ("TRUE" if value == "ALARM" else "FALSE") + ".")
                data = orjson.dumps({"triggeringAlarms": [
                    {"arn": alarm_arn(r.account, r.region, n), "state": {"value": local.get(n, "INSUFFICIENT_DATA")}}
                    for n in sorted(rule_alarms(node))]}).decode()
                if await self.transition(r, value, reason, data):
                    states[(r.account, r.region, r.name)] = value
                    changed += 1
        return changed

    async def evaluate_metric_alarm(self, r: AlarmRow) -> tuple[str, str, str | None] | None:
        doc = orjson.loads(r.doc)
        now = self.clock.now_ms()
        n = int(doc["EvaluationPeriods"])
        m = int(doc.get("DatapointsToAlarm", n))
        tmd = doc.get("TreatMissingData", "missing")
        threshold = float(doc["Threshold"])
        op_name = doc["ComparisonOperator"]
        _, compare, words = OPERATORS[op_name]
        period = self._math_period(doc["Metrics"]) if doc.get("Metrics") else int(doc["Period"])
        step = period * 1000
        # the N most recent periods, the current (partial) one included when it has data already; while it has
        # none (a metric published once a period, not yet this one), the N periods before it
        newest = now - now % step
        start = newest - n * step
        all_buckets = [start + i * step for i in range(n + 1)]
        values: dict[int, float] = {}
        if doc.get("Metrics"):
            evaluated = await query.evaluate_queries(self.metrics, r.account, r.region, doc["Metrics"], start,
                                                     newest + step, prefix="Metrics")
            for q, found in evaluated:
                if q.get("ReturnData", True) and found:
                    values = {t: v for t, v in found[0].points.items() if t in set(all_buckets)}
        else:
            stat = doc.get("Statistic") or doc.get("ExtendedStatistic")
            series = await self.metrics.series(r.account, r.region, doc["Namespace"], doc["MetricName"],
                                               [(d["Name"], d["Value"]) for d in doc.get("Dimensions") or []],
                                               doc.get("Unit"), start, newest + step, period)
            merged: dict[int, Agg] = {}
            for (t, _unit), agg in series.items():
                merged.setdefault(t, Agg()).add(agg.n, agg.total, agg.lo, agg.hi, agg.vals)
            for t, agg in merged.items():
                v = agg.stat(stat)
                if v is not None and not math.isnan(v):
                    values[t] = v
        buckets = all_buckets[1:] if newest in values else all_buckets[:-1]
        start = buckets[0]
        present = [t for t in buckets if t in values]
        if not present:
            if tmd == "ignore":
                return None
            if tmd == "missing":
                state = "INSUFFICIENT_DATA"
                reason = (f"Insufficient Data: {n} datapoint{'s were' if n > 1 else ' was'} unknown.")
                return self._if_changed(r, state, reason, None)
        breaching = 0
        shown = []
        for t in reversed(buckets):
            if t in values:
                bad = compare(values[t], threshold)
                shown.append(f"{values[t]} ({datetime.fromtimestamp(t / 1000, UTC).strftime('%d/%m/%y %H:%M:%S')})")
            else:
                bad = tmd == "breaching"
            breaching += bool(bad)
        state = "ALARM" if breaching >= m else "OK"
        old = r.state
        desc = (f"{breaching} out of the last {n} datapoints" if state == "ALARM" else
                f"{len(present)} out of the last {n} datapoints")
        if state == "ALARM":
            reason = (f"Threshold Crossed: {desc} [{', '.join(shown)}] {'was' if breaching == 1 else 'were'} "
                      f"{words} the threshold ({threshold}) (minimum {m} datapoint{'s' if m > 1 else ''} for "
                      f"{old} -> ALARM transition).")
        else:
            reason = (f"Threshold Crossed: {desc} [{', '.join(shown)}] {'was' if len(present) == 1 else 'were'} "
                      f"not {words} the threshold ({threshold}) (minimum {n - m + 1} datapoint"
                      f"{'s' if n - m + 1 > 1 else ''} for {old} -> OK transition).")
        data = {"version": "1.0", "queryDate": iso(now), "startDate": iso(start), "period": period,
                "recentDatapoints": [values[t] for t in buckets if t in values], "threshold": threshold,
                "evaluatedDatapoints": [{"timestamp": iso(t), "value": values[t]} for t in reversed(buckets)
                                        if t in values]}
        if not doc.get("Metrics"):
            data["statistic"] = doc.get("Statistic") or doc.get("ExtendedStatistic")
            if doc.get("Unit"):
                data["unit"] = doc["Unit"]
        return self._if_changed(r, state, reason, orjson.dumps(data).decode())

    @staticmethod
    def _if_changed(r: AlarmRow, state: str, reason: str, data: str | None) -> tuple[str, str, str | None] | None:
        return (state, reason, data) if state != r.state else None

    async def transition(self, r: AlarmRow, state: str, reason: str, data: str | None) -> bool:
        """Move ``r`` to ``state`` (compare-and-set on its current state), record it, run its actions."""
        now = self.clock.now_ms()
        transitioned = now if state != r.state else r.transitioned_at
        summary = f"Alarm updated from {r.state} to {state}"
        new_state: dict[str, Any] = {"stateValue": state, "stateReason": reason}
        if data:
            new_state["stateReasonData"] = orjson.loads(data)
        history = {"version": "1.0", "oldState": {"stateValue": r.state, "stateReason": r.reason},
                   "newState": new_state}
        ok = await self.repo.set_state(r.account, r.region, r.name, r.state, state, reason, data, now, transitioned,
                                       (r.account, r.region, r.name, r.kind, now, "StateUpdate", summary,
                                        orjson.dumps(history).decode()))
        if ok and state != r.state:
            fresh = await self.repo.alarm(r.account, r.region, r.name)
            if fresh is not None and fresh.actions_enabled:
                await self._act(fresh, r.state, now)
        return ok

    async def _act(self, r: AlarmRow, old_state: str, now: int) -> None:
        doc = orjson.loads(r.doc)
        member = {"ALARM": "AlarmActions", "OK": "OKActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}[r.state]
        actions = doc.get(member) or []
        if not actions:
            return
        sns = self.platform.ports.find(SNS)
        arn = alarm_arn(r.account, r.region, r.name)
        message = orjson.dumps(self.notification(r, doc, old_state, now)).decode()
        subject = f'{r.state}: "{r.name}" in {region_name(r.region)}'
        if len(subject) > 100:
            subject = subject[:100]
        for action in actions:
            ok, why = False, "SNS is not served"
            if sns is not None:
                ctx = internal_context(r.account, r.region, "sns", "Publish",
                                       source=Source(arn, "cloudwatch.amazonaws.com", r.account))
                try:
                    await sns.publish(ctx, action, message, subject=subject)
                    ok = True
                except Exception as e:
                    why = str(getattr(e, "message", "") or e)
            summary = (f"Successfully executed action {action}" if ok else f"Failed to execute action {action}")
            data = {"actionState": "Succeeded" if ok else "Failed", "stateUpdateTimestamp": now,
                    "notificationResource": action}
            if not ok:
                data["error"] = why
                log.warning("alarm %s: publishing to %s failed: %s", r.name, action, why)
            await self.repo.add_history((r.account, r.region, r.name, r.kind, self.clock.now_ms(), "Action", summary,
                                         orjson.dumps(data).decode()))

    def notification(self, r: AlarmRow, doc: Mapping[str, Any], old_state: str, now: int) -> dict[str, Any]:
        """AWS's alarm notification message (the JSON an SNS action publishes)."""
        out: dict[str, Any] = {
            "AlarmName": r.name, "AlarmDescription": doc.get("AlarmDescription"), "AWSAccountId": r.account,
            "AlarmConfigurationUpdatedTimestamp": iso(r.configured_at), "NewStateValue": r.state,
            "NewStateReason": r.reason, "StateChangeTime": iso(now), "Region": region_name(r.region),
            "AlarmArn": alarm_arn(r.account, r.region, r.name), "OldStateValue": old_state,
            "OKActions": doc.get("OKActions", []), "AlarmActions": doc.get("AlarmActions", []),
            "InsufficientDataActions": doc.get("InsufficientDataActions", [])}
        if r.kind == "CompositeAlarm":
            out["AlarmRule"] = doc["AlarmRule"]
            return out
        trigger: dict[str, Any] = {
            "Period": doc.get("Period"), "EvaluationPeriods": doc["EvaluationPeriods"],
            "DatapointsToAlarm": doc.get("DatapointsToAlarm", doc["EvaluationPeriods"]),
            "ComparisonOperator": doc["ComparisonOperator"], "Threshold": float(doc["Threshold"]),
            "TreatMissingData": doc.get("TreatMissingData", "missing"),
            "EvaluateLowSampleCountPercentile": doc.get("EvaluateLowSampleCountPercentile", "")}
        if doc.get("Metrics"):
            trigger["Metrics"] = [_lower_query(q) for q in doc["Metrics"]]
            trigger["Period"] = self._math_period(doc["Metrics"])
        else:
            trigger.update({
                "MetricName": doc["MetricName"], "Namespace": doc["Namespace"],
                "StatisticType": "Statistic" if "Statistic" in doc else "ExtendedStatistic",
                "Statistic": doc["Statistic"].upper() if "Statistic" in doc else doc["ExtendedStatistic"],
                "Unit": doc.get("Unit"),
                "Dimensions": [{"value": d["Value"], "name": d["Name"]} for d in doc.get("Dimensions") or []]})
        out["Trigger"] = trigger
        return out


def _lower_query(q: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Id": q["Id"], "ReturnData": q.get("ReturnData", True)}
    if "Expression" in q:
        out["Expression"] = q["Expression"]
    if "Label" in q:
        out["Label"] = q["Label"]
    if "MetricStat" in q:
        st = q["MetricStat"]
        out["MetricStat"] = {"Metric": {"Dimensions": [{"value": d["Value"], "name": d["Name"]}
                                                       for d in st["Metric"].get("Dimensions") or []],
                                        "MetricName": st["Metric"].get("MetricName"),
                                        "Namespace": st["Metric"].get("Namespace")},
                             "Period": st["Period"], "Stat": st["Stat"]}
    return out


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        v = int(orjson.loads(base64.urlsafe_b64decode(token.encode()))["o"])
        if v < 0:
            raise ValueError
        return v
    except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidNextToken("The service cannot decode the NextToken parameter.") from None


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"o": offset})).decode()

"""The embedded metric format: log events that are EMF documents become metric data.

CloudWatch Logs extracts metrics from every event written to any log group that is a valid EMF document,
whether it came from a function's output or from PutLogEvents (the ``x-amzn-logs-format: json/emf``
header is optional on AWS and changes nothing here). The event itself is stored like any other; a
document that breaks the specification adds no metric at all (not even its valid parts) and counts one
``EMFValidationErrors`` in ``AWS/Logs`` with the group's ``LogGroupName``.

A document (AWS's "Specification: Embedded metric format"):

- the whole message is one JSON object; its ``_aws`` member an object with ``Timestamp`` (an integer,
  milliseconds since the epoch: every metric's timestamp) and ``CloudWatchMetrics``, an array of
  directives;
- a directive has ``Namespace`` (a non-empty string, at most 1,024 characters, not in ``AWS/``, which
  PutMetricData refuses too), ``Dimensions`` (an array
  of dimension sets, each an array of at most 30 dimension names, possibly empty) and ``Metrics`` (an
  array of at most 100 definitions, each ``Name``, optional ``Unit`` (one of CloudWatch's units,
  ``None`` by default) and optional ``StorageResolution`` (1 or 60, 60 by default));
- every dimension name is a member of the root whose value is a string (1 to 1,024 characters); every
  metric name is a member of the root whose value is a number or an array of at most 100 numbers.

Each metric gets one data point per value, for each dimension set of its directive (the set's dimensions
with their root values; an empty set, or an empty ``Dimensions``, is the metric without dimensions).
The timestamp must lie within PutMetricData's window (two weeks back, two hours ahead).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson

from tsunagi.ports.cloudwatch import Datum

MAX_DIMENSIONS = 30
MAX_METRICS = 100
MAX_VALUES = 100
MAX_NAME = 1024
MAX_DIMENSION_NAME = 250
MAX_DIMENSION_VALUE = 1024
TWO_WEEKS_MS = 14 * 86_400_000
TWO_HOURS_MS = 2 * 3_600_000
VALUE_LIMIT = 2.0 ** 360
UNITS = frozenset((
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"))

VALIDATION_ERRORS = "EMFValidationErrors"


class Invalid(ValueError):
    """The document breaks the specification: no metric comes from it."""


def candidate(message: str) -> bool:
    """Cheap test a message must pass before it is parsed (most log lines fail it)."""
    return "_aws" in message and message.lstrip()[:1] == "{"


def _name(v: Any, limit: int) -> str:
    if not isinstance(v, str) or not 1 <= len(v) <= limit:
        raise Invalid
    return v


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise Invalid
    f = float(v)
    if math.isnan(f) or math.isinf(f) or abs(f) > VALUE_LIMIT or (f != 0 and abs(f) < 2.0 ** -360):
        raise Invalid
    return f


def extract(message: str, now_ms: int) -> list[Datum] | None:
    """The data points of one event: None when it is no EMF document at all (not a JSON object with an
    ``_aws`` member); raises :class:`Invalid` when it is one but breaks the specification."""
    try:
        root = orjson.loads(message)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(root, dict) or "_aws" not in root:
        return None
    meta = root["_aws"]
    if not isinstance(meta, dict):
        raise Invalid
    ts = meta.get("Timestamp")
    directives = meta.get("CloudWatchMetrics")
    if isinstance(ts, bool) or not isinstance(ts, int) or not isinstance(directives, list):
        raise Invalid
    if not now_ms - TWO_WEEKS_MS <= ts <= now_ms + TWO_HOURS_MS:
        raise Invalid
    out: list[Datum] = []
    for d in directives:
        if not isinstance(d, dict):
            raise Invalid
        namespace = _name(d.get("Namespace"), MAX_NAME)
        if namespace.startswith("AWS/"):            # reserved, as PutMetricData refuses it
            raise Invalid
        sets, metrics = d.get("Dimensions"), d.get("Metrics")
        if not isinstance(sets, list) or not isinstance(metrics, list) or len(metrics) > MAX_METRICS:
            raise Invalid
        dimension_sets: list[tuple[tuple[str, str], ...]] = []
        for names in sets:
            if not isinstance(names, list) or len(names) > MAX_DIMENSIONS or len(set(map(str, names))) != len(names):
                raise Invalid
            dimension_sets.append(tuple((_name(n, MAX_DIMENSION_NAME), _name(root.get(n), MAX_DIMENSION_VALUE))
                                        for n in names))
        if not dimension_sets:
            dimension_sets.append(())
        for m in metrics:
            if not isinstance(m, dict):
                raise Invalid
            name = _name(m.get("Name"), MAX_NAME)
            unit = m.get("Unit", "None")
            resolution = m.get("StorageResolution", 60)
            if unit not in UNITS or isinstance(resolution, bool) or resolution not in (1, 60):
                raise Invalid
            raw = root.get(name)
            values: Sequence[Any] = raw if isinstance(raw, list) else [raw]
            if not values or len(values) > MAX_VALUES:
                raise Invalid
            numbers = [_number(v) for v in values]
            for dimension_set in dimension_sets:
                out.extend(Datum(namespace, name, v, ts, unit, dimension_set, storage_resolution=int(resolution))
                           for v in numbers)
    return out


def data(events: Sequence[tuple[int, str]], group: str, now_ms: int) -> list[Datum]:
    """The data points of a write's EMF events, and one ``EMFValidationErrors`` per invalid document."""
    out: list[Datum] = []
    errors = 0
    last = now_ms
    for ts, message in events:
        if not candidate(message):
            continue
        try:
            found = extract(message, now_ms)
        except Invalid:
            errors += 1
            last = ts
            continue
        if found:
            out.extend(found)
    if errors:
        out.append(Datum("AWS/Logs", VALIDATION_ERRORS, float(errors), last, "None",
                         (("LogGroupName", group),)))
    return out

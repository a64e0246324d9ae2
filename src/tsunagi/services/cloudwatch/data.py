"""Metric data as aggregates: dimension sets in their canonical form, a bucket's statistics, and the
bounded value map percentiles are read from.

A bucket keeps the sample count, sum, minimum and maximum exactly. Its values for percentiles are a map
value -> count of at most :data:`MAX_VALUES` entries: past that, values are rounded to fewer significant
digits and merged (a percentile is then exact to three significant digits, then two).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import orjson

MAX_VALUES = 1000

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d{1,10})?|100)$")


def canonical_dims(dims: Iterable[tuple[str, str]]) -> str:
    """The stored key of a dimension set: a JSON list of [name, value] pairs sorted by name."""
    return orjson.dumps(sorted([str(k), str(v)] for k, v in dims)).decode()


def dims_of(canonical: str) -> list[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in orjson.loads(canonical)]


def value_key(v: float) -> str:
    return repr(float(v))


def compact(vals: dict[str, float]) -> dict[str, float]:
    """``vals`` with at most MAX_VALUES entries (rounded to 3, then 2, then 1 significant digits)."""
    digits = 3
    while len(vals) > MAX_VALUES and digits > 0:
        merged: dict[str, float] = {}
        for k, c in vals.items():
            r = value_key(float(f"{float(k):.{digits}g}"))
            merged[r] = merged.get(r, 0.0) + c
        vals = merged
        digits -= 1
    return vals


def merge_vals(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    out = dict(a)
    for k, c in b.items():
        out[k] = out.get(k, 0.0) + c
    return compact(out)


@dataclass
class Agg:
    """A bucket's statistics (one period, one unit)."""

    n: float = 0.0
    total: float = 0.0
    lo: float = math.inf
    hi: float = -math.inf
    vals: dict[str, float] = field(default_factory=dict)

    def add(self, n: float, total: float, lo: float, hi: float, vals: Mapping[str, float] | None = None) -> None:
        self.n += n
        self.total += total
        self.lo = min(self.lo, lo)
        self.hi = max(self.hi, hi)
        if vals:
            self.vals = merge_vals(self.vals, vals)

    def stat(self, name: str) -> float | None:
        """One statistic (``Average``, ``p99``, …), or None when it cannot be computed."""
        if self.n <= 0:
            return None
        if name == "SampleCount":
            return self.n
        if name == "Sum":
            return self.total
        if name == "Average":
            return self.total / self.n
        if name == "Minimum":
            return self.lo
        if name == "Maximum":
            return self.hi
        if name.startswith("p") and _PERCENTILE.match(name):
            return percentile(self.vals, float(name[1:]))
        return None


def percentile(vals: Mapping[str, float], p: float) -> float | None:
    """The nearest-rank ``p``-th percentile of a value -> count map."""
    if not vals:
        return None
    items = sorted((float(k), c) for k, c in vals.items())
    count = sum(c for _, c in items)
    rank = max(1.0, math.ceil(p / 100.0 * count))
    seen = 0.0
    for v, c in items:
        seen += c
        if seen >= rank:
            return v
    return items[-1][0]


def is_percentile(name: str) -> bool:
    m = _PERCENTILE.match(name)
    return m is not None and 0.0 <= float(m.group(1)) <= 100.0


def values_map(values: Sequence[float], counts: Sequence[float] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for i, v in enumerate(values):
        c = counts[i] if counts is not None else 1.0
        k = value_key(v)
        out[k] = out.get(k, 0.0) + c
    return compact(out)

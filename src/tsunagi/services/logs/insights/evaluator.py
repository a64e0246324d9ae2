"""Running a parsed Logs Insights query over log events, one batch at a time.

:class:`Pipeline` is built once per query from its commands; events are pushed into it in batches
(:meth:`Pipeline.feed`) and :meth:`Pipeline.finish` returns the result rows as AWS shapes them
(lists of ``{"field", "value"}``, values as strings). Each command is a stage that passes records
on as they come (``fields``, ``filter``, ``parse``, ``limit``, ``dedup``) or keeps only what it
needs and answers at the end (``stats``: one accumulator per aggregate and group; ``sort``: the
best ``k`` rows when the rest of the query can only shrink them to ``k``). The final rows are
capped at the query's limit, so memory is bounded by the limit, the number of groups ``stats``
makes and the distinct keys ``dedup`` sees, never by the number of events scanned. A query whose
first command is a ``stats`` of counts by nothing or by one fixed ``bin()`` needs only timestamps:
:meth:`Pipeline.feed` counts a batch's bins directly (:attr:`Pipeline.reads_messages` is False).

Records are dicts of field → value; JSON messages (nested keys joined with dots, list items by
index) and Lambda's ``START``/``END``/``REPORT`` lines are read for their fields the first time a
field that is not built in is asked for.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from tsunagi.services.logs.insights.parser import Command, Expr, Query, QuerySyntaxError

_NUMERIC = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_REPORT_FIELD = re.compile(r"([A-Za-z][A-Za-z ]*?): ([\d.]+) (ms|MB)")
_REQUEST_ID = re.compile(r"(START|END|REPORT) RequestId: ([0-9A-Za-z-]+)")
_REPORT_NAMES = {"Duration": ("@duration", float, 1), "Billed Duration": ("@billedDuration", float, 1),
                 "Memory Size": ("@memorySize", int, 1_000_000), "Max Memory Used": ("@maxMemoryUsed", int, 1_000_000),
                 "Init Duration": ("@initDuration", float, 1)}
MAX_JSON_FIELDS = 1000
DEFAULT_FIELDS = ("@timestamp", "@message", "@logStream", "@log")

AGGREGATES = frozenset({"count", "count_distinct", "sum", "avg", "min", "max", "pct", "percentile",
                        "earliest", "latest", "stddev"})


class Timestamp(int):
    """A time in epoch milliseconds (formatted as ``2024-01-01 00:00:00.000``)."""


class Event(NamedTuple):
    """Where a record came from; its built-in fields are made from it when asked for."""

    account: str
    group: str
    group_id: int
    id: int
    stream: str
    ts: int
    ingested: int


def _builtin(ev: Event, message: str, name: str) -> Any:
    if name == "@timestamp":
        return Timestamp(ev.ts)
    if name == "@message":
        return message
    if name == "@logStream":
        return ev.stream
    if name == "@log":
        return f"{ev.account}:{ev.group}"
    if name == "@ingestionTime":
        return Timestamp(ev.ingested)
    return None


class Record(dict[str, Any]):
    """One row's fields. For an event, ``event`` and ``message`` give the built-in fields and
    ``raw`` is the message still to be read for discovered fields (on first use)."""

    __slots__ = ("raw", "event", "message")

    def __init__(self, base: dict[str, Any] | None = None, event: Event | None = None, message: str = "") -> None:
        if base:            # an event's record starts empty (one is made per event scanned)
            self.update(base)
        self.event = event
        self.message = message
        self.raw: str | None = message if event is not None else None

    @property
    def ptr(self) -> str:
        ev = self.event
        return "" if ev is None else base64.b64encode(f"{ev.group_id}:{ev.id}".encode()).decode()

    def value(self, name: str) -> Any:
        v = self.get(name)
        if v is None and self.event is not None:
            if name[:1] == "@":
                v = _builtin(self.event, self.message, name)
                if v is not None:
                    return v
            if self.raw is not None:
                raw, self.raw = self.raw, None
                for k, found in discover(raw).items():
                    self.setdefault(k, found)
                v = self.get(name)
        return v


def discover(message: str) -> dict[str, Any]:
    """The fields Logs Insights finds in a message: JSON keys, and Lambda's platform lines."""
    out: dict[str, Any] = {}
    text = message.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            _flatten(doc, "", out)
    elif text.startswith(("START ", "END ", "REPORT ")):
        m = _REQUEST_ID.match(text)
        if m:
            out["@type"] = m.group(1)
            out["@requestId"] = m.group(2)
            if m.group(1) == "REPORT":
                for name, number, _unit in _REPORT_FIELD.findall(text):
                    spec = _REPORT_NAMES.get(name.strip())
                    if spec:
                        field, kind, scale = spec
                        out[field] = kind(float(number) * scale) if kind is int else float(number)
    return out


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if len(out) >= MAX_JSON_FIELDS:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flatten(v, f"{prefix}.{i}" if prefix else str(i), out)
    elif value is None:
        return
    elif isinstance(value, bool):
        out[prefix] = "true" if value else "false"
    else:
        out[prefix] = value


# == values ====================================================================================
def number(v: Any) -> float | int | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, str) and _NUMERIC.match(v.strip()):
        f = float(v)
        return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() else f
    return None


def text(v: Any) -> str:
    if isinstance(v, Timestamp):
        return format_time(v)
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        if math.isfinite(v) and v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    return str(v)


def format_time(ms: int) -> str:
    when = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S.") + f"{int(ms) % 1000:03d}"


def _equal(a: Any, b: Any) -> bool:
    na, nb = number(a), number(b)
    if na is not None and nb is not None:
        return na == nb
    return text(a) == text(b)


def _compare(op: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    if op == "=":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    na, nb = number(a), number(b)
    x: Any
    y: Any
    x, y = (na, nb) if na is not None and nb is not None else (text(a), text(b))
    if op == "<":
        return bool(x < y)
    if op == "<=":
        return bool(x <= y)
    if op == ">":
        return bool(x > y)
    return bool(x >= y)


def _truthy(v: Any) -> bool:
    if v is None or v is False or v == "":
        return False
    return not (isinstance(v, (int, float)) and v == 0)


def _arith(op: str, a: Any, b: Any) -> Any:
    x, y = number(a), number(b)
    if x is None or y is None:
        return None
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if y == 0:
        return None
    if op == "/":
        return x / y
    return x % y


# == scalar functions ==========================================================================
def _s(v: Any) -> str | None:
    return None if v is None else text(v)


def _group_key(v: Any) -> Any:
    """A value as a stats group key: cheap for the common kinds (a bin's time is an int)."""
    if v is None or (isinstance(v, (str, int, float)) and not isinstance(v, bool)):
        return v
    return text(v)


def _floor_time(ts: Any, period: Any) -> Any:
    t, p = number(ts), number(period)
    if t is None or not p:
        return None
    return Timestamp(int(t // p * p))


def _ceil_time(ts: Any, period: Any) -> Any:
    t, p = number(ts), number(period)
    if t is None or not p:
        return None
    return Timestamp(int(math.ceil(t / p) * p))


def _num1(fn: Callable[[float], Any]) -> Callable[[Any], Any]:
    def apply(v: Any) -> Any:
        n = number(v)
        return None if n is None else fn(n)
    return apply


def _substr(s: Any, start: Any, length: Any = None) -> Any:
    if s is None:
        return None
    st = int(number(start) or 0)
    t = text(s)
    return t[st:] if length is None else t[st:st + int(number(length) or 0)]


FUNCTIONS: dict[str, tuple[int, int, Callable[..., Any]]] = {
    # name: (min args, max args, implementation)
    "strlen": (1, 1, lambda s: None if s is None else len(text(s))),
    "toupper": (1, 1, lambda s: None if s is None else text(s).upper()),
    "tolower": (1, 1, lambda s: None if s is None else text(s).lower()),
    "trim": (1, 1, lambda s: None if s is None else text(s).strip()),
    "ltrim": (1, 1, lambda s: None if s is None else text(s).lstrip()),
    "rtrim": (1, 1, lambda s: None if s is None else text(s).rstrip()),
    "concat": (1, 100, lambda *a: "".join(text(x) for x in a if x is not None)),
    "substr": (2, 3, _substr),
    "replace": (3, 3, lambda s, a, b: None if s is None else text(s).replace(text(a), text(b))),
    "strcontains": (2, 2, lambda s, t: None if s is None else (text(t) in text(s))),
    "ispresent": (1, 1, lambda v: v is not None),
    "isempty": (1, 1, lambda v: v is None or text(v) == ""),
    "isblank": (1, 1, lambda v: v is None or text(v).strip() == ""),
    "coalesce": (1, 100, lambda *a: next((x for x in a if x is not None), None)),
    "abs": (1, 1, _num1(abs)),
    "floor": (1, 1, _num1(math.floor)),
    "ceil": (1, 1, _num1(math.ceil)),
    "sqrt": (1, 1, _num1(lambda n: math.sqrt(n) if n >= 0 else None)),
    "log": (1, 1, _num1(lambda n: math.log(n) if n > 0 else None)),
    "greatest": (1, 100, lambda *a: max((n for n in map(number, a) if n is not None), default=None)),
    "least": (1, 100, lambda *a: min((n for n in map(number, a) if n is not None), default=None)),
    "datefloor": (2, 2, _floor_time),
    "dateceil": (2, 2, _ceil_time),
    "frommillis": (1, 1, lambda v: None if number(v) is None else Timestamp(int(number(v) or 0))),
    "tomillis": (1, 1, lambda v: None if number(v) is None else int(number(v) or 0)),
}


# == compiling expressions =====================================================================
Fn = Callable[[Record], Any]


def compile_expr(e: Expr, aggs: list[Aggregate] | None = None) -> Fn:
    """A function of a record for an expression. With ``aggs``, aggregate calls are collected
    there and the function reads their results (``stats``)."""
    kind = e[0]
    if kind == "lit":
        value = e[1]
        return lambda r: value
    if kind == "dur":
        ms = e[1]
        return lambda r: ms
    if kind == "field":
        name = e[1]
        return lambda r: r.value(name)
    if kind == "star":
        raise QuerySyntaxError("'*' is only allowed as the argument of count")
    if kind == "regex":
        raise QuerySyntaxError("A regular expression is only allowed after like or =~, or in parse")
    if kind == "neg":
        f = compile_expr(e[1], aggs)
        return lambda r: _arith("-", 0, f(r))
    if kind == "arith":
        op, fa, fb = e[1], compile_expr(e[2], aggs), compile_expr(e[3], aggs)
        return lambda r: _arith(op, fa(r), fb(r))
    if kind == "cmp":
        op, fa, fb = e[1], compile_expr(e[2], aggs), compile_expr(e[3], aggs)
        return lambda r: _compare(op, fa(r), fb(r))
    if kind == "like":
        fa = compile_expr(e[1], aggs)
        pat = e[2]
        if pat[0] == "regex":
            rx = pat[1]
            return lambda r: (lambda v: v is not None and rx.search(text(v)) is not None)(fa(r))
        needle = text(pat[1])
        return lambda r: (lambda v: v is not None and needle in text(v))(fa(r))
    if kind == "in":
        fa = compile_expr(e[1], aggs)
        items = [compile_expr(x, aggs) for x in e[2]]
        return lambda r: (lambda v: v is not None and any(_equal(v, f(r)) for f in items))(fa(r))
    if kind == "not":
        f = compile_expr(e[1], aggs)
        return lambda r: not _truthy(f(r))
    if kind == "and":
        fa, fb = compile_expr(e[1], aggs), compile_expr(e[2], aggs)
        return lambda r: _truthy(fa(r)) and _truthy(fb(r))
    if kind == "or":
        fa, fb = compile_expr(e[1], aggs), compile_expr(e[2], aggs)
        return lambda r: _truthy(fa(r)) or _truthy(fb(r))
    if kind == "call":
        return _compile_call(e, aggs)
    raise QuerySyntaxError(f"Unsupported expression {kind}")


def _compile_call(e: Expr, aggs: list[Aggregate] | None) -> Fn:
    name, args, src = e[1], e[2], e[3]
    if name in AGGREGATES:
        if aggs is None:
            raise QuerySyntaxError(f"Aggregate function {name} is only allowed in stats: {src}")
        agg = Aggregate.make(name, args, src)
        aggs.append(agg)
        index = len(aggs) - 1
        return lambda r: r.value(f"\0agg{index}")
    if name == "bin":
        if len(args) != 1:
            raise QuerySyntaxError(f"bin takes one argument (a period such as 5m): {src}")
        if args[0][0] in ("dur", "lit") and isinstance(args[0][1], int) and args[0][1] > 0:
            period = args[0][1]

            def bin_(r: Record) -> Any:
                t = r.value("@timestamp")
                return Timestamp(t - t % period) if isinstance(t, int) else _floor_time(t, period)
            bin_.period = period        # type: ignore[attr-defined]  # read by _Stats.push_times
            return bin_
        fp = compile_expr(args[0])
        return lambda r: _floor_time(r.value("@timestamp"), fp(r))
    spec = FUNCTIONS.get(name)
    if spec is None:
        raise QuerySyntaxError(f"Unknown function: {name}")
    lo, hi, impl = spec
    if not lo <= len(args) <= hi:
        raise QuerySyntaxError(f"Wrong number of arguments for {name}: {src}")
    fs = [compile_expr(a, aggs) for a in args]
    if len(fs) == 1:
        f0 = fs[0]
        return lambda r: impl(f0(r))
    return lambda r: impl(*(f(r) for f in fs))


def columns_as_fields(e: Expr, columns: frozenset[str]) -> Expr:
    """After stats, an expression that names one of its columns (``sort bin(5m)``, ``filter count(*) > 2``)
    reads that column."""
    if not columns or not isinstance(e, tuple) or not e:
        return e
    if e[0] == "call":
        if e[3] in columns:
            return ("field", e[3])
        return ("call", e[1], [columns_as_fields(a, columns) for a in e[2]], e[3])
    if e[0] == "in":
        return ("in", columns_as_fields(e[1], columns), [columns_as_fields(x, columns) for x in e[2]])
    return tuple(columns_as_fields(x, columns) if isinstance(x, tuple) else x for x in e)


# == aggregates ================================================================================
class Aggregate:
    """One aggregate call in a stats command; :meth:`new` makes its per-group accumulator."""

    def __init__(self, name: str, arg: Fn | None, extra: float | None) -> None:
        self.name = name
        self.arg = arg
        self.extra = extra

    @classmethod
    def make(cls, name: str, args: list[Expr], src: str) -> Aggregate:
        if name == "count":
            if len(args) > 1:
                raise QuerySyntaxError(f"count takes at most one argument: {src}")
            if not args or args[0][0] == "star":
                return cls(name, None, None)
            return cls(name, compile_expr(args[0]), None)
        if name in ("pct", "percentile"):
            if len(args) != 2 or args[1][0] != "lit" or number(args[1][1]) is None:
                raise QuerySyntaxError(f"pct takes a field and a number from 0 to 100: {src}")
            p = float(number(args[1][1]) or 0)
            if not 0 <= p <= 100:
                raise QuerySyntaxError(f"pct takes a field and a number from 0 to 100: {src}")
            return cls("pct", compile_expr(args[0]), p)
        if len(args) != 1:
            raise QuerySyntaxError(f"{name} takes one argument: {src}")
        return cls(name, compile_expr(args[0]), None)

    def new(self) -> list[Any]:
        n = self.name
        if n in ("count",):
            return [0]
        if n == "count_distinct":
            return [set()]
        if n in ("sum", "avg"):
            return [0, 0]
        if n in ("min", "max", "earliest", "latest"):
            return [None, None]
        if n == "pct":
            return [[]]
        return [0, 0.0, 0.0]    # stddev: n, mean, M2 (Welford)

    def add(self, acc: list[Any], r: Record) -> None:
        n = self.name
        if self.arg is None:
            acc[0] += 1
            return
        v = self.arg(r)
        if v is None:
            return
        if n == "count":
            acc[0] += 1
        elif n == "count_distinct":
            if len(acc[0]) < 1_000_000:
                acc[0].add(v if isinstance(v, (str, int, float)) else text(v))
        elif n in ("sum", "avg"):
            x = number(v)
            if x is not None:
                acc[0] += x
                acc[1] += 1
        elif n in ("min", "max"):
            x = number(v)
            if x is None:
                return
            if acc[0] is None or (x < acc[0] if n == "min" else x > acc[0]):
                acc[0] = v if isinstance(v, Timestamp) else x
        elif n in ("earliest", "latest"):
            ts = r.value("@timestamp")
            if acc[0] is None or (ts < acc[0] if n == "earliest" else ts >= acc[0]):
                acc[0], acc[1] = ts, v
        elif n == "pct":
            x = number(v)
            if x is not None:
                acc[0].append(x)
        else:
            x = number(v)
            if x is not None:
                acc[0] += 1
                d = x - acc[1]
                acc[1] += d / acc[0]
                acc[2] += d * (x - acc[1])

    def result(self, acc: list[Any]) -> Any:
        n = self.name
        if n == "count":
            return acc[0]
        if n == "count_distinct":
            return len(acc[0])
        if n == "sum":
            return acc[0] if acc[1] else None
        if n == "avg":
            return acc[0] / acc[1] if acc[1] else None
        if n in ("min", "max"):
            return acc[0]
        if n in ("earliest", "latest"):
            return acc[1]
        if n == "pct":
            values = sorted(acc[0])
            if not values:
                return None
            rank = max(math.ceil(self.extra / 100 * len(values)), 1) if self.extra else 1
            return values[min(rank, len(values)) - 1]
        return math.sqrt(acc[2] / (acc[0] - 1)) if acc[0] > 1 else (0.0 if acc[0] else None)


# == stages ====================================================================================
class Stage:
    nxt: Stage

    def push(self, r: Record) -> None:
        self.nxt.push(r)

    def finish(self) -> None:
        self.nxt.finish()


class _Fields(Stage):
    def __init__(self, items: list[tuple[str, Fn, bool]]) -> None:
        self.items = items

    def push(self, r: Record) -> None:
        for name, f, plain in self.items:
            if plain:
                continue
            v = f(r)
            if v is None:
                r.pop(name, None)
            else:
                r[name] = v
        self.nxt.push(r)


class _Filter(Stage):
    def __init__(self, pred: Fn) -> None:
        self.pred = pred

    def push(self, r: Record) -> None:
        if _truthy(self.pred(r)):
            self.nxt.push(r)


class _Parse(Stage):
    def __init__(self, source: Fn, pattern: Any, names: list[str], glob: bool) -> None:
        self.source, self.pattern, self.names, self.glob = source, pattern, names, glob

    def push(self, r: Record) -> None:
        v = self.source(r)
        if v is not None:
            m = self.pattern.search(text(v))
            if m is not None:
                groups = m.groups() if self.glob else [m.group(n) for n in self.names]
                for name, value in zip(self.names, groups, strict=False):
                    if value is not None:
                        r[name] = value
        self.nxt.push(r)


class _Limit(Stage):
    def __init__(self, n: int) -> None:
        self.left = n

    def push(self, r: Record) -> None:
        if self.left > 0:
            self.left -= 1
            self.nxt.push(r)


class _Dedup(Stage):
    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.seen: set[tuple[str | None, ...]] = set()

    def push(self, r: Record) -> None:
        key = tuple(_s(r.value(n)) for n in self.names)
        if key not in self.seen:
            self.seen.add(key)
            self.nxt.push(r)


class _Count(Stage):
    def __init__(self) -> None:
        self.n = 0

    def push(self, r: Record) -> None:
        self.n += 1
        self.nxt.push(r)


class _Stats(Stage):
    MAX_GROUPS = 1_000_000

    def __init__(self, cmd: Command) -> None:
        self.aggs: list[Aggregate] = []
        self.items = [(n.name, compile_expr(n.expr, self.aggs)) for n in cmd.items]
        if not self.aggs:
            raise QuerySyntaxError("stats needs at least one aggregate function (count, sum, avg, ...)")
        self.by = [(n.name, compile_expr(n.expr)) for n in cmd.by]
        self.by_fns = [f for _, f in self.by]
        self.only_counts = all(a.name == "count" and a.arg is None for a in self.aggs)
        self.groups: dict[tuple[Any, ...], tuple[tuple[Any, ...], list[list[Any]]]] = {}
        # ``stats count(*) … by bin(5m)`` (no keys, or only bins of a fixed period): each event's group
        # follows from its timestamp alone, so events need no record (see push_times)
        periods = [getattr(f, "period", None) for f in self.by_fns]
        self.periods: list[int] | None = (periods if self.only_counts and len(periods) <= 1  # type: ignore[assignment]
                                          and None not in periods else None)

    def columns(self) -> list[str]:
        return [n for n, _ in self.by] + [n for n, _ in self.items]

    def push(self, r: Record) -> None:
        values = tuple([f(r) for f in self.by_fns])
        key = tuple([_group_key(v) for v in values])
        entry = self.groups.get(key)
        if entry is None:
            if len(self.groups) >= self.MAX_GROUPS:
                return
            entry = (values, [a.new() for a in self.aggs])
            self.groups[key] = entry
        accs = entry[1]
        if self.only_counts:
            for acc in accs:
                acc[0] += 1
            return
        for agg, acc in zip(self.aggs, accs, strict=True):
            agg.add(acc, r)

    def push_times(self, times: list[int]) -> None:
        """What pushing the records of events with these timestamps does, for a stats whose groups
        depend on the timestamp alone (``periods`` is set): the same groups, in the same order, with
        the same counts."""
        assert self.periods is not None
        if not times:
            return
        groups, aggs = self.groups, self.aggs
        if not self.periods:
            key: tuple[Any, ...] = ()
            entry = groups.get(key)
            if entry is None:
                entry = groups[key] = ((), [a.new() for a in aggs])
            for acc in entry[1]:
                acc[0] += len(times)
            return
        period = self.periods[0]
        counts: dict[int, int] = {}
        get = counts.get
        for t in times:
            b = t - t % period
            counts[b] = get(b, 0) + 1
        for b, n in counts.items():         # first seen first, as one push at a time adds them
            key = (b,)
            entry = groups.get(key)
            if entry is None:
                if len(groups) >= self.MAX_GROUPS:
                    continue
                entry = groups[key] = ((Timestamp(b),), [a.new() for a in aggs])
            for acc in entry[1]:
                acc[0] += n

    def finish(self) -> None:
        groups, self.groups = self.groups, {}
        for values, accs in groups.values():
            base = {name: v for (name, _), v in zip(self.by, values, strict=True) if v is not None}
            row = Record(base)
            for i, (agg, acc) in enumerate(zip(self.aggs, accs, strict=True)):
                row[f"\0agg{i}"] = agg.result(acc)
            out = Record({k: v for k, v in row.items() if not k.startswith("\0")})
            for name, f in self.items:
                v = f(row)
                if v is not None:
                    out[name] = v
            self.nxt.push(out)
        self.nxt.finish()


class _Key:
    __slots__ = ("values", "desc", "seq")

    def __init__(self, values: tuple[Any, ...], desc: tuple[bool, ...], seq: int) -> None:
        self.values, self.desc, self.seq = values, desc, seq

    def __lt__(self, other: _Key) -> bool:
        for a, b, desc in zip(self.values, other.values, self.desc, strict=True):
            if a == b:
                continue
            if a[0] != b[0]:
                if 2 in (a[0], b[0]):       # absent values last in either direction
                    return bool(a[0] < b[0])
                return bool(a[0] > b[0]) if desc else bool(a[0] < b[0])
            return bool(a > b) if desc else bool(a < b)
        return self.seq < other.seq


_CHUNKS = re.compile(r"\d+|\D+")


def _sort_value(v: Any) -> tuple[Any, ...]:
    """AWS's ascending order: every value that is not a number, in natural order (runs of digits by
    length, then value; everything else by Unicode), then the numbers; absent values last."""
    if v is None:
        return (2,)
    n = number(v)
    if n is not None:
        return (1, n, v if isinstance(v, str) else "")
    return (0, [("0", len(c), int(c)) if c[0].isdigit() else (c,) for c in _CHUNKS.findall(text(v))])


class _Sort(Stage):
    def __init__(self, keys: list[tuple[Fn, bool]], keep: int | None) -> None:
        self.keys = keys
        self.desc = tuple(d for _, d in keys)
        self.keep = keep
        self.rows: list[tuple[_Key, Record]] = []
        self.seq = 0

    def push(self, r: Record) -> None:
        self.seq += 1
        self.rows.append((_Key(tuple(_sort_value(f(r)) for f, _ in self.keys), self.desc, self.seq), r))
        if self.keep is not None and len(self.rows) >= 2 * self.keep + 1000:
            self._trim()

    def _trim(self) -> None:
        self.rows.sort(key=lambda kr: kr[0])
        if self.keep is not None:
            del self.rows[self.keep:]

    def finish(self) -> None:
        self._trim()
        rows, self.rows = self.rows, []
        for _, r in rows:
            self.nxt.push(r)
        self.nxt.finish()


class _Sink(Stage):
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.rows: list[Record] = []
        self.done = False

    def push(self, r: Record) -> None:
        if len(self.rows) < self.cap:
            self.rows.append(r)

    def finish(self) -> None:
        self.done = True


# == the pipeline ==============================================================================
class Pipeline:
    """A query's stages over a stream of events; see the module's docstring."""

    def __init__(self, query: Query, cap: int) -> None:
        self.query = query
        commands = query.commands
        for cmd in commands:
            if cmd.kind == "unmask":
                raise QuerySyntaxError("unmask is not supported: tsunagi applies no data protection "
                                       "policies, so log events are never masked")
        self.sink = _Sink(cap)
        self.counter = _Count()
        self.scanned = 0
        self.bytes = 0
        self.aggregated = False
        projection: list[str] | None = None
        extra: list[str] = []
        stages: list[Stage] = []
        first_stats = next((i for i, c in enumerate(commands) if c.kind == "stats"), len(commands))
        last_filter = max((i for i, c in enumerate(commands[:first_stats]) if c.kind in ("filter", "parse")),
                          default=-1)
        if last_filter < 0:
            stages.append(self.counter)
        columns: frozenset[str] = frozenset()      # after stats: its columns
        displayed = False

        def compile_(e: Expr) -> Fn:
            return compile_expr(columns_as_fields(e, columns))

        for i, cmd in enumerate(commands):
            stage: Stage | None = None
            if cmd.kind == "fields":
                items = [(n.name, compile_(n.expr), n.expr == ("field", n.name)) for n in cmd.items]
                stage = _Fields(items)
                if not displayed:
                    projection = [] if projection is None else projection
                    projection += [n for n, _, _ in items if n not in projection]
            elif cmd.kind == "display":
                projection = list(dict.fromkeys(cmd.names))     # the last display decides
                displayed = True
            elif cmd.kind == "filter":
                assert cmd.expr is not None
                stage = _Filter(compile_(cmd.expr))
            elif cmd.kind == "parse":
                assert cmd.expr is not None
                glob = all(n not in cmd.pattern.groupindex for n in cmd.names) if cmd.pattern.groupindex else True
                stage = _Parse(compile_(cmd.expr), cmd.pattern, cmd.names, glob)
                if projection is None:
                    extra += [n for n in cmd.names if n not in extra]
                elif not displayed:
                    projection += [n for n in cmd.names if n not in projection]
            elif cmd.kind == "limit":
                if cmd.count < 1:
                    raise QuerySyntaxError("limit must be a positive number")
                stage = _Limit(cmd.count)
            elif cmd.kind == "dedup":
                stage = _Dedup(cmd.names)
            elif cmd.kind == "stats":
                st = _Stats(cmd)
                stage = st
                projection = st.columns()
                columns = frozenset(projection)
                displayed = False
                extra = []
                self.aggregated = True
            elif cmd.kind == "sort":
                keep: int | None = cap
                for later in commands[i + 1:]:
                    if later.kind in ("filter", "stats", "dedup"):
                        keep = None
                        break
                    if later.kind == "limit":
                        keep = min(keep, later.count) if keep is not None else later.count
                stage = _Sort([(compile_(e), d) for e, d in cmd.keys], keep)
            if stage is not None:
                stages.append(stage)
            if i == last_filter:
                stages.append(self.counter)
        stages.append(self.sink)
        for a, b in zip(stages, stages[1:], strict=False):
            a.nxt = b
        self.head = stages[0]
        # the counter then the stats first: an event's timestamp is all the query reads of it
        first = stages[1] if len(stages) > 1 and stages[0] is self.counter else None
        self._times = first if isinstance(first, _Stats) and first.periods is not None else None
        self.projection = projection if projection is not None else list(DEFAULT_FIELDS) + extra

    def push(self, r: Record, size: int) -> None:
        self.scanned += 1
        self.bytes += size
        self.head.push(r)

    @property
    def reads_messages(self) -> bool:
        """False when no stage looks at an event's message or stream (``stats count() by bin(5m)``):
        :meth:`feed` then needs only each event's timestamp and size."""
        return self._times is None

    def feed(self, account: str, group: str, group_id: int, names: dict[int, str],
             rows: list[tuple[int, int, int, int, str, int]]) -> None:
        """Push a batch of events, each (id, stream id, timestamp, ingestion time, message, size)."""
        if self._times is not None:
            self.scanned += len(rows)
            self.bytes += sum([r[5] for r in rows])
            self.counter.n += len(rows)
            self._times.push_times([r[2] for r in rows])
            return
        self.scanned += len(rows)
        self.bytes += sum([r[5] for r in rows])
        push, stream = self.head.push, names.get
        for event_id, stream_id, ts, ingested, message, _size in rows:
            push(Record(None, Event(account, group, group_id, event_id, stream(stream_id, ""), ts, ingested), message))

    def finish(self) -> list[list[dict[str, str]]]:
        self.head.finish()
        out: list[list[dict[str, str]]] = []
        for r in self.sink.rows:
            row = [{"field": name, "value": text(v)} for name in self.projection
                   if (v := r.value(name)) is not None]
            if not self.aggregated and r.ptr:
                row.append({"field": "@ptr", "value": r.ptr})
            out.append(row)
        return out

    @property
    def matched(self) -> int:
        return self.counter.n


def event_record(account: str, group: str, group_id: int, event_id: int, stream: str, ts: int, ingested: int,
                 message: str) -> Record:
    return Record(None, Event(account, group, group_id, event_id, stream, ts, ingested), message)

"""Metric math: a parser and evaluator for GetMetricData's and alarms' ``Expression``.

A value is a number, a time series (timestamp ms -> value, in time order) or an array of time series.
Supported: numbers, the ids of other queries, ``+ - * / ^``, comparisons (``> < >= <= == !=``, giving
1 or 0), ``AND``/``&&``, ``OR``/``||``, parentheses, ``[a, b]`` arrays, and the functions ABS, AVG,
CEIL, DIFF, DIFF_TIME, FILL, FIRST, FLOOR, IF, LAST, LOG, LOG10, MAX, METRICS, MIN, PERIOD, RATE,
REMOVE_EMPTY, RUNNING_SUM, SQRT, STDDEV, SUM. Any other function answers AWS's error for it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

Series = dict[int, float]
Value = Union[float, "Labeled", list["Labeled"]]


@dataclass
class Labeled:
    label: str
    points: Series


class MathError(Exception):
    """The expression cannot be parsed or evaluated (the service words AWS's error around it)."""


_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<str>\"[^\"]*\"|'[^']*')"
                    r"|(?P<op>>=|<=|==|!=|&&|\|\||[-+*/^(),\[\]<>]))")


def tokenize(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise MathError(f"Syntax error at position {pos + 1}.")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        t = self.peek()
        if t is None or (value is not None and t[1].upper() != value):
            raise MathError(f"Syntax error: expected {value or 'a value'}.")
        self.i += 1
        return t

    def parse(self) -> Any:
        node = self.or_()
        if self.peek() is not None:
            raise MathError(f"Syntax error: unexpected '{self.peek()[1]}'.")  # type: ignore[index]
        return node

    def _binary(self, ops: Mapping[str, str], nxt: Callable[[], Any]) -> Any:
        left = nxt()
        while (t := self.peek()) is not None and t[1].upper() in ops:
            self.i += 1
            left = ("op", ops[t[1].upper()], left, nxt())
        return left

    def or_(self) -> Any:
        return self._binary({"OR": "or", "||": "or"}, self.and_)

    def and_(self) -> Any:
        return self._binary({"AND": "and", "&&": "and"}, self.cmp)

    def cmp(self) -> Any:
        return self._binary({x: x for x in (">", "<", ">=", "<=", "==", "!=")}, self.add)

    def add(self) -> Any:
        return self._binary({"+": "+", "-": "-"}, self.mul)

    def mul(self) -> Any:
        return self._binary({"*": "*", "/": "/"}, self.pow)

    def pow(self) -> Any:
        base = self.unary()
        if (t := self.peek()) is not None and t[1] == "^":
            self.i += 1
            return ("op", "^", base, self.pow())
        return base

    def unary(self) -> Any:
        t = self.peek()
        if t is not None and t[1] == "-":
            self.i += 1
            return ("neg", self.unary())
        return self.primary()

    def primary(self) -> Any:
        t = self.take()
        kind, text = t
        if kind == "num":
            return ("num", float(text))
        if kind == "str":
            return ("str", text[1:-1])
        if kind == "name":
            nxt = self.peek()
            if nxt is not None and nxt[1] == "(":
                self.i += 1
                args = []
                if (p := self.peek()) is not None and p[1] != ")":
                    args.append(self.or_())
                    while (p := self.peek()) is not None and p[1] == ",":
                        self.i += 1
                        args.append(self.or_())
                self.take(")")
                return ("call", text.upper(), args)
            return ("id", text)
        if text == "(":
            node = self.or_()
            self.take(")")
            return node
        if text == "[":
            items = [self.or_()]
            while (p := self.peek()) is not None and p[1] == ",":
                self.i += 1
                items.append(self.or_())
            self.take("]")
            return ("array", items)
        raise MathError(f"Syntax error: unexpected '{text}'.")


def references(node: Any) -> set[str]:
    """The ids an expression refers to."""
    if not isinstance(node, tuple):
        return set()
    if node[0] == "id":
        return {node[1]}
    out: set[str] = set()
    for part in node[1:]:
        if isinstance(part, tuple):
            out |= references(part)
        elif isinstance(part, list):
            for p in part:
                out |= references(p)
    return out


_OPS: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b != 0 else math.nan, "^": lambda a, b: _pow(a, b),
    ">": lambda a, b: float(a > b), "<": lambda a, b: float(a < b), ">=": lambda a, b: float(a >= b),
    "<=": lambda a, b: float(a <= b), "==": lambda a, b: float(a == b), "!=": lambda a, b: float(a != b),
    "and": lambda a, b: float(bool(a) and bool(b)), "or": lambda a, b: float(bool(a) or bool(b)),
}


def _pow(a: float, b: float) -> float:
    try:
        return float(a ** b) if not (a < 0 and b != int(b)) else math.nan
    except (OverflowError, ZeroDivisionError):
        return math.nan


def _clean(s: Series) -> Series:
    return {t: v for t, v in s.items() if not (math.isnan(v) or math.isinf(v))}


class Evaluator:
    """Evaluates parsed expressions over the series of a query (``env``: id -> value)."""

    def __init__(self, env: Mapping[str, Value], grid: Sequence[int], period: int,
                 metric_ids: Sequence[str]) -> None:
        self.env = env
        self.grid = list(grid)
        self.period = period
        self.metric_ids = list(metric_ids)

    def eval(self, node: Any) -> Value:
        kind = node[0]
        if kind == "num":
            return float(node[1])
        if kind == "str":
            raise MathError("A string is only allowed as a function argument.")
        if kind == "id":
            if node[1] not in self.env:
                raise MathError(f"Unrecognized identifier {node[1]}.")
            return self.env[node[1]]
        if kind == "neg":
            return self._map(self.eval(node[1]), lambda v: -v)
        if kind == "array":
            out: list[Labeled] = []
            for item in node[1]:
                v = self.eval(item)
                if isinstance(v, float):
                    raise MathError("An array may contain only time series.")
                out.extend(v if isinstance(v, list) else [v])
            return out
        if kind == "op":
            return self._binary(node[1], self.eval(node[2]), self.eval(node[3]))
        if kind == "call":
            return self._call(node[1], node[2])
        raise MathError("Syntax error.")

    # -- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _map(v: Value, f: Callable[[float], float]) -> Value:
        if isinstance(v, float):
            return f(v)
        if isinstance(v, list):
            return [Labeled(s.label, _clean({t: f(x) for t, x in s.points.items()})) for s in v]
        return Labeled(v.label, _clean({t: f(x) for t, x in v.points.items()}))

    def _binary(self, op: str, a: Value, b: Value) -> Value:
        f = _OPS[op]
        if isinstance(a, float) and isinstance(b, float):
            return f(a, b)
        if isinstance(a, float):
            return self._map(b, lambda x: f(a, x))        # type: ignore[arg-type]
        if isinstance(b, float):
            return self._map(a, lambda x: f(x, b))        # type: ignore[arg-type]
        if isinstance(a, list) and isinstance(b, list):
            raise MathError("Both operands of an operator cannot be arrays of time series.")
        if isinstance(a, list):
            return [self._pair(f, s, b) for s in a]       # type: ignore[arg-type]
        if isinstance(b, list):
            return [self._pair(f, a, s) for s in b]
        return self._pair(f, a, b)

    @staticmethod
    def _pair(f: Callable[[float, float], float], a: Labeled, b: Labeled) -> Labeled:
        return Labeled(a.label, _clean({t: f(v, b.points[t]) for t, v in a.points.items() if t in b.points}))

    def _series(self, v: Value, fn: str) -> list[Labeled]:
        if isinstance(v, float):
            raise MathError(f"The function {fn} takes a time series or an array of time series.")
        return v if isinstance(v, list) else [v]

    def _reduce(self, fn: str, args: list[Any], agg: Callable[[list[float]], float]) -> Value:
        if len(args) != 1:
            raise MathError(f"The function {fn} takes one argument.")
        v = self.eval(args[0])
        if isinstance(v, float):
            raise MathError(f"The function {fn} takes a time series or an array of time series.")
        if isinstance(v, Labeled):
            vals = list(v.points.values())
            return agg(vals) if vals else math.nan
        times = sorted({t for s in v for t in s.points})
        return Labeled(fn, _clean({t: agg([s.points[t] for s in v if t in s.points]) for t in times}))

    def _per_series(self, v: Value, f: Callable[[Labeled], Labeled], fn: str) -> Value:
        if isinstance(v, float):
            raise MathError(f"The function {fn} takes a time series or an array of time series.")
        if isinstance(v, list):
            return [f(s) for s in v]
        return f(v)

    def _call(self, fn: str, args: list[Any]) -> Value:
        if fn in ("SUM", "AVG", "MIN", "MAX", "STDDEV"):
            agg: dict[str, Callable[[list[float]], float]] = {
                "SUM": sum, "AVG": lambda xs: sum(xs) / len(xs), "MIN": min, "MAX": max,
                "STDDEV": lambda xs: math.sqrt(sum((x - sum(xs) / len(xs)) ** 2 for x in xs) / len(xs))}
            return self._reduce(fn, args, agg[fn])
        unary: dict[str, Callable[[float], float]] = {
            "ABS": abs, "CEIL": lambda x: float(math.ceil(x)), "FLOOR": lambda x: float(math.floor(x)),
            "SQRT": lambda x: math.sqrt(x) if x >= 0 else math.nan,
            "LOG": lambda x: math.log(x) if x > 0 else math.nan, "LOG10": lambda x: math.log10(x) if x > 0 else math.nan}
        if fn in unary:
            self._arity(fn, args, 1)
            return self._map(self.eval(args[0]), unary[fn])
        if fn in ("RATE", "DIFF", "DIFF_TIME", "RUNNING_SUM"):
            self._arity(fn, args, 1)
            return self._per_series(self.eval(args[0]), lambda s: Labeled(s.label, _stepwise(fn, s.points)), fn)
        if fn == "FILL":
            self._arity(fn, args, 2)
            how = args[1]
            if how[0] == "id" and how[1].upper() in ("REPEAT", "LINEAR"):
                mode: str | float = how[1].upper()
            else:
                val = self.eval(how)
                if not isinstance(val, float):
                    raise MathError("The second argument of FILL must be a number, REPEAT or LINEAR.")
                mode = val
            return self._per_series(self.eval(args[0]), lambda s: Labeled(s.label, self._fill(s.points, mode)), fn)
        if fn == "IF":
            if len(args) not in (2, 3):
                raise MathError("The function IF takes two or three arguments.")
            cond = self.eval(args[0])
            a = self.eval(args[1])
            b = self.eval(args[2]) if len(args) == 3 else None
            return self._if(cond, a, b)
        if fn == "METRICS":
            text = ""
            if args:
                if args[0][0] != "str":
                    raise MathError("The argument of METRICS must be a string.")
                text = args[0][1]
            out = []
            for mid in self.metric_ids:
                v = self.env.get(mid)
                if isinstance(v, Labeled) and text in v.label:
                    out.append(v)
            return out
        if fn == "PERIOD":
            self._arity(fn, args, 1)
            self.eval(args[0])
            return float(self.period)
        if fn in ("FIRST", "LAST"):
            self._arity(fn, args, 1)
            v = self.eval(args[0])
            series = self._series(v, fn)
            if not series:
                raise MathError(f"The function {fn} takes a non-empty array of time series.")
            return series[0] if fn == "FIRST" else series[-1]
        if fn == "REMOVE_EMPTY":
            self._arity(fn, args, 1)
            return [s for s in self._series(self.eval(args[0]), fn) if s.points]
        raise MathError(f"Unsupported function {fn}.")

    @staticmethod
    def _arity(fn: str, args: list[Any], n: int) -> None:
        if len(args) != n:
            raise MathError(f"The function {fn} takes {n} argument{'s' if n > 1 else ''}.")

    def _fill(self, points: Series, mode: str | float) -> Series:
        out: Series = {}
        times = sorted(points)
        for t in self.grid:
            if t in points:
                out[t] = points[t]
            elif isinstance(mode, float):
                out[t] = mode
            elif mode == "REPEAT":
                prev = [x for x in times if x < t]
                if prev:
                    out[t] = points[prev[-1]]
            else:
                prev = [x for x in times if x < t]
                nxt = [x for x in times if x > t]
                if prev and nxt:
                    t0, t1 = prev[-1], nxt[0]
                    out[t] = points[t0] + (points[t1] - points[t0]) * (t - t0) / (t1 - t0)
        return out

    def _if(self, cond: Value, a: Value, b: Value | None) -> Value:
        if isinstance(cond, list):
            raise MathError("The condition of IF cannot be an array of time series.")
        if isinstance(cond, float):
            return a if cond else (b if b is not None else Labeled("", {}))
        out: Series = {}
        for t, c in cond.points.items():
            pick = a if c else b
            if pick is None:
                continue
            if isinstance(pick, float):
                out[t] = pick
            elif isinstance(pick, Labeled):
                if t in pick.points:
                    out[t] = pick.points[t]
            else:
                raise MathError("The branches of IF cannot be arrays of time series.")
        return Labeled(cond.label, out)


def _stepwise(fn: str, points: Series) -> Series:
    out: Series = {}
    times = sorted(points)
    running = 0.0
    for i, t in enumerate(times):
        if fn == "RUNNING_SUM":
            running += points[t]
            out[t] = running
            continue
        if i == 0:
            continue
        p = times[i - 1]
        dt = (t - p) / 1000.0
        if fn == "DIFF":
            out[t] = points[t] - points[p]
        elif fn == "DIFF_TIME":
            out[t] = dt
        elif dt > 0:
            out[t] = (points[t] - points[p]) / dt
    return out


FUNCTIONS = frozenset({"ABS", "AVG", "CEIL", "DIFF", "DIFF_TIME", "FILL", "FIRST", "FLOOR", "IF", "LAST", "LOG",
                       "LOG10", "MAX", "METRICS", "MIN", "PERIOD", "RATE", "REMOVE_EMPTY", "RUNNING_SUM", "SQRT",
                       "STDDEV", "SUM"})


def _check(node: Any) -> None:
    if not isinstance(node, tuple):
        return
    if node[0] == "call" and node[1] not in FUNCTIONS:
        raise MathError(f"Unsupported function {node[1]}.")
    for part in node[1:]:
        if isinstance(part, tuple):
            _check(part)
        elif isinstance(part, list):
            for p in part:
                _check(p)


def parse(text: str) -> Any:
    """The syntax tree of an expression; MathError for bad syntax or a function tsunagi does not have."""
    if not text.strip():
        raise MathError("The expression is empty.")
    node = Parser(text).parse()
    _check(node)
    return node

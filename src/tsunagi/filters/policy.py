"""Filter policies: the SNS subscription filter language, compiled once and evaluated per message.

The language (AWS's "Amazon SNS message filtering" pages) is shared with EventBridge patterns and
Lambda event filters, so nothing here is SNS-specific: :func:`compile_policy` takes the policy
document and whether nested keys are allowed, and returns a :class:`Policy` whose
:meth:`Policy.matches` is given a *view* of the message: a function from a key path to the
values found there (:data:`MISSING` when the key is absent). Two views are provided:

- :func:`attributes_view` for ``FilterPolicyScope=MessageAttributes``: SNS message attributes
  (``String`` → str, ``Number`` → float, ``String.Array`` → its elements; ``Binary`` is never
  compared, as in AWS);
- :func:`json_view` for ``FilterPolicyScope=MessageBody`` (and Lambda's event filters): a JSON
  document, arrays flattened the way AWS does (a condition matches if any element matches).

Conditions (a key's value is a list of them; the key matches when any does):
exact strings, numbers, ``true``/``false``/``null``; ``{"prefix": s}``, ``{"suffix": s}`` (either may
be ``{"equals-ignore-case": s}``), ``{"equals-ignore-case": s}``, ``{"anything-but": v | [v…] |
{"prefix"|"suffix"|"equals-ignore-case": …}}``, ``{"numeric": [op, n, (op, n)]}``,
``{"exists": true|false}``, ``{"cidr": "10.0.0.0/24"}``. ``"$or": [policy, …]`` at any object
level matches when any branch does. Keys are ANDed.

Invalid policies raise :class:`FilterPolicyError` with the message AWS gives after its
``Invalid parameter: FilterPolicy:`` prefix (the caller adds the prefix its service uses).
Limits: 5 keys per policy (per ``$or`` branch), 150 value combinations, numbers within ±1e9.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

MAX_KEYS = 5
MAX_COMBINATIONS = 150
MAX_SIZE = 256 * 1024
NUMERIC_LIMIT = 1e9


class FilterPolicyError(ValueError):
    """An invalid policy; ``str(e)`` is AWS's explanation."""


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

# A view answers: the values at this key path (a list), or MISSING.
View = Callable[[tuple[str, ...]], Any]
Test = Callable[[Any], bool]


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return round(float(value), 5)
    return None


# == conditions ===================================================================================

def _exact_string(s: str) -> Test:
    return lambda v: isinstance(v, str) and v == s


def _exact_number(n: float) -> Test:
    n = round(n, 5)
    return lambda v: _num(v) == n


def _exact_literal(lit: Any) -> Test:
    return lambda v: v is lit or (v == lit and type(v) is type(lit))


def _prefix(s: str, ignore_case: bool = False) -> Test:
    if ignore_case:
        low = s.casefold()
        return lambda v: isinstance(v, str) and v.casefold().startswith(low)
    return lambda v: isinstance(v, str) and v.startswith(s)


def _suffix(s: str, ignore_case: bool = False) -> Test:
    if ignore_case:
        low = s.casefold()
        return lambda v: isinstance(v, str) and v.casefold().endswith(low)
    return lambda v: isinstance(v, str) and v.endswith(s)


def _ignore_case(s: str) -> Test:
    low = s.casefold()
    return lambda v: isinstance(v, str) and v.casefold() == low


_OPS: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def _numeric(spec: Any) -> Test:
    if not isinstance(spec, list) or not spec:
        raise FilterPolicyError("Value of numeric must be an array.")
    if len(spec) % 2 or len(spec) > 4:
        raise FilterPolicyError("Value of numeric must be an array of pairs of operator and value")
    pairs: list[tuple[str, float]] = []
    for i in range(0, len(spec), 2):
        op, val = spec[i], spec[i + 1]
        if not isinstance(op, str) or op not in _OPS:
            raise FilterPolicyError(f"Unrecognized numeric range operator: {op}")
        n = _num(val)
        if n is None:
            raise FilterPolicyError(f"Value of {op} must be numeric")
        if not -NUMERIC_LIMIT <= n <= NUMERIC_LIMIT:
            raise FilterPolicyError(f"Value of {op} must be between -1.0E9 and 1.0E9 inclusive")
        pairs.append((op, n))
    if len(pairs) == 2:
        (lo_op, lo), (hi_op, hi) = pairs
        if lo_op not in (">", ">="):
            raise FilterPolicyError("Bad numeric range operator: " + lo_op)
        if hi_op not in ("<", "<="):
            raise FilterPolicyError("Bad numeric range operator: " + hi_op)
        if lo >= hi:
            raise FilterPolicyError("Bottom must be less than top")
    elif pairs[0][0] == "=" and len(pairs) != 1:
        raise FilterPolicyError("Too many elements in numeric expression")
    checks = [(_OPS[op], n) for op, n in pairs]

    def test(v: Any) -> bool:
        x = _num(v)
        return x is not None and all(f(x, n) for f, n in checks)

    return test


def _cidr(spec: Any) -> Test:
    if not isinstance(spec, str):
        raise FilterPolicyError("Value of cidr must be a string")
    if "/" not in spec:
        raise FilterPolicyError(f"Malformed CIDR, one '/' required: {spec}")
    try:
        net = ipaddress.ip_network(spec, strict=False)
    except ValueError:
        raise FilterPolicyError(f"Nonstandard IP address: {spec.split('/', 1)[0]}") from None

    def test(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        try:
            return ipaddress.ip_address(v) in net
        except ValueError:
            return False

    return test


def _string_or_ignore_case(name: str, spec: Any) -> Test:
    if isinstance(spec, str):
        return _prefix(spec) if name == "prefix" else _suffix(spec)
    if isinstance(spec, dict) and len(spec) == 1 and "equals-ignore-case" in spec:
        inner = spec["equals-ignore-case"]
        if not isinstance(inner, str):
            raise FilterPolicyError(f"Value of {name} must be a string")
        return _prefix(inner, True) if name == "prefix" else _suffix(inner, True)
    raise FilterPolicyError(f"{name} match pattern must be a string")


def _anything_but(spec: Any) -> Test:
    if isinstance(spec, dict):
        if len(spec) != 1:
            raise FilterPolicyError("Value of anything-but must be an array or single string/number value.")
        (name, inner), = spec.items()
        if name in ("prefix", "suffix"):
            if not isinstance(inner, str):
                raise FilterPolicyError(f"{name} match pattern must be a string")
            if not inner:
                raise FilterPolicyError(f"Null {name} not allowed")
            inner_test = _prefix(inner) if name == "prefix" else _suffix(inner)
        elif name == "equals-ignore-case":
            values = inner if isinstance(inner, list) else [inner]
            if not values or not all(isinstance(x, str) for x in values):
                raise FilterPolicyError("Inside anything-but/equals-ignore-case list, "
                                        "number|start|null|boolean is not supported.")
            tests = [_ignore_case(x) for x in values]
            inner_test = lambda v: any(t(v) for t in tests)  # noqa: E731
        else:
            raise FilterPolicyError(f"Unsupported anything-but pattern: {name}")
        return lambda v: v is not None and not inner_test(v)
    values = spec if isinstance(spec, list) else [spec]
    if not values:
        raise FilterPolicyError("Empty arrays are not allowed")
    strings = [x for x in values if isinstance(x, str)]
    numbers = [x for x in values if _num(x) is not None]
    if len(strings) + len(numbers) != len(values) or (strings and numbers):
        raise FilterPolicyError("Inside anything but list, start|null|boolean is not supported.")
    sset = frozenset(strings)
    nset = frozenset(_num(x) for x in numbers)

    def test(v: Any) -> bool:
        if v is None or isinstance(v, bool):
            return False
        if isinstance(v, str):
            return v not in sset
        return _num(v) not in nset

    return test


@dataclass(frozen=True, slots=True)
class Condition:
    """One entry of a key's list; ``exists`` is True/False for ``{"exists": …}``, else None."""

    test: Test | None
    exists: bool | None = None
    negative: bool = False     # anything-but: never matches a missing key


def _condition(entry: Any) -> Condition:
    if isinstance(entry, str):
        return Condition(_exact_string(entry))
    if entry is None or isinstance(entry, bool):
        return Condition(_exact_literal(entry))
    if isinstance(entry, int | float):
        n = float(entry)
        if math.isnan(n) or not -NUMERIC_LIMIT <= n <= NUMERIC_LIMIT:
            raise FilterPolicyError("Numeric values must be between -1.0E9 and 1.0E9 inclusive")
        return Condition(_exact_number(n))
    if isinstance(entry, list):
        raise FilterPolicyError("Match value must be String, number, true, false, or null")
    if not isinstance(entry, dict):
        raise FilterPolicyError("Match value must be String, number, true, false, or null")
    if len(entry) != 1:
        if not entry:
            raise FilterPolicyError("Empty objects are not allowed")
        raise FilterPolicyError("Only one key allowed in match expression")
    (name, spec), = entry.items()
    if name == "prefix" or name == "suffix":
        if isinstance(spec, str) and not spec:
            raise FilterPolicyError(f"Null {name} not allowed")
        return Condition(_string_or_ignore_case(name, spec))
    if name == "equals-ignore-case":
        if not isinstance(spec, str):
            raise FilterPolicyError("equals-ignore-case match pattern must be a string")
        return Condition(_ignore_case(spec))
    if name == "anything-but":
        return Condition(_anything_but(spec), negative=True)
    if name == "numeric":
        return Condition(_numeric(spec))
    if name == "exists":
        if not isinstance(spec, bool):
            raise FilterPolicyError("exists match pattern must be either true or false.")
        return Condition(None, exists=spec)
    if name == "cidr":
        return Condition(_cidr(spec))
    raise FilterPolicyError(f"Unrecognized match type {name}")


# == policies =====================================================================================

@dataclass(frozen=True, slots=True)
class _Leaf:
    path: tuple[str, ...]
    conditions: tuple[Condition, ...]

    def matches(self, view: View) -> bool:
        values = view(self.path)
        for c in self.conditions:
            if c.exists is not None:
                if (values is not MISSING) == c.exists:
                    return True
                continue
            if values is MISSING:
                continue
            test = c.test
            assert test is not None
            for v in values:
                if test(v):
                    return True
        return False


@dataclass(frozen=True, slots=True)
class _And:
    parts: tuple[Any, ...]

    def matches(self, view: View) -> bool:
        return all(p.matches(view) for p in self.parts)


@dataclass(frozen=True, slots=True)
class _Or:
    branches: tuple[Any, ...]

    def matches(self, view: View) -> bool:
        return any(b.matches(view) for b in self.branches)


class Policy:
    """A compiled filter policy."""

    __slots__ = ("root", "document", "keys", "combinations")

    def __init__(self, root: Any, document: dict[str, Any], keys: int, combinations: int) -> None:
        self.root = root
        self.document = document
        self.keys = keys
        self.combinations = combinations

    def matches(self, view: View) -> bool:
        return bool(self.root.matches(view))


def compile_policy(source: str | Mapping[str, Any], *, nested: bool) -> Policy:
    """Parse and check a policy (``nested``: keys may hold objects, as for FilterPolicyScope=MessageBody)."""
    if isinstance(source, str):
        if len(source.encode("utf-8")) > MAX_SIZE:
            raise FilterPolicyError("Filter policy is too large")
        try:
            doc = orjson.loads(source)
        except orjson.JSONDecodeError as e:
            raise FilterPolicyError(f"failed to parse JSON. {e}") from None
    else:
        doc = dict(source)
    if not isinstance(doc, dict):
        raise FilterPolicyError("Filter policy must be a JSON object")
    if not doc:
        raise FilterPolicyError("Filter policy must have at least one key")  # never used: {} means none
    root, _ = _object(doc, (), nested, top=True)
    keys, combos = _complexity(doc)
    if keys > MAX_KEYS:
        raise FilterPolicyError(f"Filter policy can not have more than {MAX_KEYS} keys")
    if combos > MAX_COMBINATIONS:
        raise FilterPolicyError("Filter policy is too complex")
    return Policy(root, doc, keys, combos)


def _object(doc: dict[str, Any], prefix: tuple[str, ...], nested: bool, top: bool = False) -> tuple[Any, int]:
    parts: list[Any] = []
    for key, value in doc.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise FilterPolicyError("Or relationship must have at least 2 branches")
            branches = []
            for b in value:
                if not isinstance(b, dict) or not b:
                    raise FilterPolicyError("Or relationship branches must be objects")
                branches.append(_object(b, prefix, nested)[0])
            parts.append(_Or(tuple(branches)))
            continue
        path = (*prefix, key)
        if isinstance(value, dict):
            if not nested:
                raise FilterPolicyError("Filter policy scope MessageAttributes does not support nested "
                                        "filter policy")
            if not value:
                raise FilterPolicyError("Empty objects are not allowed")
            parts.append(_object(value, path, nested)[0])
            continue
        if not isinstance(value, list):
            raise FilterPolicyError(f'"{key}" must be an object or an array')
        if not value:
            raise FilterPolicyError("Empty arrays are not allowed")
        parts.append(_Leaf(path, tuple(_condition(c) for c in value)))
    return (_And(tuple(parts)) if len(parts) != 1 else parts[0]), len(parts)


def _complexity(doc: dict[str, Any]) -> tuple[int, int]:
    """(the most keys any ``$or`` alternative of the policy has, the total number of value combinations)
    without expanding the alternatives: a policy's alternatives are the product of its keys' and
    ``$or``s' alternatives, so a few hundred bytes of nested ``$or`` can stand for millions of them.

    Summing products over a cartesian product is the product of the sums, so the combinations of an
    object are the product of its members' combinations, and those of an ``$or`` the sum of its
    branches'; the keys of an object add up, and an ``$or`` has as many as its largest branch."""
    keys = 0
    combos = 1
    for key, value in doc.items():
        if key == "$or":
            branch = [_complexity(b) for b in value]
            keys += max(k for k, _ in branch)
            combos *= sum(c for _, c in branch)
        elif isinstance(value, dict):
            k, c = _complexity(value)
            keys += k
            combos *= c
        else:
            keys += 1
            combos *= len(value)
    return keys, combos


def attributes_view(attributes: Mapping[str, Mapping[str, Any]]) -> View:
    """A view of SNS message attributes ``{name: {"DataType": …, "StringValue": …}}``."""
    cache: dict[str, Any] = {}

    def view(path: tuple[str, ...]) -> Any:
        if len(path) != 1:
            return MISSING
        name = path[0]
        if name in cache:
            return cache[name]
        attr = attributes.get(name)
        out: Any = MISSING
        if attr is not None:
            dtype = str(attr.get("DataType", ""))
            value = attr.get("StringValue")
            if dtype.startswith("String.Array"):
                try:
                    items = orjson.loads(value or "")
                except orjson.JSONDecodeError:
                    items = None
                out = [_json_scalar(x) for x in items if not isinstance(x, dict | list)] \
                    if isinstance(items, list) else MISSING
            elif dtype.startswith("Number"):
                try:
                    out = [float(value)] if value is not None else MISSING
                except ValueError:
                    out = MISSING
            elif dtype.startswith("String") and value is not None:
                out = [value]
        cache[name] = out
        return out

    return view


def _json_scalar(x: Any) -> Any:
    if isinstance(x, int) and not isinstance(x, bool):
        return float(x)
    return x


def json_view(doc: Any) -> View:
    """A view of a JSON document (the message body); arrays are flattened, objects are not leaves."""

    def view(path: tuple[str, ...]) -> Any:
        nodes = [doc]
        for key in path:
            nxt: list[Any] = []
            for node in nodes:
                for item in (node if isinstance(node, list) else (node,)):
                    if isinstance(item, dict) and key in item:
                        nxt.append(item[key])
            if not nxt:
                return MISSING
            nodes = nxt
        leaves: list[Any] = []
        for node in nodes:
            if isinstance(node, list):
                leaves.extend(_json_scalar(x) for x in _flatten(node))
            elif not isinstance(node, dict):
                leaves.append(_json_scalar(node))
        return leaves if leaves else MISSING

    return view


def _flatten(items: list[Any]) -> Iterable[Any]:
    for x in items:
        if isinstance(x, list):
            yield from _flatten(x)
        elif not isinstance(x, dict):
            yield x


def body_view(message: str) -> View | None:
    """The view of a message body for FilterPolicyScope=MessageBody; None when it is not a JSON object."""
    try:
        doc = orjson.loads(message)
    except orjson.JSONDecodeError:
        return None
    return json_view(doc) if isinstance(doc, dict) else None

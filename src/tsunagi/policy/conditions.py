"""Condition operators, as the IAM User Guide documents them (condition operators page, "Conditions
with multiple context keys or values", "Single-valued vs. multivalued context keys").

The rules this module implements:

* Several operators in a ``Condition`` block, and several keys under one operator, are AND'ed;
  several values for one key are OR'ed; for a negated operator (``StringNotEquals``, ``NotIpAddress``,
  ``ArnNotLike``, …) they are NOR'ed: the negated operator is the negation of its positive one.
* A key missing from the request makes a condition false, and a negated one true; ``...IfExists``
  makes it true whatever the operator; ``Null`` tests presence itself (``"true"``: must be absent).
* ``ForAnyValue:`` is true if some request value satisfies the operator, false for a missing key or
  an empty set; ``ForAllValues:`` is true if every request value does, and true for a missing key or
  an empty set. With a negated operator, "satisfies" is per value: ``ForAllValues:StringNotEquals``
  is true when no request value equals any policy value.
* A multivalued key tested without a set operator: a positive operator matches if any value does.
* Condition key names are case-insensitive (they are lowercased once, here and in the request);
  values are case-sensitive unless the operator says IgnoreCase (``Bool`` compares ``true``/``false``
  without regard to case).
* Policy variables work in String, ARN and Bool operators only.
* Dates are W3C ISO 8601 (``2020-01-01``, ``2020-01-01T00:00:00Z``, with fractions and offsets) or
  epoch seconds; IP ranges are IPv4 or IPv6 CIDR, a bare address meaning ``/32`` (``/128``);
  ``BinaryEquals`` compares bytes with the base64 value in the policy.

A policy value that cannot be read as what its operator compares (``NumericEquals`` with ``"ten"``,
an IP range ``"x"``) matches nothing: AWS documents no error code for these at save time.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from tsunagi.policy.errors import Dialect, PolicyError, Problem
from tsunagi.policy.patterns import Context, Matcher, Style


class SetOp(IntEnum):
    NONE = 0
    ANY = 1       # ForAnyValue:
    ALL = 2       # ForAllValues:


class Family(IntEnum):
    STRING = 0
    NUMERIC = 1
    DATE = 2
    BOOL = 3
    BINARY = 4
    IP = 5
    ARN = 6
    NULL = 7


# operator (lower case) -> (family, negated, comparison)
# comparison: "eq", "eqi" (ignore case), "like", "lt", "le", "gt", "ge"
OPERATORS: dict[str, tuple[Family, bool, str]] = {
    "stringequals": (Family.STRING, False, "eq"),
    "stringnotequals": (Family.STRING, True, "eq"),
    "stringequalsignorecase": (Family.STRING, False, "eqi"),
    "stringnotequalsignorecase": (Family.STRING, True, "eqi"),
    "stringlike": (Family.STRING, False, "like"),
    "stringnotlike": (Family.STRING, True, "like"),
    "numericequals": (Family.NUMERIC, False, "eq"),
    "numericnotequals": (Family.NUMERIC, True, "eq"),
    "numericlessthan": (Family.NUMERIC, False, "lt"),
    "numericlessthanequals": (Family.NUMERIC, False, "le"),
    "numericgreaterthan": (Family.NUMERIC, False, "gt"),
    "numericgreaterthanequals": (Family.NUMERIC, False, "ge"),
    "dateequals": (Family.DATE, False, "eq"),
    "datenotequals": (Family.DATE, True, "eq"),
    "datelessthan": (Family.DATE, False, "lt"),
    "datelessthanequals": (Family.DATE, False, "le"),
    "dategreaterthan": (Family.DATE, False, "gt"),
    "dategreaterthanequals": (Family.DATE, False, "ge"),
    "bool": (Family.BOOL, False, "eqi"),
    "binaryequals": (Family.BINARY, False, "eq"),
    "ipaddress": (Family.IP, False, "eq"),
    "notipaddress": (Family.IP, True, "eq"),
    "arnequals": (Family.ARN, False, "like"),
    "arnlike": (Family.ARN, False, "like"),
    "arnnotequals": (Family.ARN, True, "like"),
    "arnnotlike": (Family.ARN, True, "like"),
    "null": (Family.NULL, False, "eq"),
}

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "eq": lambda a, b: a == b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}

_YEAR = re.compile(r"(\d{4})(?:-(\d{2}))?")
_EPOCH = re.compile(r"-?\d+(?:\.\d+)?")


@functools.lru_cache(maxsize=512)
def parse_date(text: str) -> float | None:
    """Seconds since the epoch for a W3C ISO 8601 date/time or an epoch number; None if neither."""
    text = text.strip()
    if _EPOCH.fullmatch(text):
        return float(text)
    m = _YEAR.fullmatch(text)
    if m:
        try:
            return datetime(int(m.group(1)), int(m.group(2) or 1), 1, tzinfo=UTC).timestamp()
        except ValueError:
            return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _binary(text: str | bytes) -> bytes | None:
    if isinstance(text, bytes):
        return text
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


Test = Callable[[str, Context], bool]


def _build_test(family: Family, comparison: str, values: Sequence[str], variables: bool) -> Test:
    """The positive comparison of one request value against the policy values (OR)."""
    if family is Family.STRING:
        style = Style.LIKE if comparison == "like" else Style.EQUALS
        string = Matcher(values, style, fold=comparison == "eqi", variables=variables)
        return string.match
    if family is Family.ARN:
        arn = Matcher(values, Style.ARN, variables=variables)
        return arn.match
    if family is Family.BOOL:
        flag = Matcher(values, Style.EQUALS, fold=True, variables=variables)
        return flag.match
    if family is Family.NUMERIC or family is Family.DATE:
        read = _number if family is Family.NUMERIC else parse_date
        wanted = [w for w in (read(v) for v in values) if w is not None]
        compare = _COMPARE[comparison]

        def ordered(value: str, _context: Context) -> bool:
            got = read(value)
            return got is not None and any(compare(got, w) for w in wanted)
        return ordered
    if family is Family.IP:
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for v in values:
            try:
                networks.append(ipaddress.ip_network(v.strip(), strict=False))
            except ValueError:
                continue

        def within(value: str, _context: Context) -> bool:
            address = _ip(value)
            return address is not None and any(
                address.version == n.version and address in n for n in networks)
        return within
    if family is Family.BINARY:
        blobs = {b for b in (_binary(v) for v in values) if b is not None}

        def same_bytes(value: str, _context: Context) -> bool:
            return _binary(value) in blobs
        return same_bytes
    raise AssertionError(family)


class Condition:
    """One operator, one key and its values: ``"StringEquals": {"aws:SourceAccount": "111122223333"}``."""

    __slots__ = ("operator", "name", "key", "values", "family", "negated", "set_op", "if_exists", "test", "null_wants",
                 "simple")

    def __init__(self, operator: str, key: str, values: tuple[str, ...], *, variables: bool,
                 dialect: Dialect = Dialect.IAM) -> None:
        self.operator = operator
        self.name = key                 # as written in the policy (for messages)
        self.key = key.lower()
        self.values = values
        name = operator
        self.set_op = SetOp.NONE
        lowered = name.lower()
        if lowered.startswith("forallvalues:"):
            self.set_op, name = SetOp.ALL, name[len("forallvalues:"):]
        elif lowered.startswith("foranyvalue:"):
            self.set_op, name = SetOp.ANY, name[len("foranyvalue:"):]
        lowered = name.lower()
        self.if_exists = lowered.endswith("ifexists")
        if self.if_exists:
            lowered = lowered[:-len("ifexists")]
        spec = OPERATORS.get(lowered)
        if spec is None or (spec[0] is Family.NULL and (self.if_exists or self.set_op)):
            raise PolicyError(Problem.SYNTAX, f"condition operator {operator}", dialect=dialect)
        self.family, self.negated, comparison = spec
        self.null_wants: tuple[bool, ...] = ()
        if self.family is Family.NULL:
            self.null_wants = tuple(v.lower() == "true" for v in values if v.lower() in ("true", "false"))
            self.test: Test = _never
        else:
            self.test = _build_test(self.family, comparison, values,
                                    variables and self.family in (Family.STRING, Family.ARN, Family.BOOL))
        self.simple = self.family is not Family.NULL and self.set_op is SetOp.NONE

    def holds(self, context: Context) -> bool:
        got = context.get(self.key)
        if self.simple and got.__class__ is str:
            return self.test(got, context) is not self.negated
        if self.family is Family.NULL:
            absent = got is None or got == ()
            return any(want == absent for want in self.null_wants)
        set_op = self.set_op
        if got is None or got == () or (set_op and got == ""):
            if set_op is SetOp.ALL or self.if_exists:
                return True
            if set_op is SetOp.ANY:
                return False
            return self.negated
        test = self.test
        negated = self.negated
        if isinstance(got, str):
            return test(got, context) is not negated
        if set_op is SetOp.ALL:
            return all(test(v, context) is not negated for v in got)
        if set_op is SetOp.ANY:
            return any(test(v, context) is not negated for v in got)
        return any(test(v, context) for v in got) is not negated

    def describe(self) -> str:
        shown = self.values[0] if len(self.values) == 1 else list(self.values)
        return f"{self.operator} {self.name} {shown}"


def _never(_value: str, _context: Context) -> bool:
    return False


def _scalar(value: Any, dialect: Dialect) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    raise PolicyError(Problem.SYNTAX, "condition value", dialect=dialect)


def compile_block(block: Any, *, variables: bool, dialect: Dialect) -> tuple[Condition, ...]:
    """The ``Condition`` element of a statement as a tuple of conditions (all must hold)."""
    if not isinstance(block, dict):
        raise PolicyError(Problem.SYNTAX, "Condition", dialect=dialect)
    out: list[Condition] = []
    for operator, keys in block.items():
        if not isinstance(keys, dict) or not keys:
            # {"Condition": {"aws:SourceArn": "..."}}: a key where the operator belongs
            raise PolicyError(Problem.SYNTAX, f"condition operator {operator}", dialect=dialect)
        for key, raw in keys.items():
            if ":" not in key:
                raise PolicyError(Problem.CONDITION_KEY_VENDOR, key, dialect=dialect)
            items = raw if isinstance(raw, list) else [raw]
            values = tuple(_scalar(v, dialect) for v in items)
            condition = Condition(operator, key, values, variables=variables, dialect=dialect)
            if dialect is Dialect.KMS and condition.set_op is SetOp.ALL:
                lowered = condition.key
                if lowered.startswith("kms:encryptioncontext:"):
                    raise PolicyError(Problem.OVERLY_PERMISSIVE, "EncryptionContext", dialect=dialect)
                if lowered.startswith("aws:requesttag/"):
                    raise PolicyError(Problem.OVERLY_PERMISSIVE, "RequestTag", dialect=dialect)
            out.append(condition)
    return tuple(out)

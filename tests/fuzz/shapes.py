"""Hypothesis strategies built from botocore shapes: random params an SDK could send.

``params_for(operation, protocol)`` draws an input dict for one operation. What a value may
hold depends on where it travels (``where``) and on the protocol, because some wire forms
cannot carry some values at all; each such limit is written down next to the strategy that
honours it, so a reader can tell a wire limit from a parser bug:

- XML 1.0 cannot carry most C0 control characters, and XML parsers turn ``\\r`` into ``\\n``;
- HTTP header values are one line of visible ASCII (SDKs refuse anything else), and a list
  in a header is comma-separated, so its members hold no commas;
- URI labels are never empty (an empty label leaves ``//`` that no route matches), and a
  non-greedy label that is ``.`` or ``..`` is a dot-segment;
- JSON carries no lone surrogates (nothing can encode them as UTF-8);
- floats: JSON protocols send NaN and the infinities as the strings ``"NaN"``, ``"Infinity"``,
  ``"-Infinity"`` (Smithy's rule); text protocols as the same words;
- timestamps travel as whole seconds since the epoch in RPC v2 CBOR, as whole seconds in JSON bodies, in headers (any format) and wherever the shape says
  ``rfc822`` or ``unixTimestamp`` (botocore drops the fraction), with milliseconds elsewhere;
- an empty structure payload (rest-json) is sent as ``{}``, exactly like an absent one.

Everything else is fair game: empty strings, huge integers at the int32/int64 bounds,
unicode of every plane, keys with dots, brackets and ``=&``, nested lists and maps.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.model import OperationModel, Shape
from hypothesis import strategies as st

INT32 = (-(2 ** 31), 2 ** 31 - 1)
INT64 = (-(2 ** 63), 2 ** 63 - 1)

# Timestamps at the edges: the epoch, the int32 rollover, years 1000 and 9999, and one second apart.
EDGE_TIMES = [
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(2038, 1, 19, 3, 14, 7, tzinfo=UTC),
    datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC),
    datetime(2000, 2, 29, tzinfo=UTC),
    datetime(1000, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
]
# Years below 1000: glibc's strftime does not zero-pad %Y, so botocore itself writes "999-01-01T…"
# for them, a form no ISO 8601 reader accepts. RFC 822 dates before 1970 carry two-digit-year
# ambiguity in Python's email parser. Neither is something an SDK can send, so they are left out.
MIN_TIME = datetime(1000, 1, 1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(9999, 12, 31, 23, 59, 59)

# Strings that break naive parsers: separators of every wire form, escapes, lookalikes.
NASTY = ["", " ", ".", "..", "a.b", "a.b.c", "[0]", "a[1].b", "member.1", "entry.1.key", "=", "&", "a=b&c=d",
         "%", "%2F", "%zz", "+", "/", "\\", "?", "#", "<", ">", "&amp;", "]]>", "<![CDATA[x]]>", '"', "'",
         "null", "true", "0", "-0", "1e400", "NaN", "\u00e9", "\u65e5\u672c", "\U0001f600", "\u200b",
         "\ufeff", "\u2028", "a b", "tab\there", "line\nbreak", "{\"a\":1}", "[1,2]", "$", "*", "~"]

# Characters XML 1.0 forbids, plus \r (normalised to \n by every conforming parser).
_XML_BANNED = "".join(chr(c) for c in range(0x20) if c not in (0x09, 0x0A)) + "\ufffe\uffff"


def _text(where: str, protocol: str) -> st.SearchStrategy[str]:
    """Unicode text for a wire location."""
    if where in ("header", "headers"):
        # one line of visible ASCII without surrounding spaces (what HTTP stacks pass through)
        core = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20)
        return st.one_of(core, st.tuples(core, core).map(lambda p: f"{p[0]} {p[1]}" if p[0] and p[1] else p[0]))
    if where == "header-list":
        return st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=","),
                       min_size=1, max_size=12)
    exclude = "" if protocol not in ("rest-xml",) or where != "body" else _XML_BANNED
    chars = st.characters(exclude_categories=["Cs"], exclude_characters=exclude)
    nasty = [s for s in NASTY if not any(c in exclude for c in s)]
    return st.one_of(st.sampled_from(nasty), st.text(chars, max_size=24))


def _label(greedy: bool) -> st.SearchStrategy[str]:
    chars = st.characters(exclude_categories=["Cs"], exclude_characters="" if greedy else "/")
    base = st.text(chars, min_size=1, max_size=16)
    if greedy:
        # object keys: slashes, empty segments, dot-segments inside the key, unicode
        base = st.one_of(base, st.lists(st.text(chars.filter(lambda c: c != "/"), max_size=6), min_size=2,
                                        max_size=5).map("/".join))
        return base.filter(lambda s: s and not s.startswith("/") and "/./" not in f"/{s}/"
                           and "/../" not in f"/{s}/")
    return base.filter(lambda s: s not in (".", ".."))


def _float(protocol: str) -> st.SearchStrategy[float]:
    # NaN and the infinities have a wire form in every protocol (see the module docstring)
    return st.one_of(st.sampled_from([0.0, -0.0, 1.5, 1e-300, 1e300, 2.0 ** 53 + 1, math.inf, -math.inf, math.nan]),
                     st.floats(allow_nan=True, allow_infinity=True))


def _timestamp(whole_seconds: bool, since_epoch: bool = False) -> st.SearchStrategy[datetime]:
    if since_epoch:
        edges = [t for t in EDGE_TIMES if t >= EPOCH]
        drawn = st.datetimes(min_value=EPOCH.replace(tzinfo=None), max_value=MAX_TIME, timezones=st.just(UTC))
        return st.one_of(st.sampled_from(edges), drawn.map(lambda d: d.replace(microsecond=0)))
    drawn = st.datetimes(min_value=MIN_TIME, max_value=MAX_TIME, timezones=st.just(UTC))
    if whole_seconds:
        drawn = drawn.map(lambda d: d.replace(microsecond=0))
    else:
        drawn = drawn.map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
    return st.one_of(st.sampled_from(EDGE_TIMES), drawn)


def _int(shape: Shape) -> st.SearchStrategy[int]:
    lo, hi = INT64 if shape.type_name == "long" else INT32
    edges = [lo, hi, 0, -1, 1, lo + 1, hi - 1]
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


class ShapeStrategies:
    """Strategies for one protocol. ``max_depth`` bounds recursion in self-referencing shapes."""

    def __init__(self, protocol: str, max_depth: int = 5, max_items: int = 4) -> None:
        self.protocol = protocol
        self.max_depth = max_depth
        self.max_items = max_items
        self._greedy_labels: set[str] = set()
        self._cache: dict[tuple[str, str], st.SearchStrategy[dict]] = {}

    def params(self, op: OperationModel) -> st.SearchStrategy[dict]:
        """Input params for ``op`` (cached per operation)."""
        key = (op.service_model.service_name, op.name)
        cached = self._cache.get(key)
        if cached is None:
            shape = op.input_shape
            self._greedy_labels = set(re.findall(r"\{([^}]+)\+\}", op.http.get("requestUri", "")))
            cached = st.just({}) if shape is None else self._structure(shape, "body", 0, top=True)
            self._cache[key] = cached
        return cached

    def value(self, shape: Shape, where: str, depth: int, greedy: bool = False) -> st.SearchStrategy[Any]:
        t = shape.type_name
        if t == "structure":
            return self._structure(shape, where, depth)
        if t == "list":
            if where == "header":
                return st.lists(self.value(shape.member, "header-list", depth + 1), min_size=1,
                                max_size=self.max_items)
            lo = shape.metadata.get("min", 0) or 0
            hi = self.max_items if depth < self.max_depth else max(lo, 1)
            member = self.value(shape.member, where, depth + 1)
            if where == "querystring":
                lo = max(lo, 1)  # an empty list has no query form
            return st.lists(member, min_size=min(lo, hi), max_size=max(lo, hi))
        if t == "map":
            key_where = "header" if where == "headers" else where
            if shape.key.enum:
                keys: st.SearchStrategy[str] = st.sampled_from(shape.key.enum)
            elif where == "headers":
                # x-amz-meta-* names: lower-case token characters (HTTP lower-cases names)
                keys = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-_"), min_size=1,
                               max_size=10)
            else:
                keys = self.value(shape.key, key_where, depth + 1)
            value_where = "header" if where == "headers" else where
            hi = self.max_items if depth < self.max_depth else 1
            # an empty map has no form in query bodies, headers or querystrings (botocore sends nothing)
            min_size = 1 if where in ("headers", "querystring") or self.protocol == "query" else 0
            return st.dictionaries(keys, self.value(shape.value, value_where, depth + 1),
                                   min_size=min_size, max_size=hi)
        return self.scalar(shape, where, greedy)

    def scalar(self, shape: Shape, where: str, greedy: bool = False) -> st.SearchStrategy[Any]:
        t = shape.type_name
        if t == "string":
            if shape.enum and where != "body":
                return st.sampled_from(shape.enum)
            if shape.serialization.get("jsonvalue"):
                return st.recursive(st.none() | st.booleans() | st.integers(*INT32) | st.text(max_size=5),
                                    lambda inner: st.lists(inner, max_size=3) |
                                    st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
            if where == "uri":
                return _label(greedy)
            if shape.enum:
                return st.one_of(st.sampled_from(shape.enum), _text(where, self.protocol))
            return _text(where, self.protocol)
        if t in ("integer", "long"):
            return _int(shape)
        if t in ("float", "double"):
            return _float(self.protocol)
        if t == "boolean":
            return st.booleans()
        if t == "blob":
            if where in ("header", "headers"):
                return st.binary(min_size=1, max_size=16)
            return st.binary(max_size=64)
        if t == "timestamp":
            fmt = shape.serialization.get("timestampFormat")
            if self.protocol == "smithy-rpc-v2-cbor":
                # botocore writes RPC v2 CBOR timestamps as tag 1 over an unsigned integer: whole seconds
                # since the epoch, never before it
                return _timestamp(True, since_epoch=True)
            if where in ("header", "headers"):
                whole = True   # botocore turns header timestamps into whole epoch seconds first, whatever the format
            elif fmt:
                whole = fmt in ("rfc822", "unixTimestamp")
            else:
                whole = where == "body" and self.protocol in ("json", "rest-json")
            return _timestamp(whole)
        raise AssertionError(f"no strategy for {t}")

    def _structure(self, shape: Shape, where: str, depth: int, top: bool = False) -> st.SearchStrategy[dict]:
        required = set(shape.required_members)
        union = bool(getattr(shape, "is_tagged_union", False))
        fixed: dict[str, st.SearchStrategy[Any]] = {}
        optional: dict[str, st.SearchStrategy[Any]] = {}
        payload = shape.serialization.get("payload") if top else None
        for name, ms in shape.members.items():
            if ms.serialization.get("eventstream") or ms.metadata.get("eventstream"):
                continue
            loc = ms.serialization.get("location") if top else None
            member_where = loc or where
            if top and loc is None:
                member_where = "body"
            if loc == "statusCode":
                continue
            if ms.serialization.get("hostLabel"):
                # also a host name label (hostPrefix): alphanumerics, hyphen, period
                strat: st.SearchStrategy[Any] = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9-]{0,20}", fullmatch=True)
            elif top and name == payload and ms.type_name == "blob":
                strat = st.binary(min_size=1, max_size=64)  # an empty payload reads as absent
            elif top and name == payload and ms.type_name == "string":
                strat = _text("body", "rest-json").filter(bool)
            elif top and name == payload and ms.type_name == "structure" and self.protocol == "rest-json":
                strat = self.value(ms, "body", depth + 1).filter(bool)  # {} reads as absent
            else:
                strat = self.value(ms, member_where, depth + 1, greedy=loc == "uri" and self._greedy(ms, name))
            if name in required and not union:
                fixed[name] = strat
            elif depth < self.max_depth or name in required:
                optional[name] = strat
        if union and optional:
            # exactly one member of a tagged union
            return st.sampled_from(sorted(optional)).flatmap(
                lambda n: optional[n].map(lambda v, n=n: {n: v}))
        return st.fixed_dictionaries(fixed, optional=optional)

    def _greedy(self, ms: Shape, name: str) -> bool:
        return (ms.serialization.get("name") or name) in self._greedy_labels


def equal(a: Any, b: Any) -> bool:
    """Deep equality where NaN equals NaN and -0.0 is told apart from 0.0 only by sign-insensitive ==."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, datetime) and isinstance(b, datetime):
        return abs(a - b) < timedelta(microseconds=1)
    return type(a) is type(b) and a == b if not isinstance(a, int | float) else a == b

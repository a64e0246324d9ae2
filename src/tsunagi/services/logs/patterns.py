"""CloudWatch Logs filter patterns: parsed once, then matched against many messages.

Four kinds, told apart by their first character (the syntax of AWS's "Filter pattern syntax" guide):

- terms: ``ERROR``, ``ERROR Exception`` (all must appear), ``"Failed to process"`` (an exact phrase),
  ``-DEBUG`` / ``- "Exiting"`` (must not appear), ``?ERROR ?WARN`` (at least one must appear).
  Matching is case-sensitive and by substring: ``ERROR`` matches ``ERRORCODE``.
- regular expressions: ``%ERROR|WARN%`` (also usable as a term or as a JSON / delimited value).
- JSON: ``{ $.level = "ERROR" }``, ``{ $.latency > 500 }``, ``{ $.a[0].b != x* }``,
  ``{ $.x IS NULL }``, ``{ $.x IS TRUE }``, ``{ $.x NOT EXISTS }``, ``&&``, ``||`` and parentheses
  (``&&`` binds tighter). String values may start and/or end with ``*``; a lone ``*`` matches any value.
- space-delimited: ``[ip, user, ..., status = 4*, bytes > 1000]``; a message is split on spaces,
  with ``"quoted text"`` and ``[bracketed text]`` as single fields; ``...`` stands for any number
  of fields; conditions may combine fields with ``&&`` / ``||``. The fields are the names in the
  order they first appear, so ``[a, b = 1 && c > 2]`` has three (as in AWS's own examples).

An empty pattern (or ``""``) matches every message.

Regular expressions run on RE2 (``google-re2``), whose matching time is linear in the message: a
pattern like ``%^(a|a)*b%`` that makes a backtracking engine take hours takes microseconds. RE2 has
no backreferences or lookaround, which AWS's filter-pattern regular expressions do not have either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import re2

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_MISSING = object()


class FilterPatternError(ValueError):
    """The pattern is not valid filter pattern syntax."""


Predicate = Callable[[Any], bool]


@dataclass
class FilterPattern:
    """A compiled pattern. ``required`` are substrings every matching message contains."""

    text: str
    match: Callable[[str], bool]
    required: list[str] = field(default_factory=list)
    kind: str = "terms"                 # "terms", "json" or "delimited"
    selectors: list[str] = field(default_factory=list)   # a JSON pattern's $.selectors / a delimited one's fields
    fields: Callable[[str], dict[str, str] | None] | None = None   # a delimited pattern's named fields

    def extracted(self, message: str) -> dict[str, str]:
        """The values the pattern names in a message (TestMetricFilter's ``extractedValues``):
        ``$name`` for each named field of a space-delimited pattern, ``$.selector`` for each property
        a JSON pattern tests (its first scalar value)."""
        if self.kind == "delimited" and self.fields is not None:
            env = self.fields(message)
            return {f"${k}": v for k, v in (env or {}).items() if not k.startswith("$")}
        if self.kind == "json":
            out = {}
            for sel in self.selectors:
                value = self.value(message, sel)
                if value is not None:
                    out[sel] = value
            return out
        return {}

    def value(self, message: str, ref: str) -> str | None:
        """The text of ``$.selector`` (a JSON message) or ``$name`` (a field of this delimited
        pattern) in a message, or None."""
        if ref.startswith("$."):
            doc = _json_doc(message)
            if doc is _MISSING:
                return None
            for node in _resolve(doc, _selector(ref)):
                if node is not None and not isinstance(node, dict | list):
                    return _scalar_text(node)
            return None
        if ref.startswith("$") and self.fields is not None:
            env = self.fields(message)
            return None if env is None else env.get(ref[1:])
        return None


def _scalar_text(node: Any) -> str:
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def _json_doc(message: str) -> Any:
    text = message.strip()
    if not text.startswith(("{", "[")):
        return _MISSING
    try:
        return json.loads(text)
    except ValueError:
        return _MISSING


def compile_pattern(text: str | None) -> FilterPattern:
    pattern = (text or "").strip()
    if pattern in ("", '""'):
        return FilterPattern(pattern, lambda _m: True)
    if pattern.startswith("{"):
        if not pattern.endswith("}"):
            raise FilterPatternError("a JSON filter pattern must end with '}'")
        selectors = [t.text for t in _lex(pattern[1:-1]) if t.kind == "word" and t.text.startswith("$")]
        return FilterPattern(pattern, _compile_json(pattern[1:-1]), kind="json",
                             selectors=list(dict.fromkeys(selectors)))
    if pattern.startswith("["):
        if not pattern.endswith("]"):
            raise FilterPatternError("a space-delimited filter pattern must end with ']'")
        match, fields, names = _compile_delimited(pattern[1:-1])
        return FilterPattern(pattern, match, kind="delimited", fields=fields, selectors=names)
    return _compile_terms(pattern)


# == values =====================================================================================
def _glob(pattern: str) -> Callable[[str], bool]:
    """``*`` at the start and/or end is a wildcard; anywhere else it is itself."""
    if pattern == "*":
        return lambda _s: True
    lead = pattern.startswith("*")
    trail = pattern.endswith("*")
    core = pattern[1 if lead else 0: len(pattern) - 1 if trail else len(pattern)]
    if lead and trail:
        return lambda s: core in s
    if lead:
        return lambda s: s.endswith(core)
    if trail:
        return lambda s: s.startswith(core)
    return lambda s: s == core


class Regex(Protocol):
    """A compiled RE2 pattern (linear-time matching)."""

    def search(self, text: str) -> object | None: ...


def _regex(body: str) -> Regex:
    try:
        compiled: Regex = re2.compile(body)
    except re2.error as e:
        raise FilterPatternError(f"invalid regular expression %{body}%: {e}") from None
    return compiled


@dataclass
class _Value:
    kind: str                      # "num" | "str" | "re"
    text: str
    number: float = 0.0
    glob: Callable[[str], bool] | None = None
    regex: Regex | None = None

    def matches_text(self, s: str) -> bool:
        if self.kind == "re":
            assert self.regex is not None
            return self.regex.search(s) is not None
        if self.kind == "num":
            return _NUMBER.match(s) is not None and float(s) == self.number
        assert self.glob is not None
        return self.glob(s)


def _value(token: _Tok) -> _Value:
    if token.kind == "re":
        return _Value("re", token.text, regex=_regex(token.text))
    if token.kind == "word" and _NUMBER.match(token.text):
        return _Value("num", token.text, number=float(token.text))
    if token.kind in ("word", "str"):
        return _Value("str", token.text, glob=_glob(token.text))
    raise FilterPatternError(f"expected a value, found {token.text!r}")


# == tokens =====================================================================================
@dataclass
class _Tok:
    kind: str          # "word" | "str" | "re" | "op" | "(" | ")" | "&&" | "||" | ","
    text: str


_OPS = ("!=", "<=", ">=", "=", "<", ">")
_STOP = set(" \t\r\n()=!<>&|,\"")


def _read_quoted(s: str, i: int) -> tuple[str, int]:
    """The string starting at the quote s[i]; returns (text, index after the closing quote)."""
    out = []
    i += 1
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            out.append(s[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise FilterPatternError("unterminated quoted string")


def _lex(s: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c.isspace():
            i += 1
        elif c == '"':
            text, i = _read_quoted(s, i)
            toks.append(_Tok("str", text))
        elif c == "%":
            j = i + 1
            while j < n and s[j] != "%":
                j += 2 if s[j] == "\\" else 1
            if j >= n:
                raise FilterPatternError("unterminated regular expression (missing closing %)")
            toks.append(_Tok("re", s[i + 1:j]))
            i = j + 1
        elif c in "()":
            toks.append(_Tok(c, c))
            i += 1
        elif c == ",":
            toks.append(_Tok(",", c))
            i += 1
        elif s.startswith("&&", i) or s.startswith("||", i):
            toks.append(_Tok(s[i:i + 2], s[i:i + 2]))
            i += 2
        else:
            for op in _OPS:
                if s.startswith(op, i):
                    toks.append(_Tok("op", op))
                    i += len(op)
                    break
            else:
                j = i
                while j < n and s[j] not in _STOP:
                    j += 1
                if j == i:
                    raise FilterPatternError(f"unexpected character {c!r}")
                toks.append(_Tok("word", s[i:j]))
                i = j
    return toks


class _Parser:
    """Boolean expressions over conditions; ``cond`` parses one condition at the cursor."""

    def __init__(self, toks: list[_Tok], cond: Callable[[_Parser], Predicate]) -> None:
        self.toks = toks
        self.i = 0
        self.cond = cond

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, kind: str | None = None) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise FilterPatternError("the pattern ends too early")
        if kind is not None and tok.kind != kind:
            raise FilterPatternError(f"expected {kind!r}, found {tok.text!r}")
        self.i += 1
        return tok

    def expression(self) -> Predicate:
        terms = [self.conjunction()]
        while (tok := self.peek()) is not None and tok.kind == "||":
            self.i += 1
            terms.append(self.conjunction())
        if len(terms) == 1:
            return terms[0]
        return lambda ctx: any(t(ctx) for t in terms)

    def conjunction(self) -> Predicate:
        factors = [self.primary()]
        while (tok := self.peek()) is not None and tok.kind == "&&":
            self.i += 1
            factors.append(self.primary())
        if len(factors) == 1:
            return factors[0]
        return lambda ctx: all(f(ctx) for f in factors)

    def primary(self) -> Predicate:
        tok = self.peek()
        if tok is not None and tok.kind == "(":
            self.i += 1
            inner = self.expression()
            self.take(")")
            return inner
        return self.cond(self)

    def done(self) -> None:
        tok = self.peek()
        if tok is not None:
            raise FilterPatternError(f"unexpected {tok.text!r}")


# == terms ======================================================================================
def _regex_test(rx: Regex) -> Callable[[str], bool]:
    return lambda m: rx.search(m) is not None


def _substring_test(text: str) -> Callable[[str], bool]:
    return lambda m: text in m


def _compile_terms(pattern: str) -> FilterPattern:
    required: list[Callable[[str], bool]] = []
    excluded: list[Callable[[str], bool]] = []
    optional: list[Callable[[str], bool]] = []
    literal: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        if pattern[i].isspace():
            i += 1
            continue
        sign = ""
        if pattern[i] in "?-":
            sign = pattern[i]
            i += 1
            while i < n and pattern[i].isspace():
                i += 1
            if i >= n:
                raise FilterPatternError(f"'{sign}' must be followed by a term")
        if pattern[i] == '"':
            text, i = _read_quoted(pattern, i)
            is_regex = False
        else:
            j = i
            while j < n and not pattern[j].isspace():
                j += 1
            text, i = pattern[i:j], j
            is_regex = len(text) >= 2 and text.startswith("%") and text.endswith("%")
        test = _regex_test(_regex(text[1:-1])) if is_regex else _substring_test(text)
        if sign == "-":
            excluded.append(test)
        elif sign == "?":
            optional.append(test)
        else:
            required.append(test)
            if not is_regex and text:
                literal.append(text)

    def match(message: str) -> bool:
        if not all(t(message) for t in required):
            return False
        if any(t(message) for t in excluded):
            return False
        return not optional or any(t(message) for t in optional)

    return FilterPattern(pattern, match, literal)


# == JSON =======================================================================================
def _selector(text: str) -> list[str | int | None]:
    """``$.a.b[0][*]`` → ["a", "b", 0, None] (None: any element)."""
    if not text.startswith("$"):
        raise FilterPatternError(f"a JSON property selector starts with '$', found {text!r}")
    path: list[str | int | None] = []
    i = 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == ".":
            j = i + 1
            while j < n and text[j] not in ".[":
                j += 1
            if j == i + 1:
                raise FilterPatternError(f"empty property name in selector {text!r}")
            path.append(text[i + 1:j])
            i = j
        elif c == "[":
            j = text.find("]", i)
            if j < 0:
                raise FilterPatternError(f"unclosed '[' in selector {text!r}")
            index = text[i + 1:j].strip()
            if index == "*":
                path.append(None)
            elif index.isdigit():
                path.append(int(index))
            else:
                raise FilterPatternError(f"array index must be a number in selector {text!r}")
            i = j + 1
        else:
            raise FilterPatternError(f"unexpected {c!r} in selector {text!r}")
    return path


def _resolve(doc: Any, path: list[str | int | None]) -> list[Any]:
    """Every node the path reaches ([] when none)."""
    nodes = [doc]
    for step in path:
        nxt = []
        for node in nodes:
            if isinstance(step, str):
                if isinstance(node, dict) and step in node:
                    nxt.append(node[step])
            elif step is None:
                if isinstance(node, list):
                    nxt.extend(node)
            elif isinstance(node, list) and step < len(node):
                nxt.append(node[step])
        nodes = nxt
        if not nodes:
            break
    return nodes


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _json_compare(op: str, value: _Value) -> Callable[[Any], bool]:
    """A test of one JSON node (a scalar, not None/object/array) against ``op value``."""

    def equals(node: Any) -> bool:
        if value.kind == "num":
            return _is_number(node) and float(node) == value.number
        if value.kind == "str" and value.text == "*":
            return True
        return isinstance(node, str) and value.matches_text(node)

    if op == "=":
        return equals
    if op == "!=":
        return lambda node: not equals(node)
    if value.kind != "num":
        raise FilterPatternError(f"'{op}' compares numbers; {value.text!r} is not a number")
    x = value.number
    cmp = {"<": lambda a: a < x, ">": lambda a: a > x, "<=": lambda a: a <= x, ">=": lambda a: a >= x}[op]
    return lambda node: _is_number(node) and cmp(float(node))


def _json_condition(p: _Parser) -> Predicate:
    sel = p.take()
    if sel.kind != "word":
        raise FilterPatternError(f"expected a property selector such as $.field, found {sel.text!r}")
    path = _selector(sel.text)
    tok = p.take()
    if tok.kind == "op":
        test = _json_compare(tok.text, _value(p.take()))

        def compare(doc: Any) -> bool:
            return any(test(node) for node in _resolve(doc, path)
                       if node is not None and not isinstance(node, dict | list))
        return compare
    word = tok.text.upper() if tok.kind == "word" else ""
    if word == "IS":
        what = p.take("word").text.upper()
        expected = {"NULL": None, "TRUE": True, "FALSE": False}
        if what not in expected:
            raise FilterPatternError(f"expected NULL, TRUE or FALSE after IS, found {what!r}")
        want = expected[what]
        return lambda doc: any(node is want for node in _resolve(doc, path))
    if word == "NOT":
        if p.take("word").text.upper() != "EXISTS":
            raise FilterPatternError("expected EXISTS after NOT")
        return lambda doc: not _resolve(doc, path)
    if word == "EXISTS":
        return lambda doc: bool(_resolve(doc, path))
    raise FilterPatternError(f"expected an operator after {sel.text}, found {tok.text!r}")


def _compile_json(body: str) -> Callable[[str], bool]:
    parser = _Parser(_lex(body), _json_condition)
    if parser.peek() is None:
        raise FilterPatternError("empty JSON filter pattern")
    predicate = parser.expression()
    parser.done()

    def match(message: str) -> bool:
        doc = _json_doc(message)
        return doc is not _MISSING and predicate(doc)

    return match


# == space-delimited ============================================================================
def split_fields(message: str) -> list[str]:
    """A message's space-delimited fields; "quoted" and [bracketed] text are one field each."""
    fields: list[str] = []
    i = 0
    n = len(message)
    while i < n:
        c = message[i]
        if c.isspace():
            i += 1
            continue
        if c in '"[':
            close = '"' if c == '"' else "]"
            j = message.find(close, i + 1)
            if j < 0:
                fields.append(message[i + 1:])
                break
            fields.append(message[i + 1:j])
            i = j + 1
            continue
        j = i
        while j < n and not message[j].isspace():
            j += 1
        fields.append(message[i:j])
        i = j
    return fields


def _delimited_condition(p: _Parser) -> Predicate:
    name = p.take("word").text
    op = p.take("op").text
    value = _value(p.take())
    if op in ("=", "!="):
        want = op == "="
        return lambda env: name in env and value.matches_text(env[name]) == want
    if value.kind != "num":
        raise FilterPatternError(f"'{op}' compares numbers; {value.text!r} is not a number")
    x = value.number
    cmp = {"<": lambda a: a < x, ">": lambda a: a > x, "<=": lambda a: a <= x, ">=": lambda a: a >= x}[op]
    return lambda env: name in env and _NUMBER.match(env[name]) is not None and cmp(float(env[name]))


def _compile_delimited(body: str) -> tuple[Callable[[str], bool], Callable[[str], dict[str, str] | None], list[str]]:
    toks = _lex(body)
    elements: list[list[_Tok]] = [[]]
    depth = 0
    for tok in toks:
        if tok.kind == "," and depth == 0:
            elements.append([])
            continue
        depth += tok.kind == "("
        depth -= tok.kind == ")"
        elements[-1].append(tok)
    head: list[str] = []
    tail: list[str] = []
    ellipsis = False
    conditions: list[Predicate] = []
    for position, element in enumerate(elements):
        if not element:  # an unnamed field (AWS's example "[..., status_code=4*,]" ends with one)
            (tail if ellipsis else head).append(f"${position + 1}")
            continue
        if len(element) == 1 and element[0].kind == "word" and element[0].text in ("...", "…"):
            if ellipsis:
                raise FilterPatternError("only one '...' is allowed in a space-delimited pattern")
            ellipsis = True
            continue
        if len(element) == 1:
            names = [element[0].text] if element[0].kind == "word" else []
        else:  # names are the left-hand sides of the conditions
            names = [t.text for t, nxt in zip(element, element[1:], strict=False)
                     if t.kind == "word" and nxt.kind == "op"]
        if not names:
            raise FilterPatternError("each field of a space-delimited pattern needs a name")
        for name in names:  # fields are the names in order of first appearance
            if name not in head and name not in tail:
                (tail if ellipsis else head).append(name)
        if len(element) > 1:
            parser = _Parser(element, _delimited_condition)
            conditions.append(parser.expression())
            parser.done()

    def fields(message: str) -> dict[str, str] | None:
        values = split_fields(message)
        if ellipsis:
            if len(values) < len(head) + len(tail):
                return None
        elif len(values) != len(head):
            return None
        env = dict(zip(head, values, strict=False))
        if tail:
            env.update(zip(tail, values[len(values) - len(tail):], strict=True))
        return env

    def match(message: str) -> bool:
        env = fields(message)
        return env is not None and all(c(env) for c in conditions)

    return match, fields, head + tail

"""Matching values against what a policy names: exact strings, wildcards, ARNs, policy variables.

Four styles, as AWS documents them (IAM User Guide):

* ``EQUALS`` (StringEquals, ...): no wildcards, ``*`` is a character.
* ``LIKE`` (StringLike, Action): ``*`` any run of characters, ``?`` any one character.
* ``ARN`` (ArnLike/ArnEquals): "each of the six colon-delimited components of the ARN is checked
  separately", so a wildcard in the region part never eats the account part (condition operators
  page). The sixth component is the rest of the ARN, colons and all.
* ``RESOURCE`` (the Resource element): wildcards stay within a segment, except that "if the ``*``
  wildcard is the last character of a resource ARN segment, it can expand to match beyond the colon
  boundaries" (Resource element page): ``arn:aws:sqs:*`` covers every queue.

Policy variables (version 2012-10-17 only, variables page): ``${aws:username}``, ``${aws:PrincipalTag/x}``,
``${key, 'default'}``, and ``${*}``, ``${?}``, ``${$}`` for a literal ``*``, ``?``, ``$``. A value
substituted for a variable is literal: a user named ``a*`` does not become a wildcard. A variable whose
key is missing from the request (and has no default), or holds several values, cannot be resolved:
AWS says that "might cause the entire statement to be invalid"; here the pattern holding it matches
nothing.

Values without variables are compiled once: a set of exact strings and one alternation regex.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import Protocol

ContextValue = str | tuple[str, ...]
Context = Mapping[str, ContextValue]


class MatchFn(Protocol):
    def __call__(self, value: str, context: Context | None = None, /) -> bool: ...


class Style(IntEnum):
    EQUALS = 0
    LIKE = 1
    ARN = 2
    RESOURCE = 3


# a part of a value: (kind, text); kind 0 = policy text (wildcards active), 1 = literal, 2 = variable
_TEXT, _LITERAL, _VAR = 0, 1, 2
Part = tuple[int, str, str | None]          # (kind, text or key, default for a variable)

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VAR_BODY = re.compile(r"\s*([^\s,']+)\s*(?:,\s*'([^']*)'\s*)?")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}


def parse_template(value: str) -> tuple[Part, ...]:
    """Split ``value`` into policy text, literal characters (``${*}`` …) and variables."""
    parts: list[Part] = []
    pos = 0
    for m in _VARIABLE.finditer(value):
        if m.start() > pos:
            parts.append((_TEXT, value[pos:m.start()], None))
        body = m.group(1)
        if body in _SPECIAL:
            parts.append((_LITERAL, _SPECIAL[body], None))
        else:
            v = _VAR_BODY.fullmatch(body)
            if v is None:
                parts.append((_TEXT, m.group(0), None))      # not a variable: the characters as written
            else:
                parts.append((_VAR, v.group(1).lower(), v.group(2)))
        pos = m.end()
    if pos < len(value):
        parts.append((_TEXT, value[pos:], None))
    return tuple(parts)


def resolve(parts: tuple[Part, ...], context: Context | None) -> list[tuple[str, bool]] | None:
    """The value as (character, is-wildcard) pairs with variables substituted; None if one cannot be."""
    chars: list[tuple[str, bool]] = []
    for kind, text, default in parts:
        if kind == _TEXT:
            chars.extend((c, c in "*?") for c in text)
        elif kind == _LITERAL:
            chars.append((text, False))
        else:
            got = context.get(text) if context is not None else None
            if got is None or isinstance(got, tuple):
                if default is None:
                    return None
                got = default
            chars.extend((c, False) for c in got)
    return chars


def to_regex(chars: list[tuple[str, bool]], style: Style) -> str:
    """The regular expression (for ``fullmatch``) that a wildcard value stands for in ``style``."""
    out: list[str] = []
    segment = 0
    segmented = style is Style.ARN or style is Style.RESOURCE
    n = len(chars)
    for i, (c, wild) in enumerate(chars):
        if segmented and c == ":" and segment < 5:
            segment += 1
            out.append(":")
        elif wild and c == "*":
            if not segmented or segment >= 5:
                out.append(".*")
            elif style is Style.RESOURCE and (i + 1 == n or chars[i + 1][0] == ":"):
                out.append(".*")              # last character of a segment: may run past colons
            else:
                out.append("[^:]*")
        elif wild and c == "?":
            out.append("." if not segmented or segment >= 5 else "[^:]")
        else:
            out.append(re.escape(c))
    return "".join(out)


def _has_wildcard(chars: list[tuple[str, bool]]) -> bool:
    return any(w for _, w in chars)


def _prefix(chars: list[tuple[str, bool]], style: Style) -> str | None:
    """The literal text before a value's only wildcard, a final ``*`` that matches anything after it
    (then ``startswith`` does the regex's work); None otherwise."""
    if len(chars) < 2 or chars[-1] != ("*", True) or any(w for _, w in chars[:-1]):
        return None
    text = "".join(c for c, _ in chars[:-1])
    if style is Style.ARN and text.count(":") < 5:
        return None                 # a star inside one of the first five segments stops at a colon
    return text


class Matcher:
    """Does a value match any of a policy element's values (OR)? ``match(value, context)``; the
    context resolves policy variables."""

    __slots__ = ("exact", "prefixes", "regex", "templates", "style", "fold", "everything", "match")

    def __init__(self, values: Iterable[str], style: Style, *, fold: bool = False, variables: bool = False) -> None:
        self.style = style
        self.fold = fold
        exact: set[str] = set()
        prefixes: list[str] = []
        sources: list[str] = []
        templates: list[tuple[Part, ...]] = []
        everything = False
        for value in values:
            if fold:
                value = value.casefold()
            parts = parse_template(value) if variables and "${" in value else ((_TEXT, value, None),)
            if any(kind == _VAR for kind, _, _ in parts):
                templates.append(parts)
                continue
            chars = resolve(parts, None)
            assert chars is not None
            if style is Style.EQUALS or not _has_wildcard(chars):
                exact.add("".join(c for c, _ in chars))
            elif chars == [("*", True)]:
                everything = True                           # a lone "*": anything, in every style
            elif (prefix := _prefix(chars, style)) is not None:
                prefixes.append(prefix)                     # "sqs:*", "arn:aws:s3:::bucket/*"
            else:
                sources.append(to_regex(chars, style))
        self.everything = everything
        self.exact = frozenset(exact)
        self.prefixes = tuple(prefixes)
        self.regex = re.compile("|".join(f"(?:{s})" for s in sources), re.S) if sources else None
        self.templates = tuple(templates)
        # the fastest test that is right for what the policy holds
        self.match: MatchFn = self._general
        if everything:
            self.match = _always
        elif self.regex is None and not self.templates:
            if not prefixes:
                self.match = self._exact_folded if fold else self._exact
            elif not fold:
                self.match = self._exact_or_prefix

    def _exact(self, value: str, context: Context | None = None) -> bool:
        return value in self.exact

    def _exact_folded(self, value: str, context: Context | None = None) -> bool:
        return value.casefold() in self.exact

    def _exact_or_prefix(self, value: str, context: Context | None = None) -> bool:
        return value in self.exact or value.startswith(self.prefixes)

    def _general(self, value: str, context: Context | None = None) -> bool:
        if self.everything:
            return True
        v = value.casefold() if self.fold else value
        if v in self.exact or (self.prefixes and v.startswith(self.prefixes)):
            return True
        if self.regex is not None and self.regex.fullmatch(v) is not None:
            return True
        return any(self._template(parts, v, context) for parts in self.templates)

    def _template(self, parts: tuple[Part, ...], value: str, context: Context | None) -> bool:
        chars = resolve(parts, context)
        if chars is None:
            return False
        if self.fold:
            chars = [(f, w) for c, w in chars for f in c.casefold()]
        if self.style is Style.EQUALS or not _has_wildcard(chars):
            return "".join(c for c, _ in chars) == value
        return re.fullmatch(to_regex(chars, self.style), value, re.S) is not None

    @property
    def has_variables(self) -> bool:
        return bool(self.templates)


def _always(value: str, context: Context | None = None) -> bool:
    return True


def wildcard_match(pattern: str, value: str, style: Style = Style.LIKE) -> bool:
    """One pattern against one value (tests and diagnostics; the evaluator uses :class:`Matcher`)."""
    return Matcher((pattern,), style).match(value)

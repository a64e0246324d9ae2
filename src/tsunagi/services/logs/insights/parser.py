"""The Logs Insights query language: a grammar (lark, LALR) and the tree it becomes.

A query is commands joined by ``|``::

    fields @timestamp, @message | filter level = "ERROR" and ms > 100 | sort @timestamp desc | limit 20
    stats count(*) as n, avg(@duration) by bin(5m)
    parse @message "user=* action=*" as user, action
    parse @message /(?<user>\\w+) did (?<action>\\w+)/

:func:`parse_query` returns a :class:`Query` (a list of command nodes whose expressions are small
tuples, see :class:`Expr`), or raises :class:`QuerySyntaxError` with the position of the first
symbol that does not fit (line and column from 1, and the character offsets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

GRAMMAR = r"""
?start: query
query: command ("|" command)*

?command: fields_cmd | display_cmd | filter_cmd | stats_cmd | sort_cmd | limit_cmd | parse_cmd
        | dedup_cmd | unmask_cmd

fields_cmd: FIELDS_KW named ("," named)*
display_cmd: DISPLAY_KW field_ref ("," field_ref)*
filter_cmd: FILTER_KW expr
stats_cmd: STATS_KW named ("," named)* (BY_KW named ("," named)*)?
sort_cmd: SORT_KW sort_key ("," sort_key)*
sort_key: expr [ASC_KW | DESC_KW]
limit_cmd: LIMIT_KW INT
parse_cmd: PARSE_KW [field_ref] STRING AS_KW field_ref ("," field_ref)*  -> parse_glob
         | PARSE_KW [field_ref] REGEX                                 -> parse_regex
dedup_cmd: DEDUP_KW field_ref ("," field_ref)*
unmask_cmd: UNMASK_KW [expr]

named: expr [AS_KW field_ref]

?expr: or_expr
?or_expr: and_expr (OR_KW and_expr)*             -> or_
?and_expr: not_expr (AND_KW not_expr)*           -> and_
?not_expr: NOT_KW not_expr                       -> not_
         | comparison
?comparison: sum
           | sum COMP_OP sum                      -> compare
           | sum LIKE_KW pattern                  -> like
           | sum NOT_KW LIKE_KW pattern           -> not_like
           | sum MATCH_OP REGEX                   -> like
           | sum IN_KW list_lit                   -> in_
           | sum NOT_KW IN_KW list_lit            -> not_in
?pattern: STRING -> string | REGEX -> regex
?sum: product | sum ADD_OP product               -> arith
?product: unary | product MUL_OP unary           -> arith
?unary: "-" unary                                -> neg
      | atom
?atom: NUMBER                                    -> number
     | DURATION                                  -> duration
     | STRING                                    -> string
     | field_ref
     | NAME "(" [arg ("," arg)*] ")"             -> call
     | "(" expr ")"
?arg: expr | "*" -> star
list_lit: "[" [expr ("," expr)*] "]"
field_ref: NAME | BACKTICK

FIELDS_KW.3: /fields\b/i
DISPLAY_KW.3: /display\b/i
FILTER_KW.3: /filter\b/i
STATS_KW.3: /stats\b/i
SORT_KW.3: /sort\b/i
LIMIT_KW.3: /limit\b/i
PARSE_KW.3: /parse\b/i
DEDUP_KW.3: /dedup\b/i
UNMASK_KW.3: /unmask\b/i
BY_KW.3: /by\b/i
AS_KW.3: /as\b/i
ASC_KW.3: /asc\b/i
DESC_KW.3: /desc\b/i
AND_KW.3: /and\b/i
OR_KW.3: /or\b/i
NOT_KW.3: /not\b/i
LIKE_KW.3: /like\b/i
IN_KW.3: /in\b/i
MATCH_OP.2: "=~"
COMP_OP: "!=" | "<=" | ">=" | "=" | "<" | ">"
ADD_OP: "+" | "-"
MUL_OP: "*" | "/" | "%"
DURATION.4: /\d+(ms|msec|s|sec|m|min|h|hr|d|w|mo|q|y)\b/
NUMBER.2: /\d+(\.\d*)?([eE][+-]?\d+)?/ | /\.\d+([eE][+-]?\d+)?/
INT: /\d+/
STRING: /"(\\.|[^"\\])*"/ | /'(\\.|[^'\\])*'/
REGEX: /\/(\\.|[^\/\\\n])+\/[a-z]*/
BACKTICK: /`[^`]+`/
NAME: /@?[A-Za-z_$][A-Za-z0-9_.$@]*/
COMMENT: /#[^\n]*/

%import common.WS
%ignore WS
%ignore COMMENT
"""


class QuerySyntaxError(ValueError):
    """The query does not parse; ``message`` is AWS's wording."""

    def __init__(self, message: str, start: int = 0, end: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = end


# == the tree ==================================================================================
# Expressions are tuples: ("field", name) ("lit", value) ("dur", ms) ("call", name, args, text)
# ("star",) ("cmp", op, a, b) ("like", a, kind, pattern) ("in", a, [items]) ("not", a)
# ("and", a, b) ("or", a, b) ("arith", op, a, b) ("neg", a) ("regex", compiled)
Expr = tuple[Any, ...]


@dataclass
class Named:
    expr: Expr
    name: str           # the `as` alias, or the expression's text


@dataclass
class Command:
    kind: str                           # fields, display, filter, stats, sort, limit, parse, dedup
    items: list[Named] = field(default_factory=list)        # fields, stats (aggregates)
    by: list[Named] = field(default_factory=list)           # stats ... by
    expr: Expr | None = None                                # filter; parse: the source field
    keys: list[tuple[Expr, bool]] = field(default_factory=list)     # sort: (expr, descending)
    names: list[str] = field(default_factory=list)          # display, dedup, parse (glob targets)
    count: int = 0                                          # limit
    pattern: Any = None                                     # parse: a compiled regular expression


@dataclass
class Query:
    text: str
    commands: list[Command]


_UNITS_MS = {"ms": 1, "msec": 1, "s": 1000, "sec": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000,
             "hr": 3_600_000, "d": 86_400_000, "w": 604_800_000, "mo": 2_592_000_000, "q": 7_776_000_000,
             "y": 31_536_000_000}


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), body)


def _field_name(tok: Token | Tree[Any]) -> str:
    if isinstance(tok, Tree):
        tok = tok.children[0]
    text = str(tok)
    return text[1:-1] if text.startswith("`") else text


def compile_regex(text: str) -> Any:
    """A ``/regex/flags`` literal as an RE2 pattern (Java's ``(?<name>`` groups become ``(?P<name>``)."""
    import re2

    end = text.rfind("/")
    body, flags = text[1:end], text[end + 1:]
    body = body.replace("\\/", "/")
    body = re.sub(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>", r"(?P<\1>", body)
    if "i" in flags:
        body = "(?i)" + body
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(body, options)
    except Exception as e:
        detail = e.args[0].decode(errors="replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        raise QuerySyntaxError(f"Invalid regular expression {text}: {detail}") from None


class _Build(Transformer[Token, Any]):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def _src(self, meta: Any) -> str:
        return self.text[meta.start_pos:meta.end_pos].strip()

    # -- expressions --------------------------------------------------------------------------
    def number(self, c: list[Token]) -> Expr:
        s = str(c[0])
        value: float | int = float(s) if any(x in s for x in ".eE") else int(s)
        return ("lit", value)

    def duration(self, c: list[Token]) -> Expr:
        m = re.fullmatch(r"(\d+)([a-z]+)", str(c[0]))
        assert m
        return ("dur", int(m.group(1)) * _UNITS_MS[m.group(2)])

    def string(self, c: list[Token]) -> Expr:
        return ("lit", _unquote(str(c[0])))

    def regex(self, c: list[Token]) -> Expr:
        return ("regex", compile_regex(str(c[0])))

    def field_ref(self, c: list[Token]) -> Expr:
        return ("field", _field_name(c[0]))

    def star(self, c: list[Any]) -> Expr:
        return ("star",)

    @v_args(meta=True)
    def call(self, meta: Any, c: list[Any]) -> Expr:
        args = [a for a in c[1:] if a is not None]
        return ("call", str(c[0]).lower(), args, self._src(meta))

    def list_lit(self, c: list[Any]) -> list[Expr]:
        return [x for x in c if x is not None]

    def compare(self, c: list[Any]) -> Expr:
        return ("cmp", str(c[1]), c[0], c[2])

    def like(self, c: list[Any]) -> Expr:
        pat = c[-1]
        if isinstance(pat, Token):          # =~ /re/
            pat = ("regex", compile_regex(str(pat)))
        return ("like", c[0], pat)

    def not_like(self, c: list[Any]) -> Expr:
        return ("not", ("like", c[0], c[-1]))

    def in_(self, c: list[Any]) -> Expr:
        return ("in", c[0], c[-1])

    def not_in(self, c: list[Any]) -> Expr:
        return ("not", ("in", c[0], c[-1]))

    def not_(self, c: list[Any]) -> Expr:
        return ("not", c[-1])

    def _fold(self, op: str, c: list[Any]) -> Expr:
        items = [x for x in c if not isinstance(x, Token)]
        out: Expr = items[0]
        for x in items[1:]:
            out = (op, out, x)
        return out

    def and_(self, c: list[Any]) -> Expr:
        return self._fold("and", c)

    def or_(self, c: list[Any]) -> Expr:
        return self._fold("or", c)

    def arith(self, c: list[Any]) -> Expr:
        return ("arith", str(c[1]), c[0], c[2])

    def neg(self, c: list[Any]) -> Expr:
        return ("neg", c[0])

    # -- commands -----------------------------------------------------------------------------
    @v_args(meta=True)
    def named(self, meta: Any, c: list[Any]) -> Named:
        expr, alias = c[0], c[2] if len(c) > 2 else None
        if alias is not None:
            return Named(expr, alias[1])
        if expr[0] == "field":
            return Named(expr, expr[1])
        return Named(expr, self._src(meta))

    def fields_cmd(self, c: list[Any]) -> Command:
        return Command("fields", items=[x for x in c if isinstance(x, Named)])

    def display_cmd(self, c: list[Any]) -> Command:
        return Command("display", names=[x[1] for x in c[1:]])

    def filter_cmd(self, c: list[Any]) -> Command:
        return Command("filter", expr=c[1])

    def stats_cmd(self, c: list[Any]) -> Command:
        items: list[Named] = []
        by: list[Named] = []
        target = items
        for x in c[1:]:
            if isinstance(x, Token):
                target = by
            else:
                target.append(x)
        return Command("stats", items=items, by=by)

    def sort_key(self, c: list[Any]) -> tuple[Expr, bool]:
        return (c[0], c[1] is not None and str(c[1]).lower() == "desc")

    def sort_cmd(self, c: list[Any]) -> Command:
        return Command("sort", keys=list(c[1:]))

    def limit_cmd(self, c: list[Any]) -> Command:
        return Command("limit", count=int(str(c[1])))

    def parse_glob(self, c: list[Any]) -> Command:
        source = c[1] if c[1] is not None else ("field", "@message")
        glob = _unquote(str(c[2]))
        names = [x[1] for x in c[4:]]
        stars = glob.count("*")
        if stars != len(names):
            raise QuerySyntaxError(f"Expected {stars} identifiers in parse, found {len(names)}")
        parts = [re.escape(p) for p in glob.split("*")]
        body = ""
        for i, part in enumerate(parts[:-1]):
            last = i == stars - 1 and not parts[-1]
            body += part + (f"(?P<g{i}>.*)" if last else f"(?P<g{i}>.*?)")
        body += parts[-1]
        import re2

        return Command("parse", expr=source, names=names, pattern=re2.compile(body))

    def parse_regex(self, c: list[Any]) -> Command:
        source = c[1] if c[1] is not None else ("field", "@message")
        pattern = compile_regex(str(c[2]))
        names = sorted(pattern.groupindex, key=lambda n: pattern.groupindex[n])
        if not names:
            raise QuerySyntaxError("A parse regular expression must have named capture groups (?<name>...)")
        return Command("parse", expr=source, names=names, pattern=pattern)

    def dedup_cmd(self, c: list[Any]) -> Command:
        return Command("dedup", names=[x[1] for x in c[1:]])

    def unmask_cmd(self, c: list[Any]) -> Command:
        return Command("unmask")

    def query(self, c: list[Command]) -> list[Command]:
        return c


_parser: Lark | None = None


def _lark() -> Lark:
    global _parser
    if _parser is None:
        _parser = Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=True)
    return _parser


def _position(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1)
    return line, col


def parse_query(text: str) -> Query:
    if not text.strip():
        raise QuerySyntaxError("Query string cannot be empty", 0, 0)
    try:
        tree = _lark().parse(text)
        commands = _Build(text).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, QuerySyntaxError):
            raise e.orig_exc from None
        raise
    except UnexpectedEOF:
        line, col = _position(text, len(text))
        raise QuerySyntaxError(f"unexpected end of query at line {line} and position {col}",
                               len(text), len(text)) from None
    except UnexpectedInput as e:
        pos = getattr(e, "pos_in_stream", None) or 0
        if isinstance(e, UnexpectedToken):
            tok = e.token
            if tok.type == "$END":
                line, col = _position(text, len(text))
                raise QuerySyntaxError(f"unexpected end of query at line {line} and position {col}",
                                       len(text), len(text)) from None
            symbol, pos = str(tok), tok.start_pos or 0
        elif isinstance(e, UnexpectedCharacters):
            symbol = text[pos]
        else:
            symbol = text[pos:pos + 1]
        line, col = _position(text, pos)
        raise QuerySyntaxError(f"unexpected symbol found {symbol} at line {line} and position {col}",
                               pos, pos + max(len(symbol) - 1, 0)) from None
    return Query(text, commands)

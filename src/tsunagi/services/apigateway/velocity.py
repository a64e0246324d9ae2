"""Mapping templates: Velocity (VTL) as API Gateway runs it, on the airspeed library.

airspeed parses and evaluates the templates; this module adds what API Gateway's Velocity has and
airspeed lacks, through airspeed's own extension points (its element classes are looked up by name
as a template is parsed, and its table of extra methods per type):

- Java's string, list and map methods that templates use (``replaceAll``, ``split``, ``substring``,
  ``keySet``, ``entrySet``, ``size``, ``isEmpty``…), called before Python's own methods of the same
  name (Java's ``split`` takes a regular expression, Python's a plain separator);
- values written the way Java writes them (``true``, ``{a=1, b=2}``, ``[1, 2]``), and a reference to
  nothing written as nothing, as API Gateway does;
- ``#break`` in ``#foreach`` (and ``$foreach.hasNext``, which airspeed has);
- the variables: ``$input`` (:class:`Input`), ``$util`` (:class:`Util`), ``$context`` and
  ``$stageVariables`` (plain maps the caller makes).

Templates are compiled once and kept (:func:`compile_template`); a syntax error is a
:class:`TemplateFailure`, as is an error while a template runs.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_plus

import airspeed

__all__ = ["Input", "TemplateFailure", "Util", "compile_template", "java_str", "json_path", "render"]


class TemplateFailure(Exception):
    """A mapping template could not be parsed or run."""


# -- Java's methods ------------------------------------------------------------------------------------

def _java_regex(pattern: str) -> str:
    return pattern


def _java_replacement(repl: str) -> str:
    # Java writes groups as $1; Python as \1 (and a literal backslash must be doubled)
    out = []
    i = 0
    while i < len(repl):
        c = repl[i]
        if c == "\\" and i + 1 < len(repl):
            out.append(re.escape(repl[i + 1]) if repl[i + 1] != "\\" else "\\\\")
            i += 2
            continue
        if c == "$" and i + 1 < len(repl) and repl[i + 1].isdigit():
            out.append(f"\\g<{repl[i + 1]}>")
            i += 2
            continue
        out.append("\\\\" if c == "\\" else c)
        i += 1
    return "".join(out)


def _split(s: str, pattern: str, limit: int = 0) -> list[str]:
    parts = re.split(_java_regex(pattern), s, maxsplit=limit - 1 if limit > 0 else 0)
    if limit == 0:
        while parts and parts[-1] == "":
            parts.pop()
    if parts and parts[0] == "" and len(s) > 0 and re.match(pattern, s) and re.match(pattern, s).end() == 0:  # type: ignore[union-attr]
        parts.pop(0)
    return parts


def _substring(s: str, start: int, end: int | None = None) -> str:
    end = len(s) if end is None else end
    if start < 0 or end > len(s) or start > end:
        raise IndexError(f"String index out of range: begin {start}, end {end}, length {len(s)}")
    return s[start:end]


class Entry:
    """A map entry (``entrySet()``): ``$e.key``, ``$e.value``, ``$e.getKey()``."""

    __slots__ = ("key", "value")

    def __init__(self, key: Any, value: Any) -> None:
        self.key = key
        self.value = value

    def getKey(self) -> Any:  # noqa: N802 - Java's name
        return self.key

    def getValue(self) -> Any:  # noqa: N802
        return self.value

    def __str__(self) -> str:
        return f"{java_str(self.key)}={java_str(self.value)}"


def _remove(m: dict[Any, Any], key: Any) -> Any:
    return m.pop(key, None)


_JAVA: dict[type, dict[str, Callable[..., Any]]] = {
    str: {
        "length": len,
        "isEmpty": lambda s: len(s) == 0,
        "replaceAll": lambda s, p, r: re.sub(_java_regex(p), _java_replacement(r), s),
        "replaceFirst": lambda s, p, r: re.sub(_java_regex(p), _java_replacement(r), s, count=1),
        "replace": lambda s, a, b: s.replace(str(a), str(b)),
        "split": _split,
        "substring": _substring,
        "toLowerCase": lambda s: s.lower(),
        "toUpperCase": lambda s: s.upper(),
        "trim": lambda s: s.strip(" \t\n\r\x0b\x0c\x00"),
        "contains": lambda s, x: str(x) in s,
        "startsWith": lambda s, x: s.startswith(str(x)),
        "endsWith": lambda s, x: s.endswith(str(x)),
        "indexOf": lambda s, x: s.find(str(x)),
        "lastIndexOf": lambda s, x: s.rfind(str(x)),
        "equals": lambda s, x: s == x,
        "equalsIgnoreCase": lambda s, x: isinstance(x, str) and s.lower() == x.lower(),
        "matches": lambda s, p: re.fullmatch(_java_regex(p), s) is not None,
        "charAt": lambda s, i: s[i],
        "concat": lambda s, x: s + str(x),
        "toString": lambda s: s,
        "format": lambda s, *a: s % a,
    },
    list: {
        "size": len,
        "isEmpty": lambda v: len(v) == 0,
        "get": lambda v, i: v[i],
        "contains": lambda v, x: x in v,
        "indexOf": lambda v, x: v.index(x) if x in v else -1,
        "add": lambda v, x: v.append(x) or True,
        "remove": lambda v, i: v.pop(i),
        "set": lambda v, i, x: v.__setitem__(i, x),
        "toString": lambda v: java_str(v),
    },
    dict: {
        "size": len,
        "isEmpty": lambda m: len(m) == 0,
        "get": lambda m, k: m.get(k),
        "containsKey": lambda m, k: k in m,
        "containsValue": lambda m, v: v in m.values(),
        "keySet": lambda m: list(m.keys()),
        "values": lambda m: list(m.values()),
        "entrySet": lambda m: [Entry(k, v) for k, v in m.items()],
        "put": lambda m, k, v: m.__setitem__(k, v),
        "putAll": lambda m, other: m.update(other),
        "remove": _remove,
        "toString": lambda m: java_str(m),
    },
    int: {"toString": lambda n: str(n), "intValue": lambda n: n, "longValue": lambda n: n,
          "doubleValue": lambda n: float(n)},
    float: {"toString": lambda n: java_str(n), "intValue": lambda n: int(n), "doubleValue": lambda n: n},
    bool: {"toString": lambda b: "true" if b else "false", "booleanValue": lambda b: b},
}


def java_str(value: Any) -> str:
    """A value written the way Java's ``toString`` writes it."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        if value == int(value) and abs(value) < 1e7:
            return f"{value:.1f}"
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{java_str(k)}={java_str(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(java_str(v) for v in value) + "]"
    return str(value)


class _NameOrCall(airspeed.NameOrCall):  # type: ignore[misc]
    """Java's methods first for calls on strings, lists, maps, numbers and booleans; names as Velocity
    reads them (a hyphen may follow the first letter: ``$context.requestOverride.header.X-Trace``)."""

    NAME = re.compile(r"([_a-z](?:[a-z0-9_-]*[a-z0-9_])?)", re.S | re.I)

    def calculate(self, current_object: Any, loader: Any, top_namespace: Any) -> Any:
        kind = type(current_object)
        if self.parameters is not None:
            methods = _JAVA.get(kind)
            if methods is not None:
                method = methods.get(self.name)
                if method is not None:
                    return method(current_object, *self.parameters.calculate(top_namespace, loader))
        if kind in _OWN and self.index is None:
            # $input and $util: attributes and methods only (airspeed would first try them as a map and
            # pay for the TypeError on every request)
            found = getattr(current_object, self.name, None)
            if found is None or self.parameters is None:
                return found
            return found(*self.parameters.calculate(top_namespace, loader))
        return super().calculate(current_object, loader, top_namespace)


class _FormalReference(airspeed.FormalReference):  # type: ignore[misc]
    """``$x`` written as Java writes it; a reference to nothing writes nothing."""

    def evaluate_raw(self, stream: Any, namespace: Any, loader: Any) -> None:
        value = None
        if self.expression is not None:
            value = self.expression.calculate(namespace, loader)
        if value is None and self.alternate is not None:
            value = self.alternate.calculate(namespace, loader)
        stream.write(java_str(value))


class _Break(Exception):
    pass


class _BreakDirective(airspeed._Element):  # type: ignore[misc]
    START = re.compile(r"#(?:break|\{break\})\b", re.S)

    def parse(self) -> None:
        self.identity_match(self.START)

    def evaluate_raw(self, stream: Any, namespace: Any, loader: Any) -> None:
        raise _Break()


class _Foreach(airspeed.ForeachDirective):  # type: ignore[misc]
    """``#foreach`` that stops at ``#break``, iterating a map's keys as Velocity does."""

    def evaluate_raw(self, stream: Any, namespace: Any, loader: Any) -> None:
        try:
            super().evaluate_raw(stream, namespace, loader)
        except airspeed.TemplateExecutionError as e:
            if not isinstance(e.__cause__, _Break):
                raise


class _StringLiteral(airspeed.StringLiteral):  # type: ignore[misc]
    """'text': raw, as Velocity reads it (a backslash is a backslash; '' is a quote), so that the idiom
    ``.replaceAll("\\\\'", "'")`` reaches Java's regex as written."""

    STRING = re.compile(r"'((?:''|[^'])*)'", re.S)

    def parse(self) -> None:
        value, = self.identity_match(self.STRING)
        self.value = value.replace("''", "'")


class _InterpolatedStringLiteral(_StringLiteral):
    """"text": raw like 'text', with references and directives in it evaluated."""

    STRING = re.compile(r'"((?:""|[^"])*)"', re.S)

    def parse(self) -> None:
        value, = self.identity_match(self.STRING)
        self.value = value.replace('""', '"')
        self.block = airspeed.Block(self.filename, self.value, 0)

    def calculate(self, namespace: Any, loader: Any) -> Any:
        output = airspeed.StoppableStream()
        self.block.evaluate(output, namespace, loader)
        return output.getvalue()


class _SetDirective(airspeed.SetDirective):  # type: ignore[misc]
    PLACE = re.compile(r"\s*\$\{?([a-z_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z_](?:[a-z0-9_-]*[a-z0-9_])?)*)\}?",
                       re.S | re.I)


airspeed.SetDirective = _SetDirective
airspeed.StringLiteral = _StringLiteral
airspeed.InterpolatedStringLiteral = _InterpolatedStringLiteral
airspeed.NameOrCall = _NameOrCall
airspeed.FormalReference = _FormalReference
airspeed.ForeachDirective = _Foreach
if _BreakDirective not in airspeed.UserDefinedDirective.DIRECTIVES:
    airspeed.UserDefinedDirective.DIRECTIVES.append(_BreakDirective)


# -- JSONPath, as $input.path and $input.json take it ------------------------------------------------------

_TOKEN = re.compile(r"""\.\.|\.(\*|[^.\[\]]+)|\[\s*(\*|-?\d+|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\s*\]""")
_AFTER_SCAN = re.compile(r"(\*|[^.\[\]]+)")


def json_path(doc: Any, expression: str) -> Any:
    """Evaluate a JSONPath (``$``, ``$.a.b``, ``$['a b']``, ``$.a[0]``, ``$.a[*].b``, ``$..name``).
    A path that selects nothing gives None; a wildcard or deep scan gives a list."""
    expr = expression.strip()
    if not expr.startswith("$"):
        expr = "$." + expr if expr else "$"
    pos = 1
    nodes: list[Any] = [doc]
    many = False
    deep = False
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None and deep:
            m = _AFTER_SCAN.match(expr, pos)          # $..name
        if m is None:
            raise TemplateFailure(f"Invalid JSONPath expression: {expression}")
        pos = m.end()
        if m.group(0) == "..":
            deep = True
            many = True
            continue
        bracket = m.group(2) if m.re is _TOKEN else None
        key: Any = m.group(1) if m.group(1) is not None else bracket
        if bracket is not None and key[0] in "'\"":
            key = key[1:-1]
        elif bracket is not None and key != "*":
            key = int(key)
        if deep:
            nodes = [n for start in nodes for n in _descend(start)]
            deep = False
        out: list[Any] = []
        for node in nodes:
            if key == "*":
                many = True
                if isinstance(node, dict):
                    out.extend(node.values())
                elif isinstance(node, list):
                    out.extend(node)
            elif isinstance(key, int):
                if isinstance(node, list) and -len(node) <= key < len(node):
                    out.append(node[key])
            elif isinstance(node, dict) and key in node:
                out.append(node[key])
        nodes = out
    if many:
        return nodes
    return nodes[0] if nodes else None


def _descend(node: Any) -> list[Any]:
    out = [node]
    if isinstance(node, dict):
        for v in node.values():
            out.extend(_descend(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(_descend(v))
    return out


def _to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# -- $input and $util ------------------------------------------------------------------------------------

class Input:
    """``$input``: the request's body and parameters (or, in a response template, the integration's body)."""

    def __init__(self, body: str, path: dict[str, str], querystring: dict[str, str], header: dict[str, str]) -> None:
        self.body = body
        self._params = {"path": path, "querystring": querystring, "header": header}
        self._parsed: Any = None
        self._parsed_done = False

    def _doc(self) -> Any:
        if not self._parsed_done:
            self._parsed_done = True
            try:
                self._parsed = json.loads(self.body) if self.body.strip() else {}
            except ValueError:
                self._parsed = None
                raise TemplateFailure("Unable to parse the body as JSON") from None
        if self._parsed is None:
            raise TemplateFailure("Unable to parse the body as JSON")
        return self._parsed

    def json(self, expression: str) -> str:
        return _to_json(json_path(self._doc(), expression))

    def path(self, expression: str) -> Any:
        return json_path(self._doc(), expression)

    def params(self, name: str | None = None) -> Any:
        if name is None:
            return self._params
        for where in ("path", "querystring", "header"):
            table = self._params[where]
            if name in table:
                return table[name]
            if where == "header":
                for k, v in table.items():
                    if k.lower() == name.lower():
                        return v
        return ""


def _escape_js(s: Any) -> str:
    if s is None:
        return ""
    text = java_str(s)
    out = []
    for c in text:
        o = ord(c)
        if c == '"':
            out.append('\\"')
        elif c == "'":
            out.append("\\'")
        elif c == "\\":
            out.append("\\\\")
        elif c == "/":
            out.append("\\/")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif c == "\b":
            out.append("\\b")
        elif c == "\f":
            out.append("\\f")
        elif o < 32 or o > 0x7F:
            if o > 0xFFFF:             # Java escapes each UTF-16 unit of a surrogate pair
                units = c.encode("utf-16-be")
                out.append("".join(f"\\u{units[i:i + 2].hex().upper()}" for i in range(0, len(units), 2)))
            else:
                out.append(f"\\u{o:04X}")
        else:
            out.append(c)
    return "".join(out)


# Java's URLEncoder per UTF-8 byte: letters, digits and ".-*_" as they are, space as "+", the rest as %XX
# (applied by str.translate to the UTF-8 bytes read as Latin-1: one table lookup per byte, in C)
_URL_ENCODED = [f"%{i:02X}" for i in range(256)]
for _b in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-*_":
    _URL_ENCODED[_b] = chr(_b)
_URL_ENCODED[32] = "+"


class Util:
    """``$util``: the functions API Gateway documents."""

    @staticmethod
    def escapeJavaScript(s: Any) -> str:  # noqa: N802 - API Gateway's names
        return _escape_js(s)

    @staticmethod
    def parseJson(s: Any) -> Any:  # noqa: N802
        try:
            return json.loads(java_str(s))
        except ValueError:
            raise TemplateFailure("Unable to parse the string as JSON") from None

    @staticmethod
    def urlEncode(s: Any) -> str:  # noqa: N802 - Java's URLEncoder: space as "+", only .-*_ unescaped
        text = java_str(s)
        if not text.isascii():
            text = text.encode("utf-8", "surrogatepass").decode("latin-1")
        return text.translate(_URL_ENCODED)

    @staticmethod
    def urlDecode(s: Any) -> str:  # noqa: N802
        return unquote_plus(java_str(s))

    @staticmethod
    def base64Encode(s: Any) -> str:  # noqa: N802
        return base64.b64encode(java_str(s).encode()).decode()

    @staticmethod
    def base64Decode(s: Any) -> str:  # noqa: N802
        try:
            return base64.b64decode(java_str(s)).decode("utf-8", "replace")
        except ValueError:
            raise TemplateFailure("Unable to decode the string as base64") from None


UTIL = Util()
_OWN: frozenset[type] = frozenset({Input, Util, Entry})


@lru_cache(maxsize=2048)
def compile_template(text: str) -> airspeed.Template:
    template = airspeed.Template(text)
    try:
        template.ensure_compiled()
    except airspeed.TemplateSyntaxError as e:
        raise TemplateFailure(f"Invalid mapping template: {e}") from None
    except (airspeed.TemplateError, RecursionError, ValueError, IndexError, TypeError) as e:
        raise TemplateFailure(f"Invalid mapping template: {e}") from None
    return template


# -- flat templates ---------------------------------------------------------------------------------------
# Most mapping templates are text and references only (seed 002's ``Action=SendMessage&MessageBody=
# $util.urlEncode($input.body)``). Such a template, once airspeed has parsed it, is run from its parsed
# elements without airspeed's per-element machinery: each reference becomes a chain of steps over the
# elements airspeed made. A step whose value is not a plain hit (a miss, an index, a name airspeed resolves
# some other way) is handed to that element's own ``calculate``, so the answers are airspeed's.

_Getter = Callable[[Any], Any]


class _Unflat(Exception):
    """The template is not text and references only: airspeed runs it."""


def _flat_value(value: Any) -> _Getter:
    """A parameter: a reference or a literal (anything else: not flat)."""
    expression = value.expression
    if isinstance(expression, _FormalReference):
        if expression.expression is None or expression.alternate is not None:
            raise _Unflat()
        return _flat_chain(expression.expression)
    if isinstance(expression, _StringLiteral) and not isinstance(expression, _InterpolatedStringLiteral):
        constant = expression.value
        return lambda ns: constant
    if isinstance(expression, airspeed.IntegerLiteral | airspeed.BooleanLiteral | airspeed.NullLiteral
                  | airspeed.FloatingPointLiteral):
        constant = expression.value if not isinstance(expression, airspeed.NullLiteral) else None
        return lambda ns: constant
    raise _Unflat()


def _flat_step(element: _NameOrCall) -> Callable[[Any, Any], Any]:
    """One ``.name`` or ``.name(args)`` of a reference, as :class:`_NameOrCall` computes it."""
    if element.index is not None:
        raise _Unflat()
    name = element.name
    calculate = element.calculate
    if element.parameters is None:
        def get(current: Any, ns: Any) -> Any:
            kind = type(current)
            if kind is dict:
                found = current.get(name)
                if found is not None:
                    return found
            elif kind in _OWN:
                return getattr(current, name, None)
            return calculate(current, None, ns)
        return get
    values = element.parameters.values
    arguments = [_flat_value(v) for v in getattr(values, "values", [])]

    def call(current: Any, ns: Any) -> Any:
        kind = type(current)
        methods = _JAVA.get(kind)
        method = methods.get(name) if methods is not None else None
        if method is not None:
            return method(current, *[a(ns) for a in arguments])
        if kind in _OWN:
            found = getattr(current, name, None)
            return None if found is None else found(*[a(ns) for a in arguments])
        return calculate(current, None, ns)
    return call


def _flat_chain(expression: Any) -> _Getter:
    """``$a.b(…).c``: the first name from the variables, then each step on what the last gave."""
    first = expression.part
    if first.parameters is not None or first.index is not None:
        raise _Unflat()
    root = first.name
    steps: list[Callable[[Any, Any], Any]] = []
    sub = expression.subexpression
    while sub is not None:
        inner = sub.expression
        if not isinstance(inner, airspeed.VariableExpression):
            raise _Unflat()            # an index: $a[0]
        steps.append(_flat_step(inner.part))
        sub = inner.subexpression

    def value(ns: Any) -> Any:
        current = ns.get(root)
        for step in steps:
            if current is None:
                return None
            current = step(current, ns)
        return current
    return value


@lru_cache(maxsize=2048)
def _flat(text: str) -> list[str | _Getter] | None:
    """The template as text and getters, or None when it is more than that."""
    template = compile_template(text)
    block = template.root_element.block
    parts: list[str | _Getter] = []
    try:
        for child in block.children:
            if isinstance(child, airspeed.Text):
                parts.append(child.text)
            elif isinstance(child, airspeed.Comment):
                continue
            elif isinstance(child, _FormalReference) and child.expression is not None and child.alternate is None:
                parts.append(_flat_chain(child.expression))
            else:
                return None
    except _Unflat:
        return None
    return parts


def render(text: str, variables: dict[str, Any]) -> str:
    """Run a mapping template with ``variables`` (``input``, ``util``, ``context``, ``stageVariables``)."""
    flat = _flat(text)
    if flat is not None:
        try:
            return "".join([part if isinstance(part, str) else java_str(part(variables)) for part in flat])
        except TemplateFailure:
            raise
        except airspeed.TemplateError as e:
            cause = e.__cause__ if e.__cause__ is not None else e
            if isinstance(cause, TemplateFailure):
                raise cause from None
            raise TemplateFailure(f"Execution failed due to an error in the mapping template: {cause}") from None
        except Exception as e:
            raise TemplateFailure(f"Execution failed due to an error in the mapping template: {e}") from None
    template = compile_template(text)
    stream = airspeed.StoppableStream()
    try:
        template.merge_to(variables, stream)
    except TemplateFailure:
        raise
    except airspeed.TemplateError as e:
        cause = e.__cause__ if e.__cause__ is not None else e
        if isinstance(cause, _Break):          # #break outside a loop ends the template
            return stream.getvalue()
        if isinstance(cause, TemplateFailure):
            raise cause from None
        raise TemplateFailure(f"Execution failed due to an error in the mapping template: {cause}") from None
    except Exception as e:
        raise TemplateFailure(f"Execution failed due to an error in the mapping template: {e}") from None
    out: str = stream.getvalue()
    return out

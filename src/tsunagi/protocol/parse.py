"""Wire request -> (operation, params), one generic parser per AWS protocol.

Usage (this is the API the gateway relies on)::

    parser = create_parser(service_model, protocol=None)      # protocol overrides the model's
    operation_model, params = parser.parse(request)           # request: HttpRequest
    operation_model, params = parser.parse(request, bucket_from_host="my-bucket")   # S3 vhost

``params`` is shaped like the operation's input (botocore member names; str, int, float,
bool, ``bytes`` for blobs, aware ``datetime`` for timestamps, lists and dicts). Members
that are absent on the wire are absent from ``params``. An empty blob payload (e.g. an
empty S3 PutObject body) is absent too: services treat a missing ``Body`` as ``b""``.

Protocols:

- ``query``: ``Action`` + form body (or query string); ``A.member.N``, ``A.N`` (flattened),
  ``A.entry.N.key``/``.value``, nested ``A.B``. SQS is served over query with the names in
  :mod:`tsunagi.protocol.sqs_query`; a query request posted to a queue URL without
  ``QueueUrl`` gets the URL it was posted to.
- ``json``: ``X-Amz-Target: <targetPrefix>.<Operation>`` and a JSON body.
- ``rest-json`` / ``rest-xml``: the operation comes from method + path (+ the literal query
  keys of the model's ``requestUri``, e.g. S3 ``?uploads``, ``?list-type=2``); when several
  operations match, the most specific wins (more literal query keys, then more of the
  operation's required header/querystring members present, then longer literal path,
  non-deprecated before deprecated).

S3 virtual-host style: the gateway finds the bucket in the Host header with
:func:`s3_bucket_from_host` and passes it as ``parse(request, bucket_from_host=bucket)``;
the request path is then the key part (``/`` or ``/photos/cat.jpg``).

Every parse ends with :mod:`tsunagi.protocol.validate` (``validate=False`` to skip it,
``constraints=True/False`` to force the min/max/enum checks on or off).

Errors are :class:`~tsunagi.protocol.errors.ServiceError` subclasses with AWS's codes:
``InvalidAction`` / ``MissingAction`` (query), ``UnknownOperationException`` and
``SerializationException`` (json), ``MalformedXML`` (rest-xml), ``UnknownOperation``-style
404s for rest paths nothing matches, and the validation errors of :mod:`validate`.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import orjson

from tsunagi.protocol import sqs_query
from tsunagi.protocol.aws_chunked import strip_aws_chunked, upload_body
from tsunagi.protocol.errors import (
    InvalidAction,
    InvalidParameterValue,
    RequestEntityTooLarge,
    SerializationException,
    ServiceError,
    UnknownOperationException,
    ValidationError,
    error_class,
)
from tsunagi.protocol.http import BodyStream, HttpRequest, form_pairs
from tsunagi.protocol.model import OperationModel, OperationNotFoundError, ServiceModel, Shape
from tsunagi.protocol.shapes import (
    INT_TYPES,
    BadValue,
    b64decode,
    parse_timestamp,
    text_to_scalar,
)
from tsunagi.protocol.validate import validator_for
from tsunagi.streams import StreamingBody

MissingAction = error_class("MissingAction")

# Protocols whose request bodies SDKs may gzip (the model's ``requestcompression``, e.g. PutMetricData);
# a rest protocol's Content-Encoding describes the payload it stores instead (S3 objects).
_COMPRESSIBLE = frozenset({"query", "json", "smithy-rpc-v2-cbor"})
MAX_INFLATED = 16 * 1024 * 1024


def gunzip(body: bytes) -> bytes:
    """A gzip-encoded request body, inflated (at most MAX_INFLATED bytes)."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, MAX_INFLATED)
    except zlib.error:
        raise SerializationException("The request body is not valid gzip.") from None
    if inflater.unconsumed_tail:
        raise RequestEntityTooLarge(f"The request body inflates to more than {MAX_INFLATED} bytes.")
    return out
MalformedXML = error_class("MalformedXML")
UnknownOperation = error_class("UnknownOperationException", status=404)

Decoder = Callable[[Any], Any]


class RequestParser:
    """Base: holds the model, the validator and per-operation caches."""

    protocol = ""

    def __init__(self, service_model: ServiceModel, protocol: str, *, validate: bool = True,
                 constraints: bool | None = None) -> None:
        self.service_model = service_model
        self.protocol = protocol
        self._validate = validator_for(service_model, protocol, constraints) if validate else None

    def parse(self, request: HttpRequest, bucket_from_host: str | None = None) -> tuple[OperationModel, dict]:
        if request.body and self.protocol in _COMPRESSIBLE and "gzip" in request.headers.get("content-encoding", ""):
            request = replace(request, body=gunzip(request.body))
        operation_model, params = self._parse(request, bucket_from_host)
        if self._validate is not None:
            self._validate(operation_model, params)
        return operation_model, params

    def _parse(self, request: HttpRequest, bucket_from_host: str | None) -> tuple[OperationModel, dict]:
        raise NotImplementedError

    def _operation(self, name: str) -> OperationModel | None:
        try:
            return self.service_model.operation_model(name)
        except OperationNotFoundError:
            return None


# ---------------------------------------------------------------------------------------------------
# query


# SQS actions refused when posted to a queue's URL rather than the service's endpoint
_SQS_NOT_ON_A_QUEUE = frozenset({"CreateQueue", "ListQueues"})


class QueryParser(RequestParser):
    """``Action=Op&A.member.1=x`` form bodies or query strings."""

    def __init__(self, service_model: ServiceModel, protocol: str = "query", **kw: Any) -> None:
        super().__init__(service_model, protocol, **kw)
        self.sqs = service_model.service_name == "sqs"
        self.wire_model = sqs_query.query_model() if self.sqs and service_model.protocol != "query" \
            else service_model
        self._decoders: dict[str, Decoder] = {}
        self._shape_decoders: dict[tuple, Decoder] = {}

    def _parse(self, request: HttpRequest, bucket_from_host: str | None) -> tuple[OperationModel, dict]:
        pairs = list(request.query_params())
        if request.body and request.method != "GET":
            try:
                text = request.body.decode()
            except UnicodeDecodeError:
                raise InvalidParameterValue("The request body is not valid UTF-8.") from None
            pairs.extend(form_pairs(text))
        tree: dict[str, Any] = {}
        action = None
        for key, value in pairs:
            if key == "Action":
                action = value
            elif key == "Version":
                continue
            elif "." not in key:
                tree[key] = value
            else:
                _tree_insert(tree, key, value)
        if not action:
            if self.sqs and not pairs:
                raise UnknownOperation()        # SQS: a queue URL fetched with nothing asked of it
            raise MissingAction("Missing Action")
        if self.sqs and action in _SQS_NOT_ON_A_QUEUE and sqs_query.queue_url_from_request(request.host,
                                                                                           request.path):
            raise InvalidAction(f"The action {action} is not valid for this endpoint.")
        operation_model = self._operation(action)
        if operation_model is None:
            if self.sqs:
                raise InvalidAction(f"The action {action} is not valid for this endpoint.")
            raise InvalidAction(f"Could not find operation {action} for version "
                                f"{self.service_model.api_version}")
        decode = self._decoders.get(action)
        if decode is None:
            shape = self.wire_model.operation_model(action).input_shape
            decode = self._decoders[action] = self._decoder(shape) if shape is not None else (lambda t: {})
        try:
            params = decode(tree)
        except BadValue as e:
            if self.sqs:
                raise InvalidParameterValue(str(e)) from None
            raise ValidationError(str(e)) from None
        if self.sqs and "QueueUrl" not in params and operation_model.input_shape is not None \
                and "QueueUrl" in operation_model.input_shape.members:
            scheme = request.headers.get("x-forwarded-proto", "http")
            url = sqs_query.queue_url_from_request(request.host, request.path, scheme)
            if url:
                params["QueueUrl"] = url
        return operation_model, params

    def _decoder(self, shape: Shape) -> Decoder:
        key = _shape_key(shape)
        dec = self._shape_decoders.get(key)
        if dec is None:
            cell: list[Decoder] = []
            self._shape_decoders[key] = lambda node: cell[0](node)
            dec = self._build(shape)
            cell.append(dec)
            self._shape_decoders[key] = dec
        return dec

    def _build(self, shape: Shape) -> Decoder:
        t = shape.type_name
        if t == "structure":
            members = []
            for name, ms in shape.members.items():
                wire = ms.serialization.get("name") or name
                if ms.type_name == "list" and ms.serialization.get("flattened") \
                        and ms.member.serialization.get("name"):
                    wire = ms.member.serialization["name"]
                members.append((name, wire, self._decoder(ms)))

            def structure(node: Any) -> dict:
                if not isinstance(node, dict):
                    return {}
                out = {}
                for name, wire, dec in members:
                    sub = node.get(wire)
                    if sub is not None:
                        out[name] = dec(sub)
                return out

            return structure
        if t == "list":
            member = self._decoder(shape.member)
            flat = bool(shape.serialization.get("flattened"))
            member_name = shape.member.serialization.get("name") or "member"

            def list_(node: Any) -> list:
                if not isinstance(node, dict):
                    return []
                if not flat:
                    node = node.get(member_name)
                    if not isinstance(node, dict):
                        return []
                return [member(node[k]) for k in _indices(node)]

            return list_
        if t == "map":
            kdec = self._decoder(shape.key)
            vdec = self._decoder(shape.value)
            flat = bool(shape.serialization.get("flattened"))
            kname = shape.key.serialization.get("name") or "key"
            vname = shape.value.serialization.get("name") or "value"

            def map_(node: Any) -> dict:
                if not isinstance(node, dict):
                    return {}
                if not flat:
                    node = node.get("entry")
                    if not isinstance(node, dict):
                        return {}
                out = {}
                for k in _indices(node):
                    entry = node[k]
                    if isinstance(entry, dict) and entry.get(kname) is not None:
                        v = entry.get(vname)
                        out[kdec(entry[kname])] = vdec(v) if v is not None else None
                return out

            return map_
        return _text_decoder(shape, "iso8601")


def _tree_insert(tree: dict, key: str, value: str) -> None:
    parts = key.split(".")
    node = tree
    for p in parts[:-1]:
        nxt = node.get(p)
        if not isinstance(nxt, dict):
            nxt = node[p] = {} if nxt is None else {"": nxt}
        node = nxt
    last = parts[-1]
    existing = node.get(last)
    if isinstance(existing, dict):
        existing[""] = value
    else:
        node[last] = value


def _indices(node: dict) -> list[str]:
    return sorted((k for k in node if k.isdigit()), key=int)


def _text_decoder(shape: Shape, ts_default: str) -> Decoder:
    """Text (query value, XML text, header, querystring) to the scalar's Python type."""
    t = shape.type_name
    name = shape.name

    def leaf(node: Any) -> str:
        if isinstance(node, dict):
            node = node.get("", "")
        return node

    if t == "blob":
        def blob(node: Any) -> bytes:
            try:
                return b64decode(leaf(node))
            except BadValue:
                raise BadValue(f"Value for parameter {name} is not valid base64.") from None
        return blob
    if t == "timestamp":
        def timestamp(node: Any) -> Any:
            try:
                return parse_timestamp(leaf(node))
            except BadValue:
                raise BadValue(f"Value {leaf(node)} for parameter {name} is not a valid timestamp.") from None
        return timestamp
    if t == "string":
        return leaf

    def scalar(node: Any) -> Any:
        text = leaf(node)
        try:
            return text_to_scalar(t, text)
        except BadValue:
            kind = "an integer" if t in INT_TYPES else "a boolean" if t == "boolean" else "a number"
            raise BadValue(f"Value {text} for parameter {name} is invalid. Reason: must be {kind}.") from None

    return scalar


def _shape_key(shape: Shape) -> tuple:
    ser = shape.serialization
    return (shape.name, shape.type_name, tuple(sorted((k, str(v)) for k, v in ser.items())) if ser else ())


# ---------------------------------------------------------------------------------------------------
# json bodies (json and rest-json)


class _JSONDecoders:
    """JSON value -> Python value; ``None`` for shapes that need no conversion at all."""

    def __init__(self) -> None:
        self._cache: dict[tuple, Decoder | None] = {}

    def get(self, shape: Shape) -> Decoder | None:
        key = (shape.name, shape.type_name)
        if key in self._cache:
            return self._cache[key]
        cell: list[Decoder | None] = []

        def deferred(v: Any) -> Any:
            fn = cell[0]
            return fn(v) if fn is not None else v

        self._cache[key] = deferred
        dec = self._build(shape)
        cell.append(dec)
        self._cache[key] = dec
        return dec

    def _build(self, shape: Shape) -> Decoder | None:
        t = shape.type_name
        if t == "structure":
            pairs = []
            for name, ms in shape.members.items():
                wire = ms.serialization.get("name") or name
                pairs.append((name, wire, self.get(ms)))
            if all(w == n and d is None for n, w, d in pairs):
                names = frozenset(n for n, _, _ in pairs)

                def plain(v: Any) -> Any:
                    if not isinstance(v, dict):
                        raise BadValue(f"Expected an object for {shape.name}")
                    if v.keys() <= names and None not in v.values():
                        return v        # already what the copy would be (the parser's own fresh object)
                    return {k: x for k, x in v.items() if x is not None and k in names}
                return plain

            by_wire = {wire: (name, dec) for name, wire, dec in pairs}

            def structure(v: Any) -> dict:
                if not isinstance(v, dict):
                    raise BadValue(f"Expected an object for {shape.name}")
                out = {}
                for wire, x in v.items():   # the members present: a request sets few of a shape's members
                    m = by_wire.get(wire)
                    if m is not None and x is not None:
                        out[m[0]] = m[1](x) if m[1] is not None else x
                return out

            return structure
        if t == "list":
            member = self.get(shape.member)
            if member is None:
                return None

            def list_(v: Any) -> list:
                if not isinstance(v, list):
                    raise BadValue(f"Expected a list for {shape.name}")
                return [member(x) if x is not None else None for x in v]

            return list_
        if t == "map":
            value = self.get(shape.value)
            if value is None:
                return None

            def map_(v: Any) -> dict:
                if not isinstance(v, dict):
                    raise BadValue(f"Expected an object for {shape.name}")
                return {k: value(x) if x is not None else None for k, x in v.items()}

            return map_
        if t == "blob":
            return b64decode
        if t == "timestamp":
            return parse_timestamp
        if t in ("float", "double"):
            return _json_float
        return None


# JSON has no NaN or infinities: AWS's JSON protocols (and botocore) send them as these strings.
_SPECIAL_FLOATS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def _json_float(v: Any) -> Any:
    if isinstance(v, str):
        special = _SPECIAL_FLOATS.get(v)
        if special is None:
            raise BadValue(f"Expected a number, got {v!r}")
        return special
    return v


def _load_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SerializationException("Start of structure or map found where not expected.") from None


class JSONParser(RequestParser):
    """``X-Amz-Target`` + JSON body."""

    def __init__(self, service_model: ServiceModel, protocol: str = "json", **kw: Any) -> None:
        super().__init__(service_model, protocol, **kw)
        self.target_prefix = service_model.metadata.get("targetPrefix", "")
        self._json = _JSONDecoders()
        self._ops: dict[str, tuple[OperationModel, Decoder | None]] = {}

    def _parse(self, request: HttpRequest, bucket_from_host: str | None) -> tuple[OperationModel, dict]:
        target = request.headers.get("x-amz-target", "")
        entry = self._ops.get(target)
        if entry is None:
            entry = self._resolve(target)
        operation_model, decode = entry
        body = request.body
        if not body:
            return operation_model, {}
        data = _load_json(body)
        if not isinstance(data, dict):
            raise SerializationException("Start of structure or map found where not expected.")
        if decode is None:
            return operation_model, {}
        try:
            return operation_model, decode(data)
        except BadValue as e:
            raise SerializationException(str(e)) from None

    def _resolve(self, target: str) -> tuple[OperationModel, Decoder | None]:
        prefix, _, name = target.rpartition(".")
        operation_model = self._operation(name) if prefix == self.target_prefix else None
        if operation_model is None:
            raise UnknownOperationException(f"Unknown operation {target}" if target else
                                            "Missing X-Amz-Target header")
        shape = operation_model.input_shape
        decode = self._json.get(shape) if shape is not None else None
        if decode is None and shape is not None:
            decode = _identity_dict
        entry = (operation_model, decode)
        if len(self._ops) < 1024:
            self._ops[target] = entry
        return entry


def _identity_dict(v: dict) -> dict:
    return v


# ---------------------------------------------------------------------------------------------------
# XML bodies (rest-xml)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if tag[:1] == "{" else tag


class _XMLDecoders:
    def __init__(self) -> None:
        self._cache: dict[tuple, Decoder] = {}

    def get(self, shape: Shape) -> Decoder:
        key = _shape_key(shape)
        dec = self._cache.get(key)
        if dec is None:
            cell: list[Decoder] = []
            self._cache[key] = lambda el: cell[0](el)
            dec = self._build(shape)
            cell.append(dec)
            self._cache[key] = dec
        return dec

    def _build(self, shape: Shape) -> Decoder:
        t = shape.type_name
        if t == "structure":
            members, attributes = [], []
            for name, ms in shape.members.items():
                ser = ms.serialization
                if ser.get("xmlAttribute"):
                    attributes.append((name, ser.get("name", name).split(":")[-1]))
                    continue
                wire = ser.get("name") or name
                flat_list = ms.type_name == "list" and ser.get("flattened")
                if flat_list and ms.member.serialization.get("name"):
                    wire = ms.member.serialization["name"]
                flat = bool(ser.get("flattened")) and ms.type_name in ("list", "map")
                members.append((name, wire, flat, self.get(ms)))

            def structure(el: Any) -> dict:
                children: dict[str, list] = {}
                for child in el:
                    children.setdefault(_local(child.tag), []).append(child)
                out = {}
                for name, wire, flat, dec in members:
                    found = children.get(wire)
                    if found:
                        out[name] = dec(found if flat else found[0])
                if attributes:
                    attrs = {_local(k): v for k, v in el.attrib.items()}
                    for name, local in attributes:
                        if local in attrs:
                            out[name] = attrs[local]
                return out

            return structure
        if t == "list":
            member = self.get(shape.member)
            flat = bool(shape.serialization.get("flattened"))

            def list_(el: Any) -> list:
                items = el if flat else list(el)
                return [member(x) for x in items]

            return list_
        if t == "map":
            kdec, vdec = self.get(shape.key), self.get(shape.value)
            flat = bool(shape.serialization.get("flattened"))
            kname = shape.key.serialization.get("name") or "key"
            vname = shape.value.serialization.get("name") or "value"

            def map_(el: Any) -> dict:
                entries = el if flat else list(el)
                out = {}
                for entry in entries:
                    k = v = None
                    for part in entry:
                        tag = _local(part.tag)
                        if tag == kname:
                            k = kdec(part)
                        elif tag == vname:
                            v = vdec(part)
                    if k is not None:
                        out[k] = v
                return out

            return map_
        text = _text_decoder(shape, "iso8601")
        return lambda el: text(el.text or "")


def _load_xml(body: bytes) -> Any:
    from defusedxml import ElementTree as SafeET  # the XML protocols' first request imports it

    try:
        return SafeET.fromstring(body)
    except Exception:  # ParseError and defusedxml's refusals alike
        raise MalformedXML("The XML you provided was not well-formed or did not validate against our "
                           "published schema") from None


# ---------------------------------------------------------------------------------------------------
# rest protocols


_LABEL = re.compile(r"\{([^}]+)\}")


class _Route:
    __slots__ = ("operation", "regex", "labels", "literal_query", "static_score", "required_located",
                 "members")

    def __init__(self, operation: OperationModel) -> None:
        self.operation = operation
        uri = operation.http.get("requestUri", "/")
        path, _, query = uri.partition("?")
        self.literal_query = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True)] if query else []
        pattern: list[str] = []
        pos = greedy = 0
        self.labels: list[str] = []
        literal_len = 0
        for m in _LABEL.finditer(path):
            literal = path[pos:m.start()]
            pattern.append(re.escape(literal))
            literal_len += len(literal)
            label = m.group(1)
            if label.endswith("+"):
                greedy += 1
                pattern.append(f"(?P<g{len(self.labels)}>.+)")
                label = label[:-1]
            else:
                pattern.append(f"(?P<g{len(self.labels)}>[^/]+)")
            self.labels.append(label)
            pos = m.end()
        tail = path[pos:]
        pattern.append(re.escape(tail))
        literal_len += len(tail)
        regex = "".join(pattern)
        if not regex.endswith("/"):
            regex += "/?"
        self.regex = re.compile(regex + r"\Z")
        shape = operation.input_shape
        required = set(shape.required_members) if shape is not None else set()
        located = []
        self.members = shape.members if shape is not None else {}
        for name, ms in self.members.items():
            loc = ms.serialization.get("location")
            if name in required and loc in ("header", "querystring"):
                located.append((loc, (ms.serialization.get("name") or name)))
        self.required_located = located
        deprecated = bool(operation.deprecated)
        self.static_score = (len(self.literal_query), literal_len, -greedy, not deprecated)

    def matches(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> re.Match | None:
        m = self.regex.match(path)
        if m is None:
            return None
        for k, v in self.literal_query:
            got = query.get(k)
            if got is None or (v and v not in got):
                return None
        for loc, wire in self.required_located:
            if loc == "header":
                if wire.lower() not in headers:
                    return None
            elif wire not in query:
                return None
        return m


class _MethodRoutes:
    """One HTTP method's routes, indexed by the first query key each names in its URI (``?tagging``):
    a request can only match the routes naming no key or a key it carries, so the others' path
    patterns are never tried (S3 has some 50 GET operations, most told apart by a query key)."""

    __slots__ = ("plain", "by_key")

    def __init__(self, routes: list[_Route]) -> None:
        self.plain = [r for r in routes if not r.literal_query]
        self.by_key: dict[str, list[_Route]] = {}
        for r in routes:
            if r.literal_query:
                self.by_key.setdefault(r.literal_query[0][0], []).append(r)

    def candidates(self, query: dict[str, list[str]]) -> list[_Route]:
        if not query or not self.by_key:
            return self.plain
        found = self.plain
        for key in query:
            more = self.by_key.get(key)
            if more:
                found = found + more
        return found


_NO_ROUTES = _MethodRoutes([])


class RestParser(RequestParser):
    """Shared by rest-json and rest-xml: routing, URI labels, querystring, headers, payload."""

    def __init__(self, service_model: ServiceModel, protocol: str, **kw: Any) -> None:
        super().__init__(service_model, protocol, **kw)
        self._routes: dict[str, _MethodRoutes] | None = None
        self._plans: dict[str, Callable[[HttpRequest, re.Match, dict], dict]] = {}

    def _routes_for(self, method: str) -> _MethodRoutes:
        if self._routes is None:
            routes: dict[str, list[_Route]] = {}
            for name in self.service_model.operation_names:
                op = self.service_model.operation_model(name)
                routes.setdefault(op.http.get("method", "POST").upper(), []).append(_Route(op))
            self._routes = {m: _MethodRoutes(rs) for m, rs in routes.items()}
        return self._routes.get(method, _NO_ROUTES)

    def match(self, request: HttpRequest, bucket_from_host: str | None = None) -> OperationModel:
        """The operation a request is for, from method, path, query and headers alone (no body):
        lets the gateway decide to stream a body before it reads it."""
        return self._route(request, bucket_from_host)[0].operation

    def _route(self, request: HttpRequest, bucket_from_host: str | None
               ) -> tuple[_Route, re.Match, dict[str, list[str]]]:
        path = request.path.split("?", 1)[0] or "/"
        if bucket_from_host:
            path = "/" + quote(bucket_from_host, safe="") + ("" if path == "/" else path)
        query: dict[str, list[str]] = {}
        for k, v in request.query_params():
            query.setdefault(k, []).append(v)
        best, best_match, best_score = None, None, None
        for route in self._routes_for(request.method.upper()).candidates(query):
            m = route.matches(path, query, request.headers)
            if m is None:
                continue
            score = (route.static_score[0], len(route.required_located)) + route.static_score[1:]
            if best_score is None or score > best_score:
                best, best_match, best_score = route, m, score
        if best is None or best_match is None:
            raise UnknownOperation(f"No operation matches {request.method} {path}")
        return best, best_match, query

    def _parse(self, request: HttpRequest, bucket_from_host: str | None) -> tuple[OperationModel, dict]:
        best, best_match, query = self._route(request, bucket_from_host)
        op = best.operation
        plan = self._plans.get(op.name)
        if plan is None:
            plan = self._plans[op.name] = self._plan(best)
        try:
            params = plan(request, best_match, query)
        except BadValue as e:
            raise self._bad_value(str(e)) from None
        return op, params

    def _bad_value(self, message: str) -> ServiceError:
        return SerializationException(message)

    def _stream_body(self, request: HttpRequest, stream: BodyStream) -> StreamingBody:
        """What the service gets for a streamed payload member: the body as it arrives."""
        return stream

    # -- per-operation plan ------------------------------------------------------------------------

    def _plan(self, route: _Route) -> Callable[[HttpRequest, re.Match, dict], dict]:
        op = route.operation
        shape = op.input_shape
        if shape is None:
            return lambda request, match, query: {}
        label_members: dict[str, tuple[str, Decoder]] = {}
        query_members, header_members, header_maps, body_members = [], [], [], []
        query_map = None
        consumed_query = {k for k, _ in route.literal_query}
        payload_name = shape.serialization.get("payload")
        for name, ms in shape.members.items():
            ser = ms.serialization
            loc = ser.get("location")
            wire = ser.get("name") or name
            if loc == "uri":
                label_members[wire] = (name, _text_decoder(ms, "iso8601"))
            elif loc == "querystring":
                if ms.type_name == "map":
                    query_map = (name, ms.value.type_name == "list")
                else:
                    consumed_query.add(wire)
                    query_members.append((name, wire, ms))
            elif loc == "header":
                header_members.append((name, wire.lower(), _header_decoder(ms)))
            elif loc == "headers":
                header_maps.append((name, wire.lower()))
            elif loc == "statusCode":
                continue
            elif name != payload_name:
                body_members.append(name)
        labels = [label_members.get(label) for label in route.labels]
        query_decoders = [(name, wire, _query_decoder(ms)) for name, wire, ms in query_members]
        body = self._body_plan(shape, payload_name, body_members)
        stream_member = payload_name if payload_name and shape.members[payload_name].type_name == "blob" else None

        def plan(request: HttpRequest, match: re.Match, query: dict[str, list[str]]) -> dict:
            params: dict[str, Any] = {}
            for i, entry in enumerate(labels):
                if entry is not None:
                    params[entry[0]] = entry[1](unquote(match.group(f"g{i}")))
            for name, wire, dec in query_decoders:
                values = query.get(wire)
                if values is not None:
                    params[name] = dec(values)
            if query_map is not None:
                rest = {k: (v if query_map[1] else v[0]) for k, v in query.items() if k not in consumed_query}
                if rest:
                    params[query_map[0]] = rest
            headers = request.headers
            for name, wire, hdec in header_members:
                value = headers.get(wire)
                if value is not None:
                    params[name] = hdec(value)
            for name, prefix in header_maps:
                found = {k[len(prefix):]: v for k, v in headers.items() if k.startswith(prefix)}
                if found:
                    params[name] = found
            if stream_member is not None and request.stream is not None:
                params[stream_member] = self._stream_body(request, request.stream)
            elif body is not None:
                body(request.body, params)
            return params

        return plan

    def _body_plan(self, shape: Shape, payload_name: str | None,
                   body_members: list[str]) -> Callable[[bytes, dict], None] | None:
        if payload_name:
            ms = shape.members[payload_name]
            if ms.type_name == "blob":
                def blob(body: bytes, params: dict) -> None:
                    if body:
                        params[payload_name] = body
                return blob
            if ms.type_name == "string":
                def text(body: bytes, params: dict) -> None:
                    if body:
                        params[payload_name] = body.decode("utf-8", "replace")
                return text
            dec = self._structure_decoder(ms)

            def structure(body: bytes, params: dict) -> None:
                if body.strip() and body.strip() != b"{}":
                    params[payload_name] = dec(body)
            return structure
        if not body_members:
            return None
        dec = self._structure_decoder(shape)
        wanted = set(body_members)

        def members(body: bytes, params: dict) -> None:
            if body.strip():
                for k, v in dec(body).items():
                    if k in wanted:
                        params[k] = v
        return members

    def _structure_decoder(self, shape: Shape) -> Callable[[bytes], Any]:
        raise NotImplementedError


def _header_decoder(shape: Shape) -> Decoder:
    t = shape.type_name
    if t == "string" and shape.serialization.get("jsonvalue"):
        def jsonvalue(value: str) -> Any:
            try:
                return orjson.loads(b64decode(value))
            except (orjson.JSONDecodeError, BadValue):
                raise BadValue(f"Header for {shape.name} is not base64-encoded JSON") from None
        return jsonvalue
    if t == "list":
        member = _text_decoder(shape.member, "rfc822")
        return lambda value: [member(v.strip()) for v in value.split(",")] if value else []
    if t == "timestamp":
        return _text_decoder(shape, "rfc822")
    return _text_decoder(shape, "rfc822")


def _query_decoder(shape: Shape) -> Callable[[list[str]], Any]:
    if shape.type_name == "list":
        member = _text_decoder(shape.member, "iso8601")
        return lambda values: [member(v) for v in values]
    one = _text_decoder(shape, "iso8601")
    return lambda values: one(values[0])


class RestJSONParser(RestParser):
    def __init__(self, service_model: ServiceModel, protocol: str = "rest-json", **kw: Any) -> None:
        super().__init__(service_model, protocol, **kw)
        self._json = _JSONDecoders()

    def _structure_decoder(self, shape: Shape) -> Callable[[bytes], Any]:
        dec = self._json.get(shape)

        def decode(body: bytes) -> Any:
            data = _load_json(body)
            if not isinstance(data, dict):
                raise SerializationException("Start of structure or map found where not expected.")
            return dec(data) if dec is not None else data
        return decode


class RestXMLParser(RestParser):
    def __init__(self, service_model: ServiceModel, protocol: str = "rest-xml", **kw: Any) -> None:
        super().__init__(service_model, protocol, **kw)
        self._xml = _XMLDecoders()
        self.s3 = service_model.service_name == "s3"

    def _parse(self, request: HttpRequest, bucket_from_host: str | None) -> tuple[OperationModel, dict]:
        op, params = super()._parse(request, bucket_from_host)
        if self.s3 and "ContentEncoding" in params:
            # aws-chunked is how this request's body is framed, not how the object is encoded
            encoding = strip_aws_chunked(params["ContentEncoding"])
            if encoding:
                params["ContentEncoding"] = encoding
            else:
                del params["ContentEncoding"]
        return op, params

    def _stream_body(self, request: HttpRequest, stream: BodyStream) -> StreamingBody:
        """S3 uploads: the payload without its aws-chunked framing, with the announced checksums."""
        return upload_body(stream, request.headers) if self.s3 else stream

    def _bad_value(self, message: str) -> ServiceError:
        return InvalidArgument(message)

    def _structure_decoder(self, shape: Shape) -> Callable[[bytes], Any]:
        dec = self._xml.get(shape)
        return lambda body: dec(_load_xml(body))


InvalidArgument = error_class("InvalidArgument")

# S3 endpoints whose first label is the bucket: bucket.s3.amazonaws.com, bucket.s3.us-east-1.amazonaws.com,
# bucket.s3-us-west-2.amazonaws.com, bucket.s3.localhost.localstack.cloud, bucket.s3.localhost.
_S3_VHOST = re.compile(r"^(?P<bucket>.+?)\.s3(?:[.-][a-z0-9-]+)*\.(?:amazonaws\.com(?:\.cn)?|localhost(?:\..*)?)$")
_LOCALHOST_VHOST = re.compile(r"^(?P<bucket>[^.]+(?:\.[^.]+)*?)\.localhost$")
_NOT_BUCKETS = frozenset({"s3", "sqs", "sns", "lambda", "logs", "kms", "sts", "iam", "cloudformation",
                          "apigateway", "ecs", "execute-api", "localhost"})


def s3_bucket_from_host(host: str) -> str | None:
    """The bucket named by a virtual-host-style S3 Host header, or None for path style.

    ``my-bucket.localhost:4566``, ``my-bucket.s3.localhost:4566``,
    ``my-bucket.s3.amazonaws.com``, ``my-bucket.s3.eu-west-1.amazonaws.com`` give ``my-bucket``;
    ``localhost:4566``, ``s3.localhost``, ``s3.amazonaws.com`` give None.
    """
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    m = _S3_VHOST.match(name)
    if m is None:
        m = _LOCALHOST_VHOST.match(name)
    if m is None:
        return None
    bucket = m.group("bucket")
    if bucket in _NOT_BUCKETS or bucket.startswith("s3.") or re.fullmatch(r"[0-9.]+", bucket):
        return None
    return bucket


_PARSERS: dict[str, type[RequestParser]] = {
    "query": QueryParser,
    "json": JSONParser,
    "rest-json": RestJSONParser,
    "rest-xml": RestXMLParser,
}
_cache: dict[tuple, RequestParser] = {}


def create_parser(service_model: ServiceModel, protocol: str | None = None, *, validate: bool = True,
                  constraints: bool | None = None) -> RequestParser:
    """The (cached) parser for ``service_model`` speaking ``protocol`` (default: the model's)."""
    protocol = protocol or service_model.protocol
    key = (id(service_model), protocol, validate, constraints)
    parser = _cache.get(key)
    if parser is None:
        cls = _PARSERS.get(protocol)
        if cls is None and protocol == "smithy-rpc-v2-cbor":
            from tsunagi.protocol.cbor import CBORParser
            cls = _PARSERS[protocol] = CBORParser
        if cls is None:
            raise ValueError(f"unsupported protocol {protocol!r}")
        parser = _cache[key] = cls(service_model, protocol, validate=validate, constraints=constraints)
    return parser


__all__ = ["create_parser", "s3_bucket_from_host", "RequestParser", "QueryParser", "JSONParser",
           "RestJSONParser", "RestXMLParser", "MalformedXML", "MissingAction"]

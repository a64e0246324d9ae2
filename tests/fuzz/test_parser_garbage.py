"""Property: no input makes a parser fail with anything but a 4xx ``ServiceError``.

Each served model's parser (validating, as the gateway runs it) gets requests that are
partly right, which reach deeper than pure noise: a real request for a drawn operation,
then mutated (body truncated, bytes flipped or inserted, a JSON value swapped for one of the
wrong type, query keys and header values replaced with junk), and pure junk bodies
(random bytes, random JSON, random XML, deep nesting). A parse may succeed; if it fails, the
error must be a ``ServiceError`` with a 4xx status, never a ``KeyError``, ``RecursionError``,
``OverflowError`` or a 5xx.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from tests.fuzz.test_parser_roundtrip import TARGETS, _draw, _request
from tsunagi.protocol import specs
from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.http import HttpRequest
from tsunagi.protocol.parse import create_parser

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10), st.sampled_from(["NaN", "Infinity", "-Infinity", "", "1e999", "true", "AAAA", "=="]))
SHALLOW_JSON = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4) |
                            st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def _deep(depth: int, kind: str) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


# deep values below orjson's 1,024-level limit: they parse, so they reach decoders and the validator
DEEP_JSON = st.builds(_deep, st.integers(50, 1000), st.sampled_from(["list", "dict"]))
JSON_VALUES = st.one_of(SHALLOW_JSON, DEEP_JSON)

# Values that stress scalar decoders wherever they land (ints, floats, booleans, timestamps, base64).
TEXT_JUNK = st.one_of(
    st.sampled_from(["", "-", "1e999", "nan", "-inf", "99999999999999999999999999", "0x10", "TRUE", "maybe",
                     "2024-13-45T99:99:99Z", "Mon, 99 Foo 2024", "-62135596801", "253402300800", "1e20",
                     "====", "a", "AAA", "\x00", "\udcff", "%ff", "%", "&", "=", ".", "..", "[", "]"]),
    st.text(max_size=12))


def _mutate_json(body: bytes, data: Any) -> bytes:
    try:
        doc = json.loads(body) if body else {}
    except ValueError:
        return body
    if not isinstance(doc, dict) or not doc:
        return json.dumps(data.draw(JSON_VALUES)).encode()

    def paths(node: Any, prefix: tuple) -> list[tuple]:
        out = [prefix]
        if isinstance(node, dict):
            for k, v in node.items():
                out += paths(v, prefix + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                out += paths(v, prefix + (i,))
        return out

    target = data.draw(st.sampled_from(paths(doc, ())[1:] or [()]), label="json path")
    replacement = data.draw(JSON_VALUES, label="json value")
    if not target:
        return json.dumps(replacement).encode()
    node = doc
    for p in target[:-1]:
        node = node[p]
    node[target[-1]] = replacement
    return json.dumps(doc).encode()


def _mutate_bytes(body: bytes, data: Any) -> bytes:
    how = data.draw(st.sampled_from(["truncate", "flip", "insert", "replace"]), label="byte mutation")
    if how == "truncate" and body:
        return body[:data.draw(st.integers(0, len(body) - 1))]
    if how == "flip" and body:
        i = data.draw(st.integers(0, len(body) - 1))
        return body[:i] + bytes([body[i] ^ data.draw(st.integers(1, 255))]) + body[i + 1:]
    if how == "insert":
        i = data.draw(st.integers(0, len(body)))
        return body[:i] + data.draw(st.binary(min_size=1, max_size=8)) + body[i:]
    return data.draw(st.binary(max_size=200))


def _mutate_query(query: str, data: Any) -> str:
    pairs = [p.split("=", 1) for p in query.split("&") if p] if query else []
    if pairs and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(pairs) - 1))
        pairs[i] = [pairs[i][0], data.draw(TEXT_JUNK).encode("utf-8", "surrogatepass").decode("latin-1")]
    extra_key = data.draw(st.sampled_from(["x.1", "a..b", ".", "member.1", "entry.1.key", "A.member.0",
                                           "A.member.99999999999999999999", "Attributes.entry.1.value",
                                           "%ff", "a%00b"]))
    pairs.append([extra_key, data.draw(st.sampled_from(["", "1", "%ff", "x"]))])
    return "&".join("=".join(p) for p in pairs)


def _mutate_form(body: bytes, data: Any) -> bytes:
    pairs = [p.split(b"=", 1) for p in body.split(b"&") if p]
    action = [p for p in pairs if p[0] == b"Action"]
    rest = [p for p in pairs if p[0] != b"Action"]
    if rest and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(rest) - 1))
        rest[i] = [rest[i][0], data.draw(TEXT_JUNK).encode("utf-8", "surrogatepass")]
    if data.draw(st.booleans()):
        key = data.draw(st.sampled_from([b"A.B.C", b"Attribute.1.Name", b"Entries.member.1.Id",
                                         b"SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType",
                                         b"Tag.1", b"Tags.member.1", b"x..y", b".", b"%ff", b"MessageBody.x"]))
        rest.append([key, data.draw(st.binary(max_size=6))])
    return b"&".join(b"=".join(p) for p in action + rest)


@pytest.mark.parametrize("service,protocol", TARGETS, ids=[f"{s}-{p or 'native'}" for s, p in TARGETS])
@given(data=st.data())
def test_mutated_requests_fail_only_with_4xx(service: str, protocol: str | None, data) -> None:
    name, params = _draw(data, service, protocol)
    request, _ = _request(service, protocol, name, params)
    proto = protocol or specs.service_model(service).protocol
    kind = data.draw(st.sampled_from(["body", "query", "header", "all"]), label="what to mutate")
    if kind in ("body", "all"):
        if proto in ("json", "rest-json") and data.draw(st.booleans()):
            request.body = _mutate_json(request.body, data)
        elif proto == "query" and data.draw(st.booleans()):
            request.body = _mutate_form(request.body, data)
        else:
            request.body = _mutate_bytes(request.body, data)
    if kind in ("query", "all"):
        request.query = _mutate_query(request.query, data)
    if kind in ("header", "all"):
        names = sorted(set(request.headers) | {"x-amz-target", "content-type", "x-amz-meta-x", "range",
                                                "if-modified-since", "x-amz-date", "content-md5"})
        key = data.draw(st.sampled_from(names), label="header")
        request.headers[key] = data.draw(TEXT_JUNK).encode("utf-8", "surrogatepass").decode("latin-1")
    _parse_expecting_4xx(service, protocol, request)


def _parse_expecting_4xx(service: str, protocol: str | None, request: HttpRequest) -> None:
    note(f"{request.method} {request.path}?{request.query}\n{request.headers}\n{request.body[:3000]!r}")
    parser = create_parser(specs.service_model(service), protocol)
    try:
        parser.parse(request)
    except ServiceError as e:
        assert 400 <= e.status < 500, repr(e)


def _junk_body(proto: str) -> st.SearchStrategy[bytes]:
    depth = st.integers(1, 3000)
    nested_json = depth.map(lambda n: b'{"a":' * n + b"1" + b"}" * n)
    nested_list = depth.map(lambda n: b"[" * n + b"]" * n)
    nested_xml = depth.map(lambda n: b"<a>" * n + b"</a>" * n)
    return st.one_of(
        st.binary(max_size=300),
        SHALLOW_JSON.map(lambda v: json.dumps(v).encode()),
        nested_json, nested_list, nested_xml,
        st.sampled_from([b"\xff\xfe\x00", b"\xef\xbb\xbf{}", b"<?xml version='1.0' encoding='utf-16'?><a/>",
                         b"<!DOCTYPE a [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><a>&e;</a>",
                         b"<!DOCTYPE a [<!ENTITY x 'y'><!ENTITY z '&x;&x;'>]><a>&z;</a>",
                         b"<a xmlns:b='u'><b:c/></a>", b"<a><![CDATA[x]]></a>", b"{\"a\":1,\"a\":2}",
                         b"Action=&&&==&", b"%ff%fe=1", b"Action=ListQueues&" + b"a.b" * 500 + b"=1"]),
    )


@pytest.mark.parametrize("service,protocol", TARGETS, ids=[f"{s}-{p or 'native'}" for s, p in TARGETS])
@given(data=st.data())
def test_junk_bodies_fail_only_with_4xx(service: str, protocol: str | None, data) -> None:
    name, _ = _draw_name(data, service, protocol)
    model = specs.service_model(service)
    proto = protocol or model.protocol
    op = model.operation_model(name)
    headers = {"host": "localhost:4566",
               "content-type": data.draw(st.sampled_from(["application/x-amz-json-1.0", "application/json",
                                                          "application/x-www-form-urlencoded", "text/xml", ""]))}
    method, path, query = "POST", "/", ""
    body = data.draw(_junk_body(proto), label="body")
    if proto == "json":
        headers["x-amz-target"] = data.draw(st.sampled_from([
            f"{model.metadata.get('targetPrefix')}.{name}", "", ".", f"{model.metadata.get('targetPrefix')}.",
            "Nope.ListQueues", f"{model.metadata.get('targetPrefix')}.{name}.x"]))
    elif proto == "query":
        prefix = data.draw(st.sampled_from([f"Action={name}&".encode(), b"Action=Nope&", b"", b"Action=&"]))
        body = prefix + body
    else:
        uri = op.http.get("requestUri", "/")
        path, _, query = uri.partition("?")
        for label in set(__import__("re").findall(r"\{[^}]+\}", path)):
            path = path.replace(label, data.draw(st.sampled_from(["x", "a%2Fb", "%ff", "..", "%00", "a+b"])))
        method = op.http.get("method", "POST")
    _parse_expecting_4xx(service, protocol, HttpRequest(method, path, query, headers, body))


def _draw_name(data: Any, service: str, protocol: str | None) -> tuple[str, None]:
    from tests.fuzz.test_parser_roundtrip import _operations

    return data.draw(st.sampled_from(_operations(service, protocol)), label="operation"), None

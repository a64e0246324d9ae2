"""Deterministic value generators for round-trip tests: params shaped like a botocore Shape."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.model import OperationModel, Shape

from tsunagi.protocol.http import HttpRequest

TEXTS = ["plain", "ünïcødé ✓ 日本", "a&b<c>\"d'e", "with space", "multi\nline\ttab"]
LABELS_ASCII = ["name-1", "Name_2.x", "abc"]
LABELS_UNICODE = ["nämé-ü", "日本語", "x y"]
WHEN = datetime(2024, 2, 29, 13, 14, 15, tzinfo=UTC)


class Gen:
    """Generate a value for a shape.

    ``where`` is the wire location of the value: header values stay ASCII and comma-free,
    uri labels use ``labels``; body strings carry unicode and XML-special characters.
    """

    def __init__(self, seed: str, labels: list[str] | None = None, max_depth: int = 4,
                 optional: float = 0.7) -> None:
        self.rnd = random.Random(seed)
        self.labels = labels or LABELS_ASCII
        self.max_depth = max_depth
        self.optional = optional

    def value(self, shape: Shape, where: str = "body", depth: int = 0, greedy: bool = False) -> Any:
        t = shape.type_name
        rnd = self.rnd
        if t == "structure":
            out = {}
            required = set(shape.required_members)
            union = shape.is_tagged_union if hasattr(shape, "is_tagged_union") else False
            names = list(shape.members)
            if union and names:
                names = [rnd.choice(names)]
            for name in names:
                ms = shape.members[name]
                if ms.serialization.get("eventstream") or ms.metadata.get("eventstream"):
                    continue
                if name not in required and not union and (depth >= self.max_depth or rnd.random() > self.optional):
                    continue
                loc = ms.serialization.get("location") or where
                if depth == 0 and ms.serialization.get("location") is None:
                    loc = "body"
                label_greedy = False
                out[name] = self.value(ms, loc, depth + 1, label_greedy)
            if not out and names and depth < self.max_depth + 3:
                # an empty structure has no wire form in some protocols: always send something
                name = names[0]
                out[name] = self.value(shape.members[name], where, depth + 1)
            return out
        if t == "list":
            lo = shape.metadata.get("min", 1) or 1
            n = max(lo, rnd.choice([1, 2]))
            if depth >= self.max_depth + 2:
                n = lo
            return [self.value(shape.member, where, depth + 1) for _ in range(n)]
        if t == "map":
            n = rnd.choice([1, 2])
            out = {}
            for i in range(n):
                if where in ("headers", "header") or not shape.key.enum:
                    key = f"k{i}-{rnd.randint(0, 999)}"
                else:
                    key = shape.key.enum[i % len(shape.key.enum)]
                out[key] = self.value(shape.value, "header" if where == "headers" else where, depth + 1)
            return out
        if t == "string":
            if shape.enum:
                return rnd.choice(shape.enum)
            if shape.serialization.get("jsonvalue"):
                return {"a": [1, "two"], "b": {"c": True}}
            lo = shape.metadata.get("min", 1) or 1
            hi = shape.metadata.get("max")
            if where == "uri":
                s = rnd.choice(self.labels)
            elif where in ("header", "headers", "querystring"):
                s = f"val-{rnd.randint(0, 9999)}"
            else:
                s = rnd.choice(TEXTS)
            if len(s) < lo:
                s = s + "x" * (lo - len(s))
            if hi is not None and len(s) > hi:
                s = s[:max(hi, 1)]
            return s
        if t in ("integer", "long"):
            lo = shape.metadata.get("min")
            hi = shape.metadata.get("max")
            v = rnd.randint(1, 1000)
            if lo is not None and v < lo:
                v = int(lo)
            if hi is not None and v > hi:
                v = int(hi)
            return v
        if t in ("float", "double"):
            return rnd.choice([1.5, 0.25, 42.0])
        if t == "boolean":
            return rnd.choice([True, False])
        if t == "blob":
            if where == "header":
                return b"hdr-bytes"
            return bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 16)))
        if t == "timestamp":
            return WHEN
        raise AssertionError(f"unknown type {t}")


def input_params(op: OperationModel, labels: list[str] | None = None, seed: str = "") -> dict:
    shape = op.input_shape
    if shape is None:
        return {}
    gen = Gen(seed or op.name, labels)
    params = gen.value(shape)
    # always set idempotency tokens so botocore does not invent them
    for name, ms in shape.members.items():
        if ms.metadata.get("idempotencyToken") and name not in params:
            params[name] = "token-123"
    return params


def output_result(op: OperationModel, seed: str = "") -> dict:
    shape = op.output_shape
    if shape is None:
        return {}
    result = Gen(seed or op.name, optional=0.8).value(shape)
    for name, ms in shape.members.items():
        if ms.serialization.get("location") == "statusCode" and name in result:
            result[name] = 200
    return result


def to_http_request(request_dict: dict, endpoint: str = "http://localhost:4566") -> HttpRequest:
    prepare_request_dict(request_dict, endpoint_url=endpoint)
    prepared = create_request_object(request_dict).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = body.read() if hasattr(body, "read") else bytes(body)
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else str(v)) for k, v in prepared.headers.items()}
    headers.setdefault("host", url.netloc)
    return HttpRequest(prepared.method, url.path or "/", url.query, headers, body)

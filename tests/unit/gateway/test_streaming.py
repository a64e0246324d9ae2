"""The gateway streams S3 uploads and downloads instead of holding them in memory."""

from __future__ import annotations

import asyncio

from tsunagi.clock import Clock
from tsunagi.config import Config
from tsunagi.gateway.app import Gateway
from tsunagi.protocol.http import BodyStream
from tsunagi.services.base import Platform, Service
from tsunagi.store.base import open_store

CHUNK = 64 * 1024


class RecordingS3(Service):
    """Just enough of S3 to watch how bodies arrive: sizes of the pieces, never the whole."""

    name = "s3"

    def __init__(self, platform):
        super().__init__(platform)
        self.pieces: list[int] = []
        self.body_type = None

    async def put_object(self, ctx, params):
        body = params["Body"]
        self.body_type = type(body)
        async for chunk in body:
            self.pieces.append(len(chunk))
        return {"ETag": '"x"'}

    async def get_object(self, ctx, params):
        async def chunks():
            for _ in range(16):
                yield b"z" * CHUNK

        return {"Body": chunks(), "ContentLength": 16 * CHUNK}


def make_gateway(tmp_path):
    config = Config(data_dir=str(tmp_path))
    platform = Platform(config, open_store(":memory:", str(tmp_path)), Clock())
    platform.services["s3"] = RecordingS3(platform)
    return Gateway(platform), platform.services["s3"]


async def call(app, method, path, chunks, headers):
    incoming = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent = []

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(k.encode(), v.encode()) for k, v in headers.items()], "client": ("127.0.0.1", 1)}
    await app(scope, receive, send)
    return sent


def test_put_object_body_arrives_as_a_stream_in_pieces(tmp_path):
    app, s3 = make_gateway(tmp_path)
    chunks = [b"a" * CHUNK for _ in range(8)]
    headers = {"host": "localhost:4566", "content-length": str(8 * CHUNK),
               "authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, "
                                "SignedHeaders=host, Signature=x"}
    sent = asyncio.run(call(app, "PUT", "/bucket/key", chunks, headers))
    assert sent[0]["status"] == 200
    assert s3.body_type is BodyStream
    assert s3.pieces == [CHUNK] * 8


def test_get_object_body_is_sent_in_pieces(tmp_path):
    app, _ = make_gateway(tmp_path)
    headers = {"host": "localhost:4566",
               "authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, "
                                "SignedHeaders=host, Signature=x"}
    sent = asyncio.run(call(app, "GET", "/bucket/key", [b""], headers))
    start, *bodies = sent
    assert start["status"] == 200
    assert (b"content-length", str(16 * CHUNK).encode()) in [(k.lower(), v) for k, v in start["headers"]]
    data = [m["body"] for m in bodies if m["body"]]
    assert len(data) == 16 and all(len(d) == CHUNK for d in data)
    assert bodies[-1].get("more_body", False) is False


def test_raw_routes_come_from_the_registry(tmp_path):
    from tsunagi.gateway.routes import Route
    from tsunagi.protocol.http import HttpResponse

    app, _ = make_gateway(tmp_path)

    async def hello(ex):
        return HttpResponse(200, [("content-type", "text/plain")], f"hello at {ex.request.path}".encode())

    app.routes.add(Route("hello", hello, prefix="/_tsunagi/hello/"))
    sent = asyncio.run(call(app, "GET", "/_tsunagi/hello/there", [b""], {"host": "localhost:4566"}))
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"hello at /_tsunagi/hello/there"
    sent = asyncio.run(call(app, "GET", "/_tsunagi/other", [b""], {"host": "localhost:4566"}))
    assert sent[0]["status"] == 404

"""The gateway's part of S3's request metrics: what it tells S3 of an answered request."""

from __future__ import annotations

import asyncio

from tsunagi.gateway.exchange import Exchange
from tsunagi.gateway.observe import observe_s3
from tsunagi.ports.s3 import Observed
from tsunagi.protocol.http import HttpRequest, HttpResponse


class _Done:
    consumed = True

    async def next_chunk(self) -> bytes:
        return b""


class _Observer:
    def __init__(self, watched: set[str]) -> None:
        self.watched = watched
        self.asked: list[str] = []
        self.seen: list[tuple[str, Observed]] = []

    def watching(self, bucket: str) -> bool:
        self.asked.append(bucket)
        return bucket in self.watched

    def observe(self, bucket: str, seen: Observed) -> None:
        self.seen.append((bucket, seen))


def _exchange(method: str, params: dict | None, headers: dict | None = None, body: bytes = b"") -> Exchange:
    request = HttpRequest(method, "/b/k", "", headers or {}, body)
    ex = Exchange(request, "r", "127.0.0.1", _Done(), 1.0)
    ex.params = params
    return ex


def test_an_unwatched_bucket_is_only_looked_up() -> None:
    observer = _Observer(set())
    response = HttpResponse(200, [], b"data")
    observe_s3(_exchange("GET", {"Bucket": "b", "Key": "k"}), response, observer)
    assert observer.asked == ["b"] and observer.seen == []


def test_a_whole_answer_is_counted_at_once() -> None:
    observer = _Observer({"b"})
    ex = _exchange("PUT", {"Bucket": "b", "Key": "k"}, {"content-length": "99", "x-amz-decoded-content-length": "64"})
    observe_s3(ex, HttpResponse(404, [], b"<Error/>"), observer)
    [(bucket, seen)] = observer.seen
    assert bucket == "b"
    assert (seen.method, seen.status, seen.uploaded, seen.downloaded) == ("PUT", 404, 64, 8)
    assert seen.first_byte_ms >= 0 and seen.total_ms == seen.first_byte_ms


def test_a_streamed_answer_is_counted_once_sent() -> None:
    async def main() -> None:
        observer = _Observer({"b"})

        async def body():
            yield b"abc"
            yield b"defg"

        response = HttpResponse(200, [], b"", body())
        observe_s3(_exchange("GET", {"Bucket": "b", "Key": "k"}), response, observer)
        assert observer.seen == []
        assert response.stream is not None
        assert b"".join([c async for c in response.stream]) == b"abcdefg"
        await response.stream.aclose()              # (the server closes it after sending; counted once)
        [(_, seen)] = observer.seen
        assert (seen.status, seen.downloaded) == (200, 7)
        assert seen.total_ms >= seen.first_byte_ms

    asyncio.run(main())


def test_the_bucket_of_an_unparsed_request_is_its_virtual_host() -> None:
    observer = _Observer(set())
    ex = _exchange("GET", None)
    ex.bucket = "vhost"
    observe_s3(ex, HttpResponse(400, [], b""), observer)
    assert observer.asked == ["vhost"]

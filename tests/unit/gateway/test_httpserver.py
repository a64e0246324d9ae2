"""tsunagi's HTTP/1.1 server, fed bytes directly (no sockets): framing, limits, keep-alive, pipelining."""

from __future__ import annotations

import asyncio
import re

from tsunagi.clock import http_date
from tsunagi.gateway.httpserver import MAX_HEAD_BYTES, HttpProtocol, HttpServer, bind_hosts
from tsunagi.protocol.http import HttpResponse


class EchoGateway:
    """Answers with the method, path and body length of each request, in order."""

    body_timeout = 5.0

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def handle(self, request, request_id, source_ip="127.0.0.1", body=None):
        data = b""
        while chunk := await body.next_chunk():
            data += chunk
        self.seen.append(f"{request.method} {request.path}")
        return HttpResponse(200, [("content-type", "text/plain")], f"{request.method} {len(data)}".encode())


class FakeTransport:
    def __init__(self) -> None:
        self.out = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name):
        return ("127.0.0.1", 5555) if name == "peername" else None

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


states: list[float | None] = []


def connect(gateway: EchoGateway, transport: FakeTransport) -> HttpProtocol:
    """A connection of a server on the running loop, over ``transport`` (no socket)."""
    server = HttpServer(gateway, "127.0.0.1", 0)  # type: ignore[arg-type]
    server.loop = asyncio.get_running_loop()
    proto = HttpProtocol(server)
    proto.connection_made(transport)  # type: ignore[arg-type]
    return proto


def serve(*reads: bytes) -> tuple[FakeTransport, EchoGateway]:
    gateway = EchoGateway()
    transport = FakeTransport()
    states.clear()

    async def main() -> None:
        proto = connect(gateway, transport)
        for data in reads:
            proto.data_received(data)
            for _ in range(20):
                await asyncio.sleep(0)
        for _ in range(50):
            await asyncio.sleep(0)
        states.append(proto.idle_since())

    asyncio.run(main())
    return transport, gateway


def post(path: str, body: bytes, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def test_a_large_body_read_together_with_its_head_is_not_a_large_head():
    out, _ = serve(post("/big", b"b" * 300_000))
    assert out.out.startswith(b"HTTP/1.1 200 OK"), out.out[:100]
    assert out.out.endswith(b"POST 300000")


def test_pipelined_requests_are_answered_in_order_on_one_connection():
    out, gw = serve(post("/one", b"1") + post("/two", b"22") + b"GET /three HTTP/1.1\r\nHost: x\r\n\r\n")
    assert gw.seen == ["POST /one", "POST /two", "GET /three"]
    replies = out.out.split(b"HTTP/1.1 200 OK")[1:]
    assert [r.rsplit(b"\r\n\r\n", 1)[1] for r in replies] == [b"POST 1", b"POST 2", b"GET 0"]
    assert not out.closed


def test_a_body_split_over_many_reads_arrives_whole():
    raw = post("/split", b"x" * 10_000)
    out, _ = serve(*(raw[i:i + 777] for i in range(0, len(raw), 777)))
    assert out.out.endswith(b"POST 10000")
    assert states[-1] is not None  # answered: the connection is idle (the reaper may close it later)


def test_a_connection_mid_request_is_not_idle():
    out, _ = serve(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    assert out.out == b"" and states[-1] is None


def test_connection_close_and_http_1_0_close_after_the_reply():
    out, _ = serve(post("/c", b"", "Connection: close\r\n"))
    assert b"connection: close" in out.out and out.closed
    out, _ = serve(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
    assert out.closed


def test_expect_100_continue_is_answered_when_the_body_is_wanted():
    head = b"PUT /k HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
    out, _ = serve(head, b"abc")
    assert out.out.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")
    assert out.out.endswith(b"PUT 3")


def test_a_head_past_the_limit_is_refused_with_431_and_closed():
    big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 10) + b"\r\n\r\n"
    out, gw = serve(big)
    assert out.out.startswith(b"HTTP/1.1 431") and out.closed and gw.seen == []
    # and a head that never ends is cut off while it arrives
    out, gw = serve(b"GET / HTTP/1.1\r\nX-Endless: ", *([b"a" * 16_384] * 6))
    assert out.out.startswith(b"HTTP/1.1 431") and out.closed


def test_garbage_is_a_400_and_the_connection_closes():
    out, gw = serve(b"\x16\x03\x01 not http at all\r\n\r\n")
    assert out.out.startswith(b"HTTP/1.1 400") and out.closed and gw.seen == []


class SlowGateway(EchoGateway):
    """Answers after yielding to the loop for a while, as a request that writes and waits for its commit does."""

    async def handle(self, request, request_id, source_ip="127.0.0.1", body=None):
        await asyncio.sleep(0.01)
        return await super().handle(request, request_id, source_ip, body)


def serve_then_half_close(*reads: bytes) -> tuple[FakeTransport, SlowGateway, bool]:
    gateway = SlowGateway()
    transport = FakeTransport()
    kept: list[bool] = []

    async def main() -> None:
        proto = connect(gateway, transport)
        for data in reads:
            proto.data_received(data)
        kept.append(proto.eof_received())   # the client shuts down its sending side right away
        await asyncio.sleep(0.1)

    asyncio.run(main())
    return transport, gateway, kept[0]


def test_a_client_that_half_closes_after_its_requests_still_gets_every_answer():
    # Given two pipelined requests and the client's end of sending before either is answered
    transport, gateway, kept = serve_then_half_close(post("/a", b"12345") + post("/b", b""))
    # Then the connection stays open to answer both, in order, and closes after the last
    assert kept is True
    assert gateway.seen == ["POST /a", "POST /b"]
    assert transport.out.count(b"HTTP/1.1 200 OK") == 2
    assert transport.out.endswith(b"POST 0") and b"POST 5" in transport.out
    assert transport.closed


def test_a_half_close_with_nothing_to_answer_closes_the_connection():
    transport, gateway, kept = serve_then_half_close()
    assert kept is False and gateway.seen == []


def test_requests_pipelined_before_a_malformed_one_are_answered_first():
    out, gw = serve(post("/one", b"1") + post("/two", b"22") + b"NOT HTTP AT ALL\r\n\r\n")
    assert gw.seen == ["POST /one", "POST /two"]
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", out.out) == [b"200", b"200", b"400"]
    assert out.out.index(b"POST 1") < out.out.index(b"POST 2") < out.out.index(b"Malformed HTTP request")
    assert out.closed


def test_at_the_connection_cap_the_longest_idle_connections_make_room():
    async def main() -> tuple[list[FakeTransport], FakeTransport, FakeTransport]:
        gateway = EchoGateway()
        server = HttpServer(gateway, "127.0.0.1", 0, max_connections=10)  # type: ignore[arg-type]
        server.loop = asyncio.get_running_loop()
        idle = []
        for i in range(10):
            t = FakeTransport()
            proto = HttpProtocol(server)
            proto.connection_made(t)  # type: ignore[arg-type]
            proto.last_active = float(i)           # the first ones have been idle longest
            idle.append(t)
        newcomer = FakeTransport()
        HttpProtocol(server).connection_made(newcomer)  # type: ignore[arg-type]
        # every connection busy: no room is made, the new one is closed at once
        busy_server = HttpServer(gateway, "127.0.0.1", 0, max_connections=2)  # type: ignore[arg-type]
        busy_server.loop = server.loop
        for _ in range(2):
            p = HttpProtocol(busy_server)
            p.connection_made(FakeTransport())  # type: ignore[arg-type]
            p.data_received(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        refused = FakeTransport()
        HttpProtocol(busy_server).connection_made(refused)  # type: ignore[arg-type]
        return idle, newcomer, refused

    idle, newcomer, refused = asyncio.run(main())
    assert [t.closed for t in idle] == [True, True] + [False] * 8
    assert not newcomer.closed
    assert refused.closed


class WholeGateway(EchoGateway):
    """Takes the body at once when it has all arrived (what the gateway's route step does), else reads it
    piece by piece; records which way it went."""

    def __init__(self, limit: int = 1 << 20) -> None:
        super().__init__()
        self.limit = limit
        self.at_once: list[bool] = []

    async def handle(self, request, request_id, source_ip="127.0.0.1", body=None):
        data = body.whole(self.limit)
        self.at_once.append(data is not None)
        if data is None:
            data = b""
            while chunk := await body.next_chunk():
                data += chunk
        assert body.consumed
        return HttpResponse(200, [("content-type", "text/plain")], f"{request.method} {len(data)}".encode())


def test_a_body_that_came_with_its_head_is_taken_at_once_and_one_still_arriving_is_awaited():
    async def main(gateway: WholeGateway, *reads: bytes) -> FakeTransport:
        transport = FakeTransport()
        proto = connect(gateway, transport)
        for data in reads:
            proto.data_received(data)
            for _ in range(20):
                await asyncio.sleep(0)
        return transport

    gw = WholeGateway()
    out = asyncio.run(main(gw, post("/a", b"x" * 5000) + post("/b", b"")))
    assert gw.at_once == [True, True]
    assert out.out.count(b"HTTP/1.1 200 OK") == 2 and b"POST 5000" in out.out and out.out.endswith(b"POST 0")

    raw = post("/late", b"y" * 3000)
    gw = WholeGateway()
    out = asyncio.run(main(gw, raw[:-1000], raw[-1000:]))
    assert gw.at_once == [False] and out.out.endswith(b"POST 3000")

    gw = WholeGateway(limit=100)          # over the limit: nothing is taken, the reader gets every piece
    out = asyncio.run(main(gw, post("/big", b"z" * 101)))
    assert gw.at_once == [False] and out.out.endswith(b"POST 101")


def test_the_date_header_is_what_email_utils_formats() -> None:
    from email.utils import formatdate

    for seconds in (0, 951782400, 1700000000, 1709164800, 2147483647, 4102444799, 1764720000.75):
        assert http_date(seconds) == formatdate(seconds, usegmt=True)


def test_an_ascii_host_is_bound_by_the_bytes_the_idna_codec_gives() -> None:
    for host in ("127.0.0.1", "localhost", "0.0.0.0", "::", "::1", "Tsunagi.Example.Test"):
        assert bind_hosts(host) == [host.encode("idna")]
    assert bind_hosts("") == ""                 # every address, as the event loop reads it
    assert bind_hosts("bücher.example") == "bücher.example"

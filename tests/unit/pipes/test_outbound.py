"""Outbound HTTP (tsunagi.outbound): never inward, answers read up to a cap, bounded in time."""

from __future__ import annotations

import asyncio

import pytest

from tsunagi import outbound
from tsunagi.config import Config


@pytest.mark.parametrize("path", ["/_tsunagi/reset", "/_TSUNAGI/reset", "//_tsunagi/reset", "/./_tsunagi/reset",
                                  "/%5Ftsunagi/reset", "/%255Ftsunagi/reset", "/_tsunagi", "\\_tsunagi/reset"])
def test_every_spelling_of_an_internal_path_is_internal(path):
    assert outbound.is_internal_path(path)


@pytest.mark.parametrize("path", ["/", "/sns", "/api/_tsunagi/reset", "/_tsunagix/reset", ""])
def test_other_paths_are_not_internal(path):
    assert not outbound.is_internal_path(path)


def test_this_machine_is_recognised():
    for address in ("127.0.0.1", "127.9.9.9", "::1", "0.0.0.0", "::", "::ffff:127.0.0.1"):
        assert outbound.is_this_machine(address), address
    assert not outbound.is_this_machine("192.0.2.1")        # TEST-NET-1: on no interface here
    assert not outbound.is_this_machine("not an address")


def test_refusal_names_internal_routes_on_our_names_and_addresses():
    names = outbound.SelfNames(["tsunagi.example.test", "*.corp.test"])
    url = "http://x/_tsunagi/reset"
    assert names.refusal(url, "127.0.0.1", ["127.0.0.1"], "/_tsunagi/reset")
    assert names.refusal(url, "api.localhost", ["192.0.2.1"], "/_tsunagi/reset")
    assert names.refusal(url, "tsunagi.example.test", ["192.0.2.1"], "/_tsunagi/reset")
    assert names.refusal(url, "a.corp.test", ["192.0.2.1"], "/_tsunagi/reset")
    assert names.refusal(url, "elsewhere.test", ["192.0.2.1"], "/_tsunagi/reset") is None   # not us
    assert names.refusal(url, "127.0.0.1", ["127.0.0.1"], "/sns") is None                  # not internal


def test_public_base_defaults_to_the_bound_address():
    assert Config(host="127.0.0.1", port=4566, public_url="").public_base() == "http://127.0.0.1:4566"
    assert Config(host="0.0.0.0", port=1234, public_url="").public_base() == "http://localhost:1234"
    assert Config(host="::1", port=1234, public_url="").public_base() == "http://[::1]:1234"
    cfg = Config(public_url="https://tsunagi.example.test")
    assert cfg.public_base() == "https://tsunagi.example.test" and cfg.public_host() == "tsunagi.example.test"
    with pytest.raises(ValueError, match="TSUNAGI_PUBLIC_URL"):
        Config(public_url="ftp://x").validate()


async def _serve(answer: bytes, *, then_stream: bool = False, hang: bool = False):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            if hang:
                await asyncio.sleep(30)
            writer.write(answer)
            for _ in range(2000 if then_stream else 0):        # up to 128 MB, until the client hangs up
                writer.write(b"x" * 65536)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_a_huge_answer_is_read_only_up_to_the_cap():
    async def run():
        server, port = await _serve(b"HTTP/1.1 200 OK\r\nContent-Length: 3000000000\r\n\r\n", then_stream=True)
        async with server:
            return await outbound.request("POST", f"http://127.0.0.1:{port}/sns", b"{}", {},
                                          guard=outbound.SelfNames())

    answer = asyncio.run(run())
    assert answer.status == 200 and len(answer.body) == outbound.MAX_ANSWER_BYTES and answer.truncated


def test_a_hanging_endpoint_times_out():
    async def run():
        server, port = await _serve(b"", hang=True)
        async with server:
            with pytest.raises(outbound.OutboundFailure, match="no complete answer within"):
                await outbound.request("POST", f"http://127.0.0.1:{port}/", b"", {}, guard=outbound.SelfNames(),
                                       read_timeout=0.3)

    asyncio.run(run())


def test_an_internal_route_is_refused_before_connecting():
    async def run():
        with pytest.raises(outbound.OutboundRefused, match="internal routes"):
            await outbound.request("POST", "http://localhost:9/%5Ftsunagi/reset", b"", {},
                                   guard=outbound.SelfNames())

    asyncio.run(run())


def test_headers_longer_than_the_cap_fail():
    async def run():
        server, port = await _serve(b"HTTP/1.1 200 OK\r\n" + b"X-Junk: " + b"a" * 40000 + b"\r\n\r\n")
        async with server:
            with pytest.raises(outbound.OutboundFailure):
                await outbound.request("POST", f"http://127.0.0.1:{port}/", b"", {}, guard=outbound.SelfNames())

    asyncio.run(run())


def test_every_checked_address_is_tried_in_turn(monkeypatch):
    async def run():
        server, port = await _serve(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")

        async def two(host, port_):
            return ["192.0.2.1", "127.0.0.1"]      # the first accepts nothing (TEST-NET-1)

        monkeypatch.setattr(outbound, "_resolve", two)
        async with server:
            return await outbound.request("POST", f"http://subscriber.test:{port}/", b"", {},
                                          guard=outbound.SelfNames(), connect_timeout=2.0)

    assert asyncio.run(run()).status == 204

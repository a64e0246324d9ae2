"""tsunagi's HTTP/1.1 server: httptools parses on an asyncio protocol, and requests go straight to
:meth:`Gateway.handle`.

A general-purpose ASGI server spends more on each request than tsunagi's own work on most calls
(a scope dict, a cycle object, receive/send coroutines, two socket writes); measured here, a canned
reply costs ~49 µs of server CPU through uvicorn and ~34 µs on this server (``make bench``,
"ceilings"). This server keeps only what the AWS APIs need:

- HTTP/1.1 keep-alive and pipelining (one request at a time per connection, in order);
  HTTP/1.0 and ``Connection: close``; ``Expect: 100-continue`` (answered when the body is first read);
- request bodies fed to the gateway as they arrive (S3 uploads stream), with back-pressure:
  reading pauses while too much of a body waits unread;
- streamed response bodies with back-pressure (``pause_writing`` / ``resume_writing``);
- a bounded request head (431 past :data:`MAX_HEAD_BYTES`), a body that stalls gets
  ``RequestTimeout`` (the gateway's rule), idle keep-alive connections close after a while;
- malformed HTTP gets a 400 and the connection closes, after the answers to the requests pipelined
  before it;
- a bounded number of connections (half the file descriptors the process may open, or
  ``TSUNAGI_MAX_CONNECTIONS``): past half of it idle keep-alive connections are closed after a few
  seconds instead of 75, and at the cap the longest-idle ones are closed to make room; a new
  connection that still finds no room is closed at once;
- SIGTERM / SIGINT: stop accepting, let requests in flight finish (bounded), then stop the platform.

Each reply is one socket write (head and body together) when the body is not streamed.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import httptools

from tsunagi.clock import http_date
from tsunagi.gateway.body import body_cut_off, next_piece
from tsunagi.ids import uuid4
from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from tsunagi.gateway.app import Gateway

log = logging.getLogger("tsunagi.http")

MAX_HEAD_BYTES = 64 * 1024          # request line plus headers (AWS front ends refuse far less)
BODY_HIGH_WATER = 1024 * 1024       # unread body bytes at which reading pauses
BODY_LOW_WATER = 256 * 1024         # ... and resumes
MAX_PIPELINED = 16                  # requests parsed ahead of the one being served
KEEP_ALIVE_S = 75.0                 # idle keep-alive connections close after this
KEEP_ALIVE_BUSY_S = 5.0             # ... or after this, when more than half the connection budget is used
DRAIN_S = 10.0                      # graceful shutdown waits this long for requests in flight

_REASONS = {100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
            206: "Partial Content", 301: "Moved Permanently", 302: "Found", 303: "See Other",
            304: "Not Modified", 307: "Temporary Redirect", 400: "Bad Request", 401: "Unauthorized",
            403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
            411: "Length Required", 412: "Precondition Failed", 413: "Request Entity Too Large",
            416: "Requested Range Not Satisfiable", 429: "Too Many Requests",
            431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
_STATUS_LINES: dict[int, bytes] = {}
_HEADER_NAMES: dict[bytes, str] = {}     # a header name as sent -> in lower case (clients repeat the same few)


def _headers(fields: list[bytes]) -> dict[str, str]:
    """A head's header names (in lower case, learnt for the next heads) to their values, a repeated
    header's values joined with ","."""
    headers: dict[str, str] = {}
    names = _HEADER_NAMES
    pairs = iter(fields)
    for name, value in zip(pairs, pairs, strict=False):   # (names and values, in turn)
        key = names.get(name)
        if key is None:
            key = name.decode("latin-1").lower()
            if len(names) < 1024:
                names[name] = key
        if key in headers:
            headers[key] = f"{headers[key]},{value.decode('latin-1')}"
        else:
            headers[key] = value.decode("latin-1")
    return headers


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        line = _STATUS_LINES[status] = f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n".encode()
    return line


class _Clock:
    """The Date header, formatted once a second."""

    value = b""
    second = -1

    @classmethod
    def date(cls) -> bytes:
        now = int(time.time())
        if now != cls.second:
            cls.second = now
            cls.value = b"date: " + http_date(now).encode() + b"\r\n"
        return cls.value


class RequestBody:
    """One request's body as it arrives: what :meth:`Gateway.handle` reads (``consumed``, ``next_chunk``)."""

    __slots__ = ("_conn", "_chunks", "_unread", "_done", "_lost", "_waiter", "consumed", "timeout",
                 "expect_continue")

    def __init__(self, conn: HttpProtocol, timeout: float | None, expect_continue: bool) -> None:
        self._conn = conn
        self._chunks: collections.deque[bytes] = collections.deque()
        self._unread = 0
        self._done = False
        self._lost = False
        self._waiter: asyncio.Future[None] | None = None
        self.consumed = False
        self.timeout = timeout
        self.expect_continue = expect_continue

    # -- the parser's side -------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._unread += len(data)
        if self._unread > BODY_HIGH_WATER:
            self._conn.pause_reading()
        if self._waiter is not None:        # (_wake, inline: most bodies arrive with their head, unawaited)
            self._wake()

    def finish(self) -> None:
        self._done = True
        if self._waiter is not None:
            self._wake()

    def lose(self) -> None:
        self._lost = True
        self._wake()

    @property
    def complete(self) -> bool:
        return self._done

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the gateway's side ------------------------------------------------------------------------
    def whole(self, limit: int) -> bytes | None:
        """The rest of the body at once, when all of it has arrived and it is at most ``limit`` bytes;
        else None, and nothing is read (what :meth:`next_chunk` would give, without awaiting it)."""
        if not self._done or self.consumed or self._unread > limit:
            return None
        chunks = self._chunks
        n = len(chunks)
        data = chunks[0] if n == 1 else b"".join(chunks)
        chunks.clear()
        self._unread = 0
        self.consumed = True
        if n and self._conn._reading_paused:
            self._conn.resume_reading()
        return data

    async def next_chunk(self) -> bytes:
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._unread -= len(chunk)
                if self._unread < BODY_LOW_WATER:
                    self._conn.resume_reading()
                return chunk
            if self._done:
                self.consumed = True
                return b""
            if self._lost:
                self.consumed = True
                raise body_cut_off()
            if self.expect_continue:
                self.expect_continue = False
                self._conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await next_piece(self._waiter, self.timeout)
            except ServiceError:
                self.consumed = True
                raise
            finally:
                self._waiter = None


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.gateway = server.gateway
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.peer = "127.0.0.1"
        # the request being parsed
        self._url = b""
        self._fields: list[bytes] = []      # the head's header names and values, as the parser gives them
        self._head_fields = 0
        self._raw_head = 0
        self._in_head = True
        self._completed = 0
        self._parsing: tuple[HttpRequest, RequestBody, bool] | None = None
        # requests parsed and waiting, and the one being served
        self._queue: collections.deque[tuple[HttpRequest, RequestBody, bool]] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._eof = False          # the client closed its sending side
        self._reading_paused = False
        self._writable: asyncio.Event | None = None
        self._refusal: tuple[int, str] | None = None   # a malformed request waits for the answers before it
        self.last_active = server.loop.time()

    # -- connection ------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.server.admit():
            self._closing = True
            transport.close()
            return
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = str(peer[0])
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self._closing = True
        if self._parsing is not None:
            self._parsing[1].lose()
        for _, body, _ in self._queue:
            body.lose()
        self._queue.clear()
        if self._writable is not None:
            self._writable.set()

    def eof_received(self) -> bool:
        """The client will send nothing more. It may have half-closed right after its last request
        and still be reading: answer what arrived (a body cut short fails as IncompleteBody), then
        close. With nothing to answer, let the transport close now."""
        self._eof = True
        if self._parsing is not None:
            self._parsing[1].lose()
        return self._task is not None or bool(self._queue)

    def pause_writing(self) -> None:
        self._writable = asyncio.Event()

    def resume_writing(self) -> None:
        if self._writable is not None:
            self._writable.set()
            self._writable = None

    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None and not self._closing:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None and not self._closing and not self._eof:
            self._reading_paused = False
            self.transport.resume_reading()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        self._closing = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def idle_since(self) -> float | None:
        """When this connection went idle (no request being parsed or served), else None."""
        if self._task is None and self._parsing is None and not self._queue:
            return self.last_active
        return None

    def shutdown(self) -> None:
        """Graceful stop: close now if idle, else after the request being served."""
        self._closing = True
        if self._task is None and self._parsing is None:
            self.close()

    # -- parsing ---------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        was_in_head = self._in_head
        completed = self._completed
        try:
            self.parser.feed_data(data)
        except _HeadTooLarge:
            return
        except httptools.HttpParserUpgrade:
            self._refuse_after_pipelined(400, "Protocol upgrades are not supported.")
            return
        except httptools.HttpParserError as e:
            self._refuse_after_pipelined(400, f"Malformed HTTP request: {e}")
            return
        if was_in_head and self._in_head and self._completed == completed:
            # a read wholly inside an unfinished head (no head ended, no message completed in it):
            # bound the head while it arrives; heads that end are bounded exactly when they end
            self._raw_head += len(data)
            if self._raw_head > MAX_HEAD_BYTES:
                self._refuse_head()

    def on_message_begin(self) -> None:
        self._url = b""
        self._fields = []
        self._head_fields = 0
        self._raw_head = 0
        self._in_head = True

    def on_url(self, url: bytes) -> None:
        self._head_fields += len(url)
        if self._head_fields > MAX_HEAD_BYTES:
            self._refuse_head()
            raise _HeadTooLarge
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        # (called once per header line: only kept here; counted and read when the head is complete. What
        # piles up meanwhile is at most one read's worth: a head spread over reads is bounded by them)
        self._fields.extend((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        # the headers, names in lower case (repeated ones joined with ","); 431 past the head's bound
        fields = self._fields
        if self._head_fields + sum(map(len, fields)) + 2 * len(fields) > MAX_HEAD_BYTES:   # (": " and CRLF)
            self._refuse_head()
            raise _HeadTooLarge
        # (a Python loop: dict(zip(map(...), map(str, values, repeat("latin-1")))) runs fewer bytecodes
        # but takes ~20% longer)
        headers: dict[str, str] = {}
        known = _HEADER_NAMES.get
        pairs = iter(fields)
        for name, value in zip(pairs, pairs, strict=False):   # (names and values, in turn)
            key = known(name)
            if key is None or key in headers:     # a name not seen before, or repeated: the long way
                headers = _headers(fields)
                break
            headers[key] = value.decode("latin-1")
        url = self._url.decode("latin-1")
        path, _, query = url.partition("?")
        request = HttpRequest(self.parser.get_method().decode("latin-1"), path, query, headers)
        expect = "expect" in headers and headers["expect"].lower() == "100-continue"
        body = RequestBody(self, self.gateway.body_timeout, expect)
        keep_alive = self.parser.should_keep_alive()
        item = (request, body, keep_alive)
        self._parsing = item
        if self._task is None:
            self._start(item)
        else:
            self._queue.append(item)
            if len(self._queue) >= MAX_PIPELINED:
                self.pause_reading()

    def on_body(self, data: bytes) -> None:
        if self._parsing is not None:
            self._parsing[1].feed(data)

    def on_message_complete(self) -> None:
        self._completed += 1
        if self._parsing is not None:
            self._parsing[1].finish()
            self._parsing = None
        self._in_head = True
        self._raw_head = 0

    # -- serving ---------------------------------------------------------------------------------
    def _start(self, item: tuple[HttpRequest, RequestBody, bool]) -> None:
        self._task = self.loop.create_task(self._serve(*item))

    async def _serve(self, request: HttpRequest, body: RequestBody, keep_alive: bool) -> None:
        try:
            try:
                response = await self.gateway.handle(request, uuid4(), self.peer, body)
            except Exception:  # the gateway answers every error itself; this is a last resort
                log.exception("unhandled error serving %s %s", request.method, request.path)
                response = HttpResponse(500, [("content-type", "application/json")],
                                        b'{"__type":"InternalFailure","message":"internal error"}')
            keep = keep_alive and not self._closing and (body.consumed or body.complete)
            streaming = self._send(request, response, keep)
            if streaming is not None:
                await streaming
        finally:
            self._task = None
        if not keep or self._closing:
            self.close()
            return
        self.last_active = self.loop.time()
        if self._refusal is not None and not self._queue:
            status, message = self._refusal
            self._refuse(status, message)
            return
        if self._queue:
            self._start(self._queue.popleft())
            if len(self._queue) < MAX_PIPELINED:
                self.resume_reading()
        elif self._eof:
            self.close()

    def _send(self, request: HttpRequest, response: HttpResponse, keep: bool) -> Awaitable[None] | None:
        """Write the answer: head and body in one write, or the head and then the streamed body (the
        awaitable returned)."""
        lines = ""
        has_length = False
        for name, value in response.headers:
            lower = name.lower()
            if lower == "content-length":
                has_length = True
            elif lower == "connection":
                if value.lower() == "close":
                    keep = False
                continue
            lines += f"{name}: {value}\r\n"
        head = [_status_line(response.status), _Clock.date(), lines.encode("latin-1")]
        stream = response.stream
        if stream is None and not has_length:
            head.append(b"content-length: %d\r\n" % len(response.body))
        elif stream is not None and not has_length:
            keep = False  # no length known: the end of the connection ends the body
        if not keep:
            head.append(b"connection: close\r\n")
            self._closing = True
        head.append(b"\r\n")
        if stream is None:
            self.write(b"".join(head) + (b"" if request.method == "HEAD" else response.body))
            return None
        return self._stream(b"".join(head), stream, request.method == "HEAD")

    async def _stream(self, head: bytes, stream: AsyncIterator[bytes], head_only: bool) -> None:
        pending = head
        try:
            if not head_only:
                async for chunk in stream:
                    if self.transport is None or self.transport.is_closing():
                        return
                    if pending:
                        chunk, pending = pending + chunk, b""
                    self.write(chunk)
                    if self._writable is not None:
                        await self._writable.wait()
        finally:
            if pending:
                self.write(pending)
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    # -- refusals ---------------------------------------------------------------------------------
    def _refuse_after_pipelined(self, status: int, message: str) -> None:
        """Refuse a malformed request, but first answer every complete request that came before it on
        this connection (pipelined), in order; read nothing more meanwhile."""
        parsing = self._parsing
        if parsing is not None:           # the request cut short by the bad bytes will not be served
            parsing[1].lose()
            if parsing in self._queue:
                self._queue.remove(parsing)
            self._parsing = None
        if self._task is None and not self._queue:
            self._refuse(status, message)
            return
        self._refusal = (status, message)
        self.pause_reading()

    def _refuse(self, status: int, message: str) -> None:
        import orjson

        self._answer_and_close(status, b"application/json", b'{"__type":"BadRequest","message":'
                               + orjson.dumps(message) + b"}")

    def _refuse_head(self) -> None:
        if self._closing:
            return
        log.warning("refused a request whose head exceeds %d bytes", MAX_HEAD_BYTES)
        self._answer_and_close(431, b"text/plain; charset=utf-8",
                               f"The request line and headers exceed {MAX_HEAD_BYTES} bytes.".encode())

    def _answer_and_close(self, status: int, content_type: bytes, body: bytes) -> None:
        """A reply the server makes itself (the request never reached the gateway), then close."""
        self.write(_status_line(status) + b"content-type: " + content_type + b"\r\ncontent-length: "
                   + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
        self.close()


class _HeadTooLarge(Exception):
    """Raised inside a parser callback to stop parsing a refused head."""


class HttpServer:
    """Listens, serves, and shuts down cleanly."""

    def __init__(self, gateway: Gateway, host: str, port: int, *, backlog: int = 2048,
                 freeze_gc: bool = False, max_connections: int = 0,
                 on_listening: Callable[[], None] | None = None, watch_fd: int | None = None) -> None:
        self.gateway = gateway
        self.on_listening = on_listening
        self.watch_fd = watch_fd
        self.freeze_gc = freeze_gc
        self.host = host
        self.port = port
        self.backlog = backlog
        self.connections: set[HttpProtocol] = set()
        self.max_connections = max_connections or connection_budget()
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.started = False
        self._stop: asyncio.Event | None = None
        self._force = False

    def request_stop(self, sig: int | None = None) -> None:
        if self._stop is None:
            return
        if self._stop.is_set() and sig == signal.SIGINT:
            self._force = True
        if sig is not None:
            log.info("received %s; draining requests in flight", signal.Signals(sig).name)
        self._stop.set()

    def replace_gateway(self, gateway: Gateway) -> None:
        """Serve every request from now on, on open connections too, with ``gateway`` (a server that
        opened its port before its gateway was built hands over to it)."""
        self.gateway = gateway
        for conn in self.connections:
            conn.gateway = gateway

    def _watch(self, fd: int) -> None:
        """Stop (as on SIGTERM) once ``fd`` reaches end of file: the read end of a pipe whose write end
        only the process that started this server holds, so its death, even by SIGKILL, closes it."""
        def readable() -> None:
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self.loop.remove_reader(fd)
                log.warning("the process that started this server has exited; stopping")
                self.request_stop()

        try:
            os.set_blocking(fd, False)
            self.loop.add_reader(fd, readable)
        except (OSError, ValueError, PermissionError):
            # not a pipe or socket (a file, /dev/null: at its end already), or not open at all
            log.warning("the pipe to the process that started this server is not one (a file or /dev/null); "
                        "stopping")
            self.request_stop()

    def admit(self) -> bool:
        """Room for one more connection? At the cap, the longest-idle keep-alive connections are
        closed to make room (down to nine tenths of the cap); False when every connection is busy."""
        if len(self.connections) < self.max_connections:
            return True
        idle = sorted((since, id(c), c) for c in self.connections if (since := c.idle_since()) is not None)
        excess = len(self.connections) - int(self.max_connections * 0.9) + 1
        for _since, _id, conn in idle[:excess]:
            conn.close()
            self.connections.discard(conn)
        if len(self.connections) < self.max_connections:
            return True
        log.warning("refused a connection: all %d connections are busy", self.max_connections)
        return False

    async def _close_idle(self) -> None:
        """Keep-alive connections idle for KEEP_ALIVE_S are closed, or for KEEP_ALIVE_BUSY_S while more
        than half the connection budget is in use (checked every second then, else every few seconds)."""
        while True:
            busy = len(self.connections) > self.max_connections // 2
            await asyncio.sleep(1.0 if busy else min(5.0, KEEP_ALIVE_S))
            busy = len(self.connections) > self.max_connections // 2
            cutoff = self.loop.time() - (KEEP_ALIVE_BUSY_S if busy else KEEP_ALIVE_S)
            for conn in list(self.connections):
                since = conn.idle_since()
                if since is not None and since < cutoff:
                    conn.close()

    async def serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self.gateway.startup()
        if self.freeze_gc:
            # What start-up built (modules, service models, caches) lives as long as the process: keep
            # it out of the cyclic collector's way, so each collection walks only what requests make.
            gc.collect()
            gc.freeze()
        try:
            # (uvloop and asyncio both resolve a host given as bytes; the stubs say str only)
            server = await self.loop.create_server(lambda: HttpProtocol(self), bind_hosts(self.host),  # type: ignore[arg-type]
                                                   self.port, backlog=self.backlog, reuse_address=True)
        except OSError:
            await self.gateway.shutdown()
            raise
        self.started = True
        log.info("tsunagi serving on http://%s:%d", self.host, self.port)
        if self.on_listening is not None:
            self.on_listening()
        if self.watch_fd is not None:
            self._watch(self.watch_fd)
        reaper = self.loop.create_task(self._close_idle())
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self.loop.add_signal_handler(sig, self.request_stop, sig)
            except (NotImplementedError, RuntimeError):  # not the main thread (tests)
                pass
        try:
            await self._stop.wait()
        finally:
            reaper.cancel()
            server.close()
            for conn in list(self.connections):
                conn.shutdown()
            deadline = self.loop.time() + DRAIN_S
            while self.connections and self.loop.time() < deadline and not self._force:
                await asyncio.sleep(0.05)
            for conn in list(self.connections):
                if conn._task is not None:
                    conn._task.cancel()
                conn.close()
            await self.gateway.shutdown()
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    self.loop.remove_signal_handler(sig)
                except (NotImplementedError, RuntimeError):
                    pass


def bind_hosts(host: str) -> str | list[bytes]:
    """``host`` as ``create_server`` is given it: an ASCII name or address as its bytes, which the event loop
    resolves as they are (what the IDNA codec makes of an ASCII name, without importing that codec and its
    tables at start); anything else (``""``: every address; a non-ASCII name) as it is."""
    if host and host.isascii():
        return [host.encode("ascii")]
    return host


def connection_budget() -> int:
    """How many client connections to hold at once: half the file descriptors this process may open
    (raising the soft limit to the hard one, up to 65,536, first); the rest is for worker pipes,
    the database, blobs and outbound calls."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard if hard != resource.RLIM_INFINITY else 65536, 65536)
        if soft != resource.RLIM_INFINITY and soft < want:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
                soft = want
            except (ValueError, OSError):
                pass
        limit = 65536 if soft == resource.RLIM_INFINITY else soft
    except ImportError:  # pragma: no cover - platforms without resource
        limit = 1024
    return max(32, limit // 2)


def serve(gateway: Gateway, host: str, port: int, max_connections: int = 0,
          on_listening: Callable[[], None] | None = None, watch_fd: int | None = None,
          on_server: Callable[[HttpServer], None] | None = None) -> bool:
    """Run the server until SIGTERM/SIGINT (or end of file on ``watch_fd``); True if it started.
    ``on_listening`` runs once the port is bound; ``on_server`` is given the server when it is made."""
    server = HttpServer(gateway, host, port, freeze_gc=True, max_connections=max_connections,
                        on_listening=on_listening, watch_fd=watch_fd)
    if on_server is not None:
        on_server(server)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        asyncio.run(server.serve())
    else:
        uvloop.run(server.serve())
    return server.started


__all__ = ["HttpServer", "HttpProtocol", "RequestBody", "serve", "MAX_HEAD_BYTES"]


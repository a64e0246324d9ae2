"""Build and run the server: platform (store, clock, services) behind the gateway, on tsunagi's
own HTTP server (:mod:`tsunagi.gateway.httpserver`). The gateway is also an ASGI application, so an
ASGI server can host ``build(config)`` instead."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from typing import TYPE_CHECKING

from tsunagi.commands import ENDPOINT_FILE
from tsunagi.config import Config
from tsunagi.gateway import httpserver
from tsunagi.protocol.http import HttpRequest, HttpResponse
from tsunagi.store.base import Store, open_store

if TYPE_CHECKING:
    from tsunagi.clock import Clock
    from tsunagi.gateway.app import Gateway
    from tsunagi.gateway.body import BodySource
    from tsunagi.services.base import Platform

log = logging.getLogger("tsunagi")


def assemble(config: Config, store: Store, clock: Clock | None = None, services: list[str] | None = None,
             *, lazy: bool = False) -> Platform:
    """The platform with its pipes (the outbox, pollers) and services, wired together: the one place
    where services, pipes and ports meet. ``services`` limits which are served (tests); with ``lazy``
    each is loaded when first needed (see :meth:`Platform.start`)."""
    from tsunagi.clock import Clock
    from tsunagi.pipes import install as install_pipes
    from tsunagi.services.base import Platform
    from tsunagi.services.registry import load_services

    platform = Platform(config, store, clock or Clock())
    install_pipes(platform)
    load_services(platform, services, lazy=lazy)
    return platform


def admin_token(config: Config) -> str:
    """The token tsunagi's internal endpoints require: the configured one, or a new one, which
    :func:`keep_admin_token` writes to ``<data dir>/admin-token`` for the CLI and test harnesses."""
    if config.admin_token:
        return config.admin_token
    import secrets

    return secrets.token_urlsafe(24)


def keep_admin_token(config: Config, token: str) -> None:
    """Write a generated token to ``<data dir>/admin-token`` (owner-only). Called once the store is
    open, so a second server refused the same data dir cannot replace the running one's token."""
    path = os.path.join(config.data_dir, "admin-token")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)


def describe_data(config: Config) -> str:
    """One line saying where this server's state lives and whether it is new: the data dir is
    relative to the current directory, and a server started from another folder opens an empty one."""
    data_dir = os.path.abspath(config.data_dir)
    store = config.store
    if store == "sqlite" or store.startswith("sqlite:"):
        path = store[len("sqlite:///"):] if store.startswith("sqlite:///") else os.path.join(data_dir, "tsunagi.db")
        state = "existing" if os.path.exists(path) else "new"
        return f"data: {data_dir} (SQLite store {os.path.abspath(path)}, {state})"
    if store == ":memory:":
        return f"data: {data_dir} (in-memory store: nothing is kept after the server stops)"
    from urllib.parse import urlsplit

    p = urlsplit(store)
    return f"data: {data_dir} (PostgreSQL store {p.scheme}://{p.hostname or ''}:{p.port or 5432}{p.path})"


def build(config: Config, clock: Clock | None = None) -> Gateway:
    store, generated = _prepare(config)
    return _gateway(config, store, generated, clock)


def _prepare(config: Config) -> tuple[Store, bool]:
    """The data dir, the admin token and the store (not opened yet); whether the token was generated."""
    config.validate()
    os.makedirs(config.data_dir, exist_ok=True)
    generated = config.internal_api and not config.admin_token
    if config.internal_api:
        config.admin_token = admin_token(config)
    store = open_store(config.store, config.data_dir, synchronous=config.sqlite_synchronous,
                       cache_mb=config.sqlite_cache_mb, direct_url=config.store_direct)
    return store, generated


def _gateway(config: Config, store: Store, generated: bool, clock: Clock | None = None) -> Gateway:
    from tsunagi.gateway.app import Gateway

    # services load when first needed on a new store (a test suite's server answers its first request
    # without importing the ten it does not use yet); on a store with state, all of them at the start
    platform = assemble(config, store, clock, lazy=True)

    async def start() -> None:
        await platform.start()
        if generated:
            keep_admin_token(config, config.admin_token)

    return Gateway(platform, on_startup=start, on_shutdown=platform.stop)


# How long after the port opened a new store's server starts building its gateway when no request came.
BUILD_DELAY_S = 0.02


class _Starting:
    """What ``tsunagi serve`` serves first. It opens the store; on a store with state it builds the gateway
    (every service started) before the port opens, as ever. On a new store (a test suite's server) the
    port opens first and the gateway (the request chain, botocore's models, the pipes) is built right
    after, so its imports overlap with the client's own start: the health check answers ready at once,
    and any other request waits for the build, then goes to the gateway, which takes this one's place."""

    def __init__(self, config: Config, store: Store, generated: bool, *, told: bool = False) -> None:
        self.config = config
        self.store = store
        self.generated = generated
        # the starting process learns that the port is open from a ready line (--ready-fd), not from a
        # health check: no check is on its way, so the build begins at once
        self.told = told
        self.body_timeout = config.body_timeout
        self.failed = False
        self.gateway: Gateway | None = None
        self._server: httpserver.HttpServer | None = None
        self._build: asyncio.Task[None] | None = None
        self._started_at = time.time()

    def attach(self, server: httpserver.HttpServer) -> None:
        self._server = server

    async def startup(self) -> None:
        await self.store.open()
        if self.generated:      # the store is this server's now: the token is there before the port opens
            keep_admin_token(self.config, self.config.admin_token)
        if not self.store.fresh:
            await self._built()
        elif self._server is not None:
            # the build freezes what it made (and what the start made before it, see _built): no full
            # collection before the port opens, which would only delay it
            self._server.freeze_gc = False

    def listening(self) -> None:
        if self.gateway is None:
            if self.told:
                asyncio.get_running_loop().call_soon(self._begin)
                return
            # the build holds the event loop while it imports: first let a health check that is on its
            # way be answered (a harness polling every few milliseconds), then build
            asyncio.get_running_loop().call_later(BUILD_DELAY_S, self._begin)

    def _begin(self) -> None:
        if self.gateway is None and self._build is None:
            self._build = asyncio.get_running_loop().create_task(self._build_now(), name="tsunagi-build")

    async def _build_now(self) -> None:
        gc.disable()        # as for the start before the port opened (tsunagi.cli)
        try:
            await self._built()
        except Exception as e:
            self.failed = True
            log.error("tsunagi failed to start: %s", e, exc_info=not isinstance(e, ValueError))
            if self._server is not None:
                self._server.request_stop()
        finally:
            gc.enable()

    async def _built(self) -> None:
        gateway = _gateway(self.config, self.store, self.generated)
        await gateway.startup()
        gc.freeze()         # what the build made lives as long as the process (see HttpServer.serve)
        self.gateway = gateway
        if self._server is not None:
            self._server.replace_gateway(gateway)

    async def handle(self, request: HttpRequest, request_id: str, source_ip: str = "127.0.0.1",
                     body: BodySource | None = None) -> HttpResponse:
        if self.gateway is None:
            if request.path == "/_tsunagi/health" and request.method in ("GET", "HEAD"):
                asyncio.get_running_loop().call_soon(self._begin)   # once this answer is on its way
                return self._health()
            self._begin()
            if self._build is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._build)
            if self.gateway is None:
                import orjson

                return HttpResponse(503, [("content-type", "application/json")], orjson.dumps(
                    {"__type": "ServiceUnavailable", "message": "tsunagi failed to start: see its log"}))
        return await self.gateway.handle(request, request_id, source_ip, body)

    def _health(self) -> HttpResponse:
        import orjson

        from tsunagi import __version__
        from tsunagi.services.registry import SERVICES

        body = {"status": "ready", "version": __version__,
                "services": {name: "loads on first use" for name in sorted(SERVICES)},
                "store": self.store.describe(), "uptime_seconds": round(time.time() - self._started_at, 3)}
        return HttpResponse(200, [("content-type", "application/json")], orjson.dumps(body))

    async def shutdown(self) -> None:
        if self._build is not None and not self._build.done():
            self._build.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._build
        if self.gateway is not None:
            await self.gateway.shutdown()
        else:
            await self.store.close()


def serve(config: Config, *, exit_with_parent: bool = False, ready_fd: int | None = None) -> int:
    """Serve until SIGTERM/SIGINT (which drain requests in flight), or with ``exit_with_parent`` until
    standard input reaches end of file (the process that started the server holds a pipe's other end
    and has exited, even by SIGKILL); 0 on a clean stop, 1 if it never started. With ``ready_fd``, a
    line (``ready <url>``) is written to that file descriptor once the port accepts connections, and
    it is closed."""
    if ready_fd is not None:
        # only this process holds it: nothing it starts (function workers, tasks) keeps the pipe open
        with contextlib.suppress(OSError):
            os.set_inheritable(ready_fd, False)
    log.info("%s", describe_data(config))
    try:
        store, generated = _prepare(config)
    finally:
        gc.enable()     # the command turned collections off for the start (tsunagi.cli)
    app = _Starting(config, store, generated, told=ready_fd is not None)
    if config.internal_api:
        log.info("internal endpoints (/_tsunagi/reset, the mailbox, delivery records) need the header "
                 "X-Tsunagi-Token: %s (also in %s)", config.admin_token, os.path.join(config.data_dir, "admin-token"))
    marker = os.path.join(config.data_dir, ENDPOINT_FILE)
    host = "localhost" if config.host in ("0.0.0.0", "::", "127.0.0.1", "") else config.host
    written = False

    def listening() -> None:            # how `tsunagi logs` / `tsunagi mail` run here find this server
        nonlocal written
        with contextlib.suppress(OSError), open(marker, "w") as f:
            f.write(f"http://{host}:{config.port}\n")
            written = True
        app.listening()
        if ready_fd is not None:
            _tell_ready(ready_fd, f"ready http://{host}:{config.port}\n")

    try:
        started = httpserver.serve(app, config.host, config.port, config.max_connections,  # type: ignore[arg-type]
                                   listening, watch_fd=0 if exit_with_parent else None, on_server=app.attach)
        return 0 if started and not app.failed else 1
    finally:
        if written:
            with contextlib.suppress(OSError):
                os.unlink(marker)


def _tell_ready(fd: int, line: str) -> None:
    """Write ``line`` to ``fd`` and close it (the process that waits on it may have gone: no matter)."""
    try:
        os.write(fd, line.encode())
    except OSError as e:
        log.warning("could not write the ready line to file descriptor %d: %s", fd, e)
    with contextlib.suppress(OSError):
        os.close(fd)

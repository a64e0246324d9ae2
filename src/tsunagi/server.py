"""Build and run the server: platform (store, clock, services) behind the gateway, on uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterator

import uvicorn

from tsunagi.clock import Clock
from tsunagi.config import Config
from tsunagi.gateway.app import Gateway
from tsunagi.gateway.limits import BoundedHttpToolsProtocol
from tsunagi.services.base import Platform
from tsunagi.services.registry import load_services
from tsunagi.store.base import open_store

log = logging.getLogger("tsunagi")


def build(config: Config, clock: Clock | None = None) -> Gateway:
    config.validate()
    os.makedirs(config.data_dir, exist_ok=True)
    store = open_store(config.store, config.data_dir, synchronous=config.sqlite_synchronous)
    platform = Platform(config, store, clock or Clock())
    load_services(platform)
    return Gateway(platform, on_startup=platform.start, on_shutdown=platform.stop)


class _Server(uvicorn.Server):
    """uvicorn's server with our own signal handling: the first SIGTERM/SIGINT drains in-flight
    requests and exits 0 (uvicorn would re-raise the signal, exiting -15); a second SIGINT forces."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()

        def stop(sig: int) -> None:
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True
            log.info("received %s; draining requests in flight", signal.Signals(sig).name)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop, sig)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


def serve(config: Config) -> int:
    """Serve until SIGTERM/SIGINT. tsunagi's own HTTP server by default; ``TSUNAGI_HTTP_SERVER=uvicorn``
    hosts the same gateway on uvicorn instead (an ASGI server, for comparison and as a fallback)."""
    app = build(config)
    log.info("store: %s", app.platform.store.describe()["kind"])
    if os.environ.get("TSUNAGI_HTTP_SERVER", "tsunagi") == "uvicorn":
        return _serve_uvicorn(app, config)
    from tsunagi.gateway import httpserver

    return 0 if httpserver.serve(app, config.host, config.port) else 1


def _serve_uvicorn(app: Gateway, config: Config) -> int:
    try:
        import uvloop

        runner = uvloop.run
        loop = "uvloop"
    except ImportError:  # pragma: no cover - platforms without uvloop
        runner = asyncio.run
        loop = "asyncio"
    uv_config = uvicorn.Config(
        app, host=config.host, port=config.port, loop=loop, http=BoundedHttpToolsProtocol, lifespan="on",
        access_log=False, log_level=config.log_level, timeout_graceful_shutdown=10,
        timeout_keep_alive=75, server_header=False, date_header=True, backlog=2048,
    )
    server = _Server(uv_config)
    runner(server.serve())
    return 0 if server.started else 1

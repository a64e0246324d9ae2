"""Build and run the server: platform (store, clock, services) behind the gateway, on uvicorn."""

from __future__ import annotations

import asyncio
import logging
import os

from tsunagi.clock import Clock
from tsunagi.config import Config
from tsunagi.gateway.app import Gateway
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


def serve(config: Config) -> int:
    import uvicorn

    app = build(config)
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    uv_config = uvicorn.Config(
        app, host=config.host, port=config.port, loop=loop, http="httptools", lifespan="on",
        access_log=False, log_level=config.log_level, timeout_graceful_shutdown=10,
        timeout_keep_alive=75, server_header=False, date_header=True, backlog=2048,
    )
    server = uvicorn.Server(uv_config)
    log.info("tsunagi serving on http://%s:%d (store: %s)", config.host, config.port,
             app.platform.store.describe()["kind"])
    if loop == "asyncio":
        asyncio.run(server.serve())
    else:
        _run_uvloop(server)
    return 0 if server.started else 1


def _run_uvloop(server) -> None:  # type: ignore[no-untyped-def]
    import uvloop

    uvloop.run(server.serve())

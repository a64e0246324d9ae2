"""Build and run the server: platform (store, clock, services) behind the gateway, on tsunagi's
own HTTP server (:mod:`tsunagi.gateway.httpserver`). The gateway is also an ASGI application, so an
ASGI server can host ``build(config)`` instead."""

from __future__ import annotations

import gc
import logging
import os
import secrets

from tsunagi.clock import Clock
from tsunagi.config import Config
from tsunagi.gateway import httpserver
from tsunagi.gateway.app import Gateway
from tsunagi.pipes import install as install_pipes
from tsunagi.services.base import Platform
from tsunagi.services.registry import load_services
from tsunagi.store.base import Store, open_store

log = logging.getLogger("tsunagi")


def assemble(config: Config, store: Store, clock: Clock | None = None, services: list[str] | None = None) -> Platform:
    """The platform with its pipes (the outbox, pollers) and services, wired together: the one place
    where services, pipes and ports meet. ``services`` limits which are loaded (tests)."""
    platform = Platform(config, store, clock or Clock())
    install_pipes(platform)
    load_services(platform, services)
    return platform


def admin_token(config: Config) -> str:
    """The token tsunagi's internal endpoints require: the configured one, or a new one kept in
    ``<data dir>/admin-token`` (owner-only) for the CLI and test harnesses to read."""
    if config.admin_token:
        return config.admin_token
    token = secrets.token_urlsafe(24)
    path = os.path.join(config.data_dir, "admin-token")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return token


def build(config: Config, clock: Clock | None = None) -> Gateway:
    config.validate()
    os.makedirs(config.data_dir, exist_ok=True)
    if config.internal_api:
        config.admin_token = admin_token(config)
    store = open_store(config.store, config.data_dir, synchronous=config.sqlite_synchronous,
                       cache_mb=config.sqlite_cache_mb)
    platform = assemble(config, store, clock)
    return Gateway(platform, on_startup=platform.start, on_shutdown=platform.stop)


def serve(config: Config) -> int:
    """Serve until SIGTERM/SIGINT (which drain requests in flight); 0 on a clean stop, 1 if it never started."""
    try:
        app = build(config)
    finally:
        gc.enable()     # the command turned collections off for the start (tsunagi.cli)
    log.info("store: %s", app.platform.store.describe()["kind"])
    if config.internal_api:
        log.info("internal endpoints (/_tsunagi/reset, the mailbox, delivery records) need the header "
                 "X-Tsunagi-Token: %s (also in %s)", config.admin_token, os.path.join(config.data_dir, "admin-token"))
    return 0 if httpserver.serve(app, config.host, config.port, config.max_connections) else 1

"""Build and run the server: platform (store, clock, services) behind the gateway, on tsunagi's
own HTTP server (:mod:`tsunagi.gateway.httpserver`). The gateway is also an ASGI application, so an
ASGI server can host ``build(config)`` instead."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import secrets

from tsunagi.clock import Clock
from tsunagi.commands import ENDPOINT_FILE
from tsunagi.config import Config
from tsunagi.gateway import httpserver
from tsunagi.gateway.app import Gateway
from tsunagi.pipes import install as install_pipes
from tsunagi.services.base import Platform
from tsunagi.services.registry import load_services
from tsunagi.store.base import Store, open_store

log = logging.getLogger("tsunagi")


def assemble(config: Config, store: Store, clock: Clock | None = None, services: list[str] | None = None,
             *, lazy: bool = False) -> Platform:
    """The platform with its pipes (the outbox, pollers) and services, wired together: the one place
    where services, pipes and ports meet. ``services`` limits which are served (tests); with ``lazy``
    each is loaded when first needed (see :meth:`Platform.start`)."""
    platform = Platform(config, store, clock or Clock())
    install_pipes(platform)
    load_services(platform, services, lazy=lazy)
    return platform


def admin_token(config: Config) -> str:
    """The token tsunagi's internal endpoints require: the configured one, or a new one, which
    :func:`keep_admin_token` writes to ``<data dir>/admin-token`` for the CLI and test harnesses."""
    return config.admin_token or secrets.token_urlsafe(24)


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
    config.validate()
    os.makedirs(config.data_dir, exist_ok=True)
    generated = config.internal_api and not config.admin_token
    if config.internal_api:
        config.admin_token = admin_token(config)
    store = open_store(config.store, config.data_dir, synchronous=config.sqlite_synchronous,
                       cache_mb=config.sqlite_cache_mb)
    # services load when first needed on a new store (a test suite's server answers its first request
    # without importing the ten it does not use yet); on a store with state, all of them at the start
    platform = assemble(config, store, clock, lazy=True)

    async def start() -> None:
        await platform.start()
        if generated:
            keep_admin_token(config, config.admin_token)

    return Gateway(platform, on_startup=start, on_shutdown=platform.stop)


def serve(config: Config, *, exit_with_parent: bool = False) -> int:
    """Serve until SIGTERM/SIGINT (which drain requests in flight), or with ``exit_with_parent`` until
    standard input reaches end of file (the process that started the server holds a pipe's other end
    and has exited, even by SIGKILL); 0 on a clean stop, 1 if it never started."""
    log.info("%s", describe_data(config))
    try:
        app = build(config)
    finally:
        gc.enable()     # the command turned collections off for the start (tsunagi.cli)
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

    try:
        return 0 if httpserver.serve(app, config.host, config.port, config.max_connections, listening,
                                     watch_fd=0 if exit_with_parent else None) else 1
    finally:
        if written:
            with contextlib.suppress(OSError):
                os.unlink(marker)

"""Subcommands of `tsunagi` that talk to a running server."""

from __future__ import annotations

import argparse
import os

DEFAULT_ENDPOINT = "http://localhost:4566"
ENDPOINT_FILE = "endpoint"


def endpoint(args: argparse.Namespace) -> str:
    """The server a command talks to: ``--endpoint-url``, else ``$AWS_ENDPOINT_URL``, else the server
    serving the data dir (``--data-dir``, ``$TSUNAGI_DATA_DIR`` or ``./.tsunagi``: it writes its URL
    there while it runs), else ``http://localhost:4566``."""
    given = getattr(args, "endpoint_url", None) or os.environ.get("AWS_ENDPOINT_URL")
    if given:
        return str(given).rstrip("/")
    data_dir = getattr(args, "data_dir", None)
    if not data_dir:
        from tsunagi.config import Config

        data_dir = Config().data_dir
    try:
        with open(os.path.join(data_dir, ENDPOINT_FILE)) as f:
            found = f.read().strip()
    except OSError:
        found = ""
    return (found or DEFAULT_ENDPOINT).rstrip("/")


def unreachable_hint(url: str) -> str:
    """What to say when nothing answers at ``url``."""
    return (f"no tsunagi server answers at {url}; start one with `tsunagi serve` (or `make run`), or point "
            "this command at yours with --endpoint-url or AWS_ENDPOINT_URL")

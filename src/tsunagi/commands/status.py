"""``tsunagi status``: which server runs here, on which address, with which store, and where its data is."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

HELP = "show the tsunagi server running here: address, store, services, data dir"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=None,
                        help="the server's data dir (default: $TSUNAGI_DATA_DIR or ./.tsunagi; a running server "
                             "writes its address there)")
    parser.add_argument("--json", action="store_true", help="print the server's health report as JSON")


def health(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"{url}/_tsunagi/health", timeout=5) as r:
            return dict(json.loads(r.read()))
    except urllib.error.HTTPError as e:     # 503 while starting: the body still says what it is
        return dict(json.loads(e.read() or b"{}"))


def run(args: argparse.Namespace) -> int:
    from tsunagi.commands import endpoint, unreachable_hint
    from tsunagi.config import Config

    data_dir = os.path.abspath(args.data_dir or Config().data_dir)
    url = endpoint(args)
    try:
        report = health(url)
    except (OSError, ValueError) as e:
        print(f"tsunagi status: {unreachable_hint(url)} ({getattr(e, 'reason', e)})", file=sys.stderr)
        print(f"data dir here: {data_dir}" + ("" if os.path.isdir(data_dir) else " (does not exist yet)"),
              file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"endpoint": url, **report}, indent=2))
        return 0
    store = report.get("store", {})
    where = store.get("path") or store.get("url") or ""
    print(f"tsunagi {report.get('version', '?')} at {url}: {report.get('status', '?')}, "
          f"up {float(report.get('uptime_seconds', 0)):.0f} s")
    print(f"store:    {store.get('kind', '?')} {where}")
    print(f"services: {', '.join(report.get('services', {}))}")
    served_here = os.path.isfile(os.path.join(data_dir, "endpoint"))
    print(f"data dir: {data_dir}" + ("" if served_here else " (not this server's: it was found by its address)"))
    return 0

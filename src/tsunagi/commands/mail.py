"""``tsunagi mail [ADDRESS]``: the local mailbox of SNS e-mail, SMS and mobile push deliveries.

When no SMTP server is configured (``TSUNAGI_SMTP_URL``), tsunagi keeps every message an
``email``/``email-json`` subscription receives, and every subscription-confirmation e-mail, in its
store; texts (``sms`` subscriptions, Publish to a PhoneNumber, the SMS sandbox's one-time passwords)
and push notifications (platform endpoints, addressed to the endpoint ARN) always go there. This
command reads them from the server at ``--endpoint-url`` through ``GET /_tsunagi/sns/mail`` (JSON;
``?to=`` filters by recipient, ``?kind=`` by kind: ``email``, ``email-json``, ``sms``, ``push``;
``?after=`` pages by id).
A confirmation shows its SubscribeURL; ``--confirm`` visits the URLs shown (the same as clicking
the link in the e-mail), which confirms those subscriptions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

HELP = "read the local mailbox of SNS e-mail/SMS/push deliveries (and confirm subscriptions)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", nargs="?", default=None,
                        help="only messages to this address, phone number or platform endpoint ARN")
    parser.add_argument("--kind", choices=("email", "email-json", "sms", "push"), default=None,
                        help="only messages of this kind (push: mobile push notifications)")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new messages (Ctrl-C to stop)")
    parser.add_argument("--confirm", action="store_true",
                        help="visit the SubscribeURL of every confirmation shown (confirms the subscriptions)")
    parser.add_argument("--short", action="store_true", help="one line per message, without the body")
    parser.add_argument("--json", action="store_true", help="print the messages as JSON lines")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls with --follow")
    parser.add_argument("--data-dir", default=None,
                        help="the server's data dir, where its admin token is (default: $TSUNAGI_DATA_DIR or "
                             "./.tsunagi); $TSUNAGI_ADMIN_TOKEN wins")


def admin_token(args: argparse.Namespace) -> str:
    """The server's admin token: $TSUNAGI_ADMIN_TOKEN, else the one the server wrote to its data dir."""
    from tsunagi.config import Config

    config = Config()
    if config.admin_token:
        return config.admin_token
    path = os.path.join(args.data_dir or config.data_dir, "admin-token")
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _endpoint(args: argparse.Namespace) -> str:
    from tsunagi.commands import endpoint

    return endpoint(args)


def fetch(endpoint: str, address: str | None, after: int, token: str, limit: int = 500,
          kind: str | None = None) -> list[dict[str, Any]]:
    query = {"after": str(after), "limit": str(limit)}
    if address:
        query["to"] = address
    if kind:
        query["kind"] = kind
    request = urllib.request.Request(f"{endpoint}/_tsunagi/sns/mail?{urllib.parse.urlencode(query)}",
                                     headers={"X-Tsunagi-Token": token})
    with urllib.request.urlopen(request, timeout=10) as r:
        return list(json.loads(r.read())["Messages"])


def render(m: dict[str, Any], short: bool) -> str:
    when = datetime.fromtimestamp(m["Time"] / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    head = f"#{m['Id']} {when} [{m['Kind']}] to {m['To']} from {m['From']}"
    if m.get("Subject"):
        head += f": {m['Subject']}"
    if short:
        return head
    lines = [head, ""] + [f"    {line}" for line in m["Body"].splitlines()]
    if m.get("SubscribeURL") and m["SubscribeURL"] != "direct":
        lines += ["", f"    confirm with: tsunagi mail --confirm {m['To']}   (or open {m['SubscribeURL']})"]
    return "\n".join(lines) + "\n"


def confirm(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            r.read()
            return "confirmed"
    except urllib.error.HTTPError as e:
        return f"failed: HTTP {e.code} {e.read()[:200].decode(errors='replace')}"
    except OSError as e:
        return f"failed: {e}"


def run(args: argparse.Namespace) -> int:
    endpoint = _endpoint(args)
    token = admin_token(args)
    after = 0
    try:
        while True:
            try:
                batch = fetch(endpoint, args.address, after, token, kind=args.kind)
            except urllib.error.HTTPError as e:
                why = ("the server wants its admin token: run this where the server's data dir is, or pass "
                       "--data-dir or TSUNAGI_ADMIN_TOKEN") if e.code == 403 else f"HTTP {e.code}"
                print(f"tsunagi mail: cannot read the mailbox at {endpoint}: {why}", file=sys.stderr)
                return 1
            except urllib.error.URLError as e:
                from tsunagi.commands import unreachable_hint

                print(f"tsunagi mail: {unreachable_hint(endpoint)} ({e.reason})", file=sys.stderr)
                return 1
            except (OSError, ValueError) as e:
                print(f"tsunagi mail: cannot read the mailbox at {endpoint}: {e}", file=sys.stderr)
                return 1
            for m in batch:
                after = max(after, int(m["Id"]))
                print(json.dumps(m, ensure_ascii=False) if args.json else render(m, args.short))
                url = m.get("SubscribeURL")
                if args.confirm and url and url != "direct":
                    print(f"    {m['To']}: {confirm(url)}")
            if not args.follow:
                if after == 0 and not args.json:
                    print("(no messages)" + (f" for {args.address}" if args.address else ""))
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0

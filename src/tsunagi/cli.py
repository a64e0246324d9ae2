"""The ``tsunagi`` command: ``tsunagi serve`` runs the server; other subcommands talk to one."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from tsunagi import __version__

DESCRIPTION = """\
tsunagi: a self-hosted, AWS-compatible event platform. SQS, SNS, Lambda, S3 and more in one
process on one port; unmodified boto3 code and aws CLI commands work with only the endpoint changed.

  tsunagi serve                       serve on http://127.0.0.1:4566, data in ./.tsunagi (SQLite)
  tsunagi serve --store postgresql://postgres@127.0.0.1:5432/tsunagi
                                      keep state in PostgreSQL (several servers may share it)

  tsunagi serve --port 4567           another port (with make: make run ARGS="--port 4567")

then, from any shell:
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
  aws --endpoint-url http://localhost:4566 sqs create-queue --queue-name jobs
  tsunagi logs <function> --follow    (logs and mail find the server started from this folder)
"""


SERVE_EPILOG = """\
more settings, as environment variables:
  TSUNAGI_ADMIN_TOKEN               the token /_tsunagi/reset, the mailbox and delivery records require in the
                                    X-Tsunagi-Token header (default: a new one each start, printed and kept in
                                    <data dir>/admin-token)
  TSUNAGI_INTERNAL_API=off          do not serve those internal endpoints at all
  TSUNAGI_MAX_BODY_BYTES            largest request body read whole (default 16 MiB; S3 uploads stream, up to 5 GiB)
  TSUNAGI_BODY_TIMEOUT              seconds a client may stall mid-body before RequestTimeout (default 20)
  TSUNAGI_MAX_CONNECTIONS           client connections held at once (default: half the file descriptors
                                    the process may open); idle ones are closed early under pressure
  TSUNAGI_LAMBDA_MAX_WORKERS        most function worker processes at once on this server (default 1000)
  TSUNAGI_LAMBDA_IDLE_TIMEOUT       seconds an idle warm worker is kept (default 600)
  TSUNAGI_ESM_MAX_CONCURRENCY       most concurrent batches per event source mapping on this server
                                    (default 4 x CPUs)
  TSUNAGI_ASYNC_RETRY_BASE_SECONDS  first retry delay of failed asynchronous invocations (default 60)
  TSUNAGI_SMTP_URL                  smtp://[user:pass@]host:port to send SNS e-mail for real instead of
                                    to the local mailbox (`tsunagi mail`)
  TSUNAGI_SNS_HTTPS_INSECURE=1      do not verify TLS certificates of https subscription endpoints
  TSUNAGI_SNS_SMS_SANDBOX=1         accounts are in the SMS sandbox: texts only to verified numbers
  TSUNAGI_DELIVERY_RECORD_HOURS     how long SNS keeps its record of each delivery (default 24)
  TSUNAGI_SNS_SIGNING_PROCESSES     child processes that sign SNS notifications (default: one per CPU
                                    beyond the first, 1 to 4; 0 signs on threads in the server)
  TSUNAGI_SQLITE_CACHE_MB           memory SQLite may use to cache the database (default 64); the
                                    server's memory grows with the data until this is full
  TSUNAGI_ECS_IMAGES                NAME[:TAG]=DIR,... : ECS container images run as host processes in DIR
                                    (as --ecs-image); an image mapped nowhere stops its task with
                                    CannotPullContainerError
  TSUNAGI_ECS_NODE_TIMEOUT          seconds a server's ECS tasks may go without its heartbeat before another
                                    server on the same PostgreSQL database stops them and takes its ECS
                                    services over (default 60)
  TSUNAGI_MASTER_KEY                base64 of 32 bytes that seals KMS key material, IAM access key secrets
                                    and STS session credentials at rest (make one with
                                    `head -c 32 /dev/urandom | base64`); unset, a key is created in
                                    <data-dir>/kms-master.key (mode 0600). Servers sharing a PostgreSQL
                                    database must all be given the same TSUNAGI_MASTER_KEY; a server
                                    with another key refuses to start rather than fail every KMS call

endpoints besides the AWS APIs:
  GET  /_tsunagi/health             200 with the services and the store once ready
  POST /_tsunagi/reset              wipe all state (test suites call it between tests; needs X-Tsunagi-Token)
"""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each flag, and the epilog kept as written."""


def _defaults(argv: list[str]) -> tuple[object, dict[str, str]]:
    """The configuration flags start from (settings file and environment) and where each value came
    from; the file is ``--config`` when ``argv`` names one."""
    from tsunagi.config import load_config

    file = None
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            file = argv[i + 1]
        elif arg.startswith("--config="):
            file = arg.split("=", 1)[1]
    try:
        return load_config(file)
    except ValueError as e:
        raise SystemExit(f"tsunagi: {e}") from None


def _add_serve_flags(p: argparse.ArgumentParser, d: Any) -> None:
    p.add_argument("--config", default=None, metavar="FILE",
                   help="a TOML settings file (settings by name, e.g. port = 4567); flags and TSUNAGI_* variables "
                        "win over it (default: $TSUNAGI_CONFIG, else ./tsunagi.toml when it exists)")
    p.add_argument("--host", default=d.host, help="address to bind (env TSUNAGI_HOST)")
    p.add_argument("--port", type=int, default=d.port, help="port to bind (env TSUNAGI_PORT)")
    p.add_argument("--data-dir", default=d.data_dir,
                   help="where the SQLite file and other data live (env TSUNAGI_DATA_DIR)")
    p.add_argument("--store", default=d.store,
                   help="'sqlite' (a file in the data dir), 'sqlite:///path.db', ':memory:' (tests only) or "
                        "'postgresql://user@host:port/db' (env TSUNAGI_STORE)")
    p.add_argument("--sqlite-synchronous", default=d.sqlite_synchronous, choices=["normal", "full"],
                   help="normal: commits survive a crash of tsunagi; full: they also survive a power loss, "
                        "at a cost in throughput (env TSUNAGI_SQLITE_SYNCHRONOUS)")
    p.add_argument("--default-account", default=d.default_account,
                   help="account for access keys that are not 12 digits (env TSUNAGI_DEFAULT_ACCOUNT)")
    p.add_argument("--default-region", default=d.default_region,
                   help="region for requests that do not name one (env TSUNAGI_DEFAULT_REGION)")
    p.add_argument("--auth", default=d.auth, choices=["open", "off", "strict"],
                   help="open (or off): any credentials are accepted; strict: every request's SigV4 signature is "
                        "verified against the root key pair (env TSUNAGI_ACCESS_KEY_ID / TSUNAGI_SECRET_ACCESS_KEY, "
                        "default test / test) and IAM's access keys (env TSUNAGI_AUTH)")
    p.add_argument("--hostname", action="append", default=None, metavar="NAME",
                   help="a host name this server answers besides loopback addresses and *.localhost; repeat "
                        "for more ('*.example.test' for subdomains) (env TSUNAGI_HOSTNAMES, comma-separated)")
    p.add_argument("--public-url", default=d.public_url, metavar="URL",
                   help="the URL subscribers reach this server at: SNS's SubscribeURL, UnsubscribeURL and "
                        "SigningCertURL start with it (default: the bound address) (env TSUNAGI_PUBLIC_URL)")
    p.add_argument("--ecs-image", action="append", default=None, metavar="NAME[:TAG]=DIR",
                   help="run ECS containers of image NAME[:TAG] as host processes in DIR (no Docker); repeat "
                        "for more (env TSUNAGI_ECS_IMAGES, comma-separated)")
    p.add_argument("--log-level", default=d.log_level, choices=["debug", "info", "warning", "error"],
                   help="(env TSUNAGI_LOG_LEVEL)")
    p.add_argument("--log-format", default=d.log_format, choices=["text", "json"],
                   help="text: a readable line per record; json: one JSON object per line (env TSUNAGI_LOG_FORMAT)")
    p.add_argument("--policies", default=d.policies,
                   help="off: policies are stored, not checked; warn (default): a call a policy denies goes on "
                        "and the denial is logged; enforce: denied as AWS would (env TSUNAGI_POLICIES)")


def _serve_parser(sub: argparse._SubParsersAction, defaults: Any) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the server", description="Run the tsunagi server on one port for every service.",
                       formatter_class=_HelpFormatter, epilog=SERVE_EPILOG)
    _add_serve_flags(p, defaults)
    p.add_argument("--exit-with-parent", action="store_true",
                   help="stop (as on SIGTERM) when standard input reaches end of file: start the server with "
                        "its stdin a pipe and keep the write end open; when the starting process exits, even "
                        "killed, the pipe closes and the server stops (tsunagi.testing does this)")
    p.add_argument("--ready-fd", type=int, default=None, metavar="FD",
                   help="once the port accepts connections, write a line to the inherited file descriptor FD "
                        "(the write end of a pipe) and close it: the starting process waits on the pipe instead "
                        "of polling /_tsunagi/health, and reads end of file without that line if the server "
                        "exits first (tsunagi.testing does this)")
    c = sub.add_parser("config", help="show the effective configuration and where each value comes from",
                       description="Show the configuration `tsunagi serve` would run with, given the same flags, "
                                   "environment and settings file: each setting, its value, and where it came from "
                                   "(flag, TSUNAGI_* variable, settings file, or default). Secrets show only "
                                   "whether they are set.", formatter_class=_HelpFormatter)
    _add_serve_flags(c, defaults)
    c.add_argument("--json", action="store_true", help="print it as JSON")


# Flags whose value is not the setting of the same name.
_FLAG_SETTINGS = {"hostname": "hostnames", "ecs_image": "ecs_images"}


def _given_flags(argv: list[str], parser_actions: list[argparse.Action]) -> set[str]:
    """The settings (by dest) the command line sets explicitly."""
    given: set[str] = set()
    words = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    for action in parser_actions:
        if any(opt in words for opt in action.option_strings):
            given.add(_FLAG_SETTINGS.get(action.dest, action.dest))
    return given


def _configure(args: argparse.Namespace, defaults: Any, sources: dict[str, str],
               given: set[str]) -> tuple[Any, dict[str, str]]:
    """The configuration: settings file and environment (``defaults``), then the flags given."""
    from tsunagi.config import parse_images

    config = defaults
    for name in ("host", "port", "data_dir", "store", "sqlite_synchronous", "default_account", "default_region",
                 "auth", "log_level", "log_format", "policies"):
        setattr(config, name, getattr(args, name))
    config.public_url = str(args.public_url or "").strip().rstrip("/")
    config.auth = str(config.auth).strip().lower()
    config.policies = str(args.policies).strip().lower()
    if args.hostname:
        config.hostnames = [*config.hostnames, *args.hostname]
    if args.ecs_image:
        config.ecs_images = {**config.ecs_images, **parse_images(args.ecs_image)}
    sources = dict(sources)
    for name in given:
        if name in sources:
            sources[name] = "flag"
    return config, sources


# Subcommands that talk to a running server live in tsunagi/commands/<name>.py, each with
# ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``. Listed here; missing modules are skipped.
COMMANDS = ("logs", "mail", "status")


def _command_modules() -> dict[str, object]:
    import importlib

    found: dict[str, object] = {}
    for name in COMMANDS:
        try:
            found[name] = importlib.import_module(f"tsunagi.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"tsunagi.commands.{name}" and e.name != "tsunagi.commands":
                raise
    return found


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "aws":       # everything after it is the aws CLI's own
        from tsunagi.commands import aws

        return aws.run(argv[1:])
    parser = argparse.ArgumentParser(prog="tsunagi", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"tsunagi {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    first = next((a for a in argv if not a.startswith("-")), None)
    if first in ("serve", "config"):
        defaults, sources = _defaults(argv)
    else:   # the other commands read no settings file: only the data dir, from the environment
        from tsunagi.config import Config

        try:
            defaults, sources = Config(), {}
        except ValueError as e:
            raise SystemExit(f"tsunagi: {e}") from None
    _serve_parser(sub, defaults)
    sub.add_parser("aws", help="run the aws CLI against tsunagi (endpoint, region and test credentials filled in)",
                   description="tsunagi aws ARGS...: the aws CLI with --endpoint-url set to the server running "
                               "here (see `tsunagi status`), and AWS_DEFAULT_REGION / credentials defaulted "
                               "to us-east-1 and test/test when unset.")
    # `serve` needs none of the other commands' modules (mail's pulls in urllib.request: ~15 ms of the start)
    commands = {} if first == "serve" else _command_modules()
    for name, module in commands.items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)  # type: ignore[attr-defined]
        p.add_argument("--endpoint-url", default=None,
                       help="the tsunagi server (default: $AWS_ENDPOINT_URL, else the server running on "
                            "--data-dir / ./.tsunagi, else http://localhost:4566)")
        module.add_arguments(p)  # type: ignore[attr-defined]
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command in ("serve", "config"):
        actions = sub.choices[args.command]._actions
        try:
            config, where = _configure(args, defaults, sources, _given_flags(argv, actions))
            config.validate()
        except ValueError as e:
            print(f"tsunagi: {e}", file=sys.stderr)
            return 2
        if args.command == "config":
            return _show_config(config, where, as_json=args.json)
        return _serve(config, exit_with_parent=args.exit_with_parent, ready_fd=args.ready_fd)
    return int(commands[args.command].run(args))  # type: ignore[attr-defined]


def _show_config(config: Any, sources: dict[str, str], *, as_json: bool) -> int:
    import json

    from tsunagi.config import ENV_NAMES, SECRETS

    rows = []
    for name in ENV_NAMES:
        value = getattr(config, name)
        if name in SECRETS:
            value = "(set)" if value else "(not set)"
        rows.append({"setting": name, "value": value, "source": sources.get(name, "default"),
                     "variable": ENV_NAMES[name]})
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    def shown(value: object) -> str:
        return value if isinstance(value, str) else json.dumps(value)

    width = max(len(str(r["setting"])) for r in rows)
    vwidth = min(48, max(len(shown(r["value"])) for r in rows))
    for r in rows:
        print(f"{r['setting']!s:<{width}}  {shown(r['value']):<{vwidth}}  {r['source']}")
    return 0


class _JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and the traceback, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        import json
        from datetime import UTC, datetime

        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _serve(config: Any, *, exit_with_parent: bool = False, ready_fd: int | None = None) -> int:
    import gc

    # Start-up imports every service and allocates much that lives as long as the process: no cyclic
    # collections until the server is built (~10% of the start's CPU); serve() turns them on again.
    gc.disable()
    from tsunagi.config import ConfigError
    from tsunagi.server import serve
    from tsunagi.store.base import StoreError

    handler = logging.StreamHandler()
    handler.setFormatter(_JsonFormatter() if config.log_format == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, config.log_level.upper()), handlers=[handler])
    try:
        return serve(config, exit_with_parent=exit_with_parent, ready_fd=ready_fd)
    except ConfigError as e:    # found at start-up (a KMS master key that does not open the database's keys)
        print(f"tsunagi: {e}", file=sys.stderr)
        return 2
    except StoreError as e:     # the SQLite file held by another server, PostgreSQL unreachable, ...
        print(f"tsunagi: cannot open the store: {e}", file=sys.stderr)
        return 1
    except OSError as e:        # the port is taken, or the address is not this machine's
        import errno

        if e.errno == errno.EADDRINUSE:
            print(f"tsunagi: port {config.port} on {config.host} is already in use (another tsunagi?); "
                  f"stop it or choose another port with --port", file=sys.stderr)
        else:
            print(f"tsunagi: cannot listen on {config.host}:{config.port}: {e.strerror or e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

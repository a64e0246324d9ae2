"""The ``tsunagi`` command: ``tsunagi serve`` runs the server; other subcommands talk to one."""

from __future__ import annotations

import argparse
import logging
import sys

from tsunagi import __version__

DESCRIPTION = """\
tsunagi: a self-hosted, AWS-compatible event platform. SQS, SNS, Lambda, S3 and more in one
process on one port; unmodified boto3 code and aws CLI commands work with only the endpoint changed.

  tsunagi serve                       serve on http://127.0.0.1:4566, data in ./.tsunagi (SQLite)
  tsunagi serve --store postgresql://postgres@127.0.0.1:5432/tsunagi
                                      keep state in PostgreSQL (several servers may share it)

then, from any shell:
  export AWS_ENDPOINT_URL=http://localhost:4566 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
  aws sqs create-queue --queue-name jobs
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
  TSUNAGI_MASTER_KEY                base64 of 32 bytes that seals KMS key material at rest (make one with
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


def _serve_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from tsunagi.config import Config

    try:
        d = Config()
    except ValueError as e:
        raise SystemExit(f"tsunagi: {e}") from None
    p = sub.add_parser("serve", help="run the server", description="Run the tsunagi server on one port for every service.",
                       formatter_class=_HelpFormatter, epilog=SERVE_EPILOG)
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
    p.add_argument("--log-level", default=d.log_level, choices=["debug", "info", "warning", "error"])
    p.add_argument("--policies", default=d.policies,
                   help="off: policies are stored, not checked; warn (default): a call a policy denies goes on "
                        "and the denial is logged; enforce: denied as AWS would (env TSUNAGI_POLICIES)")


# Subcommands that talk to a running server live in tsunagi/commands/<name>.py, each with
# ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``. Listed here; missing modules are skipped.
COMMANDS = ("logs", "mail")


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
    parser = argparse.ArgumentParser(prog="tsunagi", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"tsunagi {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _serve_parser(sub)
    commands = _command_modules()
    for name, module in commands.items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)  # type: ignore[attr-defined]
        p.add_argument("--endpoint-url", default=None,
                       help="the tsunagi server (default: $AWS_ENDPOINT_URL or http://localhost:4566)")
        module.add_arguments(p)  # type: ignore[attr-defined]
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "serve":
        return _serve(args)
    return int(commands[args.command].run(args))  # type: ignore[attr-defined]


def _botocore_without_crt() -> None:
    """Import botocore as the server uses it: for its service models only. botocore loads awscrt (12 MB
    of C, ~60 ms of the start) for request signing and transfers, which the server never does with
    botocore; told that awscrt is not there, it leaves it (S3's CRC32C and CRC64NVME load it when first
    needed, tsunagi.services.s3.checksums)."""
    if "botocore.compat" in sys.modules:
        return
    saved = sys.modules.get("awscrt.auth")
    sys.modules["awscrt.auth"] = None  # type: ignore[assignment]  # `import awscrt.auth` raises ImportError
    try:
        import botocore.compat  # noqa: F401
    except ImportError:
        pass
    finally:
        if saved is None:
            del sys.modules["awscrt.auth"]
        else:
            sys.modules["awscrt.auth"] = saved


def _serve(args: argparse.Namespace) -> int:
    import gc

    # Start-up imports every service and allocates much that lives as long as the process: no cyclic
    # collections until the server is built (~10% of the start's CPU); serve() turns them on again.
    gc.disable()
    _botocore_without_crt()
    from tsunagi.config import Config, ConfigError, parse_images
    from tsunagi.server import serve

    config = Config(host=args.host, port=args.port, data_dir=args.data_dir, store=args.store,
                    sqlite_synchronous=args.sqlite_synchronous, default_account=args.default_account,
                    default_region=args.default_region, auth=args.auth, log_level=args.log_level,
                    public_url=str(args.public_url or "").strip().rstrip("/"))
    config.policies = str(args.policies).strip().lower()
    if args.hostname:
        config.hostnames = [*config.hostnames, *args.hostname]
    try:
        if args.ecs_image:
            config.ecs_images = {**config.ecs_images, **parse_images(args.ecs_image)}
        config.validate()
    except ValueError as e:
        print(f"tsunagi: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=getattr(logging, args.log_level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return serve(config)
    except ConfigError as e:    # found at start-up (a KMS master key that does not open the database's keys)
        print(f"tsunagi: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

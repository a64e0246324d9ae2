"""``tsunagi logs <function> [--follow | --filter PATTERN | --query QUERY]``: a function's logs in the terminal,
like ``aws logs tail``; or a Logs Insights query's results as a table (``--query``).

It is a plain CloudWatch Logs client (botocore, FilterLogEvents) of the server at
``--endpoint-url``: it prints every stream of the function's log group (its
``LoggingConfig.LogGroup``, ``/aws/lambda/<function>`` unless the function names another) interleaved in time
order, one ``<time> <stream> <message>`` line per event. Given an ECS task's ARN instead, it prints
the task's ``awslogs`` streams (``prefix/container/task-id`` in the group of its task definition). ``--follow`` keeps polling; because a
function's lines can be stored a little after they were printed (a batch per invocation), each
poll looks back a few minutes and skips the events it has printed already.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

HELP = ("print a function's logs (its log group, /aws/lambda/<function> by default), a log group's, or an "
        "ECS task's (its ARN), like `aws logs tail`")

LOOKBACK_MS = 5 * 60 * 1000     # how far back each --follow poll looks for late-arriving events
_SINCE = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("function", help="the function's name, a log group name starting with '/', or an ECS "
                                         "task's ARN (its awslogs streams)")
    parser.add_argument("--stream-prefix", default=None, help="only the log streams whose names start with this")
    parser.add_argument("-f", "--follow", action="store_true",
                        help="keep printing new events until interrupted (Ctrl-C)")
    parser.add_argument("--since", default="10m",
                        help="start this long ago (30s, 10m, 2h, 1d, 1w) or at an ISO 8601 time; default 10m")
    parser.add_argument("--filter", "--filter-pattern", dest="filter_pattern", default=None,
                        help="only events matching this CloudWatch Logs filter pattern (e.g. ERROR, "
                             "'{ $.level = \"ERROR\" }')")
    parser.add_argument("--query", default=None,
                        help="run a Logs Insights query over the group since --since and print its results as a "
                             "table (e.g. 'filter @type = \"REPORT\" | stats avg(@duration) by bin(5m)')")
    parser.add_argument("--region", default=None, help="region (default: $AWS_REGION, $AWS_DEFAULT_REGION "
                                                       "or us-east-1)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls with --follow")
    parser.add_argument("--data-dir", default=None,
                        help="the data dir of the server to read from when no endpoint is given (default: "
                             "$TSUNAGI_DATA_DIR or ./.tsunagi; a running server writes its URL there)")


def parse_since(text: str, now_ms: int) -> int:
    """A start time in ms: a duration before now (``10m``) or an absolute time (ISO 8601 or epoch ms)."""
    text = text.strip()
    m = _SINCE.fullmatch(text)
    if m:
        return now_ms - int(m.group(1)) * _UNIT_MS[m.group(2)]
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"cannot read --since {text!r}: use 30s, 10m, 2h, 1d, 1w or an ISO 8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def group_name(target: str, lambda_client: Any = None) -> str:
    """The log group to read: ``target`` itself when it is a group name, else the group the function's
    LoggingConfig names (``/aws/lambda/<function>`` when it names none, or there is no such function yet)."""
    if target.startswith("/"):
        return target
    if lambda_client is not None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            config = lambda_client.get_function_configuration(FunctionName=target)
        except (ClientError, BotoCoreError):
            config = {}
        group = (config.get("LoggingConfig") or {}).get("LogGroup")
        if group:
            return str(group)
    return f"/aws/lambda/{target}"


def format_event(event: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(event["timestamp"] / 1000, tz=UTC).isoformat(timespec="microseconds")
    return f"{when} {event['logStreamName']} {event['message'].rstrip(chr(10)).rstrip(chr(13))}"


def _client(args: argparse.Namespace, service: str = "logs") -> Any:
    import botocore.session
    from botocore.config import Config

    from tsunagi.commands import endpoint as server_endpoint

    endpoint = server_endpoint(args)
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    session = botocore.session.get_session()
    creds: dict[str, str] = {}
    if session.get_credentials() is None:
        creds = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)
    return session.create_client(service, endpoint_url=endpoint, region_name=region, config=config, **creds)


class _Tail:
    """Fetch events of one group from a start time, printing each event once."""

    def __init__(self, client: Any, group: str, pattern: str | None, *, streams: list[str] | None = None,
                 stream_prefix: str | None = None) -> None:
        self.client = client
        self.group = group
        self.pattern = pattern
        self.streams = streams
        self.stream_prefix = stream_prefix
        self.seen: dict[str, int] = {}      # eventId -> timestamp, for the follow window

    def fetch(self, start_ms: int) -> int:
        """Print the unseen events since ``start_ms``; returns how many."""
        params: dict[str, Any] = {"logGroupName": self.group, "startTime": max(start_ms, 0)}
        if self.pattern:
            params["filterPattern"] = self.pattern
        if self.streams:
            params["logStreamNames"] = self.streams
        elif self.stream_prefix:
            params["logStreamNamePrefix"] = self.stream_prefix
        printed = 0
        while True:
            page = self.client.filter_log_events(**params)
            for event in page.get("events", []):
                if event["eventId"] in self.seen:
                    continue
                self.seen[event["eventId"]] = event["timestamp"]
                print(format_event(event), flush=True)
                printed += 1
            token = page.get("nextToken")
            if not token:
                return printed
            params["nextToken"] = token

    def forget_before(self, ts: int) -> None:
        self.seen = {k: v for k, v in self.seen.items() if v >= ts}


def format_table(rows: list[list[dict[str, str]]]) -> list[str]:
    """Query results as aligned columns (the fields in the order they first appear; @ptr left out)."""
    columns: list[str] = []
    for row in rows:
        for f in row:
            if f["field"] != "@ptr" and f["field"] not in columns:
                columns.append(f["field"])
    table = [columns] + [[{f["field"]: f["value"] for f in row}.get(c, "") for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in table]


def run_query(client: Any, group: str, query: str, start_ms: int, end_ms: int, *, poll: float = 0.2,
              timeout: float = 600.0) -> int:
    """Run a Logs Insights query over ``group`` and print its results; the exit status."""
    from botocore.exceptions import ClientError

    try:
        started = client.start_query(logGroupName=group, queryString=query, startTime=max(start_ms, 0) // 1000,
                                     endTime=end_ms // 1000 + 1)
    except ClientError as e:
        error = e.response.get("Error", {})
        if error.get("Code") == "ResourceNotFoundException":
            print(f"tsunagi logs: log group {group} does not exist (has the function logged anything yet?)",
                  file=sys.stderr)
            return 1
        print(f"tsunagi logs: {error.get('Code')}: {error.get('Message')}", file=sys.stderr)
        return 2 if error.get("Code") == "MalformedQueryException" else 1
    deadline = time.monotonic() + timeout
    while True:
        out = client.get_query_results(queryId=started["queryId"])
        if out["status"] not in ("Scheduled", "Running"):
            break
        if time.monotonic() > deadline:
            client.stop_query(queryId=started["queryId"])
            print("tsunagi logs: the query did not finish in time; stopped it", file=sys.stderr)
            return 1
        time.sleep(poll)
    if out["status"] != "Complete":
        print(f"tsunagi logs: the query ended {out['status']}", file=sys.stderr)
        return 1
    rows = out.get("results", [])
    while out.get("nextToken"):
        out = client.get_query_results(queryId=started["queryId"], nextToken=out["nextToken"])
        rows += out.get("results", [])
    for line in format_table(rows) if rows else []:
        print(line, flush=True)
    stats = out.get("statistics", {})
    print(f"{len(rows)} rows; {int(stats.get('recordsMatched', 0))} of {int(stats.get('recordsScanned', 0))} "
          "records matched", file=sys.stderr)
    return 0


def task_streams(args: argparse.Namespace, task_arn: str) -> tuple[str, list[str]]:
    """An ECS task's awslogs group and streams (``prefix/container/task-id``), from its task definition."""
    ecs = _client(args, "ecs")
    cluster = task_arn.split(":task/", 1)[1].rsplit("/", 1)[0] if task_arn.count("/") >= 2 else "default"
    found = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"]
    if not found:
        raise ValueError(f"no task {task_arn}")
    task_id = task_arn.rsplit("/", 1)[1]
    td = ecs.describe_task_definition(taskDefinition=found[0]["taskDefinitionArn"])["taskDefinition"]
    groups: dict[str, list[str]] = {}
    for c in td["containerDefinitions"]:
        cfg = c.get("logConfiguration") or {}
        options = cfg.get("options") or {}
        if cfg.get("logDriver") == "awslogs" and options.get("awslogs-group"):
            prefix = options.get("awslogs-stream-prefix")
            stream = f"{prefix}/{c['name']}/{task_id}" if prefix else task_id
            groups.setdefault(options["awslogs-group"], []).append(stream)
    if not groups:
        raise ValueError(f"task {task_arn} has no container with an awslogs log configuration")
    group, streams = next(iter(groups.items()))
    return group, streams


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    from tsunagi.commands import endpoint, unreachable_hint

    try:
        start = parse_since(args.since, int(time.time() * 1000))
        streams = None
        if args.function.startswith("arn:aws:ecs:") and ":task/" in args.function:
            group, streams = task_streams(args, args.function)
        else:
            group = group_name(args.function, None if args.function.startswith("/") else _client(args, "lambda"))
    except (ValueError, ClientError) as e:
        print(f"tsunagi logs: {e}", file=sys.stderr)
        return 2
    except EndpointConnectionError as e:
        print(f"tsunagi logs: {unreachable_hint(endpoint(args))} ({e})", file=sys.stderr)
        return 1
    if args.query is not None:
        if args.follow or args.filter_pattern:
            print("tsunagi logs: --query cannot be combined with --follow or --filter", file=sys.stderr)
            return 2
        try:
            return run_query(_client(args), group, args.query, start, int(time.time() * 1000))
        except EndpointConnectionError as e:
            print(f"tsunagi logs: {unreachable_hint(endpoint(args))} ({e})", file=sys.stderr)
            return 1
        except (ClientError, BotoCoreError) as e:
            print(f"tsunagi logs: {e}", file=sys.stderr)
            return 1
    tail = _Tail(_client(args), group, args.filter_pattern, streams=streams, stream_prefix=args.stream_prefix)
    waiting = False
    try:
        while True:
            try:
                tail.fetch(start)
                waiting = False
            except ClientError as e:
                code = e.response.get("Error", {}).get("Code")
                if code != "ResourceNotFoundException":
                    print(f"tsunagi logs: {e}", file=sys.stderr)
                    return 1
                if not args.follow:
                    print(f"tsunagi logs: log group {group} does not exist (has the function logged anything "
                          "yet?)", file=sys.stderr)
                    return 1
                if not waiting:
                    print(f"tsunagi logs: waiting for log group {group} to appear…", file=sys.stderr, flush=True)
                    waiting = True
            if not args.follow:
                return 0
            time.sleep(args.interval)
            window = int(time.time() * 1000) - LOOKBACK_MS
            if window > start:
                start = window
                tail.forget_before(window)
    except KeyboardInterrupt:
        return 0
    except EndpointConnectionError as e:
        print(f"tsunagi logs: {unreachable_hint(endpoint(args))} ({e})", file=sys.stderr)
        return 1
    except BotoCoreError as e:
        print(f"tsunagi logs: {e}", file=sys.stderr)
        return 1

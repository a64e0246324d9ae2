"""CloudWatch Logs end to end: a real `tsunagi serve` (SQLite and PostgreSQL), boto3, the aws CLI
and `tsunagi logs` as a subprocess."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest
from botocore.exceptions import ClientError

from tests.support.server import REPO

GROUP = "/aws/lambda/sample-dev-lambda"


def now_ms() -> int:
    return int(time.time() * 1000)


def put(logs, stream: str, messages: list[str], group: str = GROUP, start: int | None = None) -> int:
    t = now_ms() if start is None else start
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": t + i, "message": m} for i, m in enumerate(messages)])
    return t


def error_code(e: pytest.ExceptionInfo[ClientError]) -> str:
    return e.value.response["Error"]["Code"]


# == the seed 002 commands =====================================================================
def test_seed_002_reads_the_latest_stream_with_the_aws_cli(server):
    logs = server.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    older = "2024/07/02/[$LATEST]aaaaaaaaaaaaaaaa"
    latest = "2024/07/02/[$LATEST]bbbbbbbbbbbbbbbb"
    for stream in (latest, older):
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    t = now_ms()
    put(logs, older, ["START RequestId: 1 Version: $LATEST", "END RequestId: 1"], start=t - 60_000)
    put(logs, latest, ["INIT_START Runtime Version: python:3.12", "START RequestId: 2f3d Version: $LATEST",
                       'SQSに送信されたメッセージ: {"message": "sample-api-gatewa-sqs-lambda-test"}',
                       "END RequestId: 2f3d",
                       "REPORT RequestId: 2f3d Duration: 34.62 ms Billed Duration: 35 ms Memory Size: 128 MB"],
        start=t)

    # log_stream_name=$(aws logs describe-log-streams ... sort_by(@, &lastEventTimestamp) | [-1].logStreamName)
    name = server.aws("logs", "describe-log-streams", "--log-group-name", GROUP, "--query",
                      "logStreams | sort_by(@, &lastEventTimestamp) | [-1].logStreamName",
                      "--output", "text").stdout.strip()
    assert name == latest

    # aws logs get-log-events ... --query "events[].[timestamp,message]" --output text
    out = server.aws("logs", "get-log-events", "--log-group-name", GROUP, "--log-stream-name", name,
                     "--query", "events[].[timestamp,message]", "--output", "text").stdout
    lines = out.strip().splitlines()
    assert len(lines) == 5
    assert lines[0] == f"{t}\tINIT_START Runtime Version: python:3.12"
    assert lines[2].endswith('SQSに送信されたメッセージ: {"message": "sample-api-gatewa-sqs-lambda-test"}')
    assert lines[4].split("\t", 1)[1].startswith("REPORT RequestId: 2f3d Duration: 34.62 ms")


def test_aws_cli_lifecycle_and_filter(server, tmp_path):
    server.aws("logs", "create-log-group", "--log-group-name", "/app/web", "--tags", "team=web")
    server.aws("logs", "create-log-stream", "--log-group-name", "/app/web", "--log-stream-name", "i-1")
    t = now_ms()
    events = [{"timestamp": t, "message": '{"level": "INFO", "ms": 3}'},
              {"timestamp": t + 1, "message": '{"level": "ERROR", "ms": 900}'},
              {"timestamp": t + 2, "message": "plain ERROR line"}]
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events))
    out = json.loads(server.aws("logs", "put-log-events", "--log-group-name", "/app/web", "--log-stream-name",
                                "i-1", "--log-events", f"file://{path}").stdout)
    assert "nextSequenceToken" in out
    found = json.loads(server.aws("logs", "filter-log-events", "--log-group-name", "/app/web",
                                  "--filter-pattern", '{ $.level = "ERROR" && $.ms > 500 }').stdout)
    assert [e["message"] for e in found["events"]] == ['{"level": "ERROR", "ms": 900}']
    found = json.loads(server.aws("logs", "filter-log-events", "--log-group-name", "/app/web",
                                  "--filter-pattern", "ERROR").stdout)
    assert [e["message"] for e in found["events"]] == ['{"level": "ERROR", "ms": 900}', "plain ERROR line"]
    server.aws("logs", "put-retention-policy", "--log-group-name", "/app/web", "--retention-in-days", "7")
    groups = json.loads(server.aws("logs", "describe-log-groups", "--log-group-name-prefix", "/app").stdout)
    assert groups["logGroups"][0]["retentionInDays"] == 7
    assert groups["logGroups"][0]["storedBytes"] > 0
    tags = json.loads(server.aws("logs", "list-tags-log-group", "--log-group-name", "/app/web").stdout)
    assert tags["tags"] == {"team": "web"}
    bad = server.aws("logs", "put-retention-policy", "--log-group-name", "/app/web", "--retention-in-days", "2",
                     check=False)
    assert bad.returncode != 0 and "InvalidParameterException" in bad.stderr
    server.aws("logs", "delete-log-group", "--log-group-name", "/app/web")
    gone = server.aws("logs", "describe-log-streams", "--log-group-name", "/app/web", check=False)
    assert gone.returncode != 0
    assert "ResourceNotFoundException" in gone.stderr and "The specified log group does not exist." in gone.stderr


# == boto3 =====================================================================================
def test_boto3_groups_streams_and_errors(server):
    logs = server.client("logs")
    logs.create_log_group(logGroupName="/a", tags={"k": "v"})
    with pytest.raises(ClientError) as e:
        logs.create_log_group(logGroupName="/a")
    assert error_code(e) == "ResourceAlreadyExistsException"
    assert e.value.response["Error"]["Message"] == "The specified log group already exists"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.create_log_stream(logGroupName="/missing", logStreamName="s")
    logs.create_log_stream(logGroupName="/a", logStreamName="s")
    with pytest.raises(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName="/a", logStreamName="s")
    with pytest.raises(logs.exceptions.InvalidParameterException):
        t = now_ms()
        logs.put_log_events(logGroupName="/a", logStreamName="s",
                            logEvents=[{"timestamp": t, "message": "b"}, {"timestamp": t - 1, "message": "a"}])
    for i in range(60):
        logs.create_log_group(logGroupName=f"/many/{i:02d}")
    pages = list(logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix="/many/"))
    names = [g["logGroupName"] for p in pages for g in p["logGroups"]]
    assert names == [f"/many/{i:02d}" for i in range(60)]
    assert len(pages) == 2
    arn = logs.describe_log_groups(logGroupNamePrefix="/a")["logGroups"][0]["arn"]
    assert logs.list_tags_for_resource(resourceArn=arn.removesuffix(":*"))["tags"] == {"k": "v"}
    with pytest.raises(logs.exceptions.InvalidParameterException):   # the tagging API refuses the ":*" form
        logs.tag_resource(resourceArn=arn, tags={"x": "y"})
    logs.tag_resource(resourceArn=arn.removesuffix(":*"), tags={"x": "y"})
    assert logs.list_tags_log_group(logGroupName="/a")["tags"] == {"k": "v", "x": "y"}


def test_boto3_get_log_events_tokens_follow_new_events(server):
    logs = server.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s")
    t = put(logs, "s", [f"m{i}" for i in range(5)])
    page = logs.get_log_events(logGroupName=GROUP, logStreamName="s", startFromHead=True, limit=3)
    assert [e["message"] for e in page["events"]] == ["m0", "m1", "m2"]
    assert page["events"][0]["timestamp"] == t
    page = logs.get_log_events(logGroupName=GROUP, logStreamName="s", startFromHead=True,
                               nextToken=page["nextForwardToken"])
    assert [e["message"] for e in page["events"]] == ["m3", "m4"]
    token = page["nextForwardToken"]
    # At the end, the same token comes back …
    again = logs.get_log_events(logGroupName=GROUP, logStreamName="s", startFromHead=True, nextToken=token)
    assert again["events"] == [] and again["nextForwardToken"] == token
    # … until new events arrive
    put(logs, "s", ["m5"], start=t + 100)
    page = logs.get_log_events(logGroupName=GROUP, logStreamName="s", startFromHead=True, nextToken=token)
    assert [e["message"] for e in page["events"]] == ["m5"]
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.get_log_events(logGroupName=GROUP, logStreamName="s", nextToken="f/bogus")


def test_boto3_filter_paginator_and_streams_order(server):
    logs = server.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    t = now_ms()
    for n in range(3):
        logs.create_log_stream(logGroupName=GROUP, logStreamName=f"w{n}")
        put(logs, f"w{n}", [f"{'ERROR' if i % 2 else 'INFO'} w{n} {i}" for i in range(40)], start=t + n * 1000)
    pages = list(logs.get_paginator("filter_log_events").paginate(
        logGroupName=GROUP, filterPattern="ERROR", PaginationConfig={"PageSize": 7}))
    events = [e for p in pages for e in p["events"]]
    assert len(events) == 60 and len(pages) >= 9
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    assert len({e["eventId"] for e in events}) == 60
    streams = logs.describe_log_streams(logGroupName=GROUP, orderBy="LastEventTime", descending=True)
    assert [s["logStreamName"] for s in streams["logStreams"]] == ["w2", "w1", "w0"]
    assert streams["logStreams"][0]["lastEventTimestamp"] == t + 2000 + 39


def test_rejected_events_are_reported(server):
    logs = server.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s")
    t = now_ms()
    out = logs.put_log_events(logGroupName=GROUP, logStreamName="s", logEvents=[
        {"timestamp": t - 15 * 86_400_000, "message": "too old"},
        {"timestamp": t, "message": "fine"},
        {"timestamp": t + 3 * 3_600_000, "message": "too new"}])
    assert out["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 2}
    got = logs.get_log_events(logGroupName=GROUP, logStreamName="s")
    assert [e["message"] for e in got["events"]] == ["fine"]


def test_logs_survive_a_restart(server):
    logs = server.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s")
    put(logs, "s", ["before restart"])
    server.restart()
    logs = server.client("logs")
    got = logs.get_log_events(logGroupName=GROUP, logStreamName="s")
    assert [e["message"] for e in got["events"]] == ["before restart"]


def test_start_live_tail_says_it_is_not_available(server):
    # StartLiveTail answers with an event stream, which tsunagi's protocol layer does not speak;
    # `tsunagi logs --follow` is the follow tool. The answer must be a clean 501, not a 500.
    # (The SDK sends StartLiveTail to "stream-<endpoint host>"; without the prefix it reaches tsunagi.)
    logs = server.client("logs", inject_host_prefix=False)
    logs.create_log_group(logGroupName=GROUP)
    with pytest.raises(ClientError) as e:
        logs.start_live_tail(logGroupIdentifiers=[GROUP])
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


# == tsunagi logs ==============================================================================
def _tsunagi_env() -> dict[str, str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_ENDPOINT_URL", None)
    return env


def tsunagi_logs(server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tsunagi", "logs", *args, "--endpoint-url", server.url],
                          capture_output=True, text=True, env=_tsunagi_env(), cwd=str(REPO), timeout=60)


def test_tsunagi_logs_prints_all_streams_in_time_order(server):
    logs = server.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="2024/07/02/[$LATEST]a")
    logs.create_log_stream(logGroupName=GROUP, logStreamName="2024/07/02/[$LATEST]b")
    t = now_ms() - 1000
    logs.put_log_events(logGroupName=GROUP, logStreamName="2024/07/02/[$LATEST]a",
                        logEvents=[{"timestamp": t, "message": "START a\n"}, {"timestamp": t + 2, "message": "END a"}])
    logs.put_log_events(logGroupName=GROUP, logStreamName="2024/07/02/[$LATEST]b",
                        logEvents=[{"timestamp": t + 1, "message": "START b"}])
    out = tsunagi_logs(server, "sample-dev-lambda")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [ln.split(" ", 1)[1] for ln in lines] == [
        "2024/07/02/[$LATEST]a START a", "2024/07/02/[$LATEST]b START b", "2024/07/02/[$LATEST]a END a"]
    assert lines[0].split(" ")[0].endswith("+00:00")
    # A full group name works too, and so do --since and --filter-pattern
    out = tsunagi_logs(server, GROUP, "--filter-pattern", "END")
    assert [ln.split(" ", 2)[2] for ln in out.stdout.splitlines()] == ["END a"]
    out = tsunagi_logs(server, "sample-dev-lambda", "--since", str(t + 2))
    assert [ln.split(" ", 2)[2] for ln in out.stdout.splitlines()] == ["END a"]
    # Old events are left out by default (10 minutes)
    logs.put_log_events(logGroupName=GROUP, logStreamName="2024/07/02/[$LATEST]b",
                        logEvents=[{"timestamp": t + 3, "message": "later"}])
    logs.create_log_stream(logGroupName=GROUP, logStreamName="old")
    logs.put_log_events(logGroupName=GROUP, logStreamName="old",
                        logEvents=[{"timestamp": t - 3_600_000, "message": "an hour ago"}])
    out = tsunagi_logs(server, "sample-dev-lambda")
    assert "an hour ago" not in out.stdout and "later" in out.stdout
    out = tsunagi_logs(server, "sample-dev-lambda", "--since", "2h")
    assert "an hour ago" in out.stdout


def test_tsunagi_logs_for_a_missing_function_fails_clearly(server):
    out = tsunagi_logs(server, "nope")
    assert out.returncode == 1
    assert "/aws/lambda/nope does not exist" in out.stderr
    out = tsunagi_logs(server, "nope", "--since", "yesterday-ish")
    assert out.returncode == 2 and "--since" in out.stderr


def test_tsunagi_logs_follow_prints_new_events_until_interrupted(server):
    logs = server.client("logs")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tsunagi", "logs", "fn", "--follow", "--interval", "0.2", "--endpoint-url",
         server.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_tsunagi_env(), cwd=str(REPO))
    lines: queue.Queue[str] = queue.Queue()
    errors: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    threading.Thread(target=lambda: [errors.put(ln) for ln in proc.stderr], daemon=True).start()  # type: ignore[union-attr]

    def next_line(timeout: float = 15.0) -> str:
        return lines.get(timeout=timeout).rstrip("\n")

    try:
        # The group does not exist yet: it says so and waits for it
        assert "waiting for log group /aws/lambda/fn" in errors.get(timeout=30)
        logs.create_log_group(logGroupName="/aws/lambda/fn")
        logs.create_log_stream(logGroupName="/aws/lambda/fn", logStreamName="s1")
        put(logs, "s1", ["first"], group="/aws/lambda/fn")
        assert next_line().endswith(" s1 first")
        t = put(logs, "s1", ["second", "third"], group="/aws/lambda/fn")
        assert next_line().endswith(" s1 second")
        assert next_line().endswith(" s1 third")
        # A line stored late, with an older timestamp than the ones printed, still shows once
        logs.create_log_stream(logGroupName="/aws/lambda/fn", logStreamName="s2")
        put(logs, "s2", ["late"], group="/aws/lambda/fn", start=t - 5000)
        assert next_line().endswith(" s2 late")
        time.sleep(1.0)
        assert lines.empty()  # nothing printed twice
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0
    time.sleep(0.2)
    rest = []
    while not errors.empty():
        rest.append(errors.get())
    assert "Traceback" not in "".join(rest)

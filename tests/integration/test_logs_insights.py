"""Logs Insights end to end: a real `tsunagi serve` (SQLite and PostgreSQL), boto3 (StartQuery, then
polling GetQueryResults), the aws CLI and `tsunagi logs --query / --filter`."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_logs import _tsunagi_env
from tests.support.insights import CASES, CORPUS, LAMBDA, MALFORMED, WEB, expected_rows, fmt, same
from tests.support.server import REPO


def load(logs) -> int:
    """The corpus, two hours back from now (a whole hour); returns its base time in ms."""
    base = (int(time.time() * 1000) // 3_600_000 - 2) * 3_600_000
    for group, events in CORPUS.items():
        logs.create_log_group(logGroupName=group)
        for stream in dict.fromkeys(s for s, _, _ in events):
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
            logs.put_log_events(logGroupName=group, logStreamName=stream,
                                logEvents=[{"timestamp": base + off, "message": m}
                                           for s, off, m in events if s == stream])
    return base


def wait(logs, query_id: str, **params) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = logs.get_query_results(queryId=query_id, **params)
        if out["status"] not in ("Scheduled", "Running"):
            return out
        time.sleep(0.05)
    raise AssertionError(f"query {query_id} did not finish")


def fails(call, code: str, message: str | None = None) -> ClientError:
    with pytest.raises(ClientError) as e:
        call()
    assert e.value.response["Error"]["Code"] == code, e.value.response
    if message is not None:
        assert e.value.response["Error"]["Message"] == message
    return e.value


def test_the_table_of_queries_over_the_corpus(server):
    logs = server.client("logs")
    base = load(logs)
    window = {"startTime": base // 1000, "endTime": base // 1000 + 3600}
    started = [(query, want, logs.start_query(logGroupNames=list(groups), queryString=query, **window)["queryId"])
               for query, groups, want in CASES]
    for query, want, query_id in started:
        out = wait(logs, query_id)
        assert out["status"] == "Complete", query
        assert same(query, out["results"], expected_rows(want, base)), (query, out["results"])
        assert set(out["statistics"]) >= {"recordsMatched", "recordsScanned", "bytesScanned"}


def test_results_fields_statistics_and_pages(server):
    logs = server.client("logs")
    base = load(logs)
    window = {"startTime": base // 1000, "endTime": base // 1000 + 3600}
    qid = logs.start_query(logGroupName=WEB, queryString="fields @timestamp, @message | sort @timestamp asc",
                           **window)["queryId"]
    out = wait(logs, qid)
    first = out["results"][0]
    assert first[0] == {"field": "@timestamp", "value": fmt(base + 60_000)}
    assert first[1] == {"field": "@message", "value": "10.0.0.1 GET /index.html 200 512 12ms"}
    assert first[2]["field"] == "@ptr" and first[2]["value"]
    assert out["statistics"]["recordsScanned"] == 5.0 and out["statistics"]["recordsMatched"] == 5.0
    assert out["statistics"]["bytesScanned"] == float(sum(len(m) for _, _, m in CORPUS[WEB]))

    # @ptr leads to the whole record
    qid = logs.start_query(logGroupName=LAMBDA, queryString='filter level = "ERROR" | fields orderId', **window)
    ptr = wait(logs, qid["queryId"])["results"][0][-1]
    assert ptr["field"] == "@ptr"
    record = logs.get_log_record(logRecordPointer=ptr["value"])["logRecord"]
    assert record["@message"] == CORPUS[LAMBDA][2][2]
    assert record["@timestamp"] == str(base + 2000) and record["@logStream"] == CORPUS[LAMBDA][2][0]
    assert record["@log"] == f"000000000000:{LAMBDA}"
    assert (record["level"], record["user.tier"], record["codes.0"], record["amount"]) == ("ERROR", "silver", "402", "99")
    fails(lambda: logs.get_log_record(logRecordPointer="bm9wZQ=="), "InvalidParameterException")
    fails(lambda: logs.get_log_record(logRecordPointer="OTk5OTk6OTk5OTk="), "ResourceNotFoundException")

    # the limit caps the rows; maxItems pages them
    qid = logs.start_query(logGroupName=LAMBDA, queryString="fields @message", limit=4, **window)["queryId"]
    out = wait(logs, qid, maxItems=3)
    assert len(out["results"]) == 3 and out["nextToken"]
    rest = logs.get_query_results(queryId=qid, nextToken=out["nextToken"], maxItems=3)
    assert len(rest["results"]) == 1 and "nextToken" not in rest

    # by ARN (logGroupIdentifiers), and a time range that leaves events out
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{LAMBDA}"
    qid = logs.start_query(logGroupIdentifiers=[arn], queryString="stats count(*) as n",
                           startTime=base // 1000 + 300, endTime=base // 1000 + 3600)["queryId"]
    assert wait(logs, qid)["results"] == [[{"field": "n", "value": "5"}]]


def test_bad_input_answers_aws_errors(server):
    logs = server.client("logs")
    base = load(logs)
    ok = {"startTime": base // 1000, "endTime": base // 1000 + 3600}
    for query, message in MALFORMED:
        err = fails(lambda q=query: logs.start_query(logGroupName=LAMBDA, queryString=q, **ok),
                    "MalformedQueryException", message)
        assert err.response["queryCompileError"]["message"] == message
        assert set(err.response["queryCompileError"]["location"]) == {"startCharOffset", "endCharOffset"}
    fails(lambda: logs.start_query(logGroupName="/nope", queryString="fields @message", **ok),
          "ResourceNotFoundException", "Log group '/nope' does not exist for account ID '000000000000'")
    fails(lambda: logs.start_query(logGroupNames=[f"/g/{i}" for i in range(51)], queryString="fields a", **ok),
          "InvalidParameterException")
    fails(lambda: logs.start_query(logGroupName=LAMBDA, queryString="fields a", startTime=ok["endTime"],
                                   endTime=ok["startTime"]),
          "InvalidParameterException", "End time should not be before the start time.")
    fails(lambda: logs.start_query(queryString="fields a", **ok), "InvalidParameterException")
    raw = server.client("logs", parameter_validation=False)     # what a client that checks nothing sends
    for limit, rule in ((0, "greater than or equal to 1"), (100_001, "less than or equal to 100000")):
        # outside the model's range (1 to 100,000): the model's constraint error
        err = fails(lambda n=limit: raw.start_query(logGroupName=LAMBDA, queryString="fields a", limit=n, **ok),
                    err_code(raw, limit))
        assert err.response["Error"]["Message"] == (f"1 validation error detected: Value '{limit}' at 'limit' "
                                                    f"failed to satisfy constraint: Member must have value {rule}")
    fails(lambda: logs.get_query_results(queryId="f" * 36), "ResourceNotFoundException")
    fails(lambda: logs.stop_query(queryId="f" * 36), "ResourceNotFoundException")


def err_code(logs, limit: int) -> str:
    try:
        logs.start_query(logGroupName=LAMBDA, queryString="fields a", limit=limit, startTime=0, endTime=1)
    except ClientError as e:
        code = e.response["Error"]["Code"]
        assert code in ("InvalidParameterException", "ValidationException")
        return str(code)
    raise AssertionError("an out-of-range limit was accepted")


def test_describe_queries_stop_and_definitions_with_the_aws_cli(server):
    logs = server.client("logs")
    base = load(logs)
    qid = logs.start_query(logGroupName=LAMBDA, queryString="stats count(*)", startTime=base // 1000,
                           endTime=base // 1000 + 3600)["queryId"]
    wait(logs, qid)
    fails(lambda: logs.stop_query(queryId=qid), "InvalidParameterException")
    listed = json.loads(server.aws("logs", "describe-queries", "--log-group-name", LAMBDA).stdout)["queries"]
    assert [(q["queryId"], q["status"], q["queryString"], q["logGroupName"]) for q in listed] == [
        (qid, "Complete", "stats count(*)", LAMBDA)]
    assert listed[0]["createTime"] >= base
    assert logs.describe_queries(status="Running")["queries"] == []

    # the aws CLI's start-query / get-query-results
    qid = json.loads(server.aws("logs", "start-query", "--log-group-names", LAMBDA, WEB, "--start-time",
                                str(base // 1000), "--end-time", str(base // 1000 + 3600), "--query-string",
                                "stats count(*) as n by @log | sort n desc").stdout)["queryId"]
    wait(logs, qid)
    out = json.loads(server.aws("logs", "get-query-results", "--query-id", qid).stdout)
    assert out["status"] == "Complete"
    assert [[f["value"] for f in row] for row in out["results"]] == [
        [f"000000000000:{LAMBDA}", "10"], [f"000000000000:{WEB}", "5"]]

    made = json.loads(server.aws("logs", "put-query-definition", "--name", "ops/errors", "--query-string",
                                 "filter level = 'ERROR' | stats count(*) by bin(1h)", "--log-group-names",
                                 LAMBDA).stdout)["queryDefinitionId"]
    defs = logs.describe_query_definitions(queryDefinitionNamePrefix="ops/")["queryDefinitions"]
    assert [(d["queryDefinitionId"], d["name"], d["logGroupNames"]) for d in defs] == [(made, "ops/errors", [LAMBDA])]
    assert logs.put_query_definition(queryDefinitionId=made, name="ops/errors-1h",
                                     queryString="stats count(*)")["queryDefinitionId"] == made
    defs = logs.describe_query_definitions()["queryDefinitions"]
    assert [(d["name"], d["queryString"], d["logGroupNames"]) for d in defs] == [
        ("ops/errors-1h", "stats count(*)", [])]
    assert logs.delete_query_definition(queryDefinitionId=made)["success"] is True
    fails(lambda: logs.delete_query_definition(queryDefinitionId=made), "ResourceNotFoundException")
    assert logs.describe_query_definitions()["queryDefinitions"] == []


def tsunagi_logs(server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tsunagi", "logs", *args, "--endpoint-url", server.url],
                          capture_output=True, text=True, env=_tsunagi_env(), cwd=str(REPO), timeout=60)


def test_tsunagi_logs_query_and_filter(server):
    logs = server.client("logs")
    load(logs)
    out = tsunagi_logs(server, "orders", "--since", "3h", "--query",
                       'filter @type = "REPORT" | fields @requestId, @duration | sort @duration desc')
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["@requestId", "@duration"]
    assert [ln.split() for ln in lines[1:]] == [["r2", "1510.75"], ["r1", "102.25"]]
    assert "2 rows; 2 of 10 records matched" in out.stderr

    out = tsunagi_logs(server, WEB, "--since", "3h", "--query", "stats count(*) as n by bin(5m) as t | sort t")
    assert out.returncode == 0, out.stderr
    assert [ln.split()[-1] for ln in out.stdout.splitlines()] == ["n", "4", "1"]

    out = tsunagi_logs(server, "orders", "--since", "3h", "--query", "fields @message |")
    assert out.returncode == 2
    assert "MalformedQueryException: unexpected end of query at line 1 and position 17" in out.stderr

    out = tsunagi_logs(server, "nope", "--since", "3h", "--query", "fields @message")
    assert out.returncode == 1 and "/aws/lambda/nope does not exist" in out.stderr

    out = tsunagi_logs(server, WEB, "--since", "3h", "--filter", "GET")
    assert out.returncode == 0, out.stderr
    assert [ln.split(" ", 2)[2] for ln in out.stdout.splitlines()] == [
        "10.0.0.1 GET /index.html 200 512 12ms", "10.0.0.2 GET /missing 404 0 3ms"]
    out = tsunagi_logs(server, WEB, "--since", "3h", "--filter", "[ip, method, path, status = 5*, ...]")
    assert [ln.split(" ", 2)[2] for ln in out.stdout.splitlines()] == ["10.0.0.1 POST /api/orders 500 128 250ms"]


@pytest.mark.slow
def test_any_node_answers_for_a_query_another_node_runs(tmp_path):
    """Two servers on one PostgreSQL database: a query started on one is read, listed and stopped on the other."""
    from tests.conftest import require_postgres
    from tests.support.nodes import nodes_on_one_database

    require_postgres()
    with nodes_on_one_database(tmp_path, "insights") as (a, b):
        logs_a, logs_b = a.client("logs"), b.client("logs")
        base = load(logs_a)
        window = {"startTime": base // 1000, "endTime": base // 1000 + 3600}
        qid = logs_a.start_query(logGroupNames=[LAMBDA, WEB], queryString="stats count(*) as n", **window)["queryId"]
        assert wait(logs_b, qid)["results"] == [[{"field": "n", "value": "15"}]]
        assert [q["queryId"] for q in logs_b.describe_queries()["queries"]] == [qid]
        fails(lambda: logs_b.stop_query(queryId=qid), "InvalidParameterException")
        made = logs_a.put_query_definition(name="shared", queryString="stats count(*)")["queryDefinitionId"]
        assert [d["queryDefinitionId"] for d in logs_b.describe_query_definitions()["queryDefinitions"]] == [made]

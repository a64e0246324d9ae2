"""Logs Insights: the parser and the evaluator over the fixed corpus (tests/support/insights.py),
then the operations on the service itself, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.insights import ACCOUNT, CASES, CORPUS, LAMBDA, MALFORMED, WEB, expected_rows, same
from tsunagi.services.logs.insights.evaluator import Pipeline, event_record
from tsunagi.services.logs.insights.parser import QuerySyntaxError, parse_query

BASE = 1_704_067_200_000        # 2024-01-01 00:00:00 UTC


def run(query: str, groups: tuple[str, ...], limit: int = 1000) -> tuple[list[Any], Pipeline]:
    pipeline = Pipeline(parse_query(query), limit)
    n = 0
    for gi, group in enumerate(groups):
        # the store hands each group's events newest first
        for stream, offset, message in sorted(CORPUS[group], key=lambda e: -e[1]):
            n += 1
            pipeline.push(event_record(ACCOUNT, group, gi + 1, n, stream, BASE + offset, BASE + offset, message),
                          len(message.encode()))
    return pipeline.finish(), pipeline


def run_batches(query: str, groups: tuple[str, ...], batch: int, limit: int = 1000) -> tuple[list[Any], Pipeline]:
    """The same events as ``run`` through Pipeline.feed, ``batch`` rows at a time, as a query's task feeds them."""
    pipeline = Pipeline(parse_query(query), limit)
    n = 0
    for gi, group in enumerate(groups):
        events = sorted(CORPUS[group], key=lambda e: -e[1])
        names = {i: stream for i, stream in enumerate(sorted({e[0] for e in events}))}
        ids = {stream: i for i, stream in names.items()}
        rows = []
        for stream, offset, message in events:
            n += 1
            rows.append((n, ids[stream], BASE + offset, BASE + offset, message, len(message.encode())))
        for i in range(0, len(rows), batch):
            pipeline.feed(ACCOUNT, group, gi + 1, names, rows[i:i + batch])
        pipeline.feed(ACCOUNT, group, gi + 1, names, [])         # an empty batch changes nothing
    return pipeline.finish(), pipeline


COUNT_BY_TIME = ["stats count() by bin(1m)", "stats count(*) as n by bin(30s) | sort n desc", "stats count()",
                 "stats count(*) as events, count() as again"]


@pytest.mark.parametrize("query", [c[0] for c in CASES] + COUNT_BY_TIME)
@pytest.mark.parametrize("batch", [1, 3, 1000])
def test_feeding_batches_is_pushing_records(query, batch):
    groups = tuple(CORPUS)
    pipeline = Pipeline(parse_query(query), 1000)
    if query in COUNT_BY_TIME:
        assert not pipeline.reads_messages        # the scan may leave the messages out
    one, p1 = run(query, groups)
    many, p2 = run_batches(query, groups, batch)
    assert many == one
    assert (p2.scanned, p2.bytes, p2.matched) == (p1.scanned, p1.bytes, p1.matched)


def test_a_query_that_reads_fields_reads_messages():
    for query in ["filter @message like /x/ | stats count() by bin(1m)", "stats count(level) by bin(1m)",
                  "stats count() by bin(1m), @logStream", "fields @message", "stats count() by @logStream"]:
        assert Pipeline(parse_query(query), 1000).reads_messages, query


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize(("query", "groups", "want"), CASES, ids=[c[0][:60] for c in CASES])
def test_query_over_the_corpus(query, groups, want):
    got, _ = run(query, groups)
    assert same(query, got, expected_rows(want, BASE)), got


@pytest.mark.parametrize(("query", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_queries_say_what_and_where(query, message):
    with pytest.raises(QuerySyntaxError) as e:
        Pipeline(parse_query(query), 1000)
    assert e.value.message == message


def test_records_carry_a_ptr_unless_aggregated():
    rows, _ = run("fields @message | limit 2", (LAMBDA,))
    assert all(row[-1]["field"] == "@ptr" and row[-1]["value"] for row in rows)
    rows, _ = run("stats count(*)", (LAMBDA,))
    assert rows == [[{"field": "count(*)", "value": "10"}]]


def test_without_fields_the_default_fields_come_back():
    rows, _ = run('filter @message like "slow db"', (LAMBDA,))
    assert [f["field"] for f in rows[0]] == ["@timestamp", "@message", "@logStream", "@log", "@ptr"]
    assert rows[0][0]["value"] == "2024-01-01 00:06:02.000"


def test_statistics_count_scanned_matched_and_bytes():
    _, p = run('filter level = "INFO" | limit 1', (LAMBDA, WEB))
    assert p.scanned == 15
    assert p.matched == 2
    assert p.bytes == sum(len(m.encode()) for g in CORPUS.values() for _, _, m in g)


def test_the_result_is_capped_at_the_limit_and_sort_keeps_only_what_it_returns():
    rows, p = run("fields @timestamp | sort @timestamp asc", (LAMBDA, WEB), limit=3)
    assert [r[0]["value"][-12:] for r in rows] == ["00:00:00.000", "00:00:01.000", "00:00:02.000"]
    pipeline = Pipeline(parse_query("fields @timestamp | sort @timestamp desc | limit 5"), 1000)
    for i in range(20_000):
        pipeline.push(event_record(ACCOUNT, WEB, 1, i, "s", BASE + i, BASE + i, "x"), 1)
    sort = pipeline.head
    while not hasattr(sort, "keep"):
        sort = sort.nxt
    assert len(sort.rows) <= 2 * 5 + 1000          # bounded by what it returns, not by the events
    assert [r[0]["value"][-6:] for r in pipeline.finish()] == ["19.999", "19.998", "19.997", "19.996", "19.995"]


def test_parse_errors_carry_offsets():
    with pytest.raises(QuerySyntaxError) as e:
        parse_query("fields a | limit x")
    assert (e.value.start, e.value.end) == (17, 17)


# == the service, on both stores ===============================================================
async def _load(h) -> int:
    base = (h.now() // 3_600_000 - 2) * 3_600_000
    for group, events in CORPUS.items():
        await h.group(group)
        for stream in dict.fromkeys(s for s, _, _ in events):
            await h.stream(stream, group)
            await h.put([(base + off, m) for s, off, m in events if s == stream], stream, group)
    return base


async def _results(h, query_id: str) -> dict[str, Any]:
    for _ in range(500):
        out = await h.call("get_query_results", queryId=query_id)
        if out["status"] not in ("Scheduled", "Running"):
            return out
        await asyncio.sleep(0.01)
    raise AssertionError("the query did not finish")


def test_queries_through_the_service(logs):
    async def body(h):
        base = await _load(h)
        start, end = base // 1000, base // 1000 + 3600
        for query, groups, want in CASES:
            started = await h.call("start_query", logGroupNames=list(groups), startTime=start, endTime=end,
                                   queryString=query)
            out = await _results(h, started["queryId"])
            assert out["status"] == "Complete", query
            assert same(query, out["results"], expected_rows(want, base)), (query, out["results"])
        # the time range is inclusive and in seconds
        first = await h.call("start_query", logGroupName=LAMBDA, startTime=start, endTime=start + 2,
                             queryString="stats count(*) as n")
        assert (await _results(h, first["queryId"]))["results"] == [[{"field": "n", "value": "3"}]]
        stats = (await _results(h, first["queryId"]))["statistics"]
        assert stats["recordsScanned"] == 3.0 and stats["recordsMatched"] == 3.0 and stats["bytesScanned"] > 0
    logs(body)


def test_bad_requests_answer_aws_errors(logs):
    async def body(h):
        await _load(h)
        ok = {"startTime": 0, "endTime": 10, "queryString": "fields @message"}
        await h.fails(h.call("start_query", logGroupName="/nope", **ok), "ResourceNotFoundException",
                      "Log group '/nope' does not exist for account ID '000000000000'")
        await h.fails(h.call("start_query", **ok), "InvalidParameterException")
        await h.fails(h.call("start_query", logGroupName=LAMBDA, logGroupNames=[WEB], **ok),
                      "InvalidParameterException")
        await h.fails(h.call("start_query", logGroupNames=[f"/g{i}" for i in range(51)], **ok),
                      "InvalidParameterException")
        await h.fails(h.call("start_query", logGroupName=LAMBDA, startTime=10, endTime=5, queryString="fields a"),
                      "InvalidParameterException", "End time should not be before the start time.")
        for query, message in MALFORMED:
            err = await h.fails(h.call("start_query", logGroupName=LAMBDA, startTime=0, endTime=10,
                                       queryString=query), "MalformedQueryException", message)
            assert err.fields["queryCompileError"]["message"] == message
        await h.fails(h.call("get_query_results", queryId="0" * 36), "ResourceNotFoundException")
        await h.fails(h.call("stop_query", queryId="0" * 36), "ResourceNotFoundException")
        arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{LAMBDA}"
        started = await h.call("start_query", logGroupIdentifiers=[arn, WEB], **ok)
        done = await _results(h, started["queryId"])
        assert done["status"] == "Complete"
        await h.fails(h.call("stop_query", queryId=started["queryId"]), "InvalidParameterException")
        await h.fails(h.call("start_query", logGroupIdentifiers=[arn + ":*"], **ok), "InvalidParameterException")
    logs(body)


def test_describe_queries_and_definitions(logs):
    async def body(h):
        await _load(h)
        ids = []
        for q in ("fields @message", "stats count(*)"):
            ids.append((await h.call("start_query", logGroupName=LAMBDA, startTime=0, endTime=10**10,
                                     queryString=q))["queryId"])
            await _results(h, ids[-1])
        listed = (await h.call("describe_queries"))["queries"]
        assert [q["queryId"] for q in listed] == ids[::-1] or {q["queryId"] for q in listed} == set(ids)
        info = listed[0]
        assert info["status"] == "Complete" and info["logGroupName"] == LAMBDA and info["queryLanguage"] == "CWLI"
        assert isinstance(info["createTime"], int)
        assert (await h.call("describe_queries", status="Running"))["queries"] == []
        assert len((await h.call("describe_queries", logGroupName=LAMBDA))["queries"]) == 2
        page = await h.call("describe_queries", maxResults=1)
        assert len(page["queries"]) == 1 and page["nextToken"]
        rest = await h.call("describe_queries", maxResults=1, nextToken=page["nextToken"])
        assert rest["queries"][0]["queryId"] != page["queries"][0]["queryId"]

        made = await h.call("put_query_definition", name="errors/by-level", queryString="filter level = 'ERROR'",
                            logGroupNames=[LAMBDA])
        other = await h.call("put_query_definition", name="latency", queryString="stats avg(@duration)")
        defs = (await h.call("describe_query_definitions"))["queryDefinitions"]
        assert [d["name"] for d in defs] == ["errors/by-level", "latency"]
        assert defs[0]["logGroupNames"] == [LAMBDA] and defs[0]["queryDefinitionId"] == made["queryDefinitionId"]
        await h.call("put_query_definition", queryDefinitionId=other["queryDefinitionId"], name="latency-p99",
                     queryString="stats pct(@duration, 99)")
        found = (await h.call("describe_query_definitions", queryDefinitionNamePrefix="latency"))["queryDefinitions"]
        assert [(d["name"], d["queryString"]) for d in found] == [("latency-p99", "stats pct(@duration, 99)")]
        assert (await h.call("delete_query_definition", queryDefinitionId=made["queryDefinitionId"]))["success"]
        await h.fails(h.call("delete_query_definition", queryDefinitionId=made["queryDefinitionId"]),
                      "ResourceNotFoundException")
        await h.fails(h.call("put_query_definition", queryDefinitionId="x" * 36, name="n", queryString="fields a"),
                      "ResourceNotFoundException")
    logs(body)


def test_at_most_a_hundred_queries_run_at_once(logs):
    async def body(h):
        await _load(h)
        from tsunagi.services.logs.insights import operations

        gate = asyncio.Event()
        real = h.svc.insights._run

        async def slow(*args):
            await gate.wait()
            await real(*args)

        h.svc.insights._run = slow
        ids = [(await h.call("start_query", logGroupName=LAMBDA, startTime=0, endTime=10**10,
                             queryString="stats count(*)"))["queryId"] for _ in range(operations.MAX_RUNNING)]
        await h.fails(h.call("start_query", logGroupName=LAMBDA, startTime=0, endTime=10**10,
                             queryString="stats count(*)"), "LimitExceededException",
                      "Account maximum query concurrency limit of [100] reached.")
        assert (await h.call("get_query_results", queryId=ids[0]))["status"] == "Scheduled"
        assert (await h.call("stop_query", queryId=ids[1]))["success"] is True
        assert (await h.call("get_query_results", queryId=ids[1]))["status"] == "Cancelled"
        gate.set()
        assert (await _results(h, ids[0]))["results"] == [[{"field": "count(*)", "value": "10"}]]
        assert (await h.call("get_query_results", queryId=ids[1]))["status"] == "Cancelled"
        assert (await h.call("describe_queries", status="Cancelled"))["queries"][0]["queryId"] == ids[1]
    logs(body)


def test_sort_uses_aws_natural_order():
    # AWS's own example of an ascending sort: non-numbers first (runs of digits by length, then value),
    # then the numbers
    order = ["!:", "#", "*%04", "0#", "5A", "111A", "2345_", "@", "@_", "A", "A9876fghj", "a12345hfh",
             "0", "01", "1", "2", "3"]
    pipeline = Pipeline(parse_query("fields v | sort v asc"), 1000)
    for i, v in enumerate(reversed(order)):
        pipeline.push(event_record(ACCOUNT, WEB, 1, i, "s", BASE, BASE, json.dumps({"v": v})), 1)
    assert [r[0]["value"] for r in pipeline.finish()] == order
    pipeline = Pipeline(parse_query("fields v | sort v desc"), 1000)
    for i, v in enumerate(order):
        pipeline.push(event_record(ACCOUNT, WEB, 1, i, "s", BASE, BASE, json.dumps({"v": v})), 1)
    assert [r[0]["value"] for r in pipeline.finish()] == order[::-1]


def test_a_hyphen_is_subtraction():
    rows, _ = run("filter amount-90 > 0 | fields orderId", (LAMBDA,))
    assert [r[0]["value"] for r in rows] == ["o-2"]
    rows, _ = run("filter ispresent(orderId) | fields `orderId` as id | sort id | limit 1", (LAMBDA,))
    assert rows[0][0] == {"field": "id", "value": "o-1"}


def test_the_last_display_decides_what_the_results_show():
    rows, _ = run('filter level = "ERROR" | display msg | fields orderId | parse msg "* *" as a, b', (LAMBDA,))
    assert [f["field"] for f in rows[0]] == ["msg", "@ptr"]
    rows, _ = run('filter level = "ERROR" | display msg | display orderId, level', (LAMBDA,))
    assert rows[0][:2] == [{"field": "orderId", "value": "o-2"}, {"field": "level", "value": "ERROR"}]
    rows, _ = run('filter level = "ERROR" | fields orderId | parse msg "* *" as a, b', (LAMBDA,))
    assert [f["field"] for f in rows[0]] == ["orderId", "a", "b", "@ptr"]


_TOKENS = ["fields", "filter", "stats", "sort", "limit", "parse", "display", "dedup", "by", "as", "asc", "desc", "and",
           "or", "not", "like", "in", "|", ",", "(", ")", "[", "]", "=", "!=", "<", ">=", "+", "-", "*", "/", "%", "=~",
           "1", "2.5", '"x"', "'y'", "/a+/", "/(?<g>\\w)/", "/(/", "@timestamp", "@message", "level", "amount", "count",
           "count(*)", "bin(5m)", "5m", "strlen", "pct", "concat", "`a b`", "@type", "@duration", "sum", "earliest",
           '"', "'"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=12))
def test_any_query_is_refused_cleanly_or_runs(tokens):
    """No query text makes the parser or the evaluator fail with anything but a MalformedQuery-worthy error."""
    query = " ".join(tokens)
    try:
        pipeline = Pipeline(parse_query(query), 100)
    except QuerySyntaxError as e:
        assert e.message
        return
    for group in (LAMBDA, WEB):
        for n, (stream, offset, message) in enumerate(CORPUS[group]):
            pipeline.push(event_record(ACCOUNT, group, 1, n, stream, BASE + offset, BASE, message), len(message))
    pipeline.finish()


def test_a_query_running_past_its_time_ends_timeout(logs, monkeypatch):
    from tsunagi.services.logs.insights import operations

    monkeypatch.setattr(operations, "QUERY_TIMEOUT_MS", -1)

    async def body(h):
        await _load(h)
        qid = (await h.call("start_query", logGroupName=LAMBDA, startTime=0, endTime=10**10,
                            queryString="stats count(*)"))["queryId"]
        out = await _results(h, qid)
        assert (out["status"], out["results"]) == ("Timeout", [])
        assert (await h.call("describe_queries", status="Timeout"))["queries"][0]["queryId"] == qid
        await h.fails(h.call("stop_query", queryId=qid), "InvalidParameterException")
    logs(body)


def test_queries_leave_out_events_past_the_groups_retention(logs):
    async def body(h):
        base = await _load(h)
        await h.call("put_retention_policy", logGroupName=WEB, retentionInDays=1)
        # the corpus's first 5 minutes are now over a day old
        h.clock.advance((base + 300_000 + 86_400_000 - h.now()) / 1000)
        qid = (await h.call("start_query", logGroupNames=[WEB, LAMBDA], startTime=0, endTime=10**10,
                            queryString="stats count(*) as n by @log | sort n desc"))["queryId"]
        out = await _results(h, qid)
        assert [[f["value"] for f in row] for row in out["results"]] == [
            [f"{ACCOUNT}:{LAMBDA}", "10"], [f"{ACCOUNT}:{WEB}", "1"]]
    logs(body)

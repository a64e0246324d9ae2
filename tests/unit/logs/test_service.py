"""The logs service called directly (no HTTP), on SQLite and on PostgreSQL, with a manual clock."""

from __future__ import annotations

from tests.unit.logs.conftest import GROUP, STREAM, Harness

DAY = 86_400_000


# == log groups ================================================================================
def test_create_describe_and_delete_groups(logs):
    async def body(h: Harness) -> None:
        # Given three groups created out of order, one with tags and a KMS key
        await h.group("/b")
        await h.group("/a/x", tags={"team": "core"}, kmsKeyId="arn:aws:kms:us-east-1:000000000000:key/k")
        await h.group("/a/y")
        # When they are described
        groups = (await h.call("describe_log_groups"))["logGroups"]
        # Then they come back in ASCII order with AWS's fields
        assert [g["logGroupName"] for g in groups] == ["/a/x", "/a/y", "/b"]
        ax = groups[0]
        assert ax["arn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/a/x:*"
        assert ax["logGroupArn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/a/x"
        assert ax["creationTime"] == h.now()
        assert ax["storedBytes"] == 0 and ax["metricFilterCount"] == 0
        assert ax["logGroupClass"] == "STANDARD"
        assert ax["kmsKeyId"].endswith("key/k")
        assert "retentionInDays" not in ax
        # And prefix and substring searches narrow them
        by_prefix = (await h.call("describe_log_groups", logGroupNamePrefix="/a/"))["logGroups"]
        assert [g["logGroupName"] for g in by_prefix] == ["/a/x", "/a/y"]
        by_pattern = (await h.call("describe_log_groups", logGroupNamePattern="y"))["logGroups"]
        assert by_pattern == [{"logGroupName": "/a/y", "creationTime": h.now(),
                               "arn": "arn:aws:logs:us-east-1:000000000000:log-group:/a/y:*"}]
        await h.fails(h.call("describe_log_groups", logGroupNamePrefix="/a", logGroupNamePattern="x"),
                      "InvalidParameterException")
        # When one is deleted, it is gone
        await h.call("delete_log_group", logGroupName="/a/x")
        groups = (await h.call("describe_log_groups"))["logGroups"]
        assert [g["logGroupName"] for g in groups] == ["/a/y", "/b"]
        await h.fails(h.call("delete_log_group", logGroupName="/a/x"), "ResourceNotFoundException",
                      "The specified log group does not exist.")

    logs(body)


def test_group_errors(logs):
    async def body(h: Harness) -> None:
        await h.group("g")
        await h.fails(h.group("g"), "ResourceAlreadyExistsException", "The specified log group already exists")
        e = await h.fails(h.group("bad name!"), "InvalidParameterException")
        assert "Member must satisfy regular expression pattern" in e.message
        await h.fails(h.call("put_retention_policy", logGroupName="nope", retentionInDays=1),
                      "ResourceNotFoundException")

    logs(body)


def test_describe_log_groups_pages(logs):
    async def body(h: Harness) -> None:
        for i in range(7):
            await h.group(f"/g/{i}")
        names: list[str] = []
        token = None
        pages = 0
        while True:
            params = {"limit": 3, **({"nextToken": token} if token else {})}
            out = await h.call("describe_log_groups", **params)
            names += [g["logGroupName"] for g in out["logGroups"]]
            pages += 1
            token = out.get("nextToken")
            if not token:
                break
        assert names == [f"/g/{i}" for i in range(7)]
        assert pages == 3
        await h.fails(h.call("describe_log_groups", nextToken="garbage!"), "InvalidParameterException")

    logs(body)


def test_accounts_and_regions_are_isolated(logs):
    async def body(h: Harness) -> None:
        await h.group("shared")
        other = h.context(account="111111111111")
        eu = h.context(region="eu-west-1")
        assert (await h.svc.describe_log_groups(other, {}))["logGroups"] == []
        assert (await h.svc.describe_log_groups(eu, {}))["logGroups"] == []
        await h.svc.create_log_group(other, {"logGroupName": "shared"})  # no clash

    logs(body)


# == log streams ===============================================================================
def test_streams_summaries_and_ordering(logs):
    async def body(h: Harness) -> None:
        await h.group()
        t0 = h.now()
        for name in ("c", "a", "b"):
            await h.stream(name)
        # Given events: a gets the latest ones, c the earliest, b none
        await h.put([(t0 - 5000, "c1"), (t0 - 4000, "c2")], stream="c")
        h.clock.advance(1)
        await h.put([(t0 - 1000, "a1"), (t0, "a2")], stream="a")
        # Then streams are listed by name by default …
        assert [s["logStreamName"] for s in await h.streams()] == ["a", "b", "c"]
        # … or by last event time, either way
        assert [s["logStreamName"] for s in await h.streams(orderBy="LastEventTime", descending=True)] \
            == ["a", "c", "b"]
        assert [s["logStreamName"] for s in await h.streams(orderBy="LastEventTime")] == ["b", "c", "a"]
        # And the summaries say what is in them
        a, b, c = await h.streams()
        assert a["firstEventTimestamp"] == t0 - 1000 and a["lastEventTimestamp"] == t0
        assert a["lastIngestionTime"] == t0 + 1000
        assert c["firstEventTimestamp"] == t0 - 5000 and c["lastEventTimestamp"] == t0 - 4000
        assert c["lastIngestionTime"] == t0
        assert a["storedBytes"] == 0        # always 0 for streams, as AWS reports
        assert a["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}:log-stream:a"
        assert "firstEventTimestamp" not in b and "lastEventTimestamp" not in b
        assert b["creationTime"] == t0
        # And a prefix filters by name
        assert [s["logStreamName"] for s in await h.streams(logStreamNamePrefix="b")] == ["b"]
        await h.fails(h.streams(orderBy="LastEventTime", logStreamNamePrefix="a"), "InvalidParameterException",
                      "Cannot order by LastEventTime with a logStreamNamePrefix.")

    logs(body)


def test_describe_log_streams_pages_both_orders(logs):
    async def body(h: Harness) -> None:
        await h.group()
        t0 = h.now()
        for i in range(5):
            await h.stream(f"s{i}")
            await h.put([(t0 + (4 - i) * 10, "x")], stream=f"s{i}")

        async def all_pages(**params):
            out, token = [], None
            while True:
                page = await h.call("describe_log_streams", logGroupName=GROUP, limit=2,
                                    **params, **({"nextToken": token} if token else {}))
                out += [s["logStreamName"] for s in page["logStreams"]]
                token = page.get("nextToken")
                if not token:
                    return out

        assert await all_pages() == ["s0", "s1", "s2", "s3", "s4"]
        assert await all_pages(descending=True) == ["s4", "s3", "s2", "s1", "s0"]
        assert await all_pages(orderBy="LastEventTime") == ["s4", "s3", "s2", "s1", "s0"]
        assert await all_pages(orderBy="LastEventTime", descending=True) == ["s0", "s1", "s2", "s3", "s4"]

    logs(body)


def test_stream_errors_and_deletion(logs):
    async def body(h: Harness) -> None:
        await h.fails(h.stream(), "ResourceNotFoundException", "The specified log group does not exist.")
        await h.group()
        await h.stream()
        await h.fails(h.stream(), "ResourceAlreadyExistsException", "The specified log stream already exists")
        await h.fails(h.stream("a:b"), "InvalidParameterException")
        await h.put(["hello", "world"])
        groups = (await h.call("describe_log_groups"))["logGroups"]
        assert groups[0]["storedBytes"] == 10
        await h.call("delete_log_stream", logGroupName=GROUP, logStreamName=STREAM)
        assert await h.streams() == []
        assert (await h.call("describe_log_groups"))["logGroups"][0]["storedBytes"] == 0
        assert (await h.filter())["events"] == []
        await h.fails(h.call("delete_log_stream", logGroupName=GROUP, logStreamName=STREAM),
                      "ResourceNotFoundException", "The specified log stream does not exist.")

    logs(body)


# == PutLogEvents ==============================================================================
def test_put_log_events_validation(logs):
    async def body(h: Harness) -> None:
        await h.group()
        await h.stream()
        now = h.now()
        await h.fails(h.put([(now, "b"), (now - 1, "a")]), "InvalidParameterException",
                      "Log events in a single PutLogEvents request must be in chronological order.")
        await h.fails(h.put([(now - DAY - 1, "a"), (now, "b")]), "InvalidParameterException",
                      "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
        await h.fails(h.put([(now, "x" * 1_048_551)]), "InvalidParameterException",
                      "Log event too large: 1048577 bytes exceeds limit of 1048576")
        await h.fails(h.put([(now, "x" * 600_000), (now, "y" * 600_000)]), "InvalidParameterException",
                      "Upload too large: 1200052 bytes exceeds limit of 1048576")
        await h.fails(h.put(["x"], stream="missing"), "ResourceNotFoundException",
                      "The specified log stream does not exist.")
        await h.fails(h.put(["x"], group="missing"), "ResourceNotFoundException",
                      "The specified log group does not exist.")
        # Equal timestamps are in order; the largest event that fits is accepted
        out = await h.put([(now, "x" * 1_048_550), ])
        assert out["nextSequenceToken"].isdigit() and len(out["nextSequenceToken"]) == 56
        assert "rejectedLogEventsInfo" not in out
        out2 = await h.put([(now, "a"), (now, "b")])
        assert int(out2["nextSequenceToken"]) == int(out["nextSequenceToken"]) + 1

    logs(body)


def test_too_old_too_new_and_expired_events_are_rejected_not_failed(logs):
    async def body(h: Harness) -> None:
        await h.group()
        await h.stream()
        now = h.now()
        events = [(now - 15 * DAY, "old1"), (now - 15 * DAY + 1, "old2"), (now - 1, "ok1"), (now, "ok2"),
                  (now + 2 * 3_600_000 + 1, "new1")]
        out = await h.put(events)
        assert out["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 2, "tooNewLogEventStartIndex": 4}
        got = await h.get(startFromHead=True)
        assert [e["message"] for e in got["events"]] == ["ok1", "ok2"]
        # With a retention of 1 day, a 2-day-old event is expired
        await h.call("put_retention_policy", logGroupName=GROUP, retentionInDays=1)
        out = await h.put([(now - 2 * DAY, "expired"), (now, "fine")])
        assert out["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 1}
        # The 24-hour span is measured over the accepted events only
        out = await h.put([(now - 20 * DAY, "old"), (now - 1000, "a"), (now, "b")])
        assert out["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1, "expiredLogEventEndIndex": 1}

    logs(body)


# == GetLogEvents ==============================================================================
def test_get_log_events_default_is_the_latest_page(logs):
    async def body(h: Harness) -> None:
        await h.group()
        await h.stream()
        now = h.now()
        await h.put([(now + i, f"m{i}") for i in range(10)])
        # Without startFromHead: the latest events, oldest first within the page
        out = await h.get(limit=3)
        assert [e["message"] for e in out["events"]] == ["m7", "m8", "m9"]
        assert out["events"][0] == {"timestamp": now + 7, "message": "m7", "ingestionTime": now}
        # Walking backwards reaches the start, then the same token comes back
        back = out["nextBackwardToken"]
        seen = []
        while True:
            page = await h.get(limit=3, nextToken=back)
            if page["nextBackwardToken"] == back:
                assert page["events"] == []
                break
            seen = [e["message"] for e in page["events"]] + seen
            back = page["nextBackwardToken"]
        assert seen == [f"m{i}" for i in range(7)]
        # Forward from the latest page: nothing new, and the same token
        fwd = out["nextForwardToken"]
        again = await h.get(nextToken=fwd)
        assert again["events"] == [] and again["nextForwardToken"] == fwd
        assert fwd.startswith("f/") and len(fwd) == 58
        assert out["nextBackwardToken"].startswith("b/")

    logs(body)


def test_get_log_events_forward_polling_sees_new_events(logs):
    async def body(h: Harness) -> None:
        await h.group()
        await h.stream()
        now = h.now()
        # An empty stream still gives tokens; following them finds what arrives later
        first = await h.get(startFromHead=True)
        assert first["events"] == []
        token = first["nextForwardToken"]
        await h.put([(now, "one"), (now, "two")])
        page = await h.get(startFromHead=True, nextToken=token)
        assert [e["message"] for e in page["events"]] == ["one", "two"]
        token = page["nextForwardToken"]
        page = await h.get(startFromHead=True, nextToken=token)
        assert page["events"] == [] and page["nextForwardToken"] == token
        await h.put([(now + 5, "three")])
        page = await h.get(startFromHead=True, nextToken=token)
        assert [e["message"] for e in page["events"]] == ["three"]
        # From the head, pages of two walk the whole stream
        msgs, token = [], None
        while True:
            page = await h.get(startFromHead=True, limit=2, **({"nextToken": token} if token else {}))
            if token is not None and page["nextForwardToken"] == token:
                break
            msgs += [e["message"] for e in page["events"]]
            token = page["nextForwardToken"]
        assert msgs == ["one", "two", "three"]

    logs(body)


def test_get_log_events_time_range_and_errors(logs):
    async def body(h: Harness) -> None:
        await h.group()
        await h.stream()
        now = h.now()
        await h.put([(now + i * 1000, f"m{i}") for i in range(5)])
        # startTime is inclusive, endTime exclusive
        out = await h.get(startFromHead=True, startTime=now + 1000, endTime=now + 3000)
        assert [e["message"] for e in out["events"]] == ["m1", "m2"]
        # Events put out of order across batches are read in timestamp order
        await h.put([(now + 1500, "late")])
        out = await h.get(startFromHead=True)
        assert [e["message"] for e in out["events"]] == ["m0", "m1", "late", "m2", "m3", "m4"]
        await h.fails(h.get(nextToken="f/123"), "InvalidParameterException", "The specified nextToken is invalid.")
        await h.fails(h.get(stream="nope"), "ResourceNotFoundException", "The specified log stream does not exist.")
        # By identifier: the group's name or its ARN; AWS's pattern refuses the ARN ending in ":*"
        arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}"
        for ident in (GROUP, arn):
            out = await h.call("get_log_events", logGroupIdentifier=ident, logStreamName=STREAM, limit=1)
            assert [e["message"] for e in out["events"]] == ["m4"]
        await h.fails(h.call("get_log_events", logGroupIdentifier=arn + ":*", logStreamName=STREAM),
                      "InvalidParameterException",
                      f"1 validation error detected: Value '{arn}:*' at 'logGroupIdentifier' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: [\\w#+=/:,.@-]*")
        await h.fails(h.call("get_log_events", logGroupIdentifier=GROUP, logGroupName=GROUP,
                             logStreamName=STREAM), "InvalidParameterException")

    logs(body)


# == FilterLogEvents ===========================================================================
def test_filter_log_events_interleaves_streams_and_filters(logs):
    async def body(h: Harness) -> None:
        await h.group()
        now = h.now()
        await h.stream("s1")
        await h.stream("s2")
        await h.put([(now, "START one"), (now + 2, '{"level": "ERROR", "n": 7}'), (now + 4, "END one")],
                    stream="s1")
        await h.put([(now + 1, "START two"), (now + 3, '{"level": "INFO", "n": 3}')], stream="s2")
        out = await h.filter()
        assert [(e["logStreamName"], e["message"]) for e in out["events"]] == [
            ("s1", "START one"), ("s2", "START two"), ("s1", '{"level": "ERROR", "n": 7}'),
            ("s2", '{"level": "INFO", "n": 3}'), ("s1", "END one")]
        assert "nextToken" not in out and out["searchedLogStreams"] == []
        ev = out["events"][0]
        assert set(ev) == {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"}
        assert len({e["eventId"] for e in out["events"]}) == 5

        async def messages(**params):
            return [e["message"] for e in (await h.filter(**params))["events"]]

        assert await messages(filterPattern="START") == ["START one", "START two"]
        assert await messages(filterPattern="START -two") == ["START one"]
        assert await messages(filterPattern="?END ?two") == ["START two", "END one"]
        assert await messages(filterPattern='{ $.level = "ERROR" }') == ['{"level": "ERROR", "n": 7}']
        assert await messages(filterPattern="{ $.n > 5 }") == ['{"level": "ERROR", "n": 7}']
        assert await messages(filterPattern="{ $.n < 5 || $.level = ERROR }") == [
            '{"level": "ERROR", "n": 7}', '{"level": "INFO", "n": 3}']
        assert await messages(logStreamNames=["s2"]) == ["START two", '{"level": "INFO", "n": 3}']
        assert await messages(logStreamNamePrefix="s2") == ["START two", '{"level": "INFO", "n": 3}']
        # Both ends of the time range are inclusive
        assert await messages(startTime=now + 1, endTime=now + 3) == ["START two", '{"level": "ERROR", "n": 7}',
                                                                        '{"level": "INFO", "n": 3}']
        # Newest first when asked
        assert await messages(startFromHead=False, filterPattern="START") == ["START two", "START one"]
        await h.fails(h.filter(filterPattern="{ $.level = "), "InvalidParameterException")
        await h.fails(h.filter(logStreamNames=["s1"], logStreamNamePrefix="s"), "InvalidParameterException")
        await h.fails(h.filter(group="/nope"), "ResourceNotFoundException")

    logs(body)


def test_filter_log_events_pages_with_tokens(logs):
    async def body(h: Harness) -> None:
        await h.group()
        await h.stream()
        now = h.now()
        await h.put([(now + i, f"{'hit' if i % 3 == 0 else 'miss'} {i}") for i in range(30)])
        for ascending in (True, False):
            got, token, pages = [], None, 0
            while True:
                out = await h.filter(filterPattern="hit", limit=4, startFromHead=ascending,
                                     **({"nextToken": token} if token else {}))
                got += [e["message"] for e in out["events"]]
                pages += 1
                token = out.get("nextToken")
                if not token:
                    break
            expected = [f"hit {i}" for i in range(0, 30, 3)]
            assert got == (expected if ascending else expected[::-1])
            assert pages == 3

    logs(body)


# == retention =================================================================================
def test_retention_hides_then_sweeps_expired_events(logs):
    async def body(h: Harness) -> None:
        await h.group()
        await h.stream()
        now = h.now()
        await h.put([(now - 3 * DAY, "old"), (now - 3 * DAY + 1, "old2")])
        await h.put([(now, "new")])
        await h.fails(h.call("put_retention_policy", logGroupName=GROUP, retentionInDays=2),
                      "InvalidParameterException", "Member must satisfy enum value set: [1, 3, 5, 7, 14,")
        await h.call("put_retention_policy", logGroupName=GROUP, retentionInDays=1)
        group = (await h.call("describe_log_groups"))["logGroups"][0]
        assert group["retentionInDays"] == 1
        # Expired events are never returned, even before the sweep deletes them
        assert [e["message"] for e in (await h.get(startFromHead=True))["events"]] == ["new"]
        assert [e["message"] for e in (await h.filter())["events"]] == ["new"]
        assert group["storedBytes"] == 10
        # The sweep deletes them and they stop counting
        assert await h.svc.sweep() == 2
        assert (await h.call("describe_log_groups"))["logGroups"][0]["storedBytes"] == 3
        assert await h.svc.sweep() == 0
        # Time passes: the new one expires too
        h.clock.advance(2 * 86_400)
        assert (await h.filter())["events"] == []
        assert await h.svc.sweep() == 1
        # Without a policy nothing expires
        await h.call("delete_retention_policy", logGroupName=GROUP)
        assert "retentionInDays" not in (await h.call("describe_log_groups"))["logGroups"][0]
        await h.put([(h.now() - 10 * DAY, "kept")])
        h.clock.advance(30 * 86_400)
        assert await h.svc.sweep() == 0
        assert [e["message"] for e in (await h.filter())["events"]] == ["kept"]

    logs(body)


# == tags ======================================================================================
def test_tags_both_apis(logs):
    async def body(h: Harness) -> None:
        await h.group(tags={"a": "1"})
        arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}"
        assert (await h.call("list_tags_for_resource", resourceArn=arn))["tags"] == {"a": "1"}
        # the tagging API takes the ARN without ":*" (AWS's pattern has no '*')
        await h.fails(h.call("tag_resource", resourceArn=arn + ":*", tags={"b": "2"}), "InvalidParameterException",
                      f"1 validation error detected: Value '{arn}:*' at 'resourceArn' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: [\\w+=/:,.@-]*")
        await h.call("tag_resource", resourceArn=arn, tags={"b": "2", "a": "one"})
        assert (await h.call("list_tags_log_group", logGroupName=GROUP))["tags"] == {"a": "one", "b": "2"}
        await h.call("untag_resource", resourceArn=arn, tagKeys=["a"])
        await h.call("tag_log_group", logGroupName=GROUP, tags={"c": "3"})
        await h.call("untag_log_group", logGroupName=GROUP, tags=["b"])
        assert (await h.call("list_tags_for_resource", resourceArn=arn))["tags"] == {"c": "3"}
        await h.fails(h.call("tag_resource", resourceArn=arn, tags={f"k{i}": "v" for i in range(50)}),
                      "TooManyTagsException")
        await h.fails(h.call("list_tags_for_resource", resourceArn=arn.replace(GROUP, "/nope")),
                      "ResourceNotFoundException")
        # A deleted group takes its tags with it
        await h.call("delete_log_group", logGroupName=GROUP)
        await h.group()
        assert (await h.call("list_tags_log_group", logGroupName=GROUP))["tags"] == {}

    logs(body)


def test_deletion_protection(logs):
    async def body(h: Harness) -> None:
        await h.group(deletionProtectionEnabled=True)
        assert (await h.call("describe_log_groups"))["logGroups"][0]["deletionProtectionEnabled"] is True
        await h.fails(h.call("delete_log_group", logGroupName=GROUP), "ValidationException")
        await h.call("put_log_group_deletion_protection", logGroupIdentifier=GROUP, deletionProtectionEnabled=False)
        await h.call("delete_log_group", logGroupName=GROUP)

    logs(body)


# == the internal API ==========================================================================
def test_append_creates_group_and_stream_in_one_transaction(logs):
    async def body(h: Harness) -> None:
        store = h.svc.store
        opened = 0
        real = store.transaction

        def counting():
            nonlocal opened
            opened += 1
            return real()

        store.transaction = counting  # type: ignore[method-assign]
        now = h.now()
        lines = [(now + i, f"line {i}\n") for i in range(1000)]
        await h.svc.append("000000000000", "us-east-1", "/aws/lambda/f", "2024/07/02/[$LATEST]abc", lines)
        assert opened == 1
        await h.svc.append("000000000000", "us-east-1", "/aws/lambda/f", "2024/07/02/[$LATEST]abc",
                           [(now + 2000, "more")])
        assert opened == 2
        store.transaction = real  # type: ignore[method-assign]

        streams = await h.streams("/aws/lambda/f")
        assert [s["logStreamName"] for s in streams] == ["2024/07/02/[$LATEST]abc"]
        assert streams[0]["firstEventTimestamp"] == now and streams[0]["lastEventTimestamp"] == now + 2000
        out = await h.get("2024/07/02/[$LATEST]abc", "/aws/lambda/f", startFromHead=True)
        assert len(out["events"]) == 1001 and out["events"][0]["message"] == "line 0\n"

    logs(body)


def test_append_after_the_group_was_deleted_recreates_it(logs):
    async def body(h: Harness) -> None:
        now = h.now()
        await h.svc.append("000000000000", "us-east-1", "/aws/lambda/f", "s", [(now, "one")])
        await h.call("delete_log_group", logGroupName="/aws/lambda/f")
        await h.svc.append("000000000000", "us-east-1", "/aws/lambda/f", "s", [(now, "two")])
        out = await h.filter("/aws/lambda/f")
        assert [e["message"] for e in out["events"]] == ["two"]
        # Deleted through another path (a stream, then the cache is stale): still fine
        await h.call("delete_log_stream", logGroupName="/aws/lambda/f", logStreamName="s")
        await h.svc.append("000000000000", "us-east-1", "/aws/lambda/f", "s", [(now, "three")])
        assert [e["message"] for e in (await h.filter("/aws/lambda/f"))["events"]] == ["three"]
        assert (await h.call("describe_log_groups"))["logGroups"][0]["storedBytes"] == len("three")
        # Another account's function logs go to its own group
        await h.svc.append("111111111111", "us-east-1", "/aws/lambda/f", "s", [(now, "theirs")])
        assert [e["message"] for e in (await h.filter("/aws/lambda/f"))["events"]] == ["three"]
        assert (await h.call("describe_log_groups"))["logGroups"][0]["storedBytes"] == len("three")

    logs(body)


def test_append_to_an_existing_group_keeps_its_settings(logs):
    async def body(h: Harness) -> None:
        await h.group("/aws/lambda/f", tags={"k": "v"})
        await h.call("put_retention_policy", logGroupName="/aws/lambda/f", retentionInDays=7)
        await h.svc.append("000000000000", "us-east-1", "/aws/lambda/f", "s", [(h.now(), "x")])
        g = (await h.call("describe_log_groups"))["logGroups"][0]
        assert g["retentionInDays"] == 7 and g["storedBytes"] == 1
        assert (await h.call("list_tags_log_group", logGroupName="/aws/lambda/f"))["tags"] == {"k": "v"}

    logs(body)


def test_unusual_messages_round_trip(logs):
    async def body(h: Harness) -> None:
        await h.group()
        await h.stream()
        now = h.now()
        messages = ["日本語のログ 🚀", "tab\tand\nnewline", "quote ' and \" and %", "nul\x00byte"]
        await h.put([(now, m) for m in messages])
        got = [e["message"] for e in (await h.get(startFromHead=True))["events"]]
        assert got[:3] == messages[:3]
        # PostgreSQL text cannot hold NUL: it is stored as U+FFFD there
        assert got[3] in ("nul\x00byte", "nul\ufffdbyte")
        assert (await h.filter(filterPattern='"日本語"'))["events"][0]["message"] == messages[0]
        assert (await h.filter(filterPattern='"%"'))["events"][0]["message"] == messages[2]
        group = (await h.call("describe_log_groups"))["logGroups"][0]
        assert group["storedBytes"] == sum(len(m.encode()) for m in messages)

    logs(body)

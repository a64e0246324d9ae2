"""ListLogGroups and log group classes, called on the service (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.unit.logs.conftest import Harness

ARN = "arn:aws:logs:us-east-1:000000000000:log-group:"


def test_list_log_groups_patterns_classes_and_pages(logs):
    async def body(h: Harness) -> None:
        # Given groups of the three classes, one tagged
        await h.group("/aws/lambda/a")
        await h.group("/aws/lambda/b", logGroupClass="INFREQUENT_ACCESS", tags={"team": "core"})
        await h.group("/app/DataLogs", logGroupClass="DELIVERY")
        await h.group("/app/datalogs")
        # When all are listed: name order, AWS's summary shape
        out = await h.call("list_log_groups")
        assert out["logGroups"][0] == {"logGroupName": "/app/DataLogs", "logGroupArn": ARN + "/app/DataLogs",
                                       "logGroupClass": "DELIVERY"}
        assert [g["logGroupName"] for g in out["logGroups"]] == ["/app/DataLogs", "/app/datalogs",
                                                                 "/aws/lambda/a", "/aws/lambda/b"]
        assert "nextToken" not in out

        async def names(**params: object) -> list[str]:
            return [g["logGroupName"] for g in (await h.call("list_log_groups", **params))["logGroups"]]
        # A pattern is a case-sensitive substring, a prefix with ^, alternatives with |
        assert await names(logGroupNamePattern="DataLogs") == ["/app/DataLogs"]
        assert await names(logGroupNamePattern="^/aws/lambda") == ["/aws/lambda/a", "/aws/lambda/b"]
        assert await names(logGroupNamePattern="^/aws/lambda/a|datalogs") == ["/app/datalogs", "/aws/lambda/a"]
        # The class and tag filters
        assert await names(logGroupClass="INFREQUENT_ACCESS") == ["/aws/lambda/b"]
        assert await names(logGroupClass="DELIVERY", logGroupNamePattern="app") == ["/app/DataLogs"]
        assert await names(logGroupTags=[{"key": "team", "values": ["core"]}]) == ["/aws/lambda/b"]
        assert await names(logGroupTags=[{"key": "team", "values": ["other"]}]) == []
        # No group has field indexes or data sources; no source accounts are linked
        assert await names(fieldIndexNames=["requestId"]) == []
        assert await names(includeLinkedAccounts=True) == await names()
        assert await names(includeLinkedAccounts=True, accountIdentifiers=["111111111111"]) == []
        # Pages: full pages of matching groups, a token while more may follow
        first = await h.call("list_log_groups", limit=1, logGroupNamePattern="^/aws")
        assert [g["logGroupName"] for g in first["logGroups"]] == ["/aws/lambda/a"]
        second = await h.call("list_log_groups", limit=1, logGroupNamePattern="^/aws", nextToken=first["nextToken"])
        assert [g["logGroupName"] for g in second["logGroups"]] == ["/aws/lambda/b"]
        assert "nextToken" not in second
        # Bad input: AWS's pattern, a foreign token
        await h.fails(h.call("list_log_groups", logGroupNamePattern="a*"), "InvalidParameterException",
                      "1 validation error detected: Value 'a*' at 'logGroupNamePattern' failed to satisfy constraint: "
                      "Member must satisfy regular expression pattern: "
                      "(\\^?[\\.\\-_\\/#A-Za-z0-9]{3,24})(\\|\\^?[\\.\\-_\\/#A-Za-z0-9]{3,24}){0,4}")
        await h.fails(h.call("list_log_groups", nextToken="nope!"), "InvalidParameterException",
                      "The specified nextToken is invalid.")
        # DescribeLogGroups reports the class and filters by it before paging
        described = (await h.call("describe_log_groups", logGroupClass="INFREQUENT_ACCESS", limit=1))
        assert [g["logGroupName"] for g in described["logGroups"]] == ["/aws/lambda/b"]
        assert described["logGroups"][0]["logGroupClass"] == "INFREQUENT_ACCESS"
        assert "nextToken" not in described
        # a Delivery class group keeps its events one day, as on AWS
        delivery = (await h.call("describe_log_groups", logGroupNamePrefix="/app/DataLogs"))["logGroups"][0]
        assert delivery["logGroupClass"] == "DELIVERY" and delivery["retentionInDays"] == 1
        # logGroupIdentifiers take names and ARNs without ":*"
        await h.fails(h.call("describe_log_groups", logGroupIdentifiers=[ARN + "/aws/lambda/a:*"]),
                      "InvalidParameterException")
        got = await h.call("describe_log_groups", logGroupIdentifiers=[ARN + "/aws/lambda/a", "/app/datalogs"])
        assert [g["logGroupName"] for g in got["logGroups"]] == ["/app/datalogs", "/aws/lambda/a"]

    logs(body)

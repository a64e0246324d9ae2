"""Subscription and metric filters on the service (SQLite and PostgreSQL): what is stored, what a
write turns into (outbox rows for subscriptions, data points for metric filters), and the loop guard."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from dataclasses import dataclass
from typing import Any

from tests.unit.logs.conftest import GROUP, STREAM, Harness
from tsunagi.ports.awslambda import LAMBDA
from tsunagi.ports.cloudwatch import CLOUDWATCH, Datum

FN = "arn:aws:lambda:us-east-1:000000000000:function:shipper"
ALLOW_LOGS = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "logs", "Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"},
    "Action": "lambda:InvokeFunction", "Resource": FN}]})


@dataclass
class Fn:
    arn: str
    account: str
    region: str
    name: str
    timeout: int
    role: str
    policy: str | None
    log_group: str


class Functions:
    """A LambdaPort that knows one function, with a policy and a log group the test sets."""

    def __init__(self) -> None:
        self.fn = Fn(FN, "000000000000", "us-east-1", "shipper", 3, "", ALLOW_LOGS, "/aws/lambda/shipper")

    async def function(self, arn_or_name: str, account: str, region: str) -> Fn | None:
        return self.fn if arn_or_name in (FN, "shipper", FN + ":$LATEST") else None


class Metrics:
    def __init__(self) -> None:
        self.data: list[tuple[str, str, Datum]] = []

    async def put(self, account: str, region: str, data: list[Datum]) -> None:
        self.data += [(account, region, d) for d in data]


def with_ports(h: Harness) -> tuple[Functions, Metrics]:
    functions, metrics = Functions(), Metrics()
    h.svc.platform.ports.provide(LAMBDA, functions)  # type: ignore[arg-type]
    h.svc.platform.ports.provide(CLOUDWATCH, metrics)
    return functions, metrics


async def outbox(h: Harness) -> list[dict[str, Any]]:
    """The awslogs documents waiting in the outbox, decoded, oldest first."""
    rows = await h.svc.store.fetchall("SELECT kind, target, payload FROM outbox ORDER BY id")
    out = []
    for kind, target, payload in rows:
        assert kind == "lambda" and target == FN
        doc = json.loads(payload)
        assert doc["source_service"] == "logs.amazonaws.com"
        body = json.loads(doc["params"]["Payload"])
        out.append(json.loads(gzip.decompress(base64.b64decode(body["awslogs"]["data"]))))
    await h.svc.store.execute("DELETE FROM outbox")
    return out


def test_subscription_filters(logs):
    async def body(h: Harness) -> None:
        functions, _ = with_ports(h)
        await h.group()
        await h.stream()
        sub = {"logGroupName": GROUP, "filterName": "errors", "filterPattern": "ERROR", "destinationArn": FN}
        # Given a subscription filter: a control message goes to the function
        await h.call("put_subscription_filter", **sub)
        [control] = await outbox(h)
        assert control["messageType"] == "CONTROL_MESSAGE" and control["owner"] == "CloudwatchLogs"
        assert control["logEvents"][0]["message"].startswith("CWL CONTROL MESSAGE: Checking health of destination")
        described = (await h.call("describe_subscription_filters", logGroupName=GROUP))["subscriptionFilters"]
        assert described == [{"filterName": "errors", "logGroupName": GROUP, "filterPattern": "ERROR",
                              "destinationArn": FN, "distribution": "ByLogStream", "applyOnTransformedLogs": False,
                              "creationTime": h.now()}]
        # When events are written, the matching ones are in one DATA_MESSAGE
        await h.put(["INFO fine", "ERROR one", "ERROR two"])
        [data] = await outbox(h)
        assert data["messageType"] == "DATA_MESSAGE" and data["owner"] == "000000000000"
        assert data["logGroup"] == GROUP and data["logStream"] == STREAM
        assert data["subscriptionFilters"] == ["errors"]
        assert [e["message"] for e in data["logEvents"]] == ["ERROR one", "ERROR two"]
        assert all(len(e["id"]) == 56 and e["timestamp"] == h.now() for e in data["logEvents"])
        await h.put(["nothing to see"])
        assert await outbox(h) == []
        # A second filter is allowed, a third is not (a replaced one does not count)
        await h.call("put_subscription_filter", **{**sub, "filterName": "all", "filterPattern": ""})
        await h.call("put_subscription_filter", **{**sub, "filterPattern": "WARN"})
        await h.fails(h.call("put_subscription_filter", **{**sub, "filterName": "third"}),
                      "LimitExceededException", "Resource limit exceeded.")
        await outbox(h)
        await h.put(["WARN x"])
        docs = await outbox(h)
        assert sorted(d["subscriptionFilters"][0] for d in docs) == ["all", "errors"]
        # Destinations AWS accepts but tsunagi does not run, and functions that cannot be invoked
        await h.fails(h.call("put_subscription_filter", **{
            **sub, "destinationArn": "arn:aws:kinesis:us-east-1:000000000000:stream/s"}),
            "InvalidParameterException", "arn:aws:kinesis:us-east-1:000000000000:stream/s is not supported")
        await h.fails(h.call("put_subscription_filter", **{
            **sub, "destinationArn": "arn:aws:firehose:us-east-1:000000000000:deliverystream/d"}),
            "InvalidParameterException", "Amazon Data Firehose")
        await h.fails(h.call("put_subscription_filter", **{**sub, "destinationArn": FN.replace("shipper", "nope")}),
                      "InvalidParameterException", "Could not execute the lambda function. Make sure you have given "
                      "CloudWatch Logs permission to execute your function.")
        functions.fn.policy = None
        h.svc.platform.config.policies = "enforce"
        await h.fails(h.call("put_subscription_filter", **sub), "InvalidParameterException",
                      "Could not execute the lambda function.")
        await h.fails(h.call("put_subscription_filter", **{**sub, "filterPattern": '{ $.x = '}),
                      "InvalidParameterException", "Invalid filter pattern")
        await h.fails(h.call("put_subscription_filter", **{**sub, "logGroupName": "/nope"}),
                      "ResourceNotFoundException", "The specified log group does not exist.")
        # Deleting
        await h.call("delete_subscription_filter", logGroupName=GROUP, filterName="all")
        await h.fails(h.call("delete_subscription_filter", logGroupName=GROUP, filterName="all"),
                      "ResourceNotFoundException", "The specified subscription filter does not exist.")
        names = [f["filterName"] for f in (await h.call("describe_subscription_filters",
                                                        logGroupName=GROUP))["subscriptionFilters"]]
        assert names == ["errors"]

    logs(body)


def test_a_function_subscribed_to_its_own_log_group_does_not_feed_itself(logs):
    async def body(h: Harness) -> None:
        functions, _ = with_ports(h)
        functions.fn.log_group = GROUP            # the function logs to the group it is subscribed to
        await h.group()
        await h.stream()
        await h.call("put_subscription_filter", logGroupName=GROUP, filterName="all", filterPattern="",
                     destinationArn=FN)
        await outbox(h)
        # Its own output arrives through the Logs port: not delivered back to it
        await h.svc.append("000000000000", "us-east-1", GROUP, "2024/01/01/[$LATEST]x", [(h.now(), "START")])
        assert await outbox(h) == []
        # Events other writers put are delivered
        await h.put(["from an application"])
        assert [d["logEvents"][0]["message"] for d in await outbox(h)] == ["from an application"]
        # Another function's output written through the port to a subscribed group is delivered
        await h.group("/aws/lambda/other")
        await h.call("put_subscription_filter", logGroupName="/aws/lambda/other", filterName="all",
                     filterPattern="", destinationArn=FN)
        await outbox(h)
        await h.svc.append("000000000000", "us-east-1", "/aws/lambda/other", "s", [(h.now(), "REPORT")])
        assert [d["logGroup"] for d in await outbox(h)] == ["/aws/lambda/other"]

    logs(body)


def test_large_writes_are_split_into_payloads(logs):
    async def body(h: Harness) -> None:
        with_ports(h)
        await h.group()
        await h.stream()
        await h.call("put_subscription_filter", logGroupName=GROUP, filterName="all", filterPattern="",
                     destinationArn=FN)
        await outbox(h)
        await h.put(["x" * 100_000] * 6)
        docs = await outbox(h)
        assert len(docs) == 3 and sum(len(d["logEvents"]) for d in docs) == 6

    logs(body)


async def settle(h: Harness) -> None:
    for _ in range(5):
        await asyncio.sleep(0)
    while h.svc.fanout._tasks:
        await asyncio.sleep(0.01)


def test_metric_filters_emit_data_points(logs):
    async def body(h: Harness) -> None:
        _, metrics = with_ports(h)
        await h.group()
        await h.stream()
        # Given a count of errors, a latency from JSON and a per-status byte count from delimited fields
        await h.call("put_metric_filter", logGroupName=GROUP, filterName="errors", filterPattern="ERROR",
                     metricTransformations=[{"metricName": "Errors", "metricNamespace": "App",
                                             "metricValue": "1", "defaultValue": 0, "unit": "Count"}])
        await h.call("put_metric_filter", logGroupName=GROUP, filterName="latency",
                     filterPattern='{ $.latency > 0 }',
                     metricTransformations=[{"metricName": "Latency", "metricNamespace": "App",
                                             "metricValue": "$.latency", "unit": "Milliseconds",
                                             "dimensions": {"Route": "$.route"}}])
        await h.call("put_metric_filter", logGroupName=GROUP, filterName="bytes",
                     filterPattern="[ip, user, status, size]",
                     metricTransformations=[{"metricName": "Bytes", "metricNamespace": "Web",
                                             "metricValue": "$size", "dimensions": {"Status": "$status"}}])
        groups = (await h.call("describe_log_groups"))["logGroups"]
        assert groups[0]["metricFilterCount"] == 3
        now = h.now()
        await h.put([(now, "ERROR boom"), (now + 1, '{"latency": 42.5, "route": "/a"}'),
                     (now + 2, '{"latency": "slow", "route": "/a"}'), (now + 3, "10.0.0.1 bob 200 512")])
        await settle(h)
        got = sorted((d.namespace, d.name, d.value, d.unit, d.dimensions) for _, _, d in metrics.data)
        assert got == [("App", "Errors", 1.0, "Count", ()),
                       ("App", "Latency", 42.5, "Milliseconds", (("Route", "/a"),)),
                       ("Web", "Bytes", 512.0, "None", (("Status", "200"),))]
        assert all(acct == "000000000000" and region == "us-east-1" for acct, region, _ in metrics.data)
        # A write with no error in its minute reports the default value once for that minute
        metrics.data.clear()
        h.clock.advance(120_000)
        await h.put(["INFO a", "INFO b"])
        await settle(h)
        assert [(d.name, d.value) for _, _, d in metrics.data] == [("Errors", 0.0)]
        # Function output through the Logs port counts as well
        metrics.data.clear()
        await h.svc.append("000000000000", "us-east-1", GROUP, "fn-stream", [(h.now(), "ERROR in function")])
        await settle(h)
        assert [(d.name, d.value) for _, _, d in metrics.data] == [("Errors", 1.0)]

    logs(body)


def test_metric_filter_api(logs):
    async def body(h: Harness) -> None:
        await h.group()
        await h.group("/other")
        t = [{"metricName": "Errors", "metricNamespace": "App", "metricValue": "1"}]
        await h.call("put_metric_filter", logGroupName=GROUP, filterName="b", filterPattern="ERROR",
                     metricTransformations=t)
        await h.call("put_metric_filter", logGroupName=GROUP, filterName="a", filterPattern="WARN",
                     metricTransformations=[{**t[0], "metricName": "Warnings"}])
        await h.call("put_metric_filter", logGroupName="/other", filterName="c", filterPattern="",
                     metricTransformations=t)
        every = (await h.call("describe_metric_filters"))["metricFilters"]
        assert [(f["logGroupName"], f["filterName"]) for f in every] == [("/aws/lambda/fn", "a"),
                                                                         ("/aws/lambda/fn", "b"), ("/other", "c")]
        assert every[1] == {"filterName": "b", "filterPattern": "ERROR", "logGroupName": GROUP,
                            "metricTransformations": [{"metricName": "Errors", "metricNamespace": "App",
                                                       "metricValue": "1"}],
                            "applyOnTransformedLogs": False, "creationTime": h.now()}
        by_metric = (await h.call("describe_metric_filters", metricName="Errors", metricNamespace="App"))
        assert [f["filterName"] for f in by_metric["metricFilters"]] == ["b", "c"]
        page = await h.call("describe_metric_filters", limit=2)
        rest = await h.call("describe_metric_filters", limit=2, nextToken=page["nextToken"])
        assert [f["filterName"] for f in page["metricFilters"] + rest["metricFilters"]] == ["a", "b", "c"]
        assert "nextToken" not in rest
        prefixed = await h.call("describe_metric_filters", logGroupName=GROUP, filterNamePrefix="b")
        assert [f["filterName"] for f in prefixed["metricFilters"]] == ["b"]
        # Bad transformations
        bad = [({**t[0], "metricValue": "$.x"}, "ERROR"), ({**t[0], "metricValue": "$size"}, "[ip, bytes]"),
               ({**t[0], "metricValue": "many"}, ""),
               ({**t[0], "dimensions": {"A": "$.a"}, "defaultValue": 0.0}, "{ $.a = 1 }")]
        for transformation, pattern in bad:
            await h.fails(h.call("put_metric_filter", logGroupName=GROUP, filterName="x", filterPattern=pattern,
                                 metricTransformations=[transformation]), "InvalidParameterException")
        await h.fails(h.call("put_metric_filter", logGroupName=GROUP, filterName="x", filterPattern="{ $.a = ",
                             metricTransformations=t), "InvalidParameterException", "Invalid metric filter pattern")
        await h.call("delete_metric_filter", logGroupName=GROUP, filterName="a")
        await h.fails(h.call("delete_metric_filter", logGroupName=GROUP, filterName="a"),
                      "ResourceNotFoundException", "The specified metric filter does not exist.")
        # A deleted group takes its filters with it
        await h.call("delete_log_group", logGroupName="/other")
        assert [f["filterName"] for f in (await h.call("describe_metric_filters"))["metricFilters"]] == ["b"]

    logs(body)


def test_test_metric_filter(logs):
    async def body(h: Harness) -> None:
        out = await h.call("test_metric_filter", filterPattern="[ip, user, ..., status = 4*, size]",
                           logEventMessages=['127.0.0.1 frank [10/Oct/2000:13:25:15 -0700] "GET /a" 404 1534',
                                             '127.0.0.1 frank [10/Oct/2000:13:25:15 -0700] "GET /b" 200 99'])
        assert out == {"matches": [{
            "eventNumber": 1, "eventMessage": '127.0.0.1 frank [10/Oct/2000:13:25:15 -0700] "GET /a" 404 1534',
            "extractedValues": {"$ip": "127.0.0.1", "$user": "frank", "$status": "404", "$size": "1534"}}]}
        out = await h.call("test_metric_filter", filterPattern='{ $.level = "ERROR" && $.ms > 100 }',
                           logEventMessages=['{"level": "ERROR", "ms": 250}', '{"level": "ERROR", "ms": 5}', "x"])
        assert out["matches"] == [{"eventNumber": 1, "eventMessage": '{"level": "ERROR", "ms": 250}',
                                   "extractedValues": {"$.level": "ERROR", "$.ms": "250"}}]
        out = await h.call("test_metric_filter", filterPattern="ERROR -DEBUG", logEventMessages=["ERROR a", "DEBUG ERROR"])
        assert out["matches"] == [{"eventNumber": 1, "eventMessage": "ERROR a", "extractedValues": {}}]
        await h.fails(h.call("test_metric_filter", filterPattern="[a, ...,", logEventMessages=["x"]),
                      "InvalidParameterException")

    logs(body)


def test_without_a_metrics_service_metric_filters_are_skipped(logs):
    async def body(h: Harness) -> None:
        await h.group()
        await h.stream()
        await h.call("put_metric_filter", logGroupName=GROUP, filterName="errors", filterPattern="ERROR",
                     metricTransformations=[{"metricName": "Errors", "metricNamespace": "App", "metricValue": "1"}])
        assert h.svc.platform.ports.find(CLOUDWATCH) is None
        # writes succeed, and nothing is left running or failing
        await h.put(["ERROR a"])
        await h.svc.append("000000000000", "us-east-1", GROUP, "s", [(h.now(), "ERROR b")])
        await settle(h)
        assert len((await h.get(startFromHead=True))["events"]) == 1

    logs(body)

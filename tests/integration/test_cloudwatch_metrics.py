"""CloudWatch metrics end to end: PutMetricData, ListMetrics, GetMetricStatistics and GetMetricData with
metric math, over the JSON protocol (today's boto3), the query protocol (the aws CLI v1, older SDKs) and
Smithy RPC v2 CBOR (newer SDKs), on SQLite and PostgreSQL; bad input answers AWS's errors."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from botocore.exceptions import ClientError

from tests.integration.cloudwatch_support import aws, client

PROTOCOLS = ["json", "query", "cbor"]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def window(minutes: int = 10) -> dict:
    t = now()
    return {"StartTime": t - dt.timedelta(minutes=minutes), "EndTime": t + dt.timedelta(minutes=1)}


def error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, excinfo.value.response
    return err["Code"], err.get("Message", "")


API = [{"Name": "Api", "Value": "orders"}]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_values_statistic_sets_and_value_lists_aggregate_per_minute(server, protocol) -> None:
    cw = client(server, protocol)
    data = [{"MetricName": "Latency", "Value": v, "Unit": "Milliseconds", "Dimensions": API} for v in (1, 2, 3, 4)]
    data.append({"MetricName": "Latency", "Values": [10, 20], "Counts": [1, 3], "Unit": "Milliseconds",
                 "Dimensions": API})
    data.append({"MetricName": "Latency", "StatisticValues": {"SampleCount": 2, "Sum": 100, "Minimum": 40,
                                                             "Maximum": 60}, "Unit": "Milliseconds",
                 "Dimensions": API})
    cw.put_metric_data(Namespace="Shop", MetricData=data)
    points = cw.get_metric_statistics(Namespace="Shop", MetricName="Latency", Dimensions=API, Period=60,
                                      Statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum"],
                                      **window())["Datapoints"]
    assert len(points) == 1, points
    p = points[0]
    assert (p["SampleCount"], p["Sum"], p["Minimum"], p["Maximum"], p["Unit"]) == (10.0, 180.0, 1.0, 60.0,
                                                                                   "Milliseconds")
    assert p["Average"] == 18.0
    assert p["Timestamp"].second == 0
    # percentiles come from the values (statistic sets carry none)
    ext = cw.get_metric_statistics(Namespace="Shop", MetricName="Latency", Dimensions=API, Period=60,
                                   ExtendedStatistics=["p50", "p99"], **window())["Datapoints"][0]
    assert ext["ExtendedStatistics"] == {"p50": 4.0, "p99": 20.0}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_list_metrics_filters_by_namespace_name_and_dimensions(server, protocol) -> None:
    cw = client(server, protocol)
    cw.put_metric_data(Namespace="Shop", MetricData=[
        {"MetricName": "Orders", "Value": 1, "Dimensions": [{"Name": "Region", "Value": "eu"}]},
        {"MetricName": "Orders", "Value": 1, "Dimensions": [{"Name": "Region", "Value": "us"}]},
        {"MetricName": "Errors", "Value": 1}])
    cw.put_metric_data(Namespace="Billing", MetricData=[{"MetricName": "Orders", "Value": 1}])
    every = cw.list_metrics()["Metrics"]
    assert len(every) == 4
    shop = cw.list_metrics(Namespace="Shop")["Metrics"]
    assert sorted((m["MetricName"], tuple(d["Value"] for d in m.get("Dimensions", []))) for m in shop) == [
        ("Errors", ()), ("Orders", ("eu",)), ("Orders", ("us",))]
    eu = cw.list_metrics(Namespace="Shop", Dimensions=[{"Name": "Region", "Value": "eu"}])["Metrics"]
    assert eu == [{"Namespace": "Shop", "MetricName": "Orders", "Dimensions": [{"Name": "Region", "Value": "eu"}]}]
    any_region = cw.list_metrics(Dimensions=[{"Name": "Region"}])["Metrics"]
    assert len(any_region) == 2
    assert len(cw.list_metrics(MetricName="Orders", RecentlyActive="PT3H")["Metrics"]) == 3


def test_list_metrics_pages_by_500(server) -> None:
    cw = client(server)
    for batch in range(3):
        cw.put_metric_data(Namespace="Many", MetricData=[
            {"MetricName": f"m{batch}", "Value": 1, "Dimensions": [{"Name": "N", "Value": str(i)}]}
            for i in range(300)])
    first = cw.list_metrics(Namespace="Many")
    assert len(first["Metrics"]) == 500 and "NextToken" in first
    second = cw.list_metrics(Namespace="Many", NextToken=first["NextToken"])
    assert len(second["Metrics"]) == 400 and "NextToken" not in second
    names = {(m["MetricName"], m["Dimensions"][0]["Value"]) for m in first["Metrics"] + second["Metrics"]}
    assert len(names) == 900
    with pytest.raises(ClientError) as e:
        cw.list_metrics(NextToken="not a token")
    assert error(e)[0] == "InvalidNextToken"


def test_high_resolution_data_keeps_seconds(server) -> None:
    cw = client(server)
    base = now().replace(microsecond=0) - dt.timedelta(seconds=30)
    cw.put_metric_data(Namespace="Fast", MetricData=[
        {"MetricName": "Ticks", "Value": i, "StorageResolution": 1, "Timestamp": base + dt.timedelta(seconds=i)}
        for i in range(5)])
    points = cw.get_metric_statistics(Namespace="Fast", MetricName="Ticks", Period=1, Statistics=["Sum"],
                                      StartTime=base - dt.timedelta(seconds=5),
                                      EndTime=base + dt.timedelta(seconds=10))["Datapoints"]
    assert sorted(p["Sum"] for p in points) == [0.0, 1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_get_metric_data_with_metric_math(server, protocol) -> None:
    cw = client(server, protocol)
    t0 = now().replace(second=0, microsecond=0) - dt.timedelta(minutes=5)
    for i, (ok, bad) in enumerate([(10, 0), (8, 2), (5, 5)]):
        ts = t0 + dt.timedelta(minutes=i)
        cw.put_metric_data(Namespace="Shop", MetricData=[
            {"MetricName": "Requests", "Value": ok + bad, "Timestamp": ts},
            {"MetricName": "Failures", "Value": bad, "Timestamp": ts}])

    def stat(qid: str, name: str) -> dict:
        return {"Id": qid, "MetricStat": {"Metric": {"Namespace": "Shop", "MetricName": name}, "Period": 60,
                                          "Stat": "Sum"}, "ReturnData": False}

    out = cw.get_metric_data(MetricDataQueries=[
        stat("req", "Requests"), stat("fail", "Failures"),
        {"Id": "rate", "Expression": "100 * fail / req", "Label": "Error rate"},
        {"Id": "total", "Expression": "SUM([req, fail])"},
        {"Id": "diff", "Expression": "DIFF(fail)"},
        {"Id": "flag", "Expression": "IF(fail > 1, 1, 0)"},
        {"Id": "avg", "Expression": "AVG(req) + 0 * req"},
    ], StartTime=t0 - dt.timedelta(minutes=1), EndTime=t0 + dt.timedelta(minutes=4), ScanBy="TimestampAscending")
    res = {r["Id"]: r for r in out["MetricDataResults"]}
    assert set(res) == {"rate", "total", "diff", "flag", "avg"}       # ReturnData False hides req and fail
    assert res["rate"]["Label"] == "Error rate"
    assert res["rate"]["Values"] == [0.0, 20.0, 50.0]
    assert [t.replace(tzinfo=None) for t in res["rate"]["Timestamps"]] == [
        (t0 + dt.timedelta(minutes=i)).replace(tzinfo=None) for i in range(3)] or \
        [t.astimezone(dt.UTC) for t in res["rate"]["Timestamps"]] == [t0 + dt.timedelta(minutes=i) for i in range(3)]
    assert res["total"]["Values"] == [10.0, 12.0, 15.0]
    assert res["diff"]["Values"] == [2.0, 3.0]
    assert res["flag"]["Values"] == [0.0, 1.0, 1.0]
    assert res["avg"]["Values"] == [10.0, 10.0, 10.0]
    assert all(r["StatusCode"] == "Complete" for r in out["MetricDataResults"])


def test_get_metric_data_fill_rate_scan_order_and_pages(server) -> None:
    cw = client(server)
    t0 = now().replace(second=0, microsecond=0) - dt.timedelta(minutes=6)
    for i in (0, 1, 3, 4):
        cw.put_metric_data(Namespace="Shop", MetricData=[{"MetricName": "Sold", "Value": 60 * (i + 1),
                                                          "Timestamp": t0 + dt.timedelta(minutes=i)}])
    span = {"StartTime": t0, "EndTime": t0 + dt.timedelta(minutes=5)}
    m = {"Id": "m", "MetricStat": {"Metric": {"Namespace": "Shop", "MetricName": "Sold"}, "Period": 60,
                                   "Stat": "Sum"}}
    out = cw.get_metric_data(MetricDataQueries=[m, {"Id": "f", "Expression": "FILL(m, 0)"},
                                                {"Id": "r", "Expression": "RATE(m)"}], **span)
    res = {r["Id"]: r for r in out["MetricDataResults"]}
    assert res["m"]["Values"] == [300.0, 240.0, 120.0, 60.0]               # newest first by default
    assert res["f"]["Values"] == [300.0, 240.0, 0.0, 120.0, 60.0]
    assert res["r"]["Values"] == [1.0, 1.0, 1.0]                           # per second
    page1 = cw.get_metric_data(MetricDataQueries=[m], MaxDatapoints=3, ScanBy="TimestampAscending", **span)
    assert page1["MetricDataResults"][0]["Values"] == [60.0, 120.0, 240.0]
    assert page1["MetricDataResults"][0]["StatusCode"] == "PartialData"
    page2 = cw.get_metric_data(MetricDataQueries=[m], MaxDatapoints=3, ScanBy="TimestampAscending",
                               NextToken=page1["NextToken"], **span)
    assert page2["MetricDataResults"][0]["Values"] == [300.0]
    assert "NextToken" not in page2


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_bad_put_metric_data_answers_aws_errors(server, protocol) -> None:
    cw = client(server, protocol)
    old = now() - dt.timedelta(days=15)
    cases = [
        ({"Namespace": "AWS/EC2", "MetricData": [{"MetricName": "a", "Value": 1}]},
         ("InvalidParameterValue", "The value AWS/EC2 for parameter Namespace is invalid.")),
        ({"Namespace": "x", "MetricData": [{"MetricName": "a", "Value": 1, "StatisticValues": {
            "SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}}]},
         ("InvalidParameterCombination", "The parameters MetricData.member.1.Value and "
          "MetricData.member.1.StatisticValues are mutually exclusive and you have specified both.")),
        ({"Namespace": "x", "MetricData": [{"MetricName": "a", "Values": [1, 2], "Counts": [1]}]},
         ("InvalidParameterValue", "The parameters MetricData.member.1.Values and MetricData.member.1.Counts "
          "must be of the same size.")),
        ({"Namespace": "x", "MetricData": [{"MetricName": "a", "Value": 1, "StorageResolution": 30}]},
         ("InvalidParameterValue", "The value 30 for parameter MetricData.member.1.StorageResolution is invalid.")),
        ({"Namespace": "x", "MetricData": [{"MetricName": "a", "Value": 1}, {"MetricName": "b", "Value": 1,
                                                                            "Timestamp": old}]},
         ("InvalidParameterValue", "The parameter MetricData.member.2.Timestamp must specify a time within the "
          "past two weeks.")),
        ({"Namespace": "x", "MetricData": [{"MetricName": "a"}]}, ("MissingParameter", None)),
    ]
    for params, (code, message) in cases:
        with pytest.raises(ClientError) as e:
            cw.put_metric_data(**params)
        got = error(e)
        assert got[0] == code, (params, got)
        if message:
            assert got[1] == message
    raw = client(server, protocol, parameter_validation=False)
    with pytest.raises(ClientError) as e:
        raw.put_metric_data(Namespace="x", MetricData=[{"MetricName": "a", "Value": 1, "Dimensions": [
            {"Name": f"d{i}", "Value": "v"} for i in range(31)]}])
    assert error(e)[0] == "ValidationError"
    assert cw.list_metrics(Namespace="x")["Metrics"] == []          # nothing of a refused request was kept


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_bad_reads_answer_aws_errors(server, protocol) -> None:
    cw = client(server, protocol)
    t = now().replace(second=0, microsecond=0)
    with pytest.raises(ClientError) as e:
        cw.get_metric_statistics(Namespace="x", MetricName="a", Period=60, Statistics=["Sum"],
                                 StartTime=t - dt.timedelta(days=2), EndTime=t)
    assert error(e) == ("InvalidParameterCombination", "You have requested up to 2,880 datapoints, which exceeds "
                        "the limit of 1,440. You may reduce the datapoints requested by increasing Period, or "
                        "decreasing the time range.")
    with pytest.raises(ClientError) as e:
        cw.get_metric_statistics(Namespace="x", MetricName="a", Period=61, Statistics=["Sum"], **window())
    assert error(e)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        cw.get_metric_statistics(Namespace="x", MetricName="a", Period=60, **window())
    assert error(e)[0] == "InvalidParameterCombination"
    with pytest.raises(ClientError) as e:
        cw.get_metric_statistics(Namespace="x", MetricName="a", Period=60, Statistics=["Sum"],
                                 StartTime=t, EndTime=t - dt.timedelta(minutes=5))
    assert error(e) == ("InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime.")
    m = {"Id": "m", "MetricStat": {"Metric": {"Namespace": "x", "MetricName": "a"}, "Period": 60, "Stat": "Sum"}}
    for expr in ("FROBNICATE(m)", "m +", "nope * 2", "((m)"):
        with pytest.raises(ClientError) as e:
            cw.get_metric_data(MetricDataQueries=[m, {"Id": "e", "Expression": expr}], **window())
        code, message = error(e)
        assert code == "ValidationError" and message.startswith("Error in expression 'e'"), (expr, message)
    with pytest.raises(ClientError) as e:
        cw.get_metric_data(MetricDataQueries=[{"Id": "m"}], **window())
    assert error(e)[0] == "ValidationError"
    fine = {"Id": "m", "MetricStat": {"Metric": {"Namespace": "x", "MetricName": "a"}, "Period": 1, "Stat": "Sum"}}
    with pytest.raises(ClientError) as e:                      # 14 days of seconds: refused, not computed
        cw.get_metric_data(MetricDataQueries=[fine, {"Id": "e", "Expression": "FILL(m, 0)"}],
                           StartTime=t - dt.timedelta(days=14), EndTime=t)
    assert error(e)[0] == "InvalidParameterCombination"


def test_aws_cli_puts_and_reads_metrics_over_the_query_protocol(server) -> None:
    aws(server, "put-metric-data", "--namespace", "Cli", "--metric-name", "Jobs", "--value", "3",
        "--unit", "Count", "--dimensions", "Queue=high")
    aws(server, "put-metric-data", "--namespace", "Cli", "--metric-name", "Jobs", "--unit", "Count",
        "--dimensions", "Queue=high", "--statistic-values", "SampleCount=2,Sum=7,Minimum=2,Maximum=5")
    listed = json.loads(aws(server, "list-metrics", "--namespace", "Cli").stdout)["Metrics"]
    assert listed == [{"Namespace": "Cli", "MetricName": "Jobs", "Dimensions": [{"Name": "Queue", "Value": "high"}]}]
    t = now()
    stats = json.loads(aws(server, "get-metric-statistics", "--namespace", "Cli", "--metric-name", "Jobs",
                           "--dimensions", "Name=Queue,Value=high", "--statistics", "Sum", "Maximum",
                           "--period", "60", "--start-time", (t - dt.timedelta(minutes=5)).isoformat(),
                           "--end-time", (t + dt.timedelta(minutes=1)).isoformat()).stdout)
    assert [(p["Sum"], p["Maximum"], p["Unit"]) for p in stats["Datapoints"]] == [(10.0, 5.0, "Count")]
    bad = aws(server, "put-metric-data", "--namespace", "AWS/Nope", "--metric-name", "x", "--value", "1", check=False)
    assert bad.returncode != 0 and "InvalidParameterValue" in bad.stderr


def test_high_resolution_data_older_than_three_hours_is_rolled_up_to_minutes(server) -> None:
    cw = client(server)
    base = (now() - dt.timedelta(hours=4)).replace(second=10, microsecond=0)
    cw.put_metric_data(Namespace="Fast", MetricData=[
        {"MetricName": "Old", "Value": i + 1, "StorageResolution": 1, "Timestamp": base + dt.timedelta(seconds=i)}
        for i in range(4)])
    span = {"StartTime": base - dt.timedelta(seconds=10), "EndTime": base + dt.timedelta(seconds=50)}

    def points() -> list[tuple[int, float, float]]:
        got = cw.get_metric_statistics(Namespace="Fast", MetricName="Old", Period=1, Statistics=["Sum", "Maximum"],
                                       **span)["Datapoints"]
        return sorted((p["Timestamp"].second, p["Sum"], p["Maximum"]) for p in got)

    assert points() == [(10, 1.0, 1.0), (11, 2.0, 2.0), (12, 3.0, 3.0), (13, 4.0, 4.0)]
    server.restart()                     # the retention sweep runs when the server starts, then every 5 minutes
    cw = client(server)
    deadline = dt.datetime.now() + dt.timedelta(seconds=20)
    while points() != [(0, 10.0, 4.0)] and dt.datetime.now() < deadline:
        time.sleep(0.2)
    assert points() == [(0, 10.0, 4.0)]  # one minute, whole: the seconds are gone, the statistics kept

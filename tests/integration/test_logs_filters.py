"""Subscription filters delivering to a real function, and metric filters, through boto3 and the aws
CLI on both stores."""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.lambda_support import create, wait_for

DECODER = """
import base64, gzip, json

def handler(event, context):
    doc = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    print("DECODED " + json.dumps(doc))
    return "ok"
"""


def decoded(logs, function: str) -> list[dict]:
    """What the decoder function printed, oldest first."""
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}", filterPattern='"DECODED "')["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [json.loads(e["message"].split("DECODED ", 1)[1]) for e in events]


def test_subscription_filter_delivers_to_a_function(server):
    lam, logs = server.client("lambda"), server.client("logs")
    fn = create(lam, "decoder", files={"app.py": DECODER})["FunctionArn"]
    logs.create_log_group(logGroupName="/app/orders")
    logs.create_log_stream(logGroupName="/app/orders", logStreamName="web-1")
    # Without CloudWatch Logs' permission on the function, AWS refuses the filter (--policies enforce);
    # the default --policies warn accepts it and logs why. With the permission it is accepted.
    lam.add_permission(FunctionName="decoder", StatementId="logs", Action="lambda:InvokeFunction",
                       Principal="logs.amazonaws.com",
                       SourceArn="arn:aws:logs:us-east-1:000000000000:log-group:/app/orders:*")
    logs.put_subscription_filter(logGroupName="/app/orders", filterName="errors", filterPattern="ERROR",
                                 destinationArn=fn)
    got = logs.describe_subscription_filters(logGroupName="/app/orders")["subscriptionFilters"]
    assert [(f["filterName"], f["destinationArn"], f["filterPattern"], f["distribution"]) for f in got] == \
        [("errors", fn, "ERROR", "ByLogStream")]

    t = int(time.time() * 1000)
    logs.put_log_events(logGroupName="/app/orders", logStreamName="web-1", logEvents=[
        {"timestamp": t, "message": "INFO order 1 placed"},
        {"timestamp": t + 1, "message": "ERROR order 2 failed"}])
    docs = wait_for(lambda: [d for d in decoded(logs, "decoder") if d["messageType"] == "DATA_MESSAGE"] or None,
                    timeout=60)
    data = docs[0]
    assert data["owner"] == "000000000000" and data["logGroup"] == "/app/orders"
    assert data["logStream"] == "web-1" and data["subscriptionFilters"] == ["errors"]
    assert [(e["timestamp"], e["message"]) for e in data["logEvents"]] == [(t + 1, "ERROR order 2 failed")]
    assert len(data["logEvents"][0]["id"]) == 56
    control = wait_for(lambda: [d for d in decoded(logs, "decoder") if d["messageType"] == "CONTROL_MESSAGE"],
                       timeout=30)
    assert control[0]["logEvents"][0]["message"].startswith("CWL CONTROL MESSAGE")

    # the aws CLI sees and deletes it
    out = json.loads(server.aws("logs", "describe-subscription-filters", "--log-group-name", "/app/orders").stdout)
    assert out["subscriptionFilters"][0]["filterName"] == "errors"
    server.aws("logs", "delete-subscription-filter", "--log-group-name", "/app/orders", "--filter-name", "errors")
    assert logs.describe_subscription_filters(logGroupName="/app/orders")["subscriptionFilters"] == []


def test_subscription_filter_errors(server):
    logs = server.client("logs")
    logs.create_log_group(logGroupName="/g")
    for arn, text in (("arn:aws:kinesis:us-east-1:000000000000:stream/s", "Amazon Kinesis Data Streams"),
                      ("arn:aws:firehose:us-east-1:000000000000:deliverystream/d", "Amazon Data Firehose"),
                      ("arn:aws:lambda:us-east-1:000000000000:function:missing",
                       "Could not execute the lambda function. Make sure you have given CloudWatch Logs permission "
                       "to execute your function.")):
        with pytest.raises(logs.exceptions.InvalidParameterException) as e:
            logs.put_subscription_filter(logGroupName="/g", filterName="f", filterPattern="", destinationArn=arn)
        assert text in str(e.value)
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.put_subscription_filter(logGroupName="/nope", filterName="f", filterPattern="",
                                     destinationArn="arn:aws:lambda:us-east-1:000000000000:function:x")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.delete_subscription_filter(logGroupName="/g", filterName="f")


def test_metric_filters_with_boto3_and_the_cli(server):
    logs = server.client("logs")
    logs.create_log_group(logGroupName="/web")
    logs.put_metric_filter(logGroupName="/web", filterName="5xx", filterPattern="[ip, user, status = 5*, size]",
                           metricTransformations=[{"metricName": "ServerErrors", "metricNamespace": "Web",
                                                   "metricValue": "1", "defaultValue": 0.0, "unit": "Count"}])
    logs.put_metric_filter(logGroupName="/web", filterName="latency", filterPattern="{ $.ms > 0 }",
                           metricTransformations=[{"metricName": "Latency", "metricNamespace": "Web",
                                                   "metricValue": "$.ms", "dimensions": {"Route": "$.route"}}])
    filters = logs.describe_metric_filters(logGroupName="/web")["metricFilters"]
    assert [f["filterName"] for f in filters] == ["5xx", "latency"]
    assert filters[0]["metricTransformations"] == [{"metricName": "ServerErrors", "metricNamespace": "Web",
                                                    "metricValue": "1", "defaultValue": 0.0, "unit": "Count"}]
    assert filters[1]["metricTransformations"][0]["dimensions"] == {"Route": "$.route"}
    assert logs.describe_log_groups(logGroupNamePrefix="/web")["logGroups"][0]["metricFilterCount"] == 2
    by_metric = logs.describe_metric_filters(metricName="Latency", metricNamespace="Web")["metricFilters"]
    assert [f["filterName"] for f in by_metric] == ["latency"]
    # writing through a metric filter succeeds whether or not the metrics service runs
    logs.create_log_stream(logGroupName="/web", logStreamName="s")
    logs.put_log_events(logGroupName="/web", logStreamName="s", logEvents=[
        {"timestamp": int(time.time() * 1000), "message": "10.0.0.1 bob 503 12"}])

    out = logs.test_metric_filter(filterPattern="[ip, user, status = 5*, size]",
                                  logEventMessages=["10.0.0.1 bob 503 12", "10.0.0.1 bob 200 12"])
    assert out["matches"] == [{"eventNumber": 1, "eventMessage": "10.0.0.1 bob 503 12",
                               "extractedValues": {"$ip": "10.0.0.1", "$user": "bob", "$status": "503",
                                                   "$size": "12"}}]
    cli = json.loads(server.aws("logs", "test-metric-filter", "--filter-pattern", '{ $.level = "ERROR" }',
                                "--log-event-messages", '{"level": "ERROR"}', '{"level": "INFO"}').stdout)
    assert [m["eventNumber"] for m in cli["matches"]] == [1]
    assert cli["matches"][0]["extractedValues"] == {"$.level": "ERROR"}

    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.test_metric_filter(filterPattern="{ $.level = ", logEventMessages=["x"])
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.put_metric_filter(logGroupName="/web", filterName="bad", filterPattern="ERROR",
                               metricTransformations=[{"metricName": "M", "metricNamespace": "N",
                                                       "metricValue": "$.ms"}])
    server.aws("logs", "delete-metric-filter", "--log-group-name", "/web", "--filter-name", "5xx")
    assert [f["filterName"] for f in logs.describe_metric_filters(logGroupName="/web")["metricFilters"]] == ["latency"]
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.delete_metric_filter(logGroupName="/web", filterName="5xx")


def test_a_function_subscribed_to_its_own_log_group_does_not_loop(server):
    lam, logs = server.client("lambda"), server.client("logs")
    fn = create(lam, "selfish", files={"app.py": DECODER})["FunctionArn"]
    logs.create_log_group(logGroupName="/aws/lambda/selfish")
    logs.create_log_stream(logGroupName="/aws/lambda/selfish", logStreamName="manual")
    lam.add_permission(FunctionName="selfish", StatementId="logs", Action="lambda:InvokeFunction",
                       Principal="logs.amazonaws.com")
    logs.put_subscription_filter(logGroupName="/aws/lambda/selfish", filterName="all", filterPattern="",
                                 destinationArn=fn)

    def starts() -> int:
        return len(logs.filter_log_events(logGroupName="/aws/lambda/selfish", filterPattern='"START RequestId"')[
            "events"])
    # the control message invokes it once; an event put by someone else once more
    logs.put_log_events(logGroupName="/aws/lambda/selfish", logStreamName="manual",
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "hello from outside"}])
    wait_for(lambda: starts() >= 2, timeout=60)
    got = wait_for(lambda: [d for d in decoded(logs, "selfish") if d["messageType"] == "DATA_MESSAGE"], timeout=30)
    assert [e["message"] for d in got for e in d["logEvents"]] == ["hello from outside"]
    # its own START/END/REPORT and output lines are not delivered back to it: the count stays put
    time.sleep(3)
    assert starts() == 2


EMF_FUNCTION = """
import json, time

def handler(event, context):
    print(json.dumps({"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
        "Namespace": "Checkout", "Dimensions": [["Service"], ["Service", "Route"]],
        "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "Orders", "Unit": "Count"}]}]},
        "Service": "cart", "Route": "/buy", "Latency": event["latency"], "Orders": 1,
        "requestId": context.aws_request_id}))
    # a line that looks like EMF but names a metric the document lacks: kept as a log line, no metric
    print(json.dumps({"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
        "Namespace": "Checkout", "Dimensions": [[]], "Metrics": [{"Name": "Missing"}]}]}}))
    return "ok"
"""


def _stats(cw, name: str, dims: list[dict], namespace: str = "Checkout") -> list[dict]:
    t = time.time()
    return cw.get_metric_statistics(Namespace=namespace, MetricName=name, Dimensions=dims, Period=60,
                                    StartTime=t - 600, EndTime=t + 60,
                                    Statistics=["SampleCount", "Sum", "Minimum", "Maximum"])["Datapoints"]


def test_embedded_metric_format_in_function_output_becomes_metrics(server):
    lam, logs, cw = server.client("lambda"), server.client("logs"), server.client("cloudwatch")
    create(lam, "emf", files={"app.py": EMF_FUNCTION})
    for latency in ([12, 30], [18]):
        lam.invoke(FunctionName="emf", Payload=json.dumps({"latency": latency}).encode())
    service = [{"Name": "Service", "Value": "cart"}]
    route = [*service, {"Name": "Route", "Value": "/buy"}]
    # one data point per value, for each dimension set of the directive
    points = wait_for(lambda: [p for p in _stats(cw, "Latency", service) if p["SampleCount"] == 3], timeout=30)
    assert [(p["Sum"], p["Minimum"], p["Maximum"], p["Unit"]) for p in points] == [(60.0, 12.0, 30.0,
                                                                                    "Milliseconds")]
    by_route = wait_for(lambda: _stats(cw, "Latency", route), timeout=10)
    assert [(p["SampleCount"], p["Sum"]) for p in by_route] == [(3.0, 60.0)]
    orders = wait_for(lambda: _stats(cw, "Orders", route), timeout=10)
    assert [(p["Sum"], p["Unit"]) for p in orders] == [(2.0, "Count")]
    data = cw.get_metric_data(MetricDataQueries=[{"Id": "p", "MetricStat": {"Metric": {
        "Namespace": "Checkout", "MetricName": "Latency", "Dimensions": service}, "Period": 60, "Stat": "Sum"}}],
        StartTime=time.time() - 600, EndTime=time.time() + 60)["MetricDataResults"][0]
    assert sum(data["Values"]) == 60.0
    listed = cw.list_metrics(Namespace="Checkout")["Metrics"]
    assert sorted((m["MetricName"], len(m["Dimensions"])) for m in listed) == [
        ("Latency", 1), ("Latency", 2), ("Orders", 1), ("Orders", 2)]
    # the invalid document is an ordinary log line, counted in AWS/Logs and giving no metric
    lines = logs.filter_log_events(logGroupName="/aws/lambda/emf", filterPattern='"Missing"')["events"]
    assert len(lines) == 2
    errors = wait_for(lambda: _stats(cw, "EMFValidationErrors", [{"Name": "LogGroupName", "Value": "/aws/lambda/emf"}],
                                     namespace="AWS/Logs"), timeout=10)
    assert sum(p["Sum"] for p in errors) == 2.0
    assert not _stats(cw, "Missing", [])
    # the documents themselves are stored as the function printed them
    docs = [json.loads(e["message"]) for e in logs.filter_log_events(
        logGroupName="/aws/lambda/emf", filterPattern="{ $.Service = \"cart\" }")["events"]]
    assert sorted(d["Latency"] for d in docs) == [[12, 30], [18]]


def test_embedded_metric_format_through_put_log_events(server):
    logs, cw = server.client("logs"), server.client("cloudwatch")
    logs.create_log_group(logGroupName="/agent")
    logs.create_log_stream(logGroupName="/agent", logStreamName="s")
    t = int(time.time() * 1000)
    doc = {"_aws": {"Timestamp": t, "CloudWatchMetrics": [{"Namespace": "Agent", "Dimensions": [],
                                                           "Metrics": [{"Name": "Queue", "StorageResolution": 1}]}]},
           "Queue": [5, 7]}
    logs.put_log_events(logGroupName="/agent", logStreamName="s", logEvents=[
        {"timestamp": t, "message": json.dumps(doc)}, {"timestamp": t, "message": "plain line"}])
    points = wait_for(lambda: _stats(cw, "Queue", [], namespace="Agent"), timeout=30)
    assert [(p["SampleCount"], p["Sum"]) for p in points] == [(2.0, 12.0)]
    high = cw.get_metric_statistics(Namespace="Agent", MetricName="Queue", Period=1, StartTime=t / 1000 - 60,
                                    EndTime=t / 1000 + 60, Statistics=["Sum"])["Datapoints"]
    assert [p["Sum"] for p in high] == [12.0]
    assert len(logs.get_log_events(logGroupName="/agent", logStreamName="s")["events"]) == 2

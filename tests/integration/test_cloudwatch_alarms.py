"""CloudWatch alarms end to end on SQLite and PostgreSQL: configuration, DescribeAlarms' filters, the
evaluator changing states from data (evaluating every half second here), SNS actions carrying AWS's
notification payload, composite and metric math alarms, history, SetAlarmState, actions switched off,
tags, the aws CLI over the query protocol, and bad input answered with AWS's errors."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from botocore.exceptions import ClientError

from tests.integration.cloudwatch_support import aws, client, own_server, ready
from tests.integration.sns_support import receive
from tests.support.server import TsunagiServer

ACCOUNT = "000000000000"
FAST = {"TSUNAGI_CLOUDWATCH_EVALUATION_SECONDS": "0.5", "TSUNAGI_CLOUDWATCH_PUBLISH_SECONDS": "1"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fast_server(request: pytest.FixtureRequest):
    yield from own_server(request, FAST)


@pytest.fixture
def server(fast_server: TsunagiServer) -> TsunagiServer:
    return ready(fast_server)


def error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 404), excinfo.value.response
    return err["Code"], err.get("Message", "")


def wait_state(cw, name: str, state: str, timeout: float = 20.0, types=("MetricAlarm", "CompositeAlarm")) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        out = cw.describe_alarms(AlarmNames=[name], AlarmTypes=list(types))
        alarms = out["MetricAlarms"] + out["CompositeAlarms"]
        if alarms and alarms[0]["StateValue"] == state:
            return alarms[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} is not {state}: {alarms}")
        time.sleep(0.1)


def topic_to_queue(server, name: str) -> tuple[str, str]:
    sns, sqs = server.client("sns"), server.client("sqs")
    topic = sns.create_topic(Name=name)["TopicArn"]
    url = sqs.create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    return topic, url


def test_a_static_threshold_alarm_goes_to_alarm_and_back_and_notifies_sns(server) -> None:
    cw = client(server)
    topic, inbox = topic_to_queue(server, "ops")
    cw.put_metric_alarm(AlarmName="high-latency", AlarmDescription="p99 too high", Namespace="Shop",
                        MetricName="Latency", Dimensions=[{"Name": "Api", "Value": "orders"}], Statistic="Maximum",
                        Period=10, EvaluationPeriods=1, Threshold=100, ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching", AlarmActions=[topic], OKActions=[topic],
                        Tags=[{"Key": "team", "Value": "shop"}])
    (alarm,) = cw.describe_alarms(AlarmNames=["high-latency"])["MetricAlarms"]
    assert alarm["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:high-latency"
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["TreatMissingData"], alarm["Period"]) == (
        100.0, "GreaterThanThreshold", "notBreaching", 10)
    # no data yet, and missing data is not breaching: OK (with the OK action)
    wait_state(cw, "high-latency", "OK")
    (first,) = receive(server, inbox, timeout=20)
    assert json.loads(first["Body"])["OldStateValue"] == "INSUFFICIENT_DATA"
    cw.put_metric_data(Namespace="Shop", MetricData=[{"MetricName": "Latency", "Value": 250, "StorageResolution": 1,
                                                      "Dimensions": [{"Name": "Api", "Value": "orders"}]}])
    alarmed = wait_state(cw, "high-latency", "ALARM")
    assert alarmed["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [250.0")
    reason_data = json.loads(alarmed["StateReasonData"])
    assert reason_data["threshold"] == 100.0 and reason_data["recentDatapoints"] == [250.0]
    (msg,) = receive(server, inbox, timeout=20)
    note = json.loads(msg["Body"])
    assert {k: note[k] for k in ("AlarmName", "AlarmDescription", "AWSAccountId", "NewStateValue", "OldStateValue",
                                 "Region", "AlarmArn")} == {
        "AlarmName": "high-latency", "AlarmDescription": "p99 too high", "AWSAccountId": ACCOUNT,
        "NewStateValue": "ALARM", "OldStateValue": "OK", "Region": "US East (N. Virginia)",
        "AlarmArn": alarm["AlarmArn"]}
    assert note["NewStateReason"] == alarmed["StateReason"]
    assert note["StateChangeTime"].endswith("+0000")
    assert note["Trigger"] == {
        "MetricName": "Latency", "Namespace": "Shop", "StatisticType": "Statistic", "Statistic": "MAXIMUM",
        "Unit": None, "Dimensions": [{"value": "orders", "name": "Api"}], "Period": 10, "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 100.0,
        "TreatMissingData": "notBreaching", "EvaluateLowSampleCountPercentile": ""}
    # once a whole 10 s period has passed without data: not breaching, so back to OK, with the OK action
    wait_state(cw, "high-latency", "OK", timeout=40)
    (back,) = receive(server, inbox, timeout=20)
    assert json.loads(back["Body"])["NewStateValue"] == "OK"
    history = cw.describe_alarm_history(AlarmName="high-latency")["AlarmHistoryItems"]
    kinds = [h["HistoryItemType"] for h in history]
    assert kinds.count("StateUpdate") == 3 and "ConfigurationUpdate" in kinds and "Action" in kinds
    summaries = [h["HistorySummary"] for h in history if h["HistoryItemType"] == "StateUpdate"]
    assert summaries == ["Alarm updated from ALARM to OK", "Alarm updated from OK to ALARM",
                         "Alarm updated from INSUFFICIENT_DATA to OK"]
    only_state = cw.describe_alarm_history(AlarmName="high-latency", HistoryItemType="StateUpdate",
                                           ScanBy="TimestampAscending")["AlarmHistoryItems"]
    assert [h["HistorySummary"] for h in only_state] == list(reversed(summaries))
    assert cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"] == [{"Key": "team", "Value": "shop"}]


def test_set_alarm_state_disabled_actions_and_insufficient_data(server) -> None:
    cw = client(server)
    topic, inbox = topic_to_queue(server, "quiet")
    cw.put_metric_alarm(AlarmName="errors", Namespace="Shop", MetricName="Errors", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
                        AlarmActions=[topic], ActionsEnabled=False)
    assert cw.describe_alarms(AlarmNames=["errors"])["MetricAlarms"][0]["StateValue"] == "INSUFFICIENT_DATA"
    cw.set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="testing the pager")
    # (the evaluator may already have set it back: the history keeps the change SetAlarmState made)
    history = cw.describe_alarm_history(AlarmName="errors", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert [json.loads(h["HistoryData"])["newState"]["stateReason"] for h in history
            if json.loads(h["HistoryData"])["newState"]["stateValue"] == "ALARM"] == ["testing the pager"]
    assert cw.describe_alarms(AlarmNames=["errors"])["MetricAlarms"][0]["ActionsEnabled"] is False
    # no data at all and TreatMissingData missing: the evaluator says INSUFFICIENT_DATA again
    wait_state(cw, "errors", "INSUFFICIENT_DATA")
    assert server.client("sqs").receive_message(QueueUrl=inbox, WaitTimeSeconds=1).get("Messages") in (None, [])
    cw.enable_alarm_actions(AlarmNames=["errors"])
    cw.set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="now for real")
    (msg,) = receive(server, inbox, timeout=20)
    assert json.loads(msg["Body"])["NewStateReason"] == "now for real"
    with pytest.raises(ClientError) as e:
        cw.set_alarm_state(AlarmName="nope", StateValue="OK", StateReason="x")
    assert error(e)[0] == "ResourceNotFound"
    with pytest.raises(ClientError) as e:
        cw.set_alarm_state(AlarmName="errors", StateValue="OK", StateReason="x", StateReasonData="{not json")
    assert error(e)[0] == "InvalidFormat"


def test_describe_alarms_filters_and_composites(server) -> None:
    cw = client(server)
    for name in ("db-cpu", "db-disk", "web-cpu"):
        cw.put_metric_alarm(AlarmName=name, Namespace="Infra", MetricName=name, Statistic="Average", Period=60,
                            EvaluationPeriods=1, Threshold=90, ComparisonOperator="GreaterThanThreshold")
    cw.put_composite_alarm(AlarmName="db-trouble", AlarmRule='ALARM("db-cpu") OR ALARM(db-disk)')
    assert [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]] == ["db-cpu", "db-disk", "web-cpu"]
    assert cw.describe_alarms()["CompositeAlarms"] == []                    # only metric alarms by default
    assert [a["AlarmName"] for a in cw.describe_alarms(AlarmNamePrefix="db-")["MetricAlarms"]] == ["db-cpu",
                                                                                                   "db-disk"]
    (comp,) = cw.describe_alarms(AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert comp["AlarmRule"] == 'ALARM("db-cpu") OR ALARM(db-disk)'
    children = cw.describe_alarms(ChildrenOfAlarmName="db-trouble")["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in children) == ["db-cpu", "db-disk"]
    assert [a["AlarmName"] for a in cw.describe_alarms(ParentsOfAlarmName="db-cpu")["CompositeAlarms"]] == [
        "db-trouble"]
    page = cw.describe_alarms(MaxRecords=2)
    rest = cw.describe_alarms(MaxRecords=2, NextToken=page["NextToken"])
    assert [a["AlarmName"] for a in page["MetricAlarms"] + rest["MetricAlarms"]] == ["db-cpu", "db-disk", "web-cpu"]
    wait_state(cw, "db-trouble", "OK")                                       # no child in ALARM
    cw.set_alarm_state(AlarmName="db-disk", StateValue="ALARM", StateReason="disk full")
    comp = cw.describe_alarms(AlarmNames=["db-trouble"], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"][0]
    assert comp["StateValue"] == "ALARM"                                    # at once, on the child's change
    cw.put_metric_data(Namespace="Infra", MetricData=[{"MetricName": "db-disk", "Value": 95}])
    wait_state(cw, "db-disk", "ALARM")
    comp = wait_state(cw, "db-trouble", "ALARM")
    assert "db-disk" in comp["StateReasonData"]
    assert [a["AlarmName"] for a in cw.describe_alarms(StateValue="ALARM", AlarmTypes=["MetricAlarm",
                                                                                      "CompositeAlarm"])[
        "MetricAlarms"]] == ["db-disk"]
    for_metric = cw.describe_alarms_for_metric(Namespace="Infra", MetricName="web-cpu")["MetricAlarms"]
    assert [a["AlarmName"] for a in for_metric] == ["web-cpu"]
    with pytest.raises(ClientError) as e:
        cw.delete_alarms(AlarmNames=["db-cpu"])                              # a composite still needs it
    assert error(e)[0] == "ValidationError"
    cw.delete_alarms(AlarmNames=["db-trouble", "db-cpu"])
    assert [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]] == ["db-disk", "web-cpu"]
    with pytest.raises(ClientError) as e:
        cw.delete_alarms(AlarmNames=["never-was"])
    assert error(e)[0] == "ResourceNotFound"
    with pytest.raises(ClientError) as e:
        cw.put_composite_alarm(AlarmName="bad", AlarmRule='ALARM("ghost")')
    assert error(e)[0] == "ValidationError"
    with pytest.raises(ClientError) as e:
        cw.put_composite_alarm(AlarmName="bad", AlarmRule='ALARM("db-disk") AND (')
    assert error(e)[0] == "ValidationError"


def test_a_metric_math_alarm(server) -> None:
    cw = client(server)
    cw.put_metric_alarm(AlarmName="error-rate", EvaluationPeriods=1, Threshold=10,
                        ComparisonOperator="GreaterThanThreshold", Metrics=[
                            {"Id": "req", "MetricStat": {"Metric": {"Namespace": "Shop", "MetricName": "Requests"},
                                                         "Period": 60, "Stat": "Sum"}, "ReturnData": False},
                            {"Id": "err", "MetricStat": {"Metric": {"Namespace": "Shop", "MetricName": "Failures"},
                                                         "Period": 60, "Stat": "Sum"}, "ReturnData": False},
                            {"Id": "rate", "Expression": "100 * err / req", "Label": "Error %"}])
    cw.put_metric_data(Namespace="Shop", MetricData=[{"MetricName": "Requests", "Value": 20},
                                                     {"MetricName": "Failures", "Value": 5}])
    a = wait_state(cw, "error-rate", "ALARM")
    assert "[25.0" in a["StateReason"]
    assert [m["Id"] for m in a["Metrics"]] == ["req", "err", "rate"]


def test_alarm_state_survives_a_restart(server) -> None:
    cw = client(server)
    cw.put_metric_alarm(AlarmName="durable", Namespace="Shop", MetricName="Up", Statistic="Minimum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="LessThanThreshold")
    cw.put_metric_data(Namespace="Shop", MetricData=[{"MetricName": "Up", "Value": 0}])
    before = wait_state(cw, "durable", "ALARM")
    server.restart()
    after = client(server).describe_alarms(AlarmNames=["durable"])["MetricAlarms"][0]
    assert (after["StateValue"], after["StateUpdatedTimestamp"]) == ("ALARM", before["StateUpdatedTimestamp"])


def test_bad_alarms_answer_aws_errors(server) -> None:
    cw = client(server)
    base = {"AlarmName": "x", "Namespace": "N", "MetricName": "M", "Statistic": "Sum", "Period": 60,
            "EvaluationPeriods": 1, "Threshold": 1.0, "ComparisonOperator": "GreaterThanThreshold"}
    cases = [
        ({"ExtendedStatistic": "p99"}, "InvalidParameterCombination"),
        ({"DatapointsToAlarm": 3}, "ValidationError"),
        ({"TreatMissingData": "sometimes"}, "ValidationError"),
        ({"Period": 45}, "InvalidParameterValue"),
        ({"AlarmActions": ["arn:aws:automate:us-east-1:ec2:stop"]}, "ValidationError"),
        ({"AlarmActions": ["not-an-arn"]}, "ValidationError"),
        ({"ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold"}, "ValidationError"),
        ({"Metrics": [{"Id": "m", "Expression": "SUM(m"}]}, "InvalidParameterCombination"),
    ]
    for extra, code in cases:
        with pytest.raises(ClientError) as e:
            cw.put_metric_alarm(**{**base, **extra})
        assert error(e)[0] == code, (extra, error(e))
    no_threshold = {k: v for k, v in base.items() if k != "Threshold"}
    with pytest.raises(ClientError) as e:
        cw.put_metric_alarm(**no_threshold)
    assert error(e)[0] == "MissingParameter"
    math_only = {k: v for k, v in base.items() if k not in ("Namespace", "MetricName", "Statistic", "Period")}
    with pytest.raises(ClientError) as e:
        cw.put_metric_alarm(**math_only, Metrics=[{"Id": "e", "Expression": "FOO(1)", "Period": 60}])
    assert error(e)[0] == "ValidationError"
    with pytest.raises(ClientError) as e:
        cw.describe_alarms(AlarmNames=["a"], AlarmNamePrefix="a")
    assert error(e)[0] == "InvalidParameterCombination"
    with pytest.raises(ClientError) as e:
        cw.describe_alarms(NextToken="garbage")
    assert error(e)[0] == "InvalidNextToken"
    assert cw.describe_alarms()["MetricAlarms"] == []


def test_aws_cli_manages_alarms_over_the_query_protocol(server) -> None:
    aws(server, "put-metric-alarm", "--alarm-name", "cli-alarm", "--namespace", "Cli", "--metric-name", "Jobs",
        "--statistic", "Sum", "--period", "60", "--evaluation-periods", "2", "--datapoints-to-alarm", "1",
        "--threshold", "5", "--comparison-operator", "GreaterThanOrEqualToThreshold",
        "--dimensions", "Name=Queue,Value=high", "--treat-missing-data", "breaching")
    out = json.loads(aws(server, "describe-alarms", "--alarm-names", "cli-alarm").stdout)
    (a,) = out["MetricAlarms"]
    assert (a["EvaluationPeriods"], a["DatapointsToAlarm"], a["Dimensions"]) == (
        2, 1, [{"Name": "Queue", "Value": "high"}])
    # breaching missing data: ALARM without any datum
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = json.loads(aws(server, "describe-alarms", "--alarm-names", "cli-alarm", "--query",
                               "MetricAlarms[0].StateValue").stdout)
        if state == "ALARM":
            break
        time.sleep(0.3)
    assert state == "ALARM"
    aws(server, "disable-alarm-actions", "--alarm-names", "cli-alarm")
    assert json.loads(aws(server, "describe-alarms", "--query", "MetricAlarms[0].ActionsEnabled").stdout) is False
    hist = json.loads(aws(server, "describe-alarm-history", "--alarm-name", "cli-alarm").stdout)["AlarmHistoryItems"]
    assert any(h["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM" for h in hist)
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    assert json.loads(aws(server, "describe-alarm-history", "--alarm-name", "cli-alarm", "--start-date", start,
                          "--history-item-type", "ConfigurationUpdate").stdout)["AlarmHistoryItems"][0][
        "HistorySummary"] == 'Alarm "cli-alarm" created'
    aws(server, "delete-alarms", "--alarm-names", "cli-alarm")
    assert json.loads(aws(server, "describe-alarms").stdout)["MetricAlarms"] == []


# == AWS's own metrics ============================================================================
def metric_sum(cw, namespace: str, name: str, dims: list[dict], stat: str = "Sum", timeout: float = 20.0,
               want: float | None = None) -> float | None:
    """The statistic over the last few minutes, waiting (for the once-a-second flush) until it is ``want``."""
    deadline = time.monotonic() + timeout
    while True:
        t = dt.datetime.now(dt.UTC)
        points = cw.get_metric_statistics(Namespace=namespace, MetricName=name, Dimensions=dims, Period=300,
                                          Statistics=[stat], StartTime=t - dt.timedelta(minutes=10),
                                          EndTime=t + dt.timedelta(minutes=1))["Datapoints"]
        value = sum(p[stat] for p in points) if stat == "Sum" else (max(p[stat] for p in points) if points else None)
        if want is None and points or value == want or time.monotonic() > deadline:
            return value if points else None
        time.sleep(0.2)


def test_sqs_sns_and_lambda_publish_their_aws_metrics(server) -> None:
    from tests.integration.lambda_support import create

    cw, sqs, sns = client(server), server.client("sqs"), server.client("sns")
    url = sqs.create_queue(QueueName="work")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="a")
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "b"}, {"Id": "2", "MessageBody": "c"}])
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    q = [{"Name": "QueueName", "Value": "work"}]
    assert metric_sum(cw, "AWS/SQS", "NumberOfMessagesSent", q, want=3.0) == 3.0
    assert metric_sum(cw, "AWS/SQS", "NumberOfMessagesReceived", q, want=1.0) == 1.0
    assert metric_sum(cw, "AWS/SQS", "NumberOfMessagesDeleted", q, want=1.0) == 1.0
    assert metric_sum(cw, "AWS/SQS", "ApproximateNumberOfMessagesVisible", q, stat="Maximum", want=2.0) == 2.0
    assert metric_sum(cw, "AWS/SQS", "ApproximateNumberOfMessagesNotVisible", q, stat="Maximum") is not None
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/SQS")["Metrics"]}
    assert {"ApproximateNumberOfMessagesDelayed", "ApproximateAgeOfOldestMessage"} <= names

    topic = sns.create_topic(Name="events")["TopicArn"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    other = sqs.create_queue(QueueName="picky")["QueueUrl"]
    other_arn = sqs.get_queue_attributes(QueueUrl=other, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=other_arn,
                  Attributes={"FilterPolicy": json.dumps({"kind": ["never"]})})
    sns.publish(TopicArn=topic, Message="hello")
    t = [{"Name": "TopicName", "Value": "events"}]
    assert metric_sum(cw, "AWS/SNS", "NumberOfMessagesPublished", t, want=1.0) == 1.0
    assert metric_sum(cw, "AWS/SNS", "NumberOfNotificationsDelivered", t, want=1.0) == 1.0
    assert metric_sum(cw, "AWS/SNS", "NumberOfNotificationsFilteredOut", t, want=1.0) == 1.0

    lam = server.client("lambda")
    create(lam, "fails", files={"app.py": "def handler(event, context):\n    if event.get('boom'):\n"
                                          "        raise ValueError('boom')\n    return 1\n"})
    lam.invoke(FunctionName="fails", Payload=b"{}")
    lam.invoke(FunctionName="fails", Payload=b'{"boom": true}')
    f = [{"Name": "FunctionName", "Value": "fails"}]
    assert metric_sum(cw, "AWS/Lambda", "Invocations", f, want=2.0) == 2.0
    assert metric_sum(cw, "AWS/Lambda", "Errors", f, want=1.0) == 1.0
    assert metric_sum(cw, "AWS/Lambda", "Duration", f, stat="Maximum") > 0
    assert metric_sum(cw, "AWS/Lambda", "ConcurrentExecutions", f, stat="Maximum") == 1.0
    lam.put_function_concurrency(FunctionName="fails", ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName="fails", Payload=b"{}")
    tries = 1 + e.value.response["ResponseMetadata"].get("RetryAttempts", 0)     # botocore retries a 429
    assert metric_sum(cw, "AWS/Lambda", "Throttles", f, want=float(tries)) == float(tries)


def test_dead_letter_queue_depth_alarm_emails_through_sns_into_the_mailbox(server) -> None:
    """The pipeline users build: an alarm on a queue's ApproximateNumberOfMessagesVisible notifies an SNS
    topic with an e-mail subscription, and the mail lands in tsunagi's local mailbox."""
    from tests.integration.sns_support import mailbox

    cw, sqs, sns = client(server), server.client("sqs"), server.client("sns")
    dlq = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
    topic = sns.create_topic(Name="ops-alerts")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@example.com")
    deadline = time.monotonic() + 20
    while not mailbox(server, "oncall@example.com") and time.monotonic() < deadline:
        time.sleep(0.1)
    (conf,) = mailbox(server, "oncall@example.com")
    with __import__("urllib.request").request.urlopen(conf["SubscribeURL"], timeout=10):
        pass
    cw.put_metric_alarm(AlarmName="orders-dlq-not-empty", Namespace="AWS/SQS",
                        MetricName="ApproximateNumberOfMessagesVisible",
                        Dimensions=[{"Name": "QueueName", "Value": "orders-dlq"}], Statistic="Maximum", Period=60,
                        EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching", AlarmActions=[topic])
    wait_state(cw, "orders-dlq-not-empty", "OK")
    sqs.send_message(QueueUrl=dlq, MessageBody='{"order": 42}')
    wait_state(cw, "orders-dlq-not-empty", "ALARM", timeout=30)
    deadline = time.monotonic() + 20
    while len(mailbox(server, "oncall@example.com")) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    mail = mailbox(server, "oncall@example.com")[1]
    assert mail["Subject"] == 'ALARM: "orders-dlq-not-empty" in US East (N. Virginia)'
    note = json.loads(mail["Body"].split("\n--\n")[0])
    assert note["NewStateValue"] == "ALARM" and note["AlarmName"] == "orders-dlq-not-empty"
    assert note["Trigger"]["Dimensions"] == [{"value": "orders-dlq", "name": "QueueName"}]
    # the mail went through the outbox: one notification delivered (the confirmation is not counted)
    t = [{"Name": "TopicName", "Value": "ops-alerts"}]
    assert metric_sum(cw, "AWS/SNS", "NumberOfNotificationsDelivered", t, want=1.0) == 1.0

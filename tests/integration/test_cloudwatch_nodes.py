"""Two tsunagi servers on one PostgreSQL database: alarms are evaluated by one of them at a time (a lease
in the store), each state change is made and notified once, and when the evaluating server dies the other
takes evaluation over."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import require_postgres
from tests.integration.cloudwatch_support import client
from tests.integration.sns_support import receive
from tests.support import postgres
from tests.support.server import TsunagiServer

pytestmark = pytest.mark.slow

FAST = {"TSUNAGI_CLOUDWATCH_EVALUATION_SECONDS": "0.5", "TSUNAGI_CLOUDWATCH_PUBLISH_SECONDS": "1"}


def state(cw, name: str) -> str:
    return cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]


def wait(cw, name: str, want: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while state(cw, name) != want:
        assert time.monotonic() < deadline, f"{name} never became {want}"
        time.sleep(0.1)


def test_one_evaluator_among_nodes_and_takeover_when_it_dies(tmp_path) -> None:
    require_postgres()
    url = postgres.create_database("cw_nodes")
    a = TsunagiServer(url, data_dir=str(tmp_path / "a"), env=dict(FAST)).start()
    b = TsunagiServer(url, data_dir=str(tmp_path / "b"), env=dict(FAST)).start()
    try:
        sns, sqs = a.client("sns"), a.client("sqs")
        topic = sns.create_topic(Name="pager")["TopicArn"]
        inbox = sqs.create_queue(QueueName="pager-inbox")["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
        cw_a, cw_b = client(a), client(b)
        cw_a.put_metric_alarm(AlarmName="shared", Namespace="App", MetricName="Errors", Statistic="Maximum",
                              Period=60, EvaluationPeriods=2, DatapointsToAlarm=1, Threshold=0,
                              ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
                              AlarmActions=[topic])
        wait(cw_b, "shared", "OK")
        cw_b.put_metric_data(Namespace="App", MetricData=[{"MetricName": "Errors", "Value": 3, "StorageResolution": 1}])
        wait(cw_a, "shared", "ALARM")
        (note,) = receive(a, inbox, timeout=20)
        assert json.loads(note["Body"])["NewStateValue"] == "ALARM"
        time.sleep(2)                                     # several rounds on both servers: still one notification
        assert sqs.receive_message(QueueUrl=inbox, WaitTimeSeconds=1).get("Messages") in (None, [])
        history = cw_b.describe_alarm_history(AlarmName="shared", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
        assert [h["HistorySummary"] for h in history] == ["Alarm updated from OK to ALARM",
                                                          "Alarm updated from INSUFFICIENT_DATA to OK"]
        a.kill()                                          # whichever held the lease, b evaluates from now on
        cw_b.set_alarm_state(AlarmName="shared", StateValue="OK", StateReason="silenced by hand")
        wait(cw_b, "shared", "ALARM", timeout=20)         # the data still breach: b's evaluation says so again
    finally:
        a.stop()
        b.stop()
        postgres.drop_database(url)

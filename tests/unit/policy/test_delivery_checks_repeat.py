"""A delivery check asked again: the same answer from the kept one, a changed policy asked afresh,
and the refusal logged once a minute per source, target and reason, not once per delivery."""
from __future__ import annotations

import json
import logging

import pytest

from tsunagi.policy import Dialect
from tsunagi.ports import delivery_policy as dp

TOPIC = "arn:aws:sns:us-east-1:000000000000:t"
QUEUE = "arn:aws:sqs:us-east-1:000000000000:q"


def _check(mode: str, policy: str | None) -> dp.Verdict:
    return dp.resource_check(mode, policy=policy, dialect=Dialect.SQS, resource_arn=QUEUE,
                             resource_account="000000000000", principal="sns.amazonaws.com",
                             action="sqs:SendMessage", source_arn=TOPIC, source_account="000000000000")


def _allow(source: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": QUEUE, "Condition": {"ArnEquals": {"aws:SourceArn": source}}}]})


@pytest.fixture(autouse=True)
def _fresh() -> None:
    dp._answers.clear()
    dp._logged.clear()


def test_a_changed_policy_is_asked_afresh() -> None:
    assert _check(dp.ENFORCE, _allow(TOPIC)) == dp.ALLOW
    assert _check(dp.ENFORCE, _allow(TOPIC)) == dp.ALLOW
    refused = _check(dp.ENFORCE, _allow(TOPIC + "-other"))
    assert not refused.allowed and refused.reason
    assert _check(dp.ENFORCE, _allow(TOPIC)) == dp.ALLOW
    warned = _check(dp.WARN, None)
    assert warned.allowed and "has no queue policy" in (warned.reason or "")
    assert _check(dp.OFF, None) == dp.ALLOW


def test_a_policy_naming_the_time_is_not_kept() -> None:
    timed = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": QUEUE,
        "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2000-01-01T00:00:00Z"}}}]})
    assert _check(dp.ENFORCE, timed) == dp.ALLOW
    assert not dp._answers


def test_a_repeated_refusal_is_logged_once_a_minute(caplog: pytest.LogCaptureFixture,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(dp, "_clock", lambda: clock[0])
    with caplog.at_level(logging.WARNING, logger="tsunagi.policies"):
        for _ in range(5):
            assert _check(dp.WARN, None).reason      # every delivery still carries the reason
        assert len(caplog.records) == 1
        clock[0] += dp.LOG_EVERY
        _check(dp.WARN, None)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "delivered anyway" in lines[0]
    assert "(4 more like it not logged since)" in lines[1]

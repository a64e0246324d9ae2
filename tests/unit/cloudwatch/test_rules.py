"""Composite alarm rules: AWS's grammar (state functions over alarm names or ARNs, AND/OR/NOT, TRUE and
FALSE, parentheses) and the states it evaluates to."""

from __future__ import annotations

import pytest

from tsunagi.services.cloudwatch.alarms import eval_rule, parse_rule, rule_alarms
from tsunagi.services.cloudwatch.errors import ValidationError

STATES = {"cpu": "ALARM", "disk": "OK", "net": "INSUFFICIENT_DATA"}


@pytest.mark.parametrize(("rule", "expected"), [
    ('ALARM("cpu")', True),
    ("ALARM(cpu)", True),
    ('ALARM("arn:aws:cloudwatch:us-east-1:000000000000:alarm:cpu")', True),
    ('ALARM("disk")', False),
    ('OK("disk") AND ALARM("cpu")', True),
    ('ALARM("disk") OR INSUFFICIENT_DATA("net")', True),
    ('NOT ALARM("cpu")', False),
    ('ALARM("cpu") AND NOT (OK("disk") OR ALARM("net"))', False),
    ('ALARM("disk") OR ALARM("net") OR TRUE', True),
    ("FALSE", False),
    ('ALARM("missing")', False),
    ('ALARM("cpu") OR ALARM("disk") AND ALARM("net")', True),       # AND binds tighter than OR
])
def test_rules_evaluate(rule: str, expected: bool) -> None:
    assert eval_rule(parse_rule(rule), STATES) is expected


def test_the_alarms_a_rule_names() -> None:
    assert rule_alarms(parse_rule('ALARM("a") OR (OK(b) AND NOT ALARM("arn:aws:cloudwatch:r:1:alarm:c"))')) == {
        "a", "b", "c"}


@pytest.mark.parametrize("rule", ["", "ALARM(", 'ALARM("a") AND', 'ALARM("a") ALARM("b")', "MAYBE(a)",
                                  'ALARM("a"))', "(TRUE"])
def test_bad_rules_are_refused(rule: str) -> None:
    with pytest.raises(ValidationError):
        parse_rule(rule)

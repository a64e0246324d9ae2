"""Metric math: each supported function and operator over small series, and the expressions refused."""

from __future__ import annotations

import math

import pytest

from tsunagi.services.cloudwatch.mathexpr import Evaluator, Labeled, MathError, parse

A = Labeled("a", {0: 1.0, 60_000: 2.0, 180_000: 4.0})
B = Labeled("b", {0: 10.0, 60_000: 20.0, 120_000: 30.0})
GRID = [0, 60_000, 120_000, 180_000]


def run(text: str):
    return Evaluator({"a": A, "b": B}, GRID, 60, ["a", "b"]).eval(parse(text))


def points(v) -> dict[int, float]:
    assert isinstance(v, Labeled), v
    return v.points


@pytest.mark.parametrize(("expr", "expected"), [
    ("a + b", {0: 11.0, 60_000: 22.0}),
    ("b / a - 1", {0: 9.0, 60_000: 9.0}),
    ("a * 2 ^ 2", {0: 4.0, 60_000: 8.0, 180_000: 16.0}),
    ("-a", {0: -1.0, 60_000: -2.0, 180_000: -4.0}),
    ("(a + 1) * 10", {0: 20.0, 60_000: 30.0, 180_000: 50.0}),
    ("a > 1", {0: 0.0, 60_000: 1.0, 180_000: 1.0}),
    ("a >= 2 AND a < 4", {0: 0.0, 60_000: 1.0, 180_000: 0.0}),
    ("a == 1 || a == 4", {0: 1.0, 60_000: 0.0, 180_000: 1.0}),
    ("SUM([a, b])", {0: 11.0, 60_000: 22.0, 120_000: 30.0, 180_000: 4.0}),
    ("MAX(METRICS())", {0: 10.0, 60_000: 20.0, 120_000: 30.0, 180_000: 4.0}),
    ("AVG([a, b])", {0: 5.5, 60_000: 11.0, 120_000: 30.0, 180_000: 4.0}),
    ("FILL(a, 0)", {0: 1.0, 60_000: 2.0, 120_000: 0.0, 180_000: 4.0}),
    ("FILL(a, REPEAT)", {0: 1.0, 60_000: 2.0, 120_000: 2.0, 180_000: 4.0}),
    ("FILL(a, LINEAR)", {0: 1.0, 60_000: 2.0, 120_000: 3.0, 180_000: 4.0}),
    ("DIFF(a)", {60_000: 1.0, 180_000: 2.0}),
    ("RATE(b)", {60_000: 10 / 60, 120_000: 10 / 60}),
    ("DIFF_TIME(a)", {60_000: 60.0, 180_000: 120.0}),
    ("RUNNING_SUM(a)", {0: 1.0, 60_000: 3.0, 180_000: 7.0}),
    ("IF(a > 1, b, 0)", {0: 0.0, 60_000: 20.0}),
    ("IF(a > 1, a)", {60_000: 2.0, 180_000: 4.0}),
    ("ABS(a - 3)", {0: 2.0, 60_000: 1.0, 180_000: 1.0}),
    ("a / (a - 2)", {0: -1.0, 180_000: 2.0}),          # division by zero leaves the point out
    ("LAST([a, b])", B.points),
])
def test_series_expressions(expr: str, expected: dict[int, float]) -> None:
    got = points(run(expr))
    assert got.keys() == expected.keys()
    for t, v in expected.items():
        assert math.isclose(got[t], v), (expr, t, got[t], v)


def test_scalars() -> None:
    assert run("SUM(a)") == 7.0
    assert run("AVG(b)") == 20.0
    assert run("MIN(a) + MAX(b)") == 31.0
    assert run("PERIOD(a)") == 60.0
    assert math.isclose(run("STDDEV(b)"), math.sqrt(200 / 3))
    assert [s.label for s in run("METRICS(\"b\")")] == ["b"]


@pytest.mark.parametrize("expr", ["", "a +", "FOO(a)", "(a", "a b", "x * 2", "SUM(a, b)", "FILL(a, b)",
                                  "[1, 2]", "\"text\"", "a $ b"])
def test_refused(expr: str) -> None:
    with pytest.raises(MathError):
        run(expr)

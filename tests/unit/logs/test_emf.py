"""The embedded metric format's extraction: what a valid document gives, and what makes one invalid."""

from __future__ import annotations

import json

import pytest

from tsunagi.services.logs import emf

NOW = 1_760_000_000_000


def doc(**root) -> dict:
    base = {"_aws": {"Timestamp": NOW, "CloudWatchMetrics": [{
        "Namespace": "Shop", "Dimensions": [["Service"], ["Service", "Route"]],
        "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "Orders", "StorageResolution": 1}]}]},
        "Service": "api", "Route": "/buy", "Latency": [12, 30.5], "Orders": 1, "requestId": "r-1"}
    base.update(root)
    return base


def test_each_value_for_each_dimension_set() -> None:
    out = emf.extract(json.dumps(doc()), NOW)
    assert out is not None
    got = sorted((d.name, d.dimensions, d.value, d.unit, d.storage_resolution, d.timestamp_ms) for d in out)
    api, route = (("Service", "api"),), (("Service", "api"), ("Route", "/buy"))
    assert got == sorted([
        ("Latency", api, 12.0, "Milliseconds", 60, NOW), ("Latency", api, 30.5, "Milliseconds", 60, NOW),
        ("Latency", route, 12.0, "Milliseconds", 60, NOW), ("Latency", route, 30.5, "Milliseconds", 60, NOW),
        ("Orders", api, 1.0, "None", 1, NOW), ("Orders", route, 1.0, "None", 1, NOW)])


def test_no_dimension_sets_is_the_metric_without_dimensions() -> None:
    d = doc()
    d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = []
    assert {x.dimensions for x in emf.extract(json.dumps(d), NOW) or []} == {()}
    d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = [[]]
    assert {x.dimensions for x in emf.extract(json.dumps(d), NOW) or []} == {()}


@pytest.mark.parametrize("message", ["plain text", '{"level": "INFO"}', '["_aws"]', '{"_aws" oops'])
def test_not_a_document(message: str) -> None:
    assert emf.extract(message, NOW) is None


def _breaks(change) -> dict:
    d = doc()
    change(d)
    return d


INVALID = {
    "no timestamp": lambda d: d["_aws"].pop("Timestamp"),
    "timestamp a string": lambda d: d["_aws"].update(Timestamp="1"),
    "timestamp three weeks back": lambda d: d["_aws"].update(Timestamp=NOW - 21 * 86_400_000),
    "no directives": lambda d: d["_aws"].pop("CloudWatchMetrics"),
    "no namespace": lambda d: d["_aws"]["CloudWatchMetrics"][0].pop("Namespace"),
    "AWS namespace": lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Namespace="AWS/Lambda"),
    "no dimensions member": lambda d: d["_aws"]["CloudWatchMetrics"][0].pop("Dimensions"),
    "31 dimensions": lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Dimensions=[[f"d{i}" for i in range(31)]]),
    "dimension missing": lambda d: d.pop("Route"),
    "dimension not a string": lambda d: d.update(Service=3),
    "metric missing": lambda d: d.pop("Orders"),
    "metric a string": lambda d: d.update(Orders="1"),
    "101 values": lambda d: d.update(Latency=list(range(101))),
    "empty values": lambda d: d.update(Latency=[]),
    "bad unit": lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="Parsecs"),
    "bad resolution": lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(StorageResolution=5),
    "101 metrics": lambda d: d["_aws"]["CloudWatchMetrics"][0].update(
        Metrics=[{"Name": "Orders"}] * 101),
}


@pytest.mark.parametrize("why", sorted(INVALID))
def test_invalid_documents_give_nothing(why: str) -> None:
    message = json.dumps(_breaks(INVALID[why]))
    with pytest.raises(emf.Invalid):
        emf.extract(message, NOW)
    out = emf.data([(NOW, message), (NOW, "plain")], "/aws/lambda/f", NOW)
    assert [(d.namespace, d.name, d.value, d.dimensions) for d in out] == [
        ("AWS/Logs", "EMFValidationErrors", 1.0, (("LogGroupName", "/aws/lambda/f"),))]


def test_limits_are_inclusive() -> None:
    d = doc(Latency=list(range(100)))
    d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = [[f"d{i}" for i in range(30)]]
    d.update({f"d{i}": "x" for i in range(30)})
    out = emf.extract(json.dumps(d), NOW) or []
    assert len([x for x in out if x.name == "Latency"]) == 100
    assert all(len(x.dimensions) == 30 for x in out)

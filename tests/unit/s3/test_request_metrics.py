"""S3's request metrics without a server: which metric a request counts in, which configurations'
filters it matches, and the per-bucket cache of configurations."""

from __future__ import annotations

import asyncio

import pytest

from tsunagi.ports import Ports
from tsunagi.ports.cloudwatch import COUNTERS, Counters
from tsunagi.ports.s3 import Observed
from tsunagi.services.s3.common import Bucket
from tsunagi.services.s3.request_metrics import RequestMetrics, object_key, request_metric, scope_of


@pytest.mark.parametrize(("operation", "method", "has_key", "metric"), [
    ("GetObject", "GET", True, "GetRequests"),
    ("GetObjectTagging", "GET", True, "GetRequests"),
    ("PutObject", "PUT", True, "PutRequests"),
    ("CopyObject", "PUT", True, "PutRequests"),
    ("UploadPart", "PUT", True, "PutRequests"),
    ("DeleteObject", "DELETE", True, "DeleteRequests"),
    ("DeleteObjects", "POST", False, "DeleteRequests"),        # a POST, yet counted as a delete, not a POST
    ("HeadObject", "HEAD", True, "HeadRequests"),
    ("HeadBucket", "HEAD", False, "HeadRequests"),
    ("CreateMultipartUpload", "POST", True, "PostRequests"),
    ("CompleteMultipartUpload", "POST", True, "PostRequests"),
    ("PostObject", "POST", True, "PostRequests"),
    ("SelectObjectContent", "POST", True, "SelectRequests"),   # not a POST request either
    ("ListObjects", "GET", False, "ListRequests"),
    ("ListObjectsV2", "GET", False, "ListRequests"),
    ("ListObjectVersions", "GET", False, "ListRequests"),
    ("ListMultipartUploads", "GET", False, "ListRequests"),
    ("ListParts", "GET", True, "ListRequests"),                 # a list, not a GET of an object
    ("GetBucketPolicy", "GET", False, None),                    # a bucket's configuration: AllRequests only
    ("PutBucketTagging", "PUT", False, None),
    ("DeleteBucketCors", "DELETE", False, None),
])
def test_each_operation_counts_in_its_request_metric(operation, method, has_key, metric) -> None:
    assert request_metric(operation, method, has_key) == metric


def test_the_object_a_request_is_for() -> None:
    assert object_key("GetObject", {"Bucket": "b", "Key": "k/1"}) == "k/1"
    assert object_key("ListParts", {"Bucket": "b", "Key": "k/1", "UploadId": "u"}) == "k/1"
    assert object_key("ListObjectsV2", {"Bucket": "b", "Prefix": "k/"}) is None
    assert object_key("DeleteObjects", {"Bucket": "b", "Delete": {"Objects": [{"Key": "k/1"}]}}) is None
    assert object_key("GetBucketTagging", {"Bucket": "b"}) is None


def test_filters_decide_which_requests_count() -> None:
    whole = scope_of("1", "us-east-1", "b", {"Id": "EntireBucket"})
    assert whole.matches(None) and whole.matches("any/key")
    prefix = scope_of("1", "us-east-1", "b", {"Id": "logs", "Filter": {"Prefix": "logs/"}})
    assert prefix.matches("logs/a") and not prefix.matches("data/a")
    assert not prefix.matches(None)              # a bucket-level request counts only without prefix or tag
    tag = scope_of("1", "us-east-1", "b", {"Id": "hot", "Filter": {"Tag": {"Key": "tier", "Value": "hot"}}})
    assert tag.matches("k", {"tier": "hot", "x": "y"})
    assert not tag.matches("k", {"tier": "cold"}) and not tag.matches("k", {}) and not tag.matches("k")
    both = scope_of("1", "us-east-1", "b", {"Id": "and", "Filter": {"And": {
        "Prefix": "p/", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}}})
    assert both.matches("p/k", {"a": "1", "b": "2"})
    assert not both.matches("q/k", {"a": "1", "b": "2"}) and not both.matches("p/k", {"a": "1"})
    point = scope_of("1", "us-east-1", "b", {"Id": "ap", "Filter": {
        "AccessPointArn": "arn:aws:s3:us-east-1:1:accesspoint/ap"}})
    assert not point.matches(None) and not point.matches("k")     # no request comes through an access point
    assert whole.series["AllRequests"] == ("1", "us-east-1", "AWS/S3", "AllRequests",
                                           (("BucketName", "b"), ("FilterId", "EntireBucket")), "Count")
    assert whole.series["TotalRequestLatency"][5] == "Milliseconds"
    assert whole.series["BytesDownloaded"][5] == "Bytes"


class _Repo:
    def __init__(self, buckets: dict) -> None:
        self.buckets = buckets
        self.reads = 0

    async def bucket(self, name):
        self.reads += 1
        return self.buckets.get(name)


def _metrics(repo, now: list[float]) -> tuple[RequestMetrics, Counters]:
    ports = Ports()
    counters = Counters(clock=lambda: 120.0)
    ports.provide(COUNTERS, counters)
    return RequestMetrics(repo, ports, clock=lambda: now[0]), counters  # type: ignore[arg-type]


def _seen(operation: str, method: str, key: str | None, status: int = 200, down: int = 0, up: int = 0) -> Observed:
    return Observed(operation, method, {"Bucket": "b", **({"Key": key} if key else {})}, status, up, down, 2.0, 5.0)


def test_counting_per_configuration() -> None:
    now = [0.0]
    metrics, counters = _metrics(_Repo({}), now)
    b = Bucket("b", "1", "eu-west-1", 0.0, "", {"metrics": {
        "all": {"Id": "all"}, "logs": {"Id": "logs", "Filter": {"Prefix": "logs/"}}}})
    metrics.changed(b, "b")
    assert metrics.watching("b")
    metrics.observe("b", _seen("GetObject", "GET", "logs/a", down=10))
    metrics.observe("b", _seen("GetObject", "GET", "data/a", status=404, down=300))
    metrics.observe("b", _seen("ListObjectsV2", "GET", None))
    got = {(d.name, dict(d.dimensions)["FilterId"]): d for d in counters.drain()[("1", "eu-west-1")]}
    assert got[("AllRequests", "all")].total == 3 and got[("AllRequests", "logs")].total == 1
    assert got[("GetRequests", "all")].total == 2 and got[("ListRequests", "all")].total == 1
    assert ("ListRequests", "logs") not in got
    errors = got[("4xxErrors", "all")]
    assert (errors.count, errors.total, errors.minimum, errors.maximum) == (3, 1, 0, 1)   # 0 or 1 a request
    assert got[("5xxErrors", "all")].total == 0
    down = got[("BytesDownloaded", "all")]
    assert (down.count, down.total, down.unit) == (2, 310, "Bytes")
    assert ("BytesUploaded", "all") not in got                                         # no request had a body
    latency = got[("TotalRequestLatency", "logs")]
    assert (latency.count, latency.total, latency.unit) == (1, 5.0, "Milliseconds")
    assert all(d.namespace == "AWS/S3" and d.timestamp_ms == 120_000 for d in got.values())


def test_a_bucket_without_configuration_counts_nothing_and_the_cache_is_read_once_a_ttl() -> None:
    async def main() -> None:
        now = [0.0]
        repo = _Repo({})
        metrics, counters = _metrics(repo, now)
        assert not metrics.watching("plain")          # not known yet: read in the background
        assert not metrics.watching("plain")          # (one read at a time)
        await asyncio.sleep(0)
        assert repo.reads == 1
        for _ in range(100):
            assert not metrics.watching("plain")
        await asyncio.sleep(0)
        assert repo.reads == 1                        # trusted for a TTL
        metrics.observe("plain", _seen("GetObject", "GET", "k"))
        assert counters.drain() == {}
        now[0] = 5.0                                  # stale: read again, the old answer serving meanwhile
        assert not metrics.watching("plain")
        await asyncio.sleep(0)
        assert repo.reads == 2
        metrics.changed(Bucket("plain", "1", "us-east-1", 0.0, "", {"metrics": {"x": {"Id": "x"}}}), "plain")
        assert metrics.watching("plain")              # this server's own change: at once
        metrics.changed(None, "plain")
        assert not metrics.watching("plain")

    asyncio.run(main())

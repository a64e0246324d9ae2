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


class _Store:
    shared = True

    def __init__(self) -> None:
        self.listeners: dict[str, list] = {}

    def listen(self, channel, callback) -> None:
        self.listeners.setdefault(channel, []).append(callback)

    def unlisten(self, channel, callback) -> None:
        self.listeners[channel].remove(callback)

    def tell(self, channel: str, payload: str) -> None:
        for cb in self.listeners.get(channel, ()):
            cb(payload)


class _Repo:
    def __init__(self, buckets: dict) -> None:
        self.buckets = buckets
        self.reads = 0
        self.store = _Store()

    async def bucket(self, name):
        self.reads += 1
        return self.buckets.get(name)


class _Row:
    """A bucket row as the store has it."""

    def __init__(self, name: str, metrics: dict) -> None:
        import orjson

        self.name, self.account, self.region, self.created_at, self.versioning = name, "1", "us-east-1", 0.0, ""
        self.config = orjson.dumps({"metrics": metrics}).decode() if metrics else "{}"


def _metrics(repo) -> tuple[RequestMetrics, Counters]:
    ports = Ports()
    counters = Counters(clock=lambda: 120.0)
    ports.provide(COUNTERS, counters)
    return RequestMetrics(repo, ports), counters  # type: ignore[arg-type]


def _seen(operation: str, method: str, key: str | None, status: int = 200, down: int = 0, up: int = 0) -> Observed:
    return Observed(operation, method, {"Bucket": "b", **({"Key": key} if key else {})}, status, up, down, 2.0, 5.0)


def test_counting_per_configuration() -> None:
    metrics, counters = _metrics(_Repo({}))
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


def test_the_cache_reads_a_bucket_once_and_follows_changes() -> None:
    async def main() -> None:
        repo = _Repo({"plain": _Row("plain", {})})
        metrics, counters = _metrics(repo)
        metrics.listen()
        assert not metrics.watching("plain")          # not known yet: read in the background
        assert not metrics.watching("plain")          # (one read at a time)
        await asyncio.sleep(0)
        assert repo.reads == 1
        for _ in range(100):
            assert not metrics.watching("plain")
        await asyncio.sleep(0)
        assert repo.reads == 1                        # no configuration: a lookup, no read
        metrics.observe("plain", _seen("GetObject", "GET", "k"))
        assert counters.drain() == {}
        # another server configured it: notified, read again, counted from then on
        repo.buckets["plain"] = _Row("plain", {"x": {"Id": "x"}})
        repo.store.tell("s3-meta", "plain")
        assert not metrics.watching("plain")          # the old entry serves until the read is done
        await asyncio.sleep(0)
        assert repo.reads == 2 and metrics.watching("plain")
        repo.store.tell("s3-meta", "unknown")         # a bucket not seen here: nothing to read
        await asyncio.sleep(0)
        assert repo.reads == 2
        # this server's own change: at once, without a read
        metrics.changed(Bucket("plain", "1", "us-east-1", 0.0, "", {}), "plain")
        assert not metrics.watching("plain")
        metrics.changed(None, "plain")
        assert not metrics.watching("plain")
        repo.store.tell("*", "")                      # a reconnected listener: every bucket read again
        assert not metrics.watching("plain")
        await asyncio.sleep(0)
        assert repo.reads == 3 and metrics.watching("plain")
        metrics.unlisten()

    asyncio.run(main())


def test_a_read_overtaken_by_a_change_is_not_kept() -> None:
    async def main() -> None:
        repo = _Repo({"b": _Row("b", {})})
        metrics, _ = _metrics(repo)
        assert not metrics.watching("b")              # the read begins...
        repo.buckets["b"] = _Row("b", {"x": {"Id": "x"}})
        metrics.changed(Bucket("b", "1", "us-east-1", 0.0, "", {"metrics": {"x": {"Id": "x"}}}), "b")
        for _ in range(3):
            await asyncio.sleep(0)                    # ...and ends after this server's change: not kept
        assert metrics.watching("b")

    asyncio.run(main())


def test_count_many_counts_as_count_does() -> None:
    a, b = Counters(clock=lambda: 90.0), Counters(clock=lambda: 90.0)
    s1 = ("1", "r", "AWS/S3", "AllRequests", (("BucketName", "b"),), "Count")
    s2 = ("1", "r", "AWS/S3", "TotalRequestLatency", (("BucketName", "b"),), "Milliseconds")
    items = [(s1, 1.0), (s2, 7.0), (s2, 3.0), (s1, 1.0), (s2, 12.0)]
    for series, value in items:
        a.count(series, value)
    b.count_many(items[:2])
    b.count_many(items[2:])
    assert a.drain() == b.drain()

"""Amazon S3 request metrics (namespace ``AWS/S3``): published only for a bucket that has a metrics
configuration (PutBucketMetricsConfiguration), one set of metrics per configuration, with the
dimensions ``BucketName`` and ``FilterId`` (the configuration's Id).

The gateway tells :class:`RequestMetrics` about every S3 request once it is answered (its status, the
bytes it carried each way, how long it took); what counts toward which configuration, and as what,
is decided here:

- ``AllRequests`` every request; ``GetRequests``, ``PutRequests``, ``DeleteRequests`` the GET, PUT and
  DELETE requests for objects (DeleteObjects included); ``HeadRequests`` HEAD requests (HeadObject,
  HeadBucket); ``PostRequests`` POST requests (CreateMultipartUpload, CompleteMultipartUpload,
  RestoreObject, browser-form uploads; not DeleteObjects nor SelectObjectContent);
  ``SelectRequests`` SelectObjectContent; ``ListRequests`` the requests that list a bucket's contents
  (ListObjects, ListObjectsV2, ListObjectVersions, ListMultipartUploads, ListParts). A bucket's own
  configuration requests (GetBucketPolicy …) count only in ``AllRequests``.
- ``BytesDownloaded`` / ``BytesUploaded``: the response's / request's body, for requests that have one.
- ``4xxErrors`` / ``5xxErrors``: 1 or 0 for every request (the Average is the error rate, the Sum the count).
- ``FirstByteLatency`` (from the request's arrival until its answer is ready) and
  ``TotalRequestLatency`` (until the answer's last byte is handed to the connection), in milliseconds.

A configuration's filter decides which requests count: one without a filter (the console's
``EntireBucket``) counts every request; a ``Prefix`` or ``Tag`` (or an ``And`` of them) counts only
requests for one object whose key has the prefix and whose tags, once the request is answered,
include the filter's, so requests that name no single object (ListObjects, DeleteObjects, the
bucket's configuration) count only toward configurations without a prefix or tag. An
``AccessPointArn`` filter counts only requests made through that access point: tsunagi serves no
access points, so it counts none.

The configurations are kept in memory per bucket, so a request to a bucket without one costs a
dictionary lookup (the first request to a bucket this server has not seen reads it in the background,
and is not counted): this server's own Put/DeleteBucketMetricsConfiguration (or CreateBucket,
DeleteBucket, any change of the bucket's configuration) replaces its entry at once; another server's
(several servers on one PostgreSQL) is notified on the store's ``s3-meta`` channel when it commits, and
the entry is read again, the old one serving until then (a listener that reconnected reads every
bucket again).
Counting goes into CloudWatch's in-memory :class:`~tsunagi.ports.cloudwatch.Counters`, drained into
metric data by CloudWatch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tsunagi.ports import Ports
from tsunagi.ports.cloudwatch import COUNTERS, Series
from tsunagi.ports.s3 import Observed
from tsunagi.services.s3.common import Bucket, Version
from tsunagi.store.s3 import META_CHANNEL, S3Repo

log = logging.getLogger("tsunagi.s3")

NAMESPACE = "AWS/S3"
_KEPT = 10_000                    # buckets remembered before the cache starts over

COUNT, BYTES, MS = "Count", "Bytes", "Milliseconds"
METRICS = {"AllRequests": COUNT, "GetRequests": COUNT, "PutRequests": COUNT, "DeleteRequests": COUNT,
           "HeadRequests": COUNT, "PostRequests": COUNT, "SelectRequests": COUNT, "ListRequests": COUNT,
           "BytesDownloaded": BYTES, "BytesUploaded": BYTES, "4xxErrors": COUNT, "5xxErrors": COUNT,
           "FirstByteLatency": MS, "TotalRequestLatency": MS}

_LISTS = frozenset({"ListObjects", "ListObjectsV2", "ListObjectVersions", "ListMultipartUploads", "ListParts"})
_BY_METHOD = {"GET": "GetRequests", "PUT": "PutRequests", "DELETE": "DeleteRequests"}


def request_metric(operation: str, method: str, has_key: bool) -> str | None:
    """The per-type request metric an S3 request counts in besides AllRequests (None: only AllRequests)."""
    if operation in _LISTS:
        return "ListRequests"
    if operation == "SelectObjectContent":
        return "SelectRequests"
    if operation == "DeleteObjects":
        return "DeleteRequests"
    if method == "HEAD":
        return "HeadRequests"
    if method == "POST":
        return "PostRequests"
    return _BY_METHOD.get(method) if has_key else None


def object_key(operation: str, params: Mapping[str, Any]) -> str | None:
    """The one object a request is for (None for a bucket-level request, DeleteObjects among them)."""
    if operation in _LISTS and operation != "ListParts":
        return None
    key = params.get("Key")
    return key if isinstance(key, str) and key else None


@dataclass(frozen=True, slots=True)
class Scope:
    """One metrics configuration of a bucket: which requests it counts, and its metrics' series."""

    filter_id: str
    prefix: str | None
    tags: tuple[tuple[str, str], ...]
    access_point: str | None
    series: Mapping[str, Series]

    @property
    def objects_only(self) -> bool:
        """Counts only requests for one object (a prefix or tag filter)."""
        return self.prefix is not None or bool(self.tags)

    def matches(self, key: str | None, tags: Mapping[str, str] | None = None) -> bool:
        """Whether a request for ``key`` (None: no single object), an object with ``tags``, counts here."""
        if self.access_point is not None:
            return False                   # made through an access point: tsunagi serves none
        if not self.objects_only:
            return True
        if key is None:
            return False
        if self.prefix is not None and not key.startswith(self.prefix):
            return False
        if self.tags:
            if tags is None:
                return False
            return all(tags.get(k) == v for k, v in self.tags)
        return True


def scope_of(account: str, region: str, bucket: str, conf: Mapping[str, Any]) -> Scope:
    """A stored MetricsConfiguration (PutBucketMetricsConfiguration's member) as a :class:`Scope`."""
    filter_id = str(conf.get("Id") or "")
    flt = conf.get("Filter") or {}
    if "And" in flt:
        flt = flt.get("And") or {}
        tags = [(str(t.get("Key", "")), str(t.get("Value", ""))) for t in flt.get("Tags") or []]
    else:
        tag = flt.get("Tag")
        tags = [(str(tag.get("Key", "")), str(tag.get("Value", "")))] if tag else []
    prefix = flt.get("Prefix") or None
    dims = (("BucketName", bucket), ("FilterId", filter_id))
    series = {name: (account, region, NAMESPACE, name, dims, unit) for name, unit in METRICS.items()}
    return Scope(filter_id, prefix, tuple(tags), flt.get("AccessPointArn") or None, series)


class RequestMetrics:
    """Which buckets have metrics configurations (cached), and the counting of their requests."""

    def __init__(self, repo: S3Repo, ports: Ports) -> None:
        self.repo = repo
        self.ports = ports
        self._scopes: dict[str, tuple[Scope, ...]] = {}
        self._reading: set[str] = set()
        self._changes = 0                 # changes heard so far: a read begun before one is not kept
        self._tasks: set[asyncio.Task[None]] = set()
        self._listening = False

    # == the cache ===============================================================================
    def listen(self) -> None:
        """Follow the other servers' changes to buckets (a shared store)."""
        if not self._listening:
            self.repo.store.listen(META_CHANNEL, self._on_change)
            self.repo.store.listen("*", self._on_reconnect)
            self._listening = True

    def unlisten(self) -> None:
        if self._listening:
            self.repo.store.unlisten(META_CHANNEL, self._on_change)
            self.repo.store.unlisten("*", self._on_reconnect)
            self._listening = False

    def watching(self, bucket: str) -> bool:
        """Whether requests to ``bucket`` are counted (it has a metrics configuration): a dictionary
        lookup. A bucket not seen before is read in the background, and counts from then on."""
        scopes = self._scopes.get(bucket)
        if scopes is None:
            self._read_later(bucket)
            return False
        return bool(scopes)

    def changed(self, b: Bucket | None, name: str) -> None:
        """This server changed (or deleted, ``b`` None) the bucket ``name``: its entry, from now on."""
        self._changes += 1
        self._keep(name, self.scopes_of(b) if b is not None else ())

    def _on_change(self, payload: str) -> None:
        """A server changed a bucket (this one too: the entry is read again, which changes nothing)."""
        self._changes += 1
        if payload in ("", "*"):
            self._on_reconnect(payload)
        elif payload in self._scopes:
            self._read_later(payload)     # the old entry serves until the new one is read

    def _on_reconnect(self, _payload: str) -> None:
        self._changes += 1
        self._scopes.clear()              # (notifications may have been missed: read each bucket again)

    @staticmethod
    def scopes_of(b: Bucket) -> tuple[Scope, ...]:
        confs = b.config.get("metrics") or {}
        return tuple(scope_of(b.account, b.region, b.name, conf) for _, conf in sorted(confs.items()))

    def _keep(self, name: str, scopes: tuple[Scope, ...]) -> None:
        if len(self._scopes) >= _KEPT and name not in self._scopes:
            self._scopes.clear()
        self._scopes[name] = scopes

    def _read_later(self, bucket: str) -> None:
        if bucket in self._reading:
            return
        self._reading.add(bucket)
        self._spawn(self._read(bucket, self._changes))

    async def _read(self, bucket: str, changes: int) -> None:
        try:
            row = await self.repo.bucket(bucket)
            if changes == self._changes:      # (else what was read may be older than the change)
                self._keep(bucket, self.scopes_of(Bucket.from_row(row)) if row is not None else ())
            elif bucket not in self._scopes or self.repo.store.shared:
                self._read_later_again(bucket)
        except Exception as e:          # the store is busy or gone: read again on the next request
            log.debug("reading the metrics configurations of bucket %s failed: %s", bucket, e)
        finally:
            self._reading.discard(bucket)

    def _read_later_again(self, bucket: str) -> None:
        asyncio.get_running_loop().call_soon(self._read_later, bucket)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def forget(self) -> None:
        self._changes += 1
        self._scopes.clear()

    # == counting ================================================================================
    def observe(self, bucket: str, seen: Observed) -> None:
        """Count one answered request to ``bucket`` toward each of its configurations it matches."""
        scopes = self._scopes.get(bucket)
        if not scopes:
            return
        key = object_key(seen.operation, seen.params)
        tagged = []
        for scope in scopes:
            if scope.tags and key is not None and scope.access_point is None and (
                    scope.prefix is None or key.startswith(scope.prefix)):
                tagged.append(scope)      # whether it matches depends on the object's tags: read them
            elif scope.matches(key):
                self._count(scope, seen, key)
        if tagged and key is not None:
            self._spawn(self._count_tagged(bucket, key, tagged, seen))

    async def _count_tagged(self, bucket: str, key: str, scopes: list[Scope], seen: Observed) -> None:
        try:
            row = await self.repo.object(bucket, key)
        except Exception as e:
            log.debug("reading the tags of s3://%s/%s for its request metrics failed: %s", bucket, key, e)
            return
        if row is None:
            return
        v = Version.from_row(row)
        tags = {} if v.delete_marker else (v.info.get("tags") or {})
        for scope in scopes:
            if scope.matches(key, tags):
                self._count(scope, seen, key)

    def _count(self, scope: Scope, seen: Observed, key: str | None) -> None:
        counters = self.ports.find(COUNTERS)
        if counters is None:
            return
        series = scope.series
        status = seen.status
        counted = [(series["AllRequests"], 1.0),
                   (series["4xxErrors"], 1.0 if 400 <= status < 500 else 0.0),
                   (series["5xxErrors"], 1.0 if status >= 500 else 0.0),
                   (series["FirstByteLatency"], seen.first_byte_ms),
                   (series["TotalRequestLatency"], seen.total_ms)]
        kind = request_metric(seen.operation, seen.method, key is not None)
        if kind is not None:
            counted.append((series[kind], 1.0))
        if seen.downloaded:
            counted.append((series["BytesDownloaded"], float(seen.downloaded)))
        if seen.uploaded:
            counted.append((series["BytesUploaded"], float(seen.uploaded)))
        counters.count_many(counted)

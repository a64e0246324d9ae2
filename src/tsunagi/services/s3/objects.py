"""Object operations: put/get/head/delete, batch delete, copy, listings, versions, tagging, attributes;
and the commit that makes a new version current with its notifications."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from tsunagi.clock import Clock
from tsunagi.context import RequestContext
from tsunagi.ports.outbox import OutboxPort
from tsunagi.services.s3 import acl, checksums, lock, restore
from tsunagi.services.s3.bodies import Bodies
from tsunagi.services.s3.buckets import Buckets
from tsunagi.services.s3.common import (
    DEFAULT_CONTENT_TYPE,
    Bucket,
    Version,
    check_key,
    check_preconditions,
    dict_to_tagset,
    json_dumps,
    json_loads,
    new_version_id,
    next_string,
    owner,
    parse_range,
    parse_tagging_header,
    stamp,
    strip_etag,
    tagset_to_dict,
    to_epoch,
    url_encode,
)
from tsunagi.services.s3.crypto import sse_for
from tsunagi.services.s3.errors import (
    err,
    invalid_argument,
    invalid_request,
    malformed_xml,
    no_such_key,
    no_such_version,
    precondition_failed,
)
from tsunagi.services.s3.kms import record, sse_output
from tsunagi.services.s3.notifications import Notifications
from tsunagi.store.base import Store, Tx
from tsunagi.store.s3 import ListRow, S3Repo

_CONTENT = (("ContentType", "ct"), ("ContentEncoding", "ce"), ("ContentDisposition", "cd"),
            ("ContentLanguage", "cl"), ("CacheControl", "cc"), ("WebsiteRedirectLocation", "wrl"))
_OVERRIDES = (("ResponseContentType", "ContentType"), ("ResponseContentEncoding", "ContentEncoding"),
              ("ResponseContentDisposition", "ContentDisposition"), ("ResponseContentLanguage", "ContentLanguage"),
              ("ResponseCacheControl", "CacheControl"), ("ResponseExpires", "Expires"))
_STORAGE_CLASSES = frozenset({"STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
                              "GLACIER", "DEEP_ARCHIVE", "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE"})
LIST_BATCH = 1000


def content_info(params: dict[str, Any]) -> dict[str, Any]:
    """The stored description of an object from a write request's members."""
    info: dict[str, Any] = {}
    for member, short in _CONTENT:
        value = params.get(member)
        if value:
            info[short] = value
    expires = to_epoch(params.get("Expires"))
    if expires is not None:
        info["exp"] = expires
    meta = params.get("Metadata")
    if meta:
        info["meta"] = {k.lower(): v for k, v in meta.items()}
    sc = params.get("StorageClass")
    if sc:
        if sc not in _STORAGE_CLASSES:
            raise err("InvalidStorageClass", "The storage class you specified is not valid", 400,
                      StorageClassRequested=sc)
        if sc != "STANDARD":
            info["sc"] = sc
    return info


class Objects:
    def __init__(self, store: Store, repo: S3Repo, buckets: Buckets, bodies: Bodies, notifications: Notifications,
                 outbox: OutboxPort, clock: Clock) -> None:
        self.store = store
        self.repo = repo
        self.buckets = buckets
        self.bodies = bodies
        self.notifications = notifications
        self.outbox = outbox
        self.clock = clock

    # == write path ===============================================================================
    async def commit(self, ctx: RequestContext, b: Bucket, key: str, *, size: int, etag: str, info: dict[str, Any],
                     segments: list[dict[str, Any]], event: str, delete_marker: bool = False,
                     version_id: str | None = None, conditions: dict[str, Any] | None = None) -> tuple[str, float]:
        """Make a new current version (or delete marker) visible, with its notifications, atomically;
        ``conditions``: the request's If-None-Match / If-Match, checked again under the key's lock.
        Returns (version id, modification time)."""
        vid = version_id or (new_version_id() if b.versioning == "Enabled" else "null")
        now = stamp(self.clock)
        async with self.store.transaction() as tx:
            if conditions is not None:
                await self.repo.lock_key(tx, b.name, key)
                await self.check_write_conditions(b, key, conditions, tx)
            freed = await self.repo.put_object(tx, b.name, key, vid, size=size, etag=etag, modified_at=now,
                                               info=json_dumps(info), segments=json_dumps(segments),
                                               delete_marker=delete_marker)
            events = await self.notifications.events_for(tx, ctx, b, event, key, size=size, etag=etag,
                                                         version_id=vid if b.versioning else None, now=now)
            if events:
                await self.outbox.add(tx, events)
        self.bodies.free_later(freed)
        return vid, now

    async def check_write_conditions(self, b: Bucket, key: str, params: dict[str, Any], tx: Tx | None = None) -> None:
        """Conditional writes: If-None-Match: * (the key must not exist) and If-Match (its ETag must).
        Checked once before the body is read, and again inside the commit (``tx``, with the key's lock
        held), so that of simultaneous conditional writes only the first to commit succeeds."""
        if_none, if_match = params.get("IfNoneMatch"), params.get("IfMatch")
        if if_none is None and if_match is None:
            return
        row = await (self.repo.object(b.name, key) if tx is None else self.repo.current_in(tx, b.name, key))
        current = Version.from_row(row) if row is not None else None
        if current is not None and current.delete_marker:
            current = None
        if if_none is not None:
            if if_none.strip() != "*":
                raise err("NotImplemented", "A header you provided implies functionality that is not implemented",
                          501, Header="If-None-Match")
            if current is not None:
                raise precondition_failed("If-None-Match")
        if if_match is not None:
            if current is None:
                raise no_such_key(key)
            if strip_etag(if_match) != strip_etag(current.etag) and if_match.strip() != "*":
                raise precondition_failed("If-Match")

    def result_checksums(self, info: dict[str, Any]) -> dict[str, Any]:
        ck = info.get("ck")
        if not ck:
            return {}
        return {checksums.MEMBERS[ck["alg"]]: ck["val"], "ChecksumType": ck.get("type", "FULL_OBJECT")}

    async def put_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        key = params.get("Key") or ""
        check_key(key)
        sse = sse_for(b, params)
        info = content_info(params)
        tags = parse_tagging_header(params.get("Tagging"))
        self._acl_on_write(b, ctx, params, info)
        lock.on_write(b, params, info, self.clock.now())
        await self.check_write_conditions(b, key, params)
        sealing = await self.bodies.sealing_for(ctx, b, key, sse)
        ing, sums, algos = await self.bodies.upload(params, sealing=sealing)
        record(info, sse, sealing)
        if tags:
            info["tags"] = tags
        if algos:
            info["ck"] = {"alg": algos[0], "val": sums[algos[0]], "type": "FULL_OBJECT"}
        try:
            vid, _ = await self.commit(ctx, b, key, size=ing.size, etag=ing.etag, info=info, segments=[ing.segment],
                                       event="ObjectCreated:Put", conditions=params)
        except BaseException:
            await self.bodies.discard(ing)
            raise
        out: dict[str, Any] = {"ETag": ing.etag, **sse_output(info, context=True), "Size": ing.size,
                               **self.result_checksums(info)}
        if b.versioning:
            out["VersionId"] = vid
        return out

    # == read path ================================================================================
    async def version(self, b: Bucket, key: str, version_id: str | None, *, head: bool = False) -> Version:
        row = await self.repo.object(b.name, key, version_id)
        if row is None:
            if version_id is not None:
                if version_id != "null" and len(version_id) != 32:
                    raise invalid_argument("Invalid version id specified", "versionId", version_id)
                raise no_such_version(key, version_id)
            raise no_such_key(key)
        v = Version.from_row(row)
        if v.delete_marker:
            # the answer says what was found: a delete marker (and which version, where there are versions)
            marker: dict[str, Any] = {"DeleteMarker": True, "VersionId": v.version_id}
            if version_id is None:
                e = no_such_key(key)
                e.output.update(marker if b.versioning else {"DeleteMarker": True})
                raise e
            e = err("MethodNotAllowed", "The specified method is not allowed against this resource.", 405,
                    Method="HEAD" if head else "GET", ResourceType="DeleteMarker")
            e.output.update({**marker, "LastModified": v.modified_at})
            raise e
        return v

    def describe(self, b: Bucket, v: Version, params: dict[str, Any], *, get: bool) -> dict[str, Any]:
        info = v.info
        out: dict[str, Any] = {"ETag": v.etag, "LastModified": v.modified_at, "ContentLength": v.size,
                               "AcceptRanges": "bytes", "ContentType": info.get("ct", DEFAULT_CONTENT_TYPE)}
        for member, short in _CONTENT[1:]:
            if short in info:
                out[member] = info[short]
        if "exp" in info:
            out["Expires"] = info["exp"]
        if info.get("meta"):
            out["Metadata"] = info["meta"]
        if b.versioning:
            out["VersionId"] = v.version_id
        if info.get("sse"):
            out.update(sse_output(info))
        if info.get("sc"):
            out["StorageClass"] = info["sc"]
        if "restored" in info:
            out["Restore"] = restore.header(info)
        if get and info.get("tags"):
            out["TagCount"] = len(info["tags"])
        if "lock" in info or "hold" in info:
            out.update(lock.output(info))
        if params.get("ChecksumMode") == "ENABLED":
            out.update(self.result_checksums(info))
        if get:
            for query, member in _OVERRIDES:
                if params.get(query) is not None:
                    out[member] = params[query]
        return out

    async def _read(self, ctx: RequestContext, params: dict[str, Any], *, get: bool) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        key = params.get("Key") or ""
        v = await self.version(b, key, params.get("VersionId"), head=not get)
        if get and v.info.get("sc") in restore.ARCHIVED:
            restore.check_readable(v.info, self.clock.now())
        check_preconditions(params, v.etag, v.modified_at)
        out = self.describe(b, v, params, get=get)
        start, end = 0, v.size
        part = params.get("PartNumber")
        if part is not None:
            if params.get("Range"):
                raise invalid_request("Cannot specify both Range header and partNumber query parameter")
            parts = v.info.get("parts")
            count = len(v.segments) if parts else 1
            if not 1 <= int(part) <= max(1, count):
                raise err("InvalidPartNumber", "The requested partnumber is not satisfiable", 416,
                          PartNumberRequested=str(part), ActualPartCount=str(count))
            if parts:
                start = sum(int(s["n"]) for s in v.segments[:int(part) - 1])
                end = start + int(v.segments[int(part) - 1]["n"])
                out["PartsCount"] = count
            # part 1 of an ordinary object is the whole object, answered 206 with its range (no parts count)
            out["ContentRange"] = f"bytes {start}-{end - 1}/{v.size}" if end > start else None
        else:
            rng = parse_range(params.get("Range"), v.size)
            if rng is not None:
                start, end = rng
                out["ContentRange"] = f"bytes {start}-{end - 1}/{v.size}"
                out.pop("ChecksumType", None)
                for m in checksums.MEMBERS.values():
                    out.pop(m, None)
        out["ContentLength"] = end - start
        if get:
            keys = await self.bodies.keys_for(ctx, b, v.segments, start, end)
            out["Body"] = self.bodies.stream(v.segments, start, end, keys)
        return out

    async def get_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._read(ctx, params, get=True)

    async def head_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._read(ctx, params, get=False)

    # == delete ===================================================================================
    async def _delete_one(self, ctx: RequestContext, b: Bucket, key: str, version_id: str | None,
                          bypass: bool = False) -> dict[str, Any]:
        """Delete a key (delete marker when versioned) or one version; returns DeleteObject's output."""
        if version_id is not None and b.config.get("object_lock"):
            locked = await self.repo.object(b.name, key, version_id)
            if locked is not None:
                lock.check_delete(Version.from_row(locked).info, self.clock.now(), bypass)
        if version_id is None and b.versioning in ("Enabled", "Suspended"):
            vid, _ = await self.commit(ctx, b, key, size=0, etag="", info={}, segments=[],
                                       event="ObjectRemoved:DeleteMarkerCreated", delete_marker=True,
                                       version_id=None if b.versioning == "Enabled" else "null")
            return {"DeleteMarker": True, "VersionId": vid}
        vid = version_id or "null"
        if version_id is not None and vid != "null" and len(vid) != 32:
            raise invalid_argument("Invalid version id specified", "versionId", vid)
        now = stamp(self.clock)
        gone: Version | None = None
        async with self.store.transaction() as tx:
            row = await self.repo.delete_version(tx, b.name, key, vid)
            if row is not None:
                gone = Version.from_row(row)
            # S3 sends ObjectRemoved:Delete for a key that was not there too (a delete always succeeds)
            events = await self.notifications.events_for(tx, ctx, b, "ObjectRemoved:Delete", key,
                                                         version_id=vid if b.versioning else None, now=now)
            if events:
                await self.outbox.add(tx, events)
        out: dict[str, Any] = {}
        if gone is not None:
            self.bodies.free_later([gone.segments])
            if gone.delete_marker:
                out["DeleteMarker"] = True
        if version_id is not None:
            out["VersionId"] = version_id
        return out

    async def delete_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        key = params.get("Key") or ""
        if params.get("IfMatch") is not None:
            row = await self.repo.object(b.name, key)
            if row is None:
                raise no_such_key(key)
            if strip_etag(params["IfMatch"]) != strip_etag(row.etag) and params["IfMatch"].strip() != "*":
                raise precondition_failed("If-Match")
        return await self._delete_one(ctx, b, key, params.get("VersionId"),
                                      bool(params.get("BypassGovernanceRetention")))

    async def delete_objects(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        spec = params.get("Delete") or {}
        objects = spec.get("Objects") or []
        if not objects or len(objects) > 1000:
            raise malformed_xml()
        quiet = bool(spec.get("Quiet"))
        deleted, errors = [], []
        for o in objects:
            key = o.get("Key")
            if key is None:
                raise malformed_xml()
            try:
                r = await self._delete_one(ctx, b, key, o.get("VersionId"),
                                           bool(params.get("BypassGovernanceRetention")))
            except Exception as e:  # per-key failures are reported, not raised
                code = getattr(e, "code", "InternalError")
                errors.append({"Key": key, "VersionId": o.get("VersionId"), "Code": code,
                               "Message": getattr(e, "message", str(e))})
                continue
            if quiet:
                continue
            entry: dict[str, Any] = {"Key": key}
            if o.get("VersionId"):
                entry["VersionId"] = o["VersionId"]
            if r.get("DeleteMarker"):
                entry["DeleteMarker"] = True
                if o.get("VersionId") is None:
                    entry["DeleteMarkerVersionId"] = r.get("VersionId")
                else:
                    entry["DeleteMarkerVersionId"] = o["VersionId"]
            deleted.append(entry)
        out: dict[str, Any] = {}
        if deleted:
            out["Deleted"] = deleted
        if errors:
            out["Errors"] = errors
        return out

    # == copy =====================================================================================
    async def copy_source(self, ctx: RequestContext, params: dict[str, Any]) -> tuple[Bucket, Version]:
        raw = params.get("CopySource") or ""
        version_id = None
        if "?versionId=" in raw:
            raw, _, version_id = raw.partition("?versionId=")
        path = unquote(raw).lstrip("/")
        src_bucket, _, src_key = path.partition("/")
        if not src_bucket or not src_key:
            raise invalid_argument("Invalid copy source object key", "x-amz-copy-source", params.get("CopySource"))
        sb = await self.buckets.get(ctx, src_bucket)
        v = await self.version(sb, src_key, version_id)
        check_preconditions(params, v.etag, v.modified_at, prefix="CopySource", copy=True)
        return sb, v

    @staticmethod
    def _copy_in_place_allowed(b: Bucket) -> bool:
        """An unchanged copy of an object onto itself still makes something new where the bucket has
        versioning enabled (a new version) or a default SSE-KMS encryption (the copy is re-encrypted under
        the bucket's key); elsewhere S3 refuses it."""
        if b.versioning == "Enabled":
            return True
        rules = (b.config.get("encryption") or {}).get("Rules") or [{}]
        algo = (rules[0].get("ApplyServerSideEncryptionByDefault") or {}).get("SSEAlgorithm")
        return algo in ("aws:kms", "aws:kms:dsse")

    async def copy_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        key = params.get("Key") or ""
        check_key(key)
        sb, src = await self.copy_source(ctx, params)
        directive = params.get("MetadataDirective") or "COPY"
        tag_directive = params.get("TaggingDirective") or "COPY"
        if directive not in ("COPY", "REPLACE") or tag_directive not in ("COPY", "REPLACE"):
            raise invalid_argument("Unknown metadata directive.", "x-amz-metadata-directive", directive)
        sse = sse_for(b, params)
        if sb.name == b.name and src.key == key and directive == "COPY" and not params.get("StorageClass") \
                and not params.get("ServerSideEncryption") and not params.get("WebsiteRedirectLocation") \
                and not params.get("ChecksumAlgorithm") and tag_directive == "COPY" \
                and not self._copy_in_place_allowed(b):
            raise invalid_request("This copy request is illegal because it is trying to copy an object to itself "
                                  "without changing the object's metadata, storage class, website redirect location "
                                  "or encryption attributes.")
        if directive == "REPLACE":
            info = content_info(params)
        else:
            info = {k: v for k, v in src.info.items() if k in ("ct", "ce", "cd", "cl", "cc", "exp", "meta", "wrl")}
            if params.get("StorageClass"):
                info.update({k: v for k, v in content_info({"StorageClass": params["StorageClass"]}).items()})
        if params.get("WebsiteRedirectLocation"):
            info["wrl"] = params["WebsiteRedirectLocation"]
        if tag_directive == "REPLACE":
            tags = parse_tagging_header(params.get("Tagging"))
        else:
            tags = dict(src.info.get("tags") or {})
        self._acl_on_write(b, ctx, params, info)     # an ACL is never copied: the copy's is the request's
        lock.on_write(b, params, info, self.clock.now())    # nor a lock: the request's, or the bucket's default
        await self.check_write_conditions(b, key, params)
        algo = params.get("ChecksumAlgorithm") or (src.info.get("ck") or {}).get("alg")
        algos = [algo.upper()] if algo else []
        keys = await self.bodies.keys_for(ctx, sb, src.segments)
        sealing = await self.bodies.sealing_for(ctx, b, key, sse)
        ing = await self.bodies.ingest(self.bodies.stream(src.segments, 0, src.size, keys), encrypt=True,
                                       algorithms=algos, sealing=sealing)
        record(info, sse, sealing)
        if tags:
            info["tags"] = tags
        if algos:
            info["ck"] = {"alg": algos[0], "val": ing.checksums[algos[0]], "type": "FULL_OBJECT"}
        try:
            vid, now = await self.commit(ctx, b, key, size=ing.size, etag=ing.etag, info=info,
                                         segments=[ing.segment], event="ObjectCreated:Copy", conditions=params)
        except BaseException:
            await self.bodies.discard(ing)
            raise
        result: dict[str, Any] = {"ETag": ing.etag, "LastModified": now, **self.result_checksums(info)}
        out: dict[str, Any] = {"CopyObjectResult": result, **sse_output(info, context=True)}
        if b.versioning:
            out["VersionId"] = vid
        if sb.versioning:
            out["CopySourceVersionId"] = src.version_id
        return out

    # == listings =================================================================================
    async def _walk(self, fetch: Callable[[str, str | None, str, int], Awaitable[list[ListRow]]], prefix: str,
                    delimiter: str | None, marker: str, limit: int,
                    key_of: Callable[[ListRow], str]) -> tuple[list[ListRow], list[str], bool]:
        """Rows and common prefixes after ``marker``, at most ``limit`` of them together, in key order.
        ``fetch(lower, after, n)`` returns rows with ``lower <= key``, ``key > after``, within the prefix."""
        upper = next_string(prefix) if prefix else None
        lower = prefix
        after = marker
        if delimiter and marker.startswith(prefix):
            i = marker.find(delimiter, len(prefix))
            if i >= 0:
                cp = marker[:i + len(delimiter)]
                nxt = next_string(cp)
                if nxt is None:
                    return [], [], False
                lower = max(lower, nxt)
        contents: list[ListRow] = []
        prefixes: list[str] = []
        count = 0
        while count <= limit:
            want = min(LIST_BATCH, limit + 1 - count)
            rows = await fetch(lower, upper, after, want)
            if not rows:
                break
            jumped = False
            for row in rows:
                key = key_of(row)
                if delimiter:
                    i = key.find(delimiter, len(prefix))
                    if i >= 0:
                        cp = key[:i + len(delimiter)]
                        prefixes.append(cp)
                        count += 1
                        nxt = next_string(cp)
                        if count > limit:       # the prefix past MaxKeys: the listing is truncated before it
                            prefixes.pop()
                            return contents, prefixes, True
                        if nxt is None:
                            return contents, prefixes, False
                        lower, after = nxt, ""
                        jumped = True
                        break
                contents.append(row)
                count += 1
                after = key
                if count > limit:
                    break
            if count > limit:
                break
            if not jumped and len(rows) < want:
                break
        truncated = count > limit
        if truncated:
            # drop the entry past the limit (the last one added)
            if contents and (not prefixes or key_of(contents[-1]) > prefixes[-1]):
                contents.pop()
            else:
                prefixes.pop()
        return contents, prefixes, truncated

    def _content_entry(self, b: Bucket, row: ListRow, encode: bool, fetch_owner: bool) -> dict[str, Any]:
        info = json_loads(row.info)
        entry: dict[str, Any] = {"Key": url_encode(row.key) if encode else row.key,
                                 "LastModified": float(row.modified_at), "ETag": row.etag, "Size": int(row.size),
                                 "StorageClass": info.get("sc", "STANDARD")}
        ck = info.get("ck")
        if ck:
            entry["ChecksumAlgorithm"] = [ck["alg"]]
            entry["ChecksumType"] = ck.get("type", "FULL_OBJECT")
        if fetch_owner:
            entry["Owner"] = owner(b.account)
        return entry

    @staticmethod
    def _max_keys(params: dict[str, Any]) -> int:
        n = params.get("MaxKeys")
        if n is None:
            return 1000
        n = int(n)
        if n < 0:
            raise invalid_argument("Argument maxKeys must be an integer between 0 and 2147483647", "maxKeys", n)
        return min(n, 1000)

    @staticmethod
    def _encoding(params: dict[str, Any]) -> bool:
        enc = params.get("EncodingType")
        if enc is None:
            return False
        if enc != "url":
            raise invalid_argument("Invalid Encoding Method specified in Request", "encoding-type", enc)
        return True

    async def _list(self, b: Bucket, prefix: str, delimiter: str | None, marker: str, limit: int
                    ) -> tuple[list[ListRow], list[str], bool]:
        async def fetch(lower: str, upper: str | None, after: str, n: int) -> list[ListRow]:
            return await self.repo.list_current(b.name, lower, upper, after, n)

        if limit == 0:
            return [], [], False
        return await self._walk(fetch, prefix, delimiter or None, marker, limit, lambda r: r.key)

    async def list_objects(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        encode = self._encoding(params)
        prefix, delimiter = params.get("Prefix") or "", params.get("Delimiter") or ""
        marker = params.get("Marker") or ""
        limit = self._max_keys(params)
        rows, prefixes, truncated = await self._list(b, prefix, delimiter, marker, limit)
        out: dict[str, Any] = {"Name": b.name, "Prefix": url_encode(prefix) if encode else prefix,
                               "Marker": url_encode(marker) if encode else marker, "MaxKeys": limit,
                               "IsTruncated": truncated}
        if delimiter:
            out["Delimiter"] = url_encode(delimiter) if encode else delimiter
        if rows:
            out["Contents"] = [self._content_entry(b, r, encode, True) for r in rows]
        if prefixes:
            out["CommonPrefixes"] = [{"Prefix": url_encode(p) if encode else p} for p in prefixes]
        if truncated and delimiter:
            last = max([r.key for r in rows[-1:]] + prefixes[-1:])
            out["NextMarker"] = url_encode(last) if encode else last
        if encode:
            out["EncodingType"] = "url"
        return out

    async def list_objects_v2(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        encode = self._encoding(params)
        prefix, delimiter = params.get("Prefix") or "", params.get("Delimiter") or ""
        limit = self._max_keys(params)
        token = params.get("ContinuationToken")
        start_after = params.get("StartAfter") or ""
        marker = start_after
        if token is not None:
            try:
                marker = base64.urlsafe_b64decode(token.encode()).decode("utf-8")
                if not marker.startswith("1:"):
                    raise ValueError(token)
                marker = marker[2:]
            except Exception:
                raise invalid_argument("The continuation token provided is incorrect", "continuation-token",
                                       token) from None
        rows, prefixes, truncated = await self._list(b, prefix, delimiter, marker, limit)
        out: dict[str, Any] = {"Name": b.name, "Prefix": url_encode(prefix) if encode else prefix,
                               "MaxKeys": limit, "IsTruncated": truncated, "KeyCount": len(rows) + len(prefixes)}
        if delimiter:
            out["Delimiter"] = url_encode(delimiter) if encode else delimiter
        if rows:
            out["Contents"] = [self._content_entry(b, r, encode, bool(params.get("FetchOwner"))) for r in rows]
        if prefixes:
            out["CommonPrefixes"] = [{"Prefix": url_encode(p) if encode else p} for p in prefixes]
        if token is not None:
            out["ContinuationToken"] = token
        if start_after:
            out["StartAfter"] = url_encode(start_after) if encode else start_after
        if truncated:
            last = max([r.key for r in rows[-1:]] + prefixes[-1:])
            out["NextContinuationToken"] = base64.urlsafe_b64encode(f"1:{last}".encode()).decode()
        if encode:
            out["EncodingType"] = "url"
        return out

    async def list_object_versions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        encode = self._encoding(params)
        prefix, delimiter = params.get("Prefix") or "", params.get("Delimiter") or ""
        key_marker = params.get("KeyMarker") or ""
        vid_marker = params.get("VersionIdMarker")
        if vid_marker and not key_marker:
            raise invalid_argument("A version-id marker cannot be specified without a key marker.",
                                   "version-id-marker", vid_marker)
        limit = self._max_keys(params)
        after_id = None
        if vid_marker:
            after_id = await self.repo.version_row_id(b.name, key_marker, vid_marker)
            if after_id is None:
                if vid_marker != "null" and len(vid_marker) != 32:
                    raise invalid_argument("Invalid version id specified", "version-id-marker", vid_marker)
                after_id = None

        async def fetch(lower: str, upper: str | None, after_key: str, aid: int | None, n: int) -> list[ListRow]:
            return await self.repo.list_versions(b.name, lower, upper, after_key, aid, n)

        rows, prefixes, truncated = await self._walk_versions(fetch, prefix, delimiter or None, key_marker,
                                                              after_id, limit)
        versions, markers = [], []
        for r in rows:
            entry: dict[str, Any] = {"Key": url_encode(r.key) if encode else r.key, "VersionId": r.version_id,
                                     "IsLatest": bool(r.latest), "LastModified": float(r.modified_at),
                                     "Owner": owner(b.account)}
            if r.delete_marker:
                markers.append(entry)
            else:
                info = json_loads(r.info)
                entry.update({"ETag": r.etag, "Size": int(r.size), "StorageClass": info.get("sc", "STANDARD")})
                if info.get("ck"):
                    entry["ChecksumAlgorithm"] = [info["ck"]["alg"]]
                    entry["ChecksumType"] = info["ck"].get("type", "FULL_OBJECT")
                versions.append(entry)
        out: dict[str, Any] = {"Name": b.name, "Prefix": url_encode(prefix) if encode else prefix,
                               "KeyMarker": url_encode(key_marker) if encode else key_marker,
                               "MaxKeys": limit, "IsTruncated": truncated}
        if vid_marker:
            out["VersionIdMarker"] = vid_marker
        if delimiter:
            out["Delimiter"] = url_encode(delimiter) if encode else delimiter
        if versions:
            out["Versions"] = versions
        if markers:
            out["DeleteMarkers"] = markers
        if prefixes:
            out["CommonPrefixes"] = [{"Prefix": url_encode(p) if encode else p} for p in prefixes]
        if truncated:
            last_row = rows[-1] if rows else None
            last_prefix = prefixes[-1] if prefixes else None
            if last_row is not None and (last_prefix is None or last_row.key > last_prefix):
                out["NextKeyMarker"] = url_encode(last_row.key) if encode else last_row.key
                out["NextVersionIdMarker"] = last_row.version_id
            elif last_prefix is not None:
                out["NextKeyMarker"] = url_encode(last_prefix) if encode else last_prefix
        if encode:
            out["EncodingType"] = "url"
        return out

    async def _walk_versions(self, fetch: Callable[[str, str | None, str, int | None, int], Awaitable[list[ListRow]]],
                             prefix: str, delimiter: str | None, key_marker: str,
                             after_id: int | None, limit: int) -> tuple[list[ListRow], list[str], bool]:
        upper = next_string(prefix) if prefix else None
        lower = prefix
        after_key = key_marker
        aid = after_id
        if delimiter and key_marker.startswith(prefix):
            i = key_marker.find(delimiter, len(prefix))
            if i >= 0:
                nxt = next_string(key_marker[:i + len(delimiter)])
                if nxt is None:
                    return [], [], False
                lower, after_key, aid = max(lower, nxt), "", None
        rows_out: list[ListRow] = []
        prefixes: list[str] = []
        while len(rows_out) + len(prefixes) <= limit:
            want = min(LIST_BATCH, limit + 1 - len(rows_out) - len(prefixes))
            rows = await fetch(lower, upper, after_key, aid, want)
            if not rows:
                break
            jumped = False
            for row in rows:
                key = row.key
                if delimiter:
                    i = key.find(delimiter, len(prefix))
                    if i >= 0:
                        cp = key[:i + len(delimiter)]
                        prefixes.append(cp)
                        nxt = next_string(cp)
                        if nxt is None or len(rows_out) + len(prefixes) > limit:
                            break
                        lower, after_key, aid = nxt, "", None
                        jumped = True
                        break
                rows_out.append(row)
                after_key, aid = key, int(row.id)
                if len(rows_out) + len(prefixes) > limit:
                    break
            if len(rows_out) + len(prefixes) > limit:
                break
            if not jumped and len(rows) < want:
                break
        truncated = len(rows_out) + len(prefixes) > limit
        if truncated:
            if rows_out and (not prefixes or rows_out[-1].key > prefixes[-1]):
                rows_out.pop()
            else:
                prefixes.pop()
        return rows_out, prefixes, truncated

    # == tagging & attributes =====================================================================
    async def get_object_tagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        v = await self.version(b, params.get("Key") or "", params.get("VersionId"))
        out: dict[str, Any] = {"TagSet": dict_to_tagset(v.info.get("tags") or {})}
        if b.versioning:
            out["VersionId"] = v.version_id
        return out

    async def put_object_tagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        v = await self.version(b, params.get("Key") or "", params.get("VersionId"))
        tagset = (params.get("Tagging") or {}).get("TagSet")
        if tagset is None:
            raise malformed_xml()
        tags = tagset_to_dict(tagset, object_tags=True)
        info = dict(v.info)
        if tags:
            info["tags"] = tags
        else:
            info.pop("tags", None)
        await self.set_info(ctx, b, v, info, "ObjectTagging:Put")
        return {"VersionId": v.version_id} if b.versioning else {}

    async def delete_object_tagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        v = await self.version(b, params.get("Key") or "", params.get("VersionId"))
        info = dict(v.info)
        info.pop("tags", None)
        await self.set_info(ctx, b, v, info, "ObjectTagging:Delete")
        return {"VersionId": v.version_id} if b.versioning else {}

    async def set_info(self, ctx: RequestContext, b: Bucket, v: Version, info: dict[str, Any], event: str,
                       extra: dict[str, Any] | None = None) -> None:
        """Replace version ``v``'s information (tags, ACL, restore), with ``event``'s notifications in
        the same transaction."""
        if not b.config.get("notification"):
            await self.repo.set_object_info(v.id, json_dumps(info))
            return
        now = stamp(self.clock)
        async with self.store.transaction() as tx:
            await self.repo.set_object_info_in(tx, v.id, json_dumps(info))
            events = await self.notifications.events_for(tx, ctx, b, event, v.key, etag=v.etag,
                                                         version_id=v.version_id if b.versioning else None,
                                                         now=now, extra=extra)
            if events:
                await self.outbox.add(tx, events)

    async def get_object_acl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        v = await self.version(b, params.get("Key") or "", params.get("VersionId"))
        out = acl.policy(v.info.get("acl"), b.account)
        if b.versioning:
            out["VersionId"] = v.version_id
        return out

    async def put_object_acl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        v = await self.version(b, params.get("Key") or "", params.get("VersionId"))
        grants = acl.requested(params, b.config, b.account, bucket=False)
        info = dict(v.info)
        info["acl"] = grants
        await self.set_info(ctx, b, v, info, "ObjectAcl:Put")
        return {"VersionId": v.version_id} if b.versioning else {}

    @staticmethod
    def _acl_on_write(b: Bucket, ctx: RequestContext, params: dict[str, Any], info: dict[str, Any]) -> None:
        """A write's ``x-amz-acl`` / ``x-amz-grant-*`` headers become the new version's ACL."""
        if "ACL" in params or "GrantRead" in params or "GrantFullControl" in params \
                or "GrantReadACP" in params or "GrantWriteACP" in params:
            grants = acl.from_headers(params, b.account, b.account, bucket=False)
            acl.check_ownership(b.config, grants, b.account)
            if grants is not None:
                info["acl"] = grants

    # == object lock =============================================================================
    async def _locked_version(self, ctx: RequestContext, params: dict[str, Any]) -> tuple[Bucket, Version]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        if not b.config.get("object_lock"):
            raise lock.missing_configuration()
        return b, await self.version(b, params.get("Key") or "", params.get("VersionId"))

    async def get_object_retention(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        _, v = await self._locked_version(ctx, params)
        held = v.info.get("lock")
        if not held:
            raise lock.no_object_configuration()
        return {"Retention": {"Mode": held["mode"], "RetainUntilDate": held["until"]}}

    async def put_object_retention(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b, v = await self._locked_version(ctx, params)
        retention = params.get("Retention") or {}
        now = self.clock.now()
        info = dict(v.info)
        old = info.get("lock")
        new: dict[str, Any] | None = None
        if not retention.get("Mode") and not retention.get("RetainUntilDate"):
            pass
        else:
            if not retention.get("Mode") or not retention.get("RetainUntilDate"):
                raise malformed_xml()
            new = {"mode": lock.check_mode(retention["Mode"], "Mode"),
                   "until": lock.future(retention["RetainUntilDate"], now)}
        if old and float(old["until"]) > now:
            weaker = new is None or float(new["until"]) < float(old["until"]) or (
                old["mode"] == "COMPLIANCE" and new["mode"] != "COMPLIANCE")
            if weaker and (old["mode"] == "COMPLIANCE" or not params.get("BypassGovernanceRetention")):
                raise lock.protected()
        if new is None:
            info.pop("lock", None)
        else:
            info["lock"] = new
        await self.repo.set_object_info(v.id, json_dumps(info))
        return {}

    async def get_object_legal_hold(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        _, v = await self._locked_version(ctx, params)
        if not v.info.get("hold"):
            raise lock.no_object_configuration()
        return {"LegalHold": {"Status": v.info["hold"]}}

    async def put_object_legal_hold(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        _, v = await self._locked_version(ctx, params)
        status = (params.get("LegalHold") or {}).get("Status")
        if status is None:
            raise malformed_xml()
        info = dict(v.info)
        info["hold"] = lock.check_hold(status)
        await self.repo.set_object_info(v.id, json_dumps(info))
        return {}

    async def get_object_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        v = await self.version(b, params.get("Key") or "", params.get("VersionId"))
        wanted = set(params.get("ObjectAttributes") or [])
        out: dict[str, Any] = {"LastModified": v.modified_at}
        if b.versioning:
            out["VersionId"] = v.version_id
        if "ETag" in wanted:
            out["ETag"] = strip_etag(v.etag)
        if "ObjectSize" in wanted:
            out["ObjectSize"] = v.size
        if "StorageClass" in wanted:
            out["StorageClass"] = v.info.get("sc", "STANDARD")
        ck = v.info.get("ck")
        if "Checksum" in wanted and ck:
            out["Checksum"] = {checksums.MEMBERS[ck["alg"]]: ck["val"], "ChecksumType": ck.get("type", "FULL_OBJECT")}
        if "ObjectParts" in wanted and v.info.get("parts"):
            parts = [{"PartNumber": i + 1, "Size": int(s["n"])} for i, s in enumerate(v.segments)]
            out["ObjectParts"] = {"TotalPartsCount": len(parts), "PartNumberMarker": 0, "NextPartNumberMarker":
                                  len(parts), "MaxParts": 1000, "IsTruncated": False, "Parts": parts[:1000]}
        return out

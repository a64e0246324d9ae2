"""Multipart uploads: create, upload (and copy) parts, complete, abort, list parts and uploads.

Each part is its own blob; completing an upload makes the object's segments the chosen parts'
blobs (no bytes are copied), in the same transaction that removes the upload. Parts that were
uploaded but not listed in the completion are deleted afterwards.
"""

from __future__ import annotations

import hashlib
from typing import Any

from tsunagi.clock import Clock
from tsunagi.context import RequestContext
from tsunagi.ports.outbox import OutboxPort
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.s3 import checksums, lock
from tsunagi.services.s3.bodies import Bodies, Ingested
from tsunagi.services.s3.buckets import Buckets
from tsunagi.services.s3.common import (
    MAX_PART_NUMBER,
    MIN_PART,
    Bucket,
    Version,
    check_key,
    json_dumps,
    json_loads,
    new_upload_id,
    new_version_id,
    next_string,
    owner,
    parse_range,
    parse_tagging_header,
    stamp,
    strip_etag,
    url_encode,
)
from tsunagi.services.s3.crypto import sse_for
from tsunagi.services.s3.errors import (
    bad_digest,
    err,
    invalid_argument,
    invalid_request,
    malformed_xml,
    no_such_upload,
)
from tsunagi.services.s3.kms import record, sse_of, sse_output
from tsunagi.services.s3.notifications import Notifications
from tsunagi.services.s3.objects import Objects, content_info
from tsunagi.store.base import Store
from tsunagi.store.s3 import S3Repo, UploadRow


class Multipart:
    def __init__(self, store: Store, repo: S3Repo, buckets: Buckets, bodies: Bodies, objects: Objects,
                 notifications: Notifications, outbox: OutboxPort, clock: Clock) -> None:
        self.store = store
        self.repo = repo
        self.buckets = buckets
        self.bodies = bodies
        self.objects = objects
        self.notifications = notifications
        self.outbox = outbox
        self.clock = clock

    async def _upload(self, ctx: RequestContext, params: dict[str, Any]) -> tuple[Bucket, dict[str, Any]]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        upload_id = params.get("UploadId") or ""
        row = await self.repo.upload(upload_id)
        if row is None or row.bucket != b.name or row.key != params.get("Key"):
            raise no_such_upload(upload_id)
        return b, {"upload_id": row.upload_id, "bucket": row.bucket, "key": row.key, "account": row.account,
                   "created_at": float(row.created_at), **json_loads(row.info)}

    async def create_multipart_upload(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        key = params.get("Key") or ""
        check_key(key)
        sse = sse_for(b, params)
        info = content_info(params)
        record(info, sse, await self.bodies.sealing_for(ctx, b, key, sse))     # a key KMS refuses fails it now
        tags = parse_tagging_header(params.get("Tagging"))
        if tags:
            info["tags"] = tags
        lock.on_write(b, params, info, self.clock.now())       # the upload's object gets its lock at completion
        algo = (params.get("ChecksumAlgorithm") or "").upper() or None
        ctype = params.get("ChecksumType")
        if algo is not None and algo not in checksums.ALGORITHMS:
            raise invalid_argument("Checksum algorithm provided is unsupported.", "x-amz-checksum-algorithm", algo)
        if ctype is not None:
            if ctype not in ("COMPOSITE", "FULL_OBJECT"):
                raise invalid_argument("Value for x-amz-checksum-type header is invalid.", "x-amz-checksum-type",
                                       ctype)
            if algo is None:
                raise invalid_request("The x-amz-checksum-type header can only be used with the "
                                      "x-amz-checksum-algorithm header.")
            if ctype == "FULL_OBJECT" and algo not in checksums.CRCS:
                raise invalid_request(f"The FULL_OBJECT checksum type cannot be used with the {algo.lower()} "
                                      "checksum algorithm.")
            if ctype == "COMPOSITE" and algo == "CRC64NVME":
                raise invalid_request("The COMPOSITE checksum type cannot be used with the crc64nvme checksum "
                                      "algorithm.")
        if algo is not None:
            info["ck_alg"] = algo
            info["ck_type"] = ctype or ("FULL_OBJECT" if algo == "CRC64NVME" else "COMPOSITE")
        upload_id = new_upload_id()
        await self.repo.create_upload(upload_id, b.name, key, ctx.account, stamp(self.clock), json_dumps(info))
        out: dict[str, Any] = {"Bucket": b.name, "Key": key, "UploadId": upload_id, **sse_output(info, context=True)}
        if algo is not None:
            out["ChecksumAlgorithm"] = algo
            out["ChecksumType"] = info["ck_type"]
        return out

    @staticmethod
    def _part_number(params: dict[str, Any]) -> int:
        n = params.get("PartNumber")
        if n is None or not 1 <= int(n) <= MAX_PART_NUMBER:
            raise invalid_argument("Part number must be an integer between 1 and 10000, inclusive", "partNumber", n)
        return int(n)

    async def _store_part(self, up: dict[str, Any], number: int, ing: Ingested, sums: dict[str, str]) -> None:
        info: dict[str, Any] = {}
        alg = up.get("ck_alg")
        if alg and alg in sums:
            info["ck"] = {"alg": alg, "val": sums[alg]}
        elif sums:
            first = next(iter(sums))
            info["ck"] = {"alg": first, "val": sums[first]}
        old = await self.repo.put_part(up["upload_id"], number, ing.size, ing.etag,
                                       stamp(self.clock), json_dumps(info), json_dumps(ing.segment))
        if old == "gone":
            await self.bodies.discard(ing)
            raise no_such_upload(up["upload_id"])
        if old:
            self.bodies.free_later([old])

    async def upload_part(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        number = self._part_number(params)
        b, up = await self._upload(ctx, params)
        if params.get("SSECustomerAlgorithm"):
            sse_for(b, params)
        sealing = await self.bodies.sealing_for(ctx, b, up["key"], sse_of(up))
        ing, sums, algos = await self.bodies.upload(params, extra_checksum=up.get("ck_alg"), sealing=sealing)
        await self._store_part(up, number, ing, sums)
        out: dict[str, Any] = {"ETag": ing.etag, **sse_output(up)}
        for alg in algos:
            out[checksums.MEMBERS[alg]] = sums[alg]
        return out

    async def upload_part_copy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        number = self._part_number(params)
        b, up = await self._upload(ctx, params)
        sb, src = await self.objects.copy_source(ctx, params)
        start, end = 0, src.size
        rng = params.get("CopySourceRange")
        if rng:
            parsed = None
            try:
                parsed = parse_range(rng, src.size)
            except Exception:
                parsed = None
            if parsed is None or not rng.startswith("bytes=") or rng.endswith("-"):
                raise invalid_argument("The x-amz-copy-source-range value must be of the form bytes=first-last where "
                                       "first and last are the zero-based offsets of the first and last bytes to copy",
                                       "x-amz-copy-source-range", rng)
            start, end = parsed
        algos = [up["ck_alg"]] if up.get("ck_alg") else []
        keys = await self.bodies.keys_for(ctx, sb, src.segments, start, end)
        sealing = await self.bodies.sealing_for(ctx, b, up["key"], sse_of(up))
        ing = await self.bodies.ingest(self.bodies.stream(src.segments, start, end, keys), encrypt=True,
                                       algorithms=algos, sealing=sealing)
        await self._store_part(up, number, ing, ing.checksums)
        result: dict[str, Any] = {"ETag": ing.etag, "LastModified": stamp(self.clock)}
        for alg in algos:
            result[checksums.MEMBERS[alg]] = ing.checksums[alg]
        out: dict[str, Any] = {"CopyPartResult": result, **sse_output(up)}
        if sb.versioning:
            out["CopySourceVersionId"] = src.version_id
        return out

    async def complete_multipart_upload(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        try:
            b, up = await self._upload(ctx, params)
        except ServiceError as e:
            if e.code != "NoSuchUpload":
                raise
            done = await self._completed(ctx, params)
            if done is None:
                raise
            return done
        key = up["key"]
        requested = (params.get("MultipartUpload") or {}).get("Parts") or []
        if not requested:
            raise malformed_xml()
        numbers = [p.get("PartNumber") for p in requested]
        if any(n is None for n in numbers):
            raise malformed_xml()
        if any(n2 <= n1 for n1, n2 in zip(numbers, numbers[1:], strict=False)):
            raise err("InvalidPartOrder", "The list of parts was not in ascending order. The parts list must be "
                      "specified in order by part number.", 400, UploadId=up["upload_id"])
        stored = {int(r.part_number): r for r in await self.repo.parts(up["upload_id"])}
        chosen = []
        alg = up.get("ck_alg")
        for i, p in enumerate(requested):
            n = int(p["PartNumber"])
            row = stored.get(n)
            given = p.get("ETag")
            if row is None or given is None or strip_etag(given) != strip_etag(row.etag):
                raise err("InvalidPart", "One or more of the specified parts could not be found.  The part may not "
                          "have been uploaded, or the specified entity tag may not match the part's entity tag.", 400,
                          UploadId=up["upload_id"], PartNumber=str(n), ETag=given)
            pinfo = json_loads(row.info)
            if alg:
                ck = pinfo.get("ck") or {}
                given_ck = p.get(checksums.MEMBERS[alg])
                if given_ck is not None and ck.get("val") != given_ck:
                    raise err("InvalidPart", "One or more of the specified parts could not be found.  The part may "
                              "not have been uploaded, or the specified entity tag may not match the part's entity "
                              "tag.", 400, UploadId=up["upload_id"], PartNumber=str(n), ETag=given)
            if i < len(requested) - 1 and int(row.size) < MIN_PART:
                raise err("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size", 400,
                          ProposedSize=str(int(row.size)), MinSizeAllowed=str(MIN_PART), PartNumber=str(n),
                          ETag=strip_etag(row.etag))
            chosen.append((n, row, pinfo))
        size = sum(int(r.size) for _, r, _ in chosen)
        if params.get("MpuObjectSize") is not None and int(params["MpuObjectSize"]) != size:
            raise invalid_request(f"The provided 'x-amz-mp-object-size' header value {params['MpuObjectSize']} "
                                  f"does not match what was computed: {size}")
        md5s = b"".join(bytes.fromhex(strip_etag(r.etag)) for _, r, _ in chosen)
        etag = f'"{hashlib.md5(md5s).hexdigest()}-{len(chosen)}"'
        info = {k: v for k, v in up.items() if k in ("ct", "ce", "cd", "cl", "cc", "exp", "meta", "wrl", "sc",
                                                     "sse", "kms", "bk", "kctx", "tags", "lock", "hold")}
        info["parts"] = len(chosen)
        info["mpu"] = up["upload_id"]           # a retried CompleteMultipartUpload answers from it
        if alg:
            vals = [pinfo.get("ck", {}).get("val") for _, _, pinfo in chosen]
            if all(vals):
                if up.get("ck_type") == "FULL_OBJECT":
                    crc = checksums.unb64(vals[0])
                    for (_, row, _), v in zip(chosen[1:], vals[1:], strict=True):
                        crc = checksums.combine(alg, crc, checksums.unb64(v), int(row.size))
                    value = checksums.b64(crc)
                else:
                    value = checksums.composite(alg, vals)
                given = params.get(checksums.MEMBERS[alg])
                if given is not None and given.split("-")[0] != value.split("-")[0]:
                    raise bad_digest(f"The {alg} you specified did not match the calculated checksum.")
                info["ck"] = {"alg": alg, "val": value, "type": up.get("ck_type", "COMPOSITE")}
        await self.objects.check_write_conditions(b, key, params)
        vid = new_version_id() if b.versioning == "Enabled" else "null"
        now = stamp(self.clock)
        segments = [json_loads(r.segment) for _, r, _ in chosen]
        async with self.store.transaction() as tx:
            await self.repo.lock_key(tx, b.name, key)       # conditions again, as the last commit left the key
            await self.objects.check_write_conditions(b, key, params, tx)
            up_row, parts = await self.repo.finish_upload(tx, up["upload_id"])
            if up_row is None:
                raise no_such_upload(up["upload_id"])
            current = {int(r.part_number): r.etag for r in parts}
            if any(current.get(n) != r.etag for n, r, _ in chosen):
                raise err("InvalidPart", "One or more of the specified parts could not be found.", 400,
                          UploadId=up["upload_id"])
            freed = await self.repo.put_object(tx, b.name, key, vid, size=size, etag=etag, modified_at=now,
                                               info=json_dumps(info), segments=json_dumps(segments))
            events = await self.notifications.events_for(
                tx, ctx, b, "ObjectCreated:CompleteMultipartUpload", key, size=size, etag=etag,
                version_id=vid if b.versioning else None, now=now)
            if events:
                await self.outbox.add(tx, events)
        used = {n for n, _, _ in chosen}
        self.bodies.free_later(freed + [r.segment for r in parts if int(r.part_number) not in used])
        return self._completion(ctx, b, key, etag, info, vid)

    @staticmethod
    def _completion(ctx: RequestContext, b: Bucket, key: str, etag: str, info: dict[str, Any],
                    vid: str) -> dict[str, Any]:
        """CompleteMultipartUpload's answer for the object it made."""
        out: dict[str, Any] = {"Location": f"{ctx.endpoint}/{b.name}/{url_encode(key)}", "Bucket": b.name,
                               "Key": key, "ETag": etag, **sse_output(info)}
        if info.get("ck"):
            out[checksums.MEMBERS[info["ck"]["alg"]]] = info["ck"]["val"]
            out["ChecksumType"] = info["ck"]["type"]
        if b.versioning:
            out["VersionId"] = vid
        return out

    async def _completed(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any] | None:
        """The answer again for an upload already completed, while the object it made is still the key's
        current version: S3 answers a retried CompleteMultipartUpload (a client that timed out waiting for
        the first answer) as it answered the first, not NoSuchUpload."""
        upload_id, key = params.get("UploadId") or "", params.get("Key") or ""
        b = await self.buckets.get(ctx, params.get("Bucket"))
        row = await self.repo.object(b.name, key)
        if row is None:
            return None
        v = Version.from_row(row)
        if v.delete_marker or not upload_id or v.info.get("mpu") != upload_id:
            return None
        return self._completion(ctx, b, key, v.etag, v.info, v.version_id)

    async def abort_multipart_upload(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b, up = await self._upload(ctx, params)
        async with self.store.transaction() as tx:
            up_row, parts = await self.repo.finish_upload(tx, up["upload_id"])
        if up_row is None:
            raise no_such_upload(up["upload_id"])
        self.bodies.free_later([r.segment for r in parts])
        return {}

    async def list_parts(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b, up = await self._upload(ctx, params)
        limit = min(int(params.get("MaxParts") or 1000), 1000)
        marker = int(params.get("PartNumberMarker") or 0)
        rows = await self.repo.parts(up["upload_id"], marker, limit + 1)
        truncated = len(rows) > limit
        rows = rows[:limit]
        parts = []
        for r in rows:
            entry: dict[str, Any] = {"PartNumber": int(r.part_number), "LastModified": float(r.modified_at),
                                     "ETag": r.etag, "Size": int(r.size)}
            ck = json_loads(r.info).get("ck")
            if ck:
                entry[checksums.MEMBERS[ck["alg"]]] = ck["val"]
            parts.append(entry)
        me = owner(up["account"])
        out: dict[str, Any] = {"Bucket": b.name, "Key": up["key"], "UploadId": up["upload_id"],
                               "PartNumberMarker": marker, "MaxParts": limit, "IsTruncated": truncated,
                               "Initiator": me, "Owner": me, "StorageClass": up.get("sc", "STANDARD")}
        if parts:
            out["Parts"] = parts
            out["NextPartNumberMarker"] = parts[-1]["PartNumber"]
        if up.get("ck_alg"):
            out["ChecksumAlgorithm"] = up["ck_alg"]
            out["ChecksumType"] = up.get("ck_type")
        return out

    async def list_multipart_uploads(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.buckets.get(ctx, params.get("Bucket"))
        encode = params.get("EncodingType") == "url"
        prefix, delimiter = params.get("Prefix") or "", params.get("Delimiter") or ""
        key_marker = params.get("KeyMarker") or ""
        upload_marker = params.get("UploadIdMarker")
        limit = min(int(params.get("MaxUploads") or 1000), 1000)
        after: tuple[float, str] | None = None
        if upload_marker and key_marker:
            row = await self.repo.upload(upload_marker)
            if row is not None:
                after = (float(row.created_at), row.upload_id)
        upper = next_string(prefix) if prefix else None
        lower = prefix
        uploads: list[UploadRow] = []
        prefixes: list[str] = []
        cursor = key_marker
        while len(uploads) + len(prefixes) <= limit:
            rows = await self.repo.uploads(b.name, lower, upper, cursor, after, limit + 1)
            if not rows:
                break
            jumped = False
            for r in rows:
                k = r.key
                if delimiter:
                    i = k.find(delimiter, len(prefix))
                    if i >= 0:
                        cp = k[:i + len(delimiter)]
                        if not prefixes or prefixes[-1] != cp:
                            prefixes.append(cp)
                        nxt = next_string(cp)
                        if nxt is None:
                            break
                        lower, cursor, after = nxt, "", None
                        jumped = True
                        break
                uploads.append(r)
                cursor, after = k, (float(r.created_at), r.upload_id)
                if len(uploads) + len(prefixes) > limit:
                    break
            if not jumped and len(rows) <= limit:
                break
        truncated = len(uploads) + len(prefixes) > limit
        if truncated:
            if uploads and (not prefixes or uploads[-1].key > prefixes[-1]):
                uploads.pop()
            else:
                prefixes.pop()
        out: dict[str, Any] = {"Bucket": b.name, "KeyMarker": key_marker, "UploadIdMarker": upload_marker or "",
                               "MaxUploads": limit, "IsTruncated": truncated, "Prefix": prefix}
        if delimiter:
            out["Delimiter"] = delimiter
        if uploads:
            entries = []
            for r in uploads:
                info = json_loads(r.info)
                me = owner(r.account)
                entry: dict[str, Any] = {"UploadId": r.upload_id, "Key": url_encode(r.key) if encode else r.key,
                                         "Initiated": float(r.created_at), "StorageClass": info.get("sc", "STANDARD"),
                                         "Owner": me, "Initiator": me}
                if info.get("ck_alg"):
                    entry["ChecksumAlgorithm"] = info["ck_alg"]
                    entry["ChecksumType"] = info.get("ck_type")
                entries.append(entry)
            out["Uploads"] = entries
        if prefixes:
            out["CommonPrefixes"] = [{"Prefix": url_encode(p) if encode else p} for p in prefixes]
        if truncated and uploads:
            out["NextKeyMarker"] = uploads[-1].key
            out["NextUploadIdMarker"] = uploads[-1].upload_id
        if encode:
            out["EncodingType"] = "url"
        return out

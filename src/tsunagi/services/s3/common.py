"""Small pure helpers S3's operations share: names, ranges, preconditions, listing bounds, tags."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote_plus

import orjson

from tsunagi.clock import Clock
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.s3.errors import err, invalid_argument, not_modified, precondition_failed
from tsunagi.store.s3 import BucketRow, ObjectRow

MIN_PART = 5 * 1024 * 1024
MAX_PART_NUMBER = 10_000
MAX_KEY_BYTES = 1024
DEFAULT_CONTENT_TYPE = "binary/octet-stream"

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def check_bucket_name(name: str) -> None:
    if not _BUCKET_RE.match(name) or ".." in name or _IP_RE.match(name) or name.startswith("xn--") \
            or name.endswith("-s3alias") or ".-" in name or "-." in name:
        raise err("InvalidBucketName", "The specified bucket is not valid.", 400, BucketName=name)


def check_key(key: str) -> None:
    if not key:
        raise invalid_argument("Key must not be empty", "key", "")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise err("KeyTooLongError", "Your key is too long", 400, Size=str(len(key.encode("utf-8", "replace"))),
                  MaxSizeAllowed=str(MAX_KEY_BYTES))


def stamp(clock: Clock) -> float:
    """Now, as S3 keeps times: seconds since the epoch, to the millisecond."""
    return round(clock.now(), 3)


def canonical_id(account: str) -> str:
    """A stable 64-hex canonical user id for an account."""
    return hashlib.sha256(f"tsunagi-canonical:{account}".encode()).hexdigest()


def customer_id(account: str) -> str:
    """A stable Amazon customer id for an account, in AWS's form (``A`` and 13 upper-case letters and
    digits, e.g. ``A24TWZ4SD2JVO1``): what S3 events name a bucket owner, and a root caller, by."""
    digest = base64.b32encode(hashlib.sha256(f"tsunagi-customer:{account}".encode()).digest()).decode()
    return "A" + digest[:13]


def owner(account: str) -> dict[str, str]:
    return {"DisplayName": account, "ID": canonical_id(account)}


def new_version_id() -> str:
    """32 URL-safe characters that sort by creation time (ms) then at random."""
    ms = int(time.time() * 1000)
    head = base64.b32hexencode(ms.to_bytes(6, "big")).decode().rstrip("=")
    return (head + secrets.token_urlsafe(24))[:32].replace("-", ".")


def new_upload_id() -> str:
    return secrets.token_urlsafe(48)


def quote_etag(hex_md5: str) -> str:
    return f'"{hex_md5}"'


def strip_etag(etag: str) -> str:
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


def to_epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return None


def next_string(s: str) -> str | None:
    """The smallest string greater than every string that starts with ``s`` (None: there is none)."""
    while s:
        c = ord(s[-1])
        if c < 0x10FFFF:
            c += 1
            if 0xD800 <= c <= 0xDFFF:
                c = 0xE000
            return s[:-1] + chr(c)
        s = s[:-1]
    return None


def url_encode(value: str | None) -> str | None:
    return None if value is None else quote_plus(value, safe="/")


def json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def json_loads(value: str | None) -> Any:
    return orjson.loads(value) if value else {}


# -- ranges and preconditions ----------------------------------------------------------------------------


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end_exclusive)`` for a ``Range: bytes=…`` header, None to send the whole object.

    A header that is not a single byte range is ignored, as S3 does; a range that starts past the
    end raises InvalidRange (416)."""
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if m is None or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:
        n = int(last)
        if n == 0:
            raise _invalid_range(header, size)
        return max(0, size - n), size
    start = int(first)
    end = int(last) + 1 if last else size
    if last and int(last) < start:
        return None
    if start >= size:
        raise _invalid_range(header, size)
    return start, min(end, size)


def _invalid_range(header: str, size: int) -> Exception:
    return err("InvalidRange", "The requested range is not satisfiable", 416, RangeRequested=header,
               ActualObjectSize=str(size))


def _etag_matches(header: str, etag: str) -> bool:
    mine = strip_etag(etag)
    return any(v.strip() == "*" or strip_etag(v) == mine for v in header.split(","))


def _not_modified(etag: str, modified_at: float) -> ServiceError:
    """304 Not Modified carries the object's ETag and Last-Modified, as S3 sends them."""
    e = not_modified()
    e.output.update({"ETag": etag, "LastModified": modified_at})
    return e


def check_preconditions(params: dict[str, Any], etag: str, modified_at: float, *, prefix: str = "",
                        copy: bool = False) -> None:
    """If-Match / If-Unmodified-Since → 412; If-None-Match / If-Modified-Since → 304 (412 for copies).

    ``prefix`` selects the CopySource… members. Times compare at one-second precision (HTTP dates)."""
    if_match = params.get(f"{prefix}IfMatch")
    if_none = params.get(f"{prefix}IfNoneMatch")
    if_mod = to_epoch(params.get(f"{prefix}IfModifiedSince"))
    if_unmod = to_epoch(params.get(f"{prefix}IfUnmodifiedSince"))
    modified = int(modified_at)
    label = "x-amz-copy-source-" if copy else ""
    if if_match is not None:
        if not _etag_matches(if_match, etag):
            raise precondition_failed(f"{label}If-Match")
    elif if_unmod is not None and modified > int(if_unmod):
        raise precondition_failed(f"{label}If-Unmodified-Since")
    if if_none is not None:
        if _etag_matches(if_none, etag):
            if copy:
                raise precondition_failed(f"{label}If-None-Match")
            raise _not_modified(etag, modified_at)
    elif if_mod is not None and modified <= int(if_mod) and not (copy and if_match is not None):
        if copy:
            raise precondition_failed(f"{label}If-Modified-Since")
        raise _not_modified(etag, modified_at)


# -- tags --------------------------------------------------------------------------------------------------


def parse_tagging_header(value: str | None) -> dict[str, str]:
    if not value:
        return {}
    tags: dict[str, str] = {}
    for k, v in parse_qsl(value, keep_blank_values=True):
        if k in tags:
            raise err("InvalidTag", "Cannot provide multiple Tags with the same key", 400, TagKey=k)
        tags[k] = v
    check_tags(tags, object_tags=True)
    return tags


def tagset_to_dict(tagset: list[dict[str, Any]] | None, *, object_tags: bool) -> dict[str, str]:
    tags: dict[str, str] = {}
    for t in tagset or []:
        k = t.get("Key")
        if k is None:
            raise err("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                      "published schema", 400)
        if k in tags:
            raise err("InvalidTag", "Cannot provide multiple Tags with the same key", 400, TagKey=k)
        tags[k] = t.get("Value", "")
    check_tags(tags, object_tags=object_tags)
    return tags


def check_tags(tags: dict[str, str], *, object_tags: bool) -> None:
    if object_tags and len(tags) > 10:
        raise err("BadRequest", "Object tags cannot be greater than 10", 400)
    if not object_tags and len(tags) > 50:
        raise err("InvalidTag", "Bucket tag count cannot be greater than 50", 400)
    for k, v in tags.items():
        if not k or len(k) > 128:
            raise err("InvalidTag", "The TagKey you have provided is invalid", 400, TagKey=k)
        if len(v) > 256:
            raise err("InvalidTag", "The TagValue you have provided is invalid", 400, TagKey=k, TagValue=v)
        if k.lower().startswith("aws:"):
            raise err("InvalidTag", "System tags cannot be added/updated by requester", 400, TagKey=k)


def dict_to_tagset(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


DEFAULT_SSE = {"SSEAlgorithm": "AES256"}


def default_encryption(b: Bucket) -> dict[str, Any]:
    """The bucket's default encryption rule (``ApplyServerSideEncryptionByDefault``): AES256 unless set."""
    conf = b.config.get("encryption")
    if not conf:
        return dict(DEFAULT_SSE)
    return dict(conf["Rules"][0].get("ApplyServerSideEncryptionByDefault") or DEFAULT_SSE)


@dataclass(slots=True)
class Bucket:
    name: str
    account: str
    region: str
    created_at: float
    versioning: str
    config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: BucketRow) -> Bucket:
        return cls(row.name, row.account, row.region, float(row.created_at), row.versioning or "",
                   json_loads(row.config))

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.name}"


@dataclass(slots=True)
class Version:
    """One object version (or delete marker) as stored."""

    id: int
    bucket: str
    key: str
    version_id: str
    latest: bool
    delete_marker: bool
    size: int
    etag: str
    modified_at: float
    info: dict[str, Any]
    segments: list[dict[str, Any]]

    @classmethod
    def from_row(cls, row: ObjectRow) -> Version:
        return cls(int(row.id), row.bucket, row.key, row.version_id, bool(row.latest), bool(row.delete_marker),
                   int(row.size), row.etag, float(row.modified_at), json_loads(row.info),
                   orjson.loads(row.segments) if row.segments else [])

    @property
    def public_version_id(self) -> str | None:
        return self.version_id

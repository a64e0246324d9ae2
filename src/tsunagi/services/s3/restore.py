"""Archived objects: the S3 Glacier Flexible Retrieval and Deep Archive storage classes.

An object stored as ``GLACIER`` or ``DEEP_ARCHIVE`` keeps its metadata readable (HeadObject) but
its body is not (GetObject answers ``InvalidObjectState``) until a RestoreObject makes a temporary
copy readable for ``Days`` days. On AWS a restore takes minutes to hours by retrieval tier; here
the data is on local disk, so a restore completes when it is asked for: RestoreObject answers
``202 Accepted`` and the object is readable at once, with the ``x-amz-restore`` header AWS shows
for a completed restore (``ongoing-request="false", expiry-date="…"``). Asking again while the copy
is readable answers ``200 OK`` and moves its expiry, as AWS does. Each restore sends the
``s3:ObjectRestore:Post`` and ``s3:ObjectRestore:Completed`` notifications (the latter with
``glacierEventData``); the copy's expiry ends it without a notification here (AWS sends
``s3:ObjectRestore:Delete`` from its own lifecycle sweep, which tsunagi does not run).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tsunagi.clock import http_date
from tsunagi.context import RequestContext
from tsunagi.services.s3.errors import err, malformed_xml
from tsunagi.services.s3.notifications import iso_time

if TYPE_CHECKING:
    from tsunagi.clock import Clock
    from tsunagi.services.s3.objects import Objects

ARCHIVED = frozenset({"GLACIER", "DEEP_ARCHIVE"})
DAY = 86_400
MAX_DAYS = 2_147_483_647
TIERS = {"GLACIER": ("Expedited", "Standard", "Bulk"), "DEEP_ARCHIVE": ("Standard", "Bulk")}
STATUS_KEY = "__status__"       # (tsunagi.protocol.serialize.STATUS_KEY: the answer's status)


def _expiry(now: float, days: int) -> float:
    """AWS rounds a restored copy's expiry up to the next midnight UTC after ``days`` days."""
    return math.ceil((now + days * DAY) / DAY) * DAY


def header(info: dict[str, Any]) -> str:
    """The ``x-amz-restore`` header of an object whose restore completed."""
    return f'ongoing-request="false", expiry-date="{http_date(float(info["restored"]))}"'


def check_readable(info: dict[str, Any], now: float) -> None:
    """GetObject of an archived object: readable only while a restored copy is."""
    if float(info.get("restored", 0)) > now:
        return
    raise err("InvalidObjectState", "The operation is not valid for the object's storage class", 403,
              StorageClass=info["sc"])


class Restores:
    def __init__(self, objects: Objects, clock: Clock) -> None:
        self.objects = objects
        self.clock = clock

    async def restore_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        objects = self.objects
        b = await objects.buckets.get(ctx, params.get("Bucket"))
        v = await objects.version(b, params.get("Key") or "", params.get("VersionId"))
        sc = v.info.get("sc") or "STANDARD"
        request = params.get("RestoreRequest") or {}
        if request.get("Type") == "SELECT" or request.get("SelectParameters") or request.get("OutputLocation"):
            raise err("NotImplemented", "A header you provided implies functionality that is not implemented", 501)
        if sc not in ARCHIVED:
            raise err("InvalidObjectState", "Restore is not allowed for the object's current storage class", 403,
                      StorageClass=sc)
        days = request.get("Days")
        if days is None:
            raise malformed_xml()
        if not 1 <= int(days) <= MAX_DAYS:
            raise err("InvalidArgument", "Restore days must be greater than or equal to 1", 400,
                      ArgumentName="Days", ArgumentValue=str(days))
        tier = (request.get("GlacierJobParameters") or {}).get("Tier") or "Standard"
        if tier not in TIERS[sc]:
            raise err("InvalidArgument", f"{tier} retrieval is not supported for the {sc} storage class", 400,
                      ArgumentName="Tier", ArgumentValue=tier)
        now = self.clock.now()
        again = float(v.info.get("restored", 0)) > now
        expiry = _expiry(now, int(days))
        info = dict(v.info, restored=expiry)
        if not again:
            await objects.set_info(ctx, b, v, v.info, "ObjectRestore:Post")
        await objects.set_info(ctx, b, v, info, "ObjectRestore:Completed", extra={"glacierEventData": {
            "restoreEventData": {"lifecycleRestorationExpiryTime": iso_time(expiry),
                                 "lifecycleRestoreStorageClass": sc}}})
        return {STATUS_KEY: 200 if again else 202}


__all__ = ["ARCHIVED", "Restores", "check_readable", "header"]

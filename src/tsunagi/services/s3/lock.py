"""Object Lock: a version's retention (mode and retain-until date) and legal hold, kept in its info
(``"lock": {"mode", "until"}``, ``"hold": "ON"|"OFF"``); a bucket's default retention in its config
(``"object_lock": True``, ``"lock_rule"``). A write naming lock headers on a bucket without Object Lock
is refused, as AWS refuses it; a locked version cannot be deleted."""

from __future__ import annotations

from typing import Any

from tsunagi.services.s3.common import Bucket, to_epoch
from tsunagi.services.s3.errors import access_denied, err, invalid_argument, invalid_request, malformed_xml

MODES = ("GOVERNANCE", "COMPLIANCE")
_DAY_S = 86_400.0
_YEAR_S = 365 * _DAY_S


def missing_configuration() -> Exception:
    return invalid_request("Bucket is missing Object Lock Configuration")


def no_object_configuration() -> Exception:
    return err("NoSuchObjectLockConfiguration", "The specified object does not have a ObjectLock configuration", 404)


def protected() -> Exception:
    return access_denied("Access Denied because object protected by object lock.")


def check_mode(mode: Any, name: str = "x-amz-object-lock-mode") -> str:
    if mode not in MODES:
        raise invalid_argument("Unknown wormMode directive.", name, mode)
    return str(mode)


def check_hold(status: Any) -> str:
    if status not in ("ON", "OFF"):
        raise invalid_argument("Legal Hold must be either of 'ON' or 'OFF'", "x-amz-object-lock-legal-hold", status)
    return str(status)


def on_write(b: Bucket, params: dict[str, Any], info: dict[str, Any], now: float) -> None:
    """The lock a new version gets: the request's headers, else the bucket's default retention."""
    mode, until = params.get("ObjectLockMode"), params.get("ObjectLockRetainUntilDate")
    hold = params.get("ObjectLockLegalHoldStatus")
    if mode is None and until is None and hold is None:
        rule = b.config.get("lock_rule")
        if rule:
            info["lock"] = default_retention(rule, now)
        return
    if not b.config.get("object_lock"):
        raise missing_configuration()
    if (mode is None) != (until is None):
        raise invalid_argument("x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be "
                               "supplied")
    if mode is not None:
        info["lock"] = {"mode": check_mode(mode), "until": future(until, now)}
    elif b.config.get("lock_rule"):
        info["lock"] = default_retention(b.config["lock_rule"], now)
    if hold is not None:
        info["hold"] = check_hold(hold)


def future(until: Any, now: float) -> float:
    epoch = to_epoch(until)
    if epoch is None or epoch <= now:
        raise invalid_argument("The retain until date must be in the future!")
    return round(epoch, 3)


def default_retention(rule: dict[str, Any], now: float) -> dict[str, Any]:
    d = rule.get("DefaultRetention") or {}
    span = float(d.get("Days") or 0) * _DAY_S + float(d.get("Years") or 0) * _YEAR_S
    return {"mode": d.get("Mode"), "until": round(now + span, 3)}


def output(info: dict[str, Any]) -> dict[str, Any]:
    """HeadObject / GetObject members of a version's lock."""
    out: dict[str, Any] = {}
    lock = info.get("lock")
    if lock:
        out["ObjectLockMode"] = lock["mode"]
        out["ObjectLockRetainUntilDate"] = lock["until"]
    if info.get("hold"):
        out["ObjectLockLegalHoldStatus"] = info["hold"]
    return out


def check_delete(info: dict[str, Any], now: float, bypass: bool) -> None:
    """A version under legal hold, compliance retention, or governance retention (without bypass) stays."""
    if info.get("hold") == "ON":
        raise protected()
    lock = info.get("lock")
    if lock and float(lock["until"]) > now and (lock["mode"] == "COMPLIANCE" or not bypass):
        raise protected()


def check_rule(conf: dict[str, Any]) -> dict[str, Any] | None:
    """A PutObjectLockConfiguration document: its rule (None when it sets none)."""
    if conf.get("ObjectLockEnabled") != "Enabled":
        raise malformed_xml()
    rule = conf.get("Rule")
    if not rule:
        return None
    d = rule.get("DefaultRetention") or {}
    if not d or ("Days" in d) == ("Years" in d):
        raise malformed_xml()
    check_mode(d.get("Mode"), "Mode")
    n = d.get("Days", d.get("Years"))
    if not isinstance(n, int) or n <= 0:
        raise invalid_argument("Default retention period must be a positive integer value", "Days", n)
    return {"DefaultRetention": {k: d[k] for k in ("Mode", "Days", "Years") if k in d}}

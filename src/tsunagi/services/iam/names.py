"""IAM's identifiers, ARNs and small encodings.

* Unique ids are AWS's form: a four-letter prefix naming the kind of entity (``AIDA`` user, ``AGPA``
  group, ``AROA`` role, ``ANPA`` managed policy, ``AIPA`` instance profile) and 17 characters of
  the base32 alphabet, 21 in all.
* Access key ids (``AKIA`` long-term, ``ASIA`` temporary) carry their account as AWS's do
  (:func:`tsunagi.ids.access_key_id`).
* ARNs are region-less (IAM is global): ``arn:aws:iam::<account>:<kind><path><name>``.
* Policy documents are returned URL-encoded, as IAM does (botocore decodes them for its users).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import quote

from tsunagi.ids import access_key_id as access_key_id
from tsunagi.services.iam.errors import invalid_marker

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

USER_ID, GROUP_ID, ROLE_ID, POLICY_ID, PROFILE_ID = "AIDA", "AGPA", "AROA", "ANPA", "AIPA"
LONG_TERM, TEMPORARY = "AKIA", "ASIA"
AWS_POLICY_PREFIX = "arn:aws:iam::aws:policy/"


def unique_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_B32) for _ in range(17))


def stable_id(prefix: str, seed: str) -> str:
    """An id derived from ``seed`` (AWS managed policies keep one id everywhere)."""
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:11], "big")
    return prefix + "".join(_B32[(digest >> (5 * i)) & 31] for i in range(17))


def secret_access_key() -> str:
    return base64.b64encode(secrets.token_bytes(30)).decode()


def session_token() -> str:
    return base64.b64encode(secrets.token_bytes(264)).decode()


def arn(account: str, kind: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account}:{kind}{path}{name}"


def key(name: str) -> str:
    """How a name is matched: IAM names are unique whatever their case."""
    return name.lower()


def encode_document(document: str) -> str:
    """A policy document as IAM returns it: URL-encoded (RFC 3986)."""
    return quote(document, safe="*")


# -- pages ----------------------------------------------------------------------------------------
def to_marker(after: str) -> str:
    return base64.urlsafe_b64encode(after.encode()).decode().rstrip("=")


def from_marker(marker: str | None) -> str:
    if not marker:
        return ""
    try:
        return base64.b64decode(marker + "=" * (-len(marker) % 4), altchars=b"-_", validate=True).decode()
    except ValueError:
        raise invalid_marker() from None


def page(items: list[dict[str, object]], limit: int, last: str | None, name: str) -> dict[str, object]:
    """A list answer: ``items`` holds up to ``limit + 1`` entries, the last one only to tell there are more;
    ``last`` is the sort key of the last entry shown."""
    out: dict[str, object] = {name: items[:limit], "IsTruncated": len(items) > limit}
    if len(items) > limit and last is not None:
        out["Marker"] = to_marker(last)
    return out

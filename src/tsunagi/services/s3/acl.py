"""Access control lists of buckets and objects: canned ACLs (``x-amz-acl``), grant headers
(``x-amz-grant-*``) and AccessControlPolicy documents, kept as the grant list S3 returns.

Grants are stored and returned; access decisions stay with bucket policies and IAM (an ACL granting
another account does not open the bucket to it here)."""

from __future__ import annotations

import re
from typing import Any

from tsunagi.services.s3.common import canonical_id, owner
from tsunagi.services.s3.errors import err, invalid_argument, malformed_xml

GROUPS = "http://acs.amazonaws.com/groups/"
ALL_USERS = GROUPS + "global/AllUsers"
AUTHENTICATED_USERS = GROUPS + "global/AuthenticatedUsers"
LOG_DELIVERY = GROUPS + "s3/LogDelivery"

PERMISSIONS = frozenset({"FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP"})
_GRANT_HEADERS = (("GrantFullControl", "FULL_CONTROL"), ("GrantRead", "READ"), ("GrantReadACP", "READ_ACP"),
                  ("GrantWrite", "WRITE"), ("GrantWriteACP", "WRITE_ACP"))
_BUCKET_CANNED = frozenset({"private", "public-read", "public-read-write", "authenticated-read",
                            "log-delivery-write"})
_OBJECT_CANNED = frozenset({"private", "public-read", "public-read-write", "authenticated-read", "aws-exec-read",
                            "bucket-owner-read", "bucket-owner-full-control"})
_GRANTEE = re.compile(r'\s*(id|uri|emailAddress)\s*=\s*"?([^",]*)"?\s*(?:,|$)')


def _user(account_or_id: str, *, is_id: bool = False) -> dict[str, str]:
    if is_id:
        return {"ID": account_or_id, "Type": "CanonicalUser"}
    return {**owner(account_or_id), "Type": "CanonicalUser"}


def _group(uri: str) -> dict[str, str]:
    return {"URI": uri, "Type": "Group"}


def canned(name: str, owner_account: str, bucket_account: str, *, bucket: bool) -> list[dict[str, Any]]:
    """The grants a canned ACL stands for (AWS's table of canned ACLs)."""
    if name not in (_BUCKET_CANNED if bucket else _OBJECT_CANNED):
        raise invalid_argument("", "x-amz-acl", name)
    grants: list[dict[str, Any]] = [{"Grantee": _user(owner_account), "Permission": "FULL_CONTROL"}]
    if name in ("public-read", "public-read-write"):
        grants.append({"Grantee": _group(ALL_USERS), "Permission": "READ"})
    if name == "public-read-write":
        grants.append({"Grantee": _group(ALL_USERS), "Permission": "WRITE"})
    elif name == "authenticated-read":
        grants.append({"Grantee": _group(AUTHENTICATED_USERS), "Permission": "READ"})
    elif name == "log-delivery-write":
        grants.append({"Grantee": _group(LOG_DELIVERY), "Permission": "WRITE"})
        grants.append({"Grantee": _group(LOG_DELIVERY), "Permission": "READ_ACP"})
    elif name in ("bucket-owner-read", "bucket-owner-full-control") and bucket_account != owner_account:
        grants.append({"Grantee": _user(bucket_account),
                       "Permission": "READ" if name == "bucket-owner-read" else "FULL_CONTROL"})
    return grants


def _grantee(kind: str, value: str) -> dict[str, str]:
    if kind == "id":
        return _user(value, is_id=True)
    if kind == "uri":
        if not value.startswith(GROUPS):
            raise invalid_argument("Invalid group uri", "uri", value)
        return _group(value)
    raise err("UnresolvableGrantByEmailAddress", "The e-mail address you provided does not match any account "
              "on record.", 400, EmailAddressProvided=value)


def from_headers(params: dict[str, Any], owner_account: str, bucket_account: str, *,
                 bucket: bool) -> list[dict[str, Any]] | None:
    """The grants a request's ``x-amz-acl`` or ``x-amz-grant-*`` headers give, or None when it has none."""
    acl = params.get("ACL")
    granted = [(member, perm) for member, perm in _GRANT_HEADERS if params.get(member)]
    if acl and granted:
        raise err("InvalidRequest", "Specifying both Canned ACLs and Header Grants is not allowed", 400)
    if acl:
        return canned(str(acl), owner_account, bucket_account, bucket=bucket)
    if not granted:
        return None
    grants: list[dict[str, Any]] = []
    for member, perm in granted:
        text = str(params[member])
        pos = 0
        while pos < len(text):
            m = _GRANTEE.match(text, pos)
            if m is None or m.end() == pos:
                raise invalid_argument("Invalid Argument", member, text)
            grants.append({"Grantee": _grantee(m.group(1), m.group(2).strip()), "Permission": perm})
            pos = m.end()
    return grants


def from_policy(policy: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The grants of an AccessControlPolicy document (PutBucketAcl / PutObjectAcl body)."""
    if not policy or "Owner" not in policy:
        raise malformed_xml()
    grants: list[dict[str, Any]] = []
    for g in policy.get("Grants") or []:
        grantee = g.get("Grantee") or {}
        perm = g.get("Permission")
        kind = grantee.get("Type")
        if perm not in PERMISSIONS or kind not in ("CanonicalUser", "Group", "AmazonCustomerByEmail"):
            raise malformed_xml()
        if kind == "CanonicalUser":
            if not grantee.get("ID"):
                raise invalid_argument("Invalid id", "CanonicalUser/ID", grantee.get("ID"))
            entry = _user(str(grantee["ID"]), is_id=True)
        elif kind == "Group":
            entry = _grantee("uri", str(grantee.get("URI") or ""))
        else:
            entry = _grantee("emailAddress", str(grantee.get("EmailAddress") or ""))
        grants.append({"Grantee": entry, "Permission": perm})
    return grants


def named(grants: list[dict[str, Any]], account: str) -> list[dict[str, Any]]:
    """Grants as returned: the owner's canonical id gets its display name."""
    mine = canonical_id(account)
    out = []
    for g in grants:
        grantee = g["Grantee"]
        if grantee.get("Type") == "CanonicalUser" and grantee.get("ID") == mine:
            grantee = {**owner(account), "Type": "CanonicalUser"}
        out.append({"Grantee": grantee, "Permission": g["Permission"]})
    return out


def policy(grants: list[dict[str, Any]] | None, account: str) -> dict[str, Any]:
    """GetBucketAcl / GetObjectAcl's answer: the owner and the grants (private when none were set)."""
    if grants is None:
        grants = canned("private", account, account, bucket=True)
    return {"Owner": owner(account), "Grants": named(grants, account)}


def check_ownership(config: dict[str, Any], grants: list[dict[str, Any]] | None, account: str) -> None:
    """A bucket whose object ownership is BucketOwnerEnforced has ACLs disabled: only the owner's full
    control (private / bucket-owner-full-control) may be set."""
    rules = ((config.get("ownership") or {}).get("Rules") or [{}])
    if grants is None or rules[0].get("ObjectOwnership") != "BucketOwnerEnforced":
        return
    mine = canonical_id(account)
    if any(g["Grantee"].get("ID") != mine or g["Permission"] != "FULL_CONTROL" for g in grants):
        raise err("AccessControlListNotSupported", "The bucket does not allow ACLs", 400)


def requested(params: dict[str, Any], config: dict[str, Any], account: str, *, bucket: bool) -> list[dict[str, Any]]:
    """The grants a PutBucketAcl/PutObjectAcl asks for: its headers (a canned ACL or grants) or its
    AccessControlPolicy body, never both; refused where the bucket's ownership setting disables ACLs."""
    grants = from_headers(params, account, account, bucket=bucket)
    if grants is None:
        grants = from_policy(params.get("AccessControlPolicy"))
    elif params.get("AccessControlPolicy"):
        raise err("UnexpectedContent", "This request does not support content", 400)
    check_ownership(config, grants, account)
    return grants

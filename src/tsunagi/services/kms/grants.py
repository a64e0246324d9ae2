"""KMS grants: stored with their operations and constraints, listed, retired (by token, or by key and
grant id) and revoked. Whether a grant lets its grantee do something is decided where key policies
are (``KmsCore.authorize``).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from tsunagi.services.base import RequestContext
from tsunagi.services.kms import errors
from tsunagi.services.kms.core import (
    ALIAS_NAME,
    KmsCore,
    from_marker,
    limit_of,
    page_of,
    seconds,
)
from tsunagi.services.kms.errors import (
    InvalidGrantId,
    InvalidGrantToken,
    NotFound,
    Validation,
)
from tsunagi.services.kms.names import key_arn
from tsunagi.services.kms.specs import (
    ENCRYPT_DECRYPT,
    GENERATE_VERIFY_MAC,
    SIGN_VERIFY,
    SYMMETRIC_DEFAULT,
)
from tsunagi.store.kms import GrantRow, KeyRow

_PRINCIPAL = re.compile(r"[\w+=,.@:/-]+")

# Operations whose grants may carry encryption context constraints (the others take no context).
_CONTEXT_OPERATIONS = {"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
                       "ReEncryptTo", "CreateGrant", "RetireGrant", "GenerateDataKeyPair",
                       "GenerateDataKeyPairWithoutPlaintext"}
_GRANT_OPERATIONS_BY_USAGE = {
    ENCRYPT_DECRYPT: {"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
                      "ReEncryptTo", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GetPublicKey"},
    SIGN_VERIFY: {"Sign", "Verify", "GetPublicKey"},
    GENERATE_VERIFY_MAC: {"GenerateMac", "VerifyMac"},
}
_GRANT_OPERATIONS_ANY_KEY = {"CreateGrant", "RetireGrant", "DescribeKey"}


class GrantOps(KmsCore):
    """CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant."""

    def _grant_entry(self, key: KeyRow, g: GrantRow) -> dict[str, Any]:
        out: dict[str, Any] = {"KeyId": key_arn(key), "GrantId": g.grant_id, "Name": g.name or "",
                               "CreationDate": seconds(g.created_at), "GranteePrincipal": g.grantee,
                               "IssuingAccount": g.issuing_account, "Operations": json.loads(g.operations)}
        if g.retiring is not None:
            out["RetiringPrincipal"] = g.retiring
        if g.constraints is not None:
            out["Constraints"] = json.loads(g.constraints)
        return out

    async def create_grant(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False, cross_account=True)
        grantee = params.get("GranteePrincipal") or params.get("GranteeServicePrincipal")
        if not grantee:
            raise errors.missing("granteePrincipal")
        retiring = params.get("RetiringPrincipal") or params.get("RetiringServicePrincipal")
        for member, value in (("granteePrincipal", grantee), ("retiringPrincipal", retiring)):
            if value is not None and not _PRINCIPAL.fullmatch(value):
                raise errors.constraint(value, member, "Member must satisfy regular expression pattern: "
                                        "^[\\w+=,.@:/-]+$")
        name = params.get("Name")
        if name is not None and not ALIAS_NAME.fullmatch(name):
            raise errors.constraint(name, "name", "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$")
        operations: list[str] = params["Operations"]
        if not operations:
            raise errors.constraint("[]", "operations", "Member must have length greater than or equal to 1")
        allowed = _GRANT_OPERATIONS_BY_USAGE.get(key.key_usage, set()) | _GRANT_OPERATIONS_ANY_KEY
        if key.key_usage == ENCRYPT_DECRYPT and key.key_spec == SYMMETRIC_DEFAULT:
            allowed = allowed - {"GetPublicKey"}
        wrong = [op for op in operations if op not in allowed]
        if wrong:
            raise Validation(f"Grant operations {', '.join(wrong)} are not valid for a {key.key_spec} key with "
                             f"KeyUsage {key.key_usage}.")
        constraints = params.get("Constraints") or None
        if constraints:
            if constraints.get("EncryptionContextSubset") is not None and \
                    constraints.get("EncryptionContextEquals") is not None:
                raise Validation("A grant constraint can have EncryptionContextSubset or EncryptionContextEquals, "
                                 "not both.")
            no_context = [op for op in operations if op not in _CONTEXT_OPERATIONS]
            if no_context and (constraints.get("EncryptionContextSubset") is not None
                               or constraints.get("EncryptionContextEquals") is not None):
                raise Validation(f"Encryption context grant constraints are not valid for operations that take no "
                                 f"encryption context: {', '.join(no_context)}.")
        self._grant_tokens(params)
        self._usable(key)
        await self.authorize(ctx, key, "kms:CreateGrant")
        self._dry_run(params)
        ops_json = json.dumps(sorted(set(operations), key=operations.index))
        constraints_json = json.dumps(constraints, sort_keys=True) if constraints else None
        if name:
            for g in await self.repo.grants_named(key.key_id, name):
                if (g.grantee, g.retiring, g.operations, g.constraints) == (grantee, retiring, ops_json,
                                                                             constraints_json):
                    return {"GrantId": g.grant_id, "GrantToken": self._grant_token(g.grant_id)}
        grant_id = os.urandom(32).hex()
        await self.repo.add_grant(GrantRow(grant_id, key.key_id, key.account, key.region, name, grantee, retiring,
                                           f"arn:aws:iam::{ctx.account}:root", ops_json, constraints_json,
                                           self.clock.now_ms()))
        return {"GrantId": grant_id, "GrantToken": self._grant_token(grant_id)}

    async def list_grants(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False, cross_account=True)
        await self.authorize(ctx, key, "kms:ListGrants")
        limit = limit_of(params, 50, 100)
        if params.get("GrantId"):
            g = await self.repo.grant(params["GrantId"])
            if g is None or g.key_id != key.key_id:
                raise InvalidGrantId(f"Grant ID {params['GrantId']} is not valid for {key_arn(key)}.")
            return {"Grants": [self._grant_entry(key, g)], "Truncated": False}
        grantee = params.get("GranteePrincipal") or params.get("GranteeServicePrincipal")
        rows = await self.repo.grants(key.key_id, from_marker(params.get("Marker")), limit + 1, grantee)
        return page_of([self._grant_entry(key, g) for g in rows], limit,
                     rows[limit - 1].grant_id if len(rows) > limit else None, "Grants")

    async def list_retirable_grants(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        retiring = params.get("RetiringPrincipal") or params.get("RetiringServicePrincipal")
        if not retiring:
            raise errors.missing("retiringPrincipal")
        limit = limit_of(params, 50, 100)
        rows = await self.repo.retirable(ctx.account, ctx.region, retiring, from_marker(params.get("Marker")),
                                         limit + 1)
        items = []
        for g in rows:
            key = await self.repo.key(g.key_id)
            if key is not None:
                items.append(self._grant_entry(key, g))
        return page_of(items, limit, rows[limit - 1].grant_id if len(rows) > limit else None, "Grants")

    async def retire_grant(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        token, grant_id = params.get("GrantToken"), params.get("GrantId")
        if token:
            grant_id = self._grant_of_token(token)
            if grant_id is None:
                raise InvalidGrantToken("Invalid grant token")
        elif not (grant_id and params.get("KeyId")):
            raise Validation("Grant token OR (grant ID, key ID) must be specified")
        key = None
        if params.get("KeyId"):
            key = await self.find_key(ctx, params["KeyId"], aliases=False, cross_account=True)
        assert grant_id is not None
        grant = await self.repo.grant(grant_id)
        if grant is None or (key is not None and grant.key_id != key.key_id):
            if token and key is None:
                raise NotFound(f"Grant {grant_id} does not exist (it was retired or revoked).")
            raise InvalidGrantId(f"Grant ID {grant_id} is not valid"
                                 + (f" for {key_arn(key)}." if key is not None else "."))
        if key is None:
            key = await self.repo.key(grant.key_id)
        if key is not None:
            await self.authorize(ctx, key, "kms:RetireGrant")
        self._dry_run(params)
        await self.repo.delete_grant(grant.grant_id)
        return {}

    async def revoke_grant(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False, cross_account=True)
        await self.authorize(ctx, key, "kms:RevokeGrant")
        grant = await self.repo.grant(params["GrantId"])
        if grant is None or grant.key_id != key.key_id:
            raise InvalidGrantId(f"Grant ID {params['GrantId']} is not valid for {key_arn(key)}.")
        self._dry_run(params)
        await self.repo.delete_grant(grant.grant_id)
        return {}

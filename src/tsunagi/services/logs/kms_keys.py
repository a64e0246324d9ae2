"""AssociateKmsKey and DisassociateKmsKey: the KMS key a log group (or the account's Logs Insights
query results) names.

The target is ``logGroupName`` or ``resourceIdentifier``: a log group's ARN (this operation's pattern
allows the ``:*`` form too) or ``arn:aws:logs:<region>:<account>:query-result:*``. The key must exist
in KMS and be a symmetric encryption key. tsunagi records the key, as DescribeLogGroups shows it; it
does not encrypt stored events or query results with it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tsunagi.ports.kms import KMS, KmsError
from tsunagi.services.base import RequestContext
from tsunagi.services.logs.errors import InvalidParameter

if TYPE_CHECKING:
    from tsunagi.services.logs.service import LogsService

QUERY_RESULTS = "query-results-kms-key"
_QUERY_RESULT = re.compile(r"arn:[^:]+:logs:([^:]*):(\d{12}):query-result:\*")


class KmsKeys:
    def __init__(self, service: LogsService) -> None:
        self._svc = service

    async def _target(self, ctx: RequestContext, params: dict[str, Any]) -> tuple[int | None, str]:
        """(group id, ARN) of the group named, or (None, ARN) for the query results."""
        svc = self._svc
        name, ident = params.get("logGroupName"), params.get("resourceIdentifier")
        if name and ident:
            raise InvalidParameter("You can't specify both logGroupName and resourceIdentifier.")
        if not name and not ident:
            raise InvalidParameter("Either logGroupName or resourceIdentifier must be specified.")
        if ident:
            m = _QUERY_RESULT.fullmatch(ident)
            if m is not None:
                if m.group(1) != ctx.region or m.group(2) != ctx.account:
                    raise InvalidParameter(f"Invalid resource identifier: {ident}")
                return None, ident
            group = await svc._group_by_identifier(ctx, ident.removesuffix(":*"))
        else:
            group = await svc._group(ctx, str(name))
        return group.id, svc._group_arn(group.region, group.account, group.name)

    async def associate(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group_id, arn = await self._target(ctx, params)
        key_id = params["kmsKeyId"]
        kms = self._svc.platform.ports.find(KMS)
        refusal = f"Specified KMS key does not exist or is not allowed to be used with Arn '{arn}'"
        if kms is None:
            raise InvalidParameter(refusal)
        try:
            key = await kms.resolve(ctx, key_id, service="logs")
        except KmsError:
            raise InvalidParameter(refusal) from None
        if key.key_spec != "SYMMETRIC_DEFAULT" or key.key_usage != "ENCRYPT_DECRYPT" or key.key_state != "Enabled":
            raise InvalidParameter(refusal)
        if group_id is None:
            await self._svc.policies.repo.put(ctx.account, ctx.region, QUERY_RESULTS, "query-result",
                                              {"kmsKeyId": key.arn}, self._svc.clock.now_ms())
        else:
            await self._svc.repo.set_kms_key(group_id, key_id)
        return {}

    async def disassociate(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group_id, _ = await self._target(ctx, params)
        if group_id is None:
            await self._svc.policies.repo.delete(ctx.account, ctx.region, QUERY_RESULTS, "query-result")
        else:
            await self._svc.repo.set_kms_key(group_id, None)
        return {}

"""Lambda's port: what the rest of tsunagi may ask of Lambda (:class:`tsunagi.ports.awslambda.LambdaPort`)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from tsunagi.context import RequestContext
from tsunagi.ports.awslambda import FunctionRef, InvokeResult
from tsunagi.ports.resources import ResourcePolicy
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.awslambda import names
from tsunagi.services.awslambda.catalog import Catalog
from tsunagi.services.awslambda.code import CodePackages
from tsunagi.services.awslambda.invocation import Invoker


@dataclass(frozen=True, slots=True)
class _Function:
    arn: str
    account: str
    region: str
    name: str
    timeout: int
    role: str
    policy: str | None
    log_group: str


class LambdaPortImpl:
    def __init__(self, catalog: Catalog, invoker: Invoker, code: CodePackages) -> None:
        self._catalog = catalog
        self._invoker = invoker
        self._code = code

    async def function(self, arn_or_name: str, account: str, region: str) -> FunctionRef | None:
        try:
            account, region, name, qualifier = names.parse_function(arn_or_name, account, region, None)
            fn = await self._catalog.function(account, region, name, qualifier)
        except ServiceError:
            return None
        arn = names.function_arn(fn.region, fn.account, fn.name, None)
        statements = [s for s in fn.policy if s.get("Resource") == arn]
        policy = orjson.dumps({"Version": "2012-10-17", "Id": "default", "Statement": statements}).decode() \
            if statements else None
        return _Function(arn, fn.account, fn.region, fn.name, int(fn.config.get("Timeout", 3)),
                         str(fn.config.get("Role", "")), policy,
                         (fn.config.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{fn.name}")

    async def resource_policy(self, ctx: RequestContext, arn: str) -> ResourcePolicy | None:
        try:
            account, region, name, qualifier = names.parse_function(arn, ctx.account, ctx.region, None)
            fn = await self._catalog.function(account, region, name, qualifier, cached=True)
        except ServiceError:
            return None
        policy = orjson.dumps({"Version": "2012-10-17", "Id": "default", "Statement": fn.policy}).decode() \
            if fn.policy else None
        return ResourcePolicy(names.function_arn(fn.region, fn.account, fn.name, None), fn.account, policy)

    async def invoke(self, ctx: RequestContext, function: str, payload: bytes, *,
                     invocation_type: str = "RequestResponse", qualifier: str | None = None) -> InvokeResult:
        out = await self._invoker.invoke_internal(ctx.account, ctx.region, function, payload,
                                                  invocation_type=invocation_type, qualifier=qualifier,
                                                  trace_id=ctx.trace_id, trace_header=ctx.trace_header)
        return InvokeResult(out.status_code, out.payload, out.function_error, out.executed_version, out.request_id)

    async def concurrency_limit(self, function: str, account: str, region: str) -> int:
        limit = self._invoker.account_limit
        try:
            account, region, name, _q = names.parse_function(function, account, region, None)
            fn = await self._catalog.function(account, region, name, None, cached=True)
        except ServiceError:
            return limit
        if fn.reserved is not None:
            limit = min(limit, fn.reserved)
        return limit

    async def code(self, sha: str) -> bytes | None:
        return await self._code.download(sha)

"""Concurrency limits: Put/Get/DeleteFunctionConcurrency and GetAccountSettings.

The account may run ``account_limit`` executions at once (min of AWS's 1000 and
``TSUNAGI_LAMBDA_MAX_WORKERS``); reserving concurrency for a function may not leave fewer than 100
(or the whole limit, if smaller) unreserved. The invoke path applies these limits (:mod:`.invocation`):
on every server sharing a PostgreSQL database together, through leases in the database.
"""

from __future__ import annotations

from typing import Any

from tsunagi.context import RequestContext
from tsunagi.runtime import code as codecache
from tsunagi.services.awslambda.catalog import Catalog
from tsunagi.services.awslambda.code import ZIP_LIMIT
from tsunagi.services.awslambda.errors import InvalidParameterValue
from tsunagi.services.awslambda.functions import TOTAL_CODE_LIMIT
from tsunagi.store.awslambda import LambdaRepo

Params = dict[str, Any]
Result = dict[str, Any]

ACCOUNT_CONCURRENCY = 1000
MIN_UNRESERVED = 100


class Concurrency:
    def __init__(self, repo: LambdaRepo, catalog: Catalog, account_limit: int) -> None:
        self.repo = repo
        self.catalog = catalog
        self.account_limit = account_limit

    async def put_function_concurrency(self, ctx: RequestContext, params: Params) -> Result:
        fn = await self.catalog.resolve(ctx, params["FunctionName"])
        n = int(params["ReservedConcurrentExecutions"])
        others = await self.repo.reserved_total(fn.account, fn.region, fn.id)
        floor = min(MIN_UNRESERVED, self.account_limit)
        if self.account_limit - others - n < floor:
            raise InvalidParameterValue(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{floor}].", Type="User")
        await self.repo.set_reserved(fn.id, n)
        await self.catalog.changed()
        return {"ReservedConcurrentExecutions": n}

    async def get_function_concurrency(self, ctx: RequestContext, params: Params) -> Result:
        fn = await self.catalog.resolve(ctx, params["FunctionName"])
        return {} if fn.reserved is None else {"ReservedConcurrentExecutions": fn.reserved}

    async def delete_function_concurrency(self, ctx: RequestContext, params: Params) -> Result:
        fn = await self.catalog.resolve(ctx, params["FunctionName"])
        await self.repo.set_reserved(fn.id, None)
        await self.catalog.changed()
        return {}

    async def get_account_settings(self, ctx: RequestContext, params: Params) -> Result:
        count, total = await self.repo.usage(ctx.account, ctx.region)
        reserved = await self.repo.reserved_total(ctx.account, ctx.region)
        return {
            "AccountLimit": {"TotalCodeSize": TOTAL_CODE_LIMIT, "CodeSizeUnzipped": codecache.UNZIPPED_LIMIT,
                             "CodeSizeZipped": ZIP_LIMIT, "ConcurrentExecutions": self.account_limit,
                             "UnreservedConcurrentExecutions": self.account_limit - reserved},
            "AccountUsage": {"TotalCodeSize": total, "FunctionCount": count},
        }

"""Subscription filters: PutSubscriptionFilter, DescribeSubscriptionFilters, DeleteSubscriptionFilter.

A group has at most two. The destination is a Lambda function in the group's account (an unqualified
or qualified ARN); Kinesis Data Streams, Data Firehose and Logs destinations are services tsunagi does
not run, and are refused with InvalidParameterException naming the destination. As AWS does, the
function must let ``logs.amazonaws.com`` invoke it (its resource policy, under ``--policies enforce``;
``warn`` logs the refusal and accepts), and a ``CONTROL_MESSAGE`` is sent to it on creation.
Deliveries are made by :mod:`.fanout`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tsunagi.policy import Dialect
from tsunagi.ports.awslambda import LAMBDA
from tsunagi.ports.delivery_policy import resource_check
from tsunagi.services.base import RequestContext
from tsunagi.services.logs.errors import (
    BAD_TOKEN,
    InvalidParameter,
    LimitExceeded,
    ResourceNotFound,
    constraint,
)
from tsunagi.services.logs.fanout import LOGS_PRINCIPAL, control_message, group_source_arn
from tsunagi.services.logs.patterns import FilterPatternError, compile_pattern
from tsunagi.services.logs.tokens import decode, encode
from tsunagi.store.logs_filters import SUBSCRIPTION

if TYPE_CHECKING:
    from tsunagi.services.logs.service import LogsService

MAX_PER_GROUP = 2
NO_FILTER = "The specified subscription filter does not exist."
NO_LAMBDA = ("Could not execute the lambda function. Make sure you have given CloudWatch Logs permission to "
             "execute your function.")
_FILTER_NAME = re.compile(r"[^:*]*")
_UNSUPPORTED = {
    "kinesis": "Amazon Kinesis Data Streams",
    "firehose": "Amazon Data Firehose",
    "logs": "CloudWatch Logs destinations (cross-account delivery)",
}


def check_filter_name(name: str) -> None:
    if not _FILTER_NAME.fullmatch(name):
        raise constraint(name, "filterName", "Member must satisfy regular expression pattern: [^:*]*")


def compile_or_refuse(text: str) -> None:
    try:
        compile_pattern(text)
    except FilterPatternError as e:
        raise InvalidParameter(f"Invalid filter pattern: {e}") from None


class Subscriptions:
    def __init__(self, service: LogsService) -> None:
        self._svc = service

    async def _destination(self, ctx: RequestContext, group: str, arn: str) -> str:
        """The function ARN to deliver to; refuses what AWS would refuse."""
        parts = arn.split(":")
        if len(parts) < 6 or parts[0] != "arn":
            raise InvalidParameter(f"Invalid destination ARN: {arn}")
        service = parts[2]
        if service in _UNSUPPORTED:
            raise InvalidParameter(f"The destination {arn} is not supported: tsunagi does not run "
                                   f"{_UNSUPPORTED[service]}; a subscription filter's destination here must be "
                                   "a Lambda function.")
        if service != "lambda":
            raise InvalidParameter(f"Invalid destination ARN: {arn}")
        lam = self._svc.platform.ports.find(LAMBDA)
        fn = await lam.function(arn, ctx.account, ctx.region) if lam is not None else None
        if fn is None or fn.account != ctx.account or fn.region != ctx.region:
            raise InvalidParameter(NO_LAMBDA)
        source = group_source_arn(ctx.region, ctx.account, group)
        mode = self._svc.platform.config.policies
        verdicts = [resource_check(mode, policy=fn.policy, dialect=Dialect.LAMBDA, resource_arn=fn.arn,
                                   resource_account=fn.account, principal=principal,
                                   action="lambda:InvokeFunction", source_arn=source, source_account=ctx.account,
                                   configuring=True)
                    for principal in (LOGS_PRINCIPAL, f"logs.{ctx.region}.amazonaws.com")]
        if not any(v.allowed for v in verdicts):
            raise InvalidParameter(NO_LAMBDA)
        return arn

    async def put(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        svc = self._svc
        name = params["filterName"]
        check_filter_name(name)
        group = await svc._group(ctx, params["logGroupName"])
        pattern = params.get("filterPattern") or ""
        compile_or_refuse(pattern)
        destination = await self._destination(ctx, group.name, params["destinationArn"])
        doc: dict[str, Any] = {"destinationArn": destination, "distribution": params.get("distribution") or "ByLogStream",
                               "applyOnTransformedLogs": bool(params.get("applyOnTransformedLogs"))}
        if params.get("roleArn"):
            doc["roleArn"] = params["roleArn"]
        for member in ("fieldSelectionCriteria", "emitSystemFields"):
            if params.get(member):
                doc[member] = params[member]
        now = svc.clock.now_ms()
        created = await svc.fanout.repo.put(group.id, SUBSCRIPTION, name, pattern, doc, now, MAX_PER_GROUP,
                                            then=svc.fanout.in_transaction([control_message(
                                                ctx.account, ctx.region, destination, now, ctx.trace_id)]))
        if created is None:
            raise ResourceNotFound("The specified log group does not exist.")
        if not created:
            raise LimitExceeded("Resource limit exceeded.")
        svc.fanout.forget(ctx.account, ctx.region, group.name)
        return {}

    async def describe(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        svc = self._svc
        group = await svc._group(ctx, params["logGroupName"])
        prefix = params.get("filterNamePrefix")
        if prefix:
            check_filter_name(prefix)
        limit = int(params.get("limit") or 50)
        after = None
        if params.get("nextToken"):
            doc = decode(params["nextToken"])
            if not isinstance(doc, dict) or not isinstance(doc.get("f"), str):
                raise InvalidParameter(BAD_TOKEN)
            after = (group.name, doc["f"])
        rows = await svc.fanout.repo.list(ctx.account, ctx.region, SUBSCRIPTION, group_id=group.id, prefix=prefix,
                                          after=after, limit=limit + 1)
        out: dict[str, Any] = {"subscriptionFilters": [{
            "filterName": r.name, "logGroupName": r.group, "filterPattern": r.pattern, **r.fields,
            "creationTime": int(r.created_at)} for r in rows[:limit]]}
        if len(rows) > limit:
            out["nextToken"] = encode({"f": rows[limit - 1].name})
        return out

    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await delete_filter(self._svc, ctx, params, SUBSCRIPTION, NO_FILTER)


async def delete_filter(svc: LogsService, ctx: RequestContext, params: dict[str, Any], kind: str,
                        missing: str) -> dict[str, Any]:
    """DeleteSubscriptionFilter and DeleteMetricFilter: the group's filter of ``kind`` named
    ``filterName`` is removed (``missing``: the ResourceNotFound message when there is none), and the
    group's filters are read again on its next write."""
    name = params["filterName"]
    check_filter_name(name)
    group = await svc._group(ctx, params["logGroupName"])
    if not await svc.fanout.repo.delete(group.id, kind, name):
        raise ResourceNotFound(missing)
    svc.fanout.forget(ctx.account, ctx.region, group.name)
    return {}

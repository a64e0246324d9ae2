"""Lambda authorizers on the invoke path: TOKEN (a header) and REQUEST (headers, query strings, stage
variables, context), the function's policy evaluated against the method's ARN, the result cached per
identity for the authorizer's TTL. What the function returns in ``context`` (and its ``principalId``)
becomes ``$context.authorizer``; ``usageIdentifierKey`` is the API key when the API's key source is
AUTHORIZER.

Answers, as API Gateway's: no identity (or one the validation expression refuses) → 401 ``Unauthorized``;
the function raises ``Unauthorized`` → 401; a policy that does not allow → 403 ``User is not authorized to
access this resource`` (``… with an explicit deny`` when it denies); a function that fails or answers
nonsense → 500 with ``{"message": null}``.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from tsunagi.services.apigateway.execute import Call, Executor, GatewayError

if TYPE_CHECKING:
    pass


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(".".join(re.escape(p) for p in part.split("?"))
                                      for part in pattern.split("*")) + "$")


def _method_arn(call: Call) -> str:
    req = call.req
    return (f"arn:aws:execute-api:{call.plan.region}:{call.plan.account}:{req.api_id}/{req.stage}/"
            f"{req.method.upper()}{call.path}")


def _identity(call: Call, authorizer: dict[str, Any]) -> list[str] | None:
    """The values the identity sources name, or None when one is missing."""
    values = []
    for source in [s.strip() for s in str(authorizer.get("identitySource") or "").split(",") if s.strip()]:
        value: Any = None
        if source.startswith("method.request.header."):
            value = call.header(source[len("method.request.header."):])
        elif source.startswith("method.request.querystring."):
            value = call.query.get(source[len("method.request.querystring."):])
        elif source.startswith("stageVariables."):
            value = call.stage_variables.get(source[len("stageVariables."):])
        elif source.startswith("context."):
            value = call.context
            for part in source[len("context."):].split("."):
                value = value.get(part) if isinstance(value, dict) else None
        if value in (None, ""):
            return None
        values.append(str(value))
    return values


def _decide(policy: Any, arn: str) -> str:
    """allow | deny | none: the policy's verdict for execute-api:Invoke on ``arn``."""
    if isinstance(policy, str):
        policy = json.loads(policy)
    statements = policy.get("Statement") if isinstance(policy, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        raise ValueError("policyDocument has no Statement")
    allowed = False
    for st in statements:
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = st.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if not any(_glob(a).match("execute-api:Invoke") for a in actions):
            continue
        if not any(_glob(r).match(arn) for r in resources):
            continue
        if st.get("Effect") == "Deny":
            return "deny"
        if st.get("Effect") == "Allow":
            allowed = True
    return "allow" if allowed else "none"


async def authorize(executor: Executor, call: Call) -> None:
    authorizer = call.plan.authorizers.get(call.method.get("authorizerId", ""))
    if authorizer is None:
        raise GatewayError("AUTHORIZER_CONFIGURATION_ERROR", reason="the method's authorizer does not exist")
    kind = authorizer.get("type")
    ttl = int(authorizer.get("authorizerResultTtlInSeconds", 300))
    identity = _identity(call, authorizer)
    if identity is None:
        if kind == "TOKEN" or ttl > 0:
            raise GatewayError("UNAUTHORIZED", reason="the request has no identity for the authorizer")
        identity = []
    if kind == "TOKEN" and authorizer.get("identityValidationExpression") and \
            re.fullmatch(authorizer["identityValidationExpression"], identity[0]) is None:
        raise GatewayError("UNAUTHORIZED", reason="the token does not match the identity validation expression")
    arn = _method_arn(call)
    cache = executor.service.authorizer_cache
    key = (call.req.api_id, authorizer["id"], tuple(identity))
    now = time.monotonic()
    cached = cache.get(key) if ttl > 0 else None
    if cached is not None and cached[0] > now:
        result = cached[1]
    else:
        result = await _invoke(executor, call, authorizer, identity, arn)
        if ttl > 0:
            if len(cache) > 10_000:
                cache.clear()
            cache[key] = (now + ttl, result)
    try:
        verdict = _decide(result.get("policyDocument"), arn)
    except (ValueError, AttributeError, TypeError):
        raise GatewayError("AUTHORIZER_CONFIGURATION_ERROR", reason="the authorizer's policy is malformed") from None
    if verdict == "deny":
        raise GatewayError("ACCESS_DENIED", message="User is not authorized to access this resource with an explicit "
                                                    "deny")
    if verdict != "allow":
        raise GatewayError("ACCESS_DENIED")
    context = {k: v for k, v in (result.get("context") or {}).items() if isinstance(v, str | int | float | bool)}
    call.context["authorizer"] = {"principalId": result.get("principalId"), **context}
    if result.get("usageIdentifierKey"):
        call.context["authorizer"]["usageIdentifierKey"] = result["usageIdentifierKey"]


async def _invoke(executor: Executor, call: Call, authorizer: dict[str, Any], identity: list[str],
                  arn: str) -> dict[str, Any]:
    from tsunagi.services.apigateway.integrations import lambda_target

    target = lambda_target(str(authorizer.get("authorizerUri", "")))
    if target is None:
        raise GatewayError("AUTHORIZER_CONFIGURATION_ERROR", reason="the authorizer URI names no function")
    if authorizer.get("type") == "TOKEN":
        event: dict[str, Any] = {"type": "TOKEN", "authorizationToken": identity[0], "methodArn": arn}
    else:
        proxy = executor.proxy_event(call)
        event = {"type": "REQUEST", "methodArn": arn, "resource": proxy["resource"], "path": proxy["path"],
                 "httpMethod": proxy["httpMethod"], "headers": proxy["headers"],
                 "multiValueHeaders": proxy["multiValueHeaders"],
                 "queryStringParameters": proxy["queryStringParameters"],
                 "multiValueQueryStringParameters": proxy["multiValueQueryStringParameters"],
                 "pathParameters": proxy["pathParameters"], "stageVariables": proxy["stageVariables"],
                 "requestContext": proxy["requestContext"]}
    ctx = executor.integration_ctx(call, {"credentials": authorizer.get("authorizerCredentials")}, "Invoke")
    outcome = await executor.backends.invoke_lambda(ctx, target, json.dumps(event).encode())
    if outcome.error_message is not None:
        if outcome.error_message == "Unauthorized":
            raise GatewayError("UNAUTHORIZED", reason="the authorizer raised Unauthorized")
        raise GatewayError("AUTHORIZER_CONFIGURATION_ERROR", reason=f"the authorizer failed: {outcome.error_message}")
    if outcome.status >= 300:
        raise GatewayError("AUTHORIZER_CONFIGURATION_ERROR", reason=f"the authorizer could not be invoked: "
                                                                    f"{outcome.body[:300]!r}")
    try:
        result = json.loads(outcome.body)
    except ValueError:
        result = None
    if not isinstance(result, dict) or "policyDocument" not in result:
        raise GatewayError("AUTHORIZER_CONFIGURATION_ERROR", reason="the authorizer's answer has no policyDocument")
    return result

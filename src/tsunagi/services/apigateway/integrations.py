"""The backends an integration calls, each answering an :class:`Outcome` (status, headers, body, and for
Lambda the function's error message, which integration responses are chosen by):

- AWS service integrations (``arn:aws:apigateway:{region}:{service}:path/…`` or ``…:action/{Action}``):
  SQS (SendMessage, SendMessageBatch, form-encoded query protocol or JSON), SNS (Publish) and Lambda
  (Invoke), through the services' ports, in the request's journey (trace id);
- Lambda invocations for AWS_PROXY;
- HTTP and HTTP_PROXY to a URL.

An AWS service's error answers as that service answers it over its query protocol in JSON (what API
Gateway gets back and hands to the integration responses), so a template or a selection pattern sees
what it would see on AWS.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson

from tsunagi import outbound
from tsunagi.context import RequestContext
from tsunagi.ports.awslambda import LAMBDA
from tsunagi.ports.sns import SNS
from tsunagi.ports.sqs import SQS, MessageAttributeValue
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.apigateway.roles import RoleRefused, check_role
from tsunagi.services.base import Platform

AWS_URI = re.compile(r"^arn:aws[\w-]*:apigateway:([a-z0-9-]+):([a-zA-Z0-9.-]+):(path|action)/(.*)$")
LAMBDA_PATH = re.compile(r"^\d{4}-\d{2}-\d{2}/functions/(.+)/invocations$")
JSON_TYPE = "application/json"
MAX_INTEGRATION_ANSWER = 10 * 1024 * 1024      # API Gateway's payload quota
_HOP_BY_HOP = frozenset({"host", "content-length", "connection", "transfer-encoding", "keep-alive", "te", "upgrade",
                         "proxy-connection", "expect"})


@dataclass(slots=True)
class Outcome:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str | None = None        # a Lambda function's errorMessage (integration response selection)


class IntegrationFailure(Exception):
    """The integration could not be called (a configuration error): API Gateway answers 500."""


class IntegrationTimeout(Exception):
    """No answer within the integration's timeout: API Gateway answers 504."""


@lru_cache(maxsize=4096)
def parse_uri(uri: str) -> tuple[str, str, str, str] | None:
    """(region, service, path | action, the rest) of an AWS integration URI (cached: URIs repeat)."""
    m = AWS_URI.match(uri)
    return (m.group(1), m.group(2).rsplit(".", 1)[-1], m.group(3), m.group(4)) if m else None


@lru_cache(maxsize=4096)
def lambda_target(uri: str) -> str | None:
    """The function ARN a Lambda integration URI names, or None."""
    m = AWS_URI.match(uri)
    if m is None or m.group(2).rsplit(".", 1)[-1] != "lambda" or m.group(3) != "path":
        return None
    f = LAMBDA_PATH.match(m.group(4))
    return unquote(f.group(1)) if f else None


def _unquote_plus(text: str) -> str:
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    if "\\" not in text:
        try:   # %XX -> \xXX, decoded by the C decoder of Python's escapes (valid UTF-8 only)
            return codecs.escape_decode(text.replace("%", "\\x").encode())[0].decode()  # type: ignore[attr-defined]
        except (ValueError, UnicodeDecodeError):
            pass
    return unquote(text)


def form_pairs(text: str) -> dict[str, str]:
    """A form-encoded body as a dict (the last value of a repeated name), as SQS reads its query protocol."""
    out: dict[str, str] = {}
    for pair in text.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        out[_unquote_plus(name) if "%" in name or "+" in name else name] = \
            _unquote_plus(value) if "%" in value or "+" in value else value
    return out


def _query_error(error: ServiceError, request_id: str) -> Outcome:
    body = {"Error": {"Code": error.query_code or error.code, "Message": error.message,
                      "Type": "Sender" if error.sender_fault else "Receiver"}, "RequestId": request_id}
    return Outcome(error.status, json.dumps(body).encode(), {"Content-Type": JSON_TYPE})


def _json_error(error: ServiceError) -> Outcome:
    body = {"__type": error.code, "message": error.message}
    return Outcome(error.status, json.dumps(body).encode(), {"Content-Type": "application/x-amz-json-1.0",
                                                             "x-amzn-ErrorType": error.code})


def _attributes(params: Mapping[str, str], prefix: str) -> dict[str, MessageAttributeValue]:
    """``MessageAttribute.N.Name`` / ``.Value.DataType`` / ``.Value.StringValue`` (query protocol)."""
    out: dict[str, MessageAttributeValue] = {}
    n = 1
    while f"{prefix}.{n}.Name" in params:
        base = f"{prefix}.{n}"
        value: MessageAttributeValue = {"DataType": params.get(f"{base}.Value.DataType", "String")}
        if f"{base}.Value.StringValue" in params:
            value["StringValue"] = params[f"{base}.Value.StringValue"]
        if f"{base}.Value.BinaryValue" in params:
            import base64

            value["BinaryValue"] = base64.b64decode(params[f"{base}.Value.BinaryValue"])
        out[params[f"{base}.Name"]] = value
        n += 1
    return out


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ServiceError(f"Value {value} for parameter {name} is invalid. Reason: must be an integer.",
                           code="InvalidParameterValue") from None


class Backends:
    """Calls the backends for the invoke path."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.role_decisions: dict[tuple[str, str, str, str], tuple[float, str | None]] = {}
        self._guard: outbound.SelfNames | None = None

    # == AWS service integrations ==============================================================
    async def _may(self, role: str | None, action: str, resource: str, account: str) -> None:
        """The integration's role (``credentials``) checked for ``action`` on ``resource``."""
        if role and role.startswith("arn:"):
            try:
                await check_role(self.platform, role, action, resource, account, self.role_decisions)
            except RoleRefused as e:
                raise IntegrationFailure(f"Execution failed due to configuration error: {e}") from None

    async def aws(self, ctx: RequestContext, uri: str, http_method: str, headers: dict[str, str],
                  query: list[tuple[str, str]], body: bytes, role: str | None = None) -> Outcome:
        parsed = parse_uri(uri)
        if parsed is None:
            raise IntegrationFailure(f"Invalid AWS integration URI: {uri}")
        region, service, style, rest = parsed
        ctx.region = region or ctx.region
        if service == "lambda":
            target = lambda_target(uri)
            if target is None:
                raise IntegrationFailure(f"Invalid Lambda integration URI: {uri}")
            invocation = headers.get("x-amz-invocation-type") or "RequestResponse"
            return await self.invoke_lambda(ctx, target, body, invocation, role=role)
        ctype = (headers.get("content-type") or "").split(";")[0].strip().lower()
        target_header = headers.get("x-amz-target") or ""
        params: dict[str, str] = {}
        json_params: dict[str, Any] | None = None
        action = None
        if style == "action":
            action_part, _, extra = rest.partition("&")
            action = action_part.split("?", 1)[0]
            params.update(dict(parse_qsl(extra, keep_blank_values=True)))
        params.update(dict(query))
        if ctype.startswith("application/x-amz-json") or target_header:
            try:
                loaded = json.loads(body or b"{}")
            except ValueError:
                loaded = None
            json_params = loaded if isinstance(loaded, dict) else None
            if target_header:
                action = target_header.rsplit(".", 1)[-1]
        elif ctype == "application/x-www-form-urlencoded" or (body and style == "path" and ctype == ""):
            params.update(form_pairs(body.decode("utf-8", "replace")))
        action = params.get("Action", action) if json_params is None else action
        if service == "sqs":
            return await self._sqs(ctx, region, style, rest, action, params, json_params, role)
        if service == "sns":
            return await self._sns(ctx, action, params, json_params, role)
        raise IntegrationFailure(f"tsunagi's API Gateway does not call the {service} service from an AWS "
                                 f"integration yet (only sqs, sns and lambda)")

    async def _sqs(self, ctx: RequestContext, region: str, style: str, rest: str, action: str | None,
                   params: dict[str, str], json_params: dict[str, Any] | None, role: str | None = None) -> Outcome:
        sqs = self.platform.ports.find(SQS)
        if sqs is None:
            raise IntegrationFailure("this server does not run SQS")
        source = json_params if json_params is not None else params
        queue_url = str(source.get("QueueUrl") or "")
        if style == "path":
            parts = [p for p in rest.split("?", 1)[0].split("/") if p]
        else:
            parts = [p for p in queue_url.split("?", 1)[0].split("/") if p][-2:]
        if len(parts) != 2:
            error = ServiceError("The specified queue does not exist for this wsdl version.",
                                 code="AWS.SimpleQueueService.NonExistentQueue")
            return _json_error(error) if json_params is not None else _query_error(error, ctx.request_id)
        account, name = parts
        arn = f"arn:aws:sqs:{region}:{account}:{name}"
        if action:
            await self._may(role, f"sqs:{action}", arn, account)
        try:
            if action == "SendMessage":
                if json_params is not None:
                    sent = await sqs.send(ctx, arn, str(json_params.get("MessageBody", "")),
                                          attributes=json_params.get("MessageAttributes") or None,
                                          group_id=json_params.get("MessageGroupId"),
                                          dedup_id=json_params.get("MessageDeduplicationId"),
                                          delay_seconds=json_params.get("DelaySeconds"))
                    out: dict[str, Any] = {"MD5OfMessageBody": sent.md5_of_body, "MessageId": sent.message_id}
                    if sent.sequence_number:
                        out["SequenceNumber"] = sent.sequence_number
                    return Outcome(200, json.dumps(out).encode(), {"Content-Type": "application/x-amz-json-1.0"})
                if "MessageBody" not in params:
                    raise ServiceError("The request must contain the parameter MessageBody.",
                                       code="MissingParameter")
                sent = await sqs.send(ctx, arn, params["MessageBody"],
                                      attributes=_attributes(params, "MessageAttribute") or None,
                                      group_id=params.get("MessageGroupId"),
                                      dedup_id=params.get("MessageDeduplicationId"),
                                      delay_seconds=_int(params.get("DelaySeconds"), "DelaySeconds"))
                result = {"SendMessageResponse": {
                    "ResponseMetadata": {"RequestId": ctx.request_id},
                    "SendMessageResult": {"MD5OfMessageAttributes": None, "MD5OfMessageBody": sent.md5_of_body,
                                          "MD5OfMessageSystemAttributes": None, "MessageId": sent.message_id,
                                          "SequenceNumber": sent.sequence_number}}}
                return Outcome(200, orjson.dumps(result), {"Content-Type": JSON_TYPE})
            if action == "SendMessageBatch" and json_params is None:
                return await self._sqs_batch(ctx, arn, params)
            raise ServiceError(f"The action {action} is not valid for this endpoint.", code="InvalidAction")
        except ServiceError as e:
            return _json_error(e) if json_params is not None else _query_error(e, ctx.request_id)

    async def _sqs_batch(self, ctx: RequestContext, arn: str, params: dict[str, str]) -> Outcome:
        sqs = self.platform.ports.get(SQS)
        successful, failed = [], []
        n = 1
        prefix = "SendMessageBatchRequestEntry"
        while f"{prefix}.{n}.Id" in params:
            base = f"{prefix}.{n}"
            entry_id = params[f"{base}.Id"]
            try:
                sent = await sqs.send(ctx, arn, params.get(f"{base}.MessageBody", ""),
                                      attributes=_attributes(params, f"{base}.MessageAttribute") or None,
                                      group_id=params.get(f"{base}.MessageGroupId"),
                                      dedup_id=params.get(f"{base}.MessageDeduplicationId"),
                                      delay_seconds=_int(params.get(f"{base}.DelaySeconds"), "DelaySeconds"))
                successful.append({"Id": entry_id, "MD5OfMessageAttributes": None,
                                   "MD5OfMessageBody": sent.md5_of_body, "MD5OfMessageSystemAttributes": None,
                                   "MessageId": sent.message_id, "SequenceNumber": sent.sequence_number})
            except ServiceError as e:
                failed.append({"Code": e.code, "Id": entry_id, "Message": e.message, "SenderFault": e.sender_fault})
            n += 1
        if n == 1:
            raise ServiceError("There should be at least one SendMessageBatchRequestEntry in the request.",
                               code="AWS.SimpleQueueService.EmptyBatchRequest")
        result = {"SendMessageBatchResponse": {"ResponseMetadata": {"RequestId": ctx.request_id},
                                               "SendMessageBatchResult": {"Failed": failed,
                                                                          "Successful": successful}}}
        return Outcome(200, json.dumps(result).encode(), {"Content-Type": JSON_TYPE})

    async def _sns(self, ctx: RequestContext, action: str | None, params: dict[str, str],
                   json_params: dict[str, Any] | None, role: str | None = None) -> Outcome:
        sns = self.platform.ports.find(SNS)
        if sns is None:
            raise IntegrationFailure("this server does not run SNS")
        source: Mapping[str, Any] = json_params if json_params is not None else params
        try:
            if action != "Publish":
                raise ServiceError(f"The action {action} is not valid for this endpoint.", code="InvalidAction")
            topic = source.get("TopicArn") or source.get("TargetArn")
            if not topic:
                raise ServiceError("Invalid parameter: TopicArn or TargetArn Reason: no value for required "
                                   "parameter", code="InvalidParameter")
            if "Message" not in source:
                raise ServiceError("Invalid parameter: Message Reason: no value for required parameter",
                                   code="InvalidParameter")
            topic_account = str(topic).split(":")[4] if str(topic).count(":") >= 5 else ctx.account
            await self._may(role, "sns:Publish", str(topic), topic_account)
            message_id = await sns.publish(ctx, str(topic), str(source["Message"]), subject=source.get("Subject"),
                                           attributes=_attributes(params, "MessageAttributes.entry") or None,
                                           group_id=source.get("MessageGroupId"),
                                           dedup_id=source.get("MessageDeduplicationId"))
        except ServiceError as e:
            return _json_error(e) if json_params is not None else _query_error(e, ctx.request_id)
        result = {"PublishResponse": {"PublishResult": {"MessageId": message_id, "SequenceNumber": None},
                                      "ResponseMetadata": {"RequestId": ctx.request_id}}}
        return Outcome(200, json.dumps(result).encode(), {"Content-Type": JSON_TYPE})

    # == Lambda ================================================================================
    async def invoke_lambda(self, ctx: RequestContext, function: str, payload: bytes,
                            invocation_type: str = "RequestResponse", *, role: str | None = None) -> Outcome:
        port = self.platform.ports.find(LAMBDA)
        if port is None:
            raise IntegrationFailure("this server does not run Lambda")
        if role:
            fn_account = function.split(":")[4] if function.count(":") >= 6 else ctx.account
            await self._may(role, "lambda:InvokeFunction", function, fn_account)
        try:
            result = await port.invoke(ctx, function, payload, invocation_type=invocation_type)
        except ServiceError as e:
            body = {"Message": e.message, "Type": "User" if e.sender_fault else "Service"}
            return Outcome(e.status, json.dumps(body).encode(), {"Content-Type": JSON_TYPE,
                                                                 "x-amzn-ErrorType": e.code})
        headers = {"Content-Type": JSON_TYPE, "X-Amz-Executed-Version": result.executed_version or "$LATEST"}
        error_message = None
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
            try:
                doc = json.loads(result.payload or b"{}")
                error_message = str(doc.get("errorMessage", "")) if isinstance(doc, dict) else ""
            except ValueError:
                error_message = result.payload.decode("utf-8", "replace")
        return Outcome(result.status_code, result.payload, headers, error_message)

    # == HTTP ==================================================================================
    async def http(self, method: str, url: str, headers: Mapping[str, str], body: bytes,
                   timeout_s: float) -> Outcome:
        """HTTP and HTTP_PROXY integrations, through :mod:`tsunagi.outbound` (never into tsunagi's internal
        routes, the answer read up to API Gateway's 10 MB payload quota, bounded by the integration's timeout)."""
        if self._guard is None:
            config = self.platform.config
            self._guard = outbound.SelfNames([*config.hostnames, config.public_host()])
        send: dict[str, str] = {}
        agent = "AmazonAPIGateway"
        for name, value in headers.items():
            lower = name.lower()
            if lower == "user-agent":
                agent = value
            elif lower not in _HOP_BY_HOP:
                send[name] = value
        try:
            answer = await outbound.request(method, url, body, send, guard=self._guard, user_agent=agent,
                                            connect_timeout=min(outbound.CONNECT_TIMEOUT_S, timeout_s),
                                            read_timeout=timeout_s, max_answer=MAX_INTEGRATION_ANSWER)
        except outbound.OutboundTimeout:
            raise IntegrationTimeout() from None
        except outbound.OutboundFailure as e:
            raise IntegrationFailure(f"the HTTP endpoint could not be reached: {e}") from None
        if answer.truncated:
            raise IntegrationFailure(f"the HTTP endpoint's answer is larger than {MAX_INTEGRATION_ANSWER} bytes")
        out: dict[str, str] = {}
        for name, value in answer.headers:
            out[name] = value
        return Outcome(answer.status, answer.body, out)

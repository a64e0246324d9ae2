"""Asynchronous invocation: retries, event age, destinations and the dead-letter queue.

A mixin the Lambda service inherits. Event invocations wait in the Lambda repository's durable
``lambda_async`` queue; the service's runner claims each due one and hands it to
:meth:`AsyncInvokeMixin._async_attempt`, which

- gives up with ``EventAgeExceeded`` once the event is older than MaximumEventAgeInSeconds
  (default 6 hours) without invoking it again;
- invokes the function; a throttle is retried with backoff (it does not use up a retry attempt);
- after a function error retries up to MaximumRetryAttempts times (default 2), the first retry
  ``TSUNAGI_ASYNC_RETRY_BASE_SECONDS`` later (default 60, as AWS: about one minute, then two);
- finally writes, in the same transaction that removes the invocation from the queue, outbox
  deliveries (:mod:`tsunagi.pipes.outbox`) of AWS's destination record to the OnSuccess or
  OnFailure destination (an SQS queue, SNS topic or another function) and, on failure, of the
  event itself to the function's DeadLetterConfig target (SQS or SNS; message attributes
  RequestID, ErrorCode, ErrorMessage).

Put/Get/Update/Delete/ListFunctionEventInvokeConfigs keep the settings per function and qualifier.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import orjson

from tsunagi.ports.outbox import OutboxItem
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.awslambda import names
from tsunagi.services.awslambda.errors import InvalidParameterValue, ResourceNotFound
from tsunagi.store.esm import EsmRepo
from tsunagi.trace import lambda_header, new_trace_id

if TYPE_CHECKING:
    from tsunagi.services.base import Platform, RequestContext

log = logging.getLogger("tsunagi.lambda.async")

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_S = 21_600
THROTTLE_MIN_MS = 1_000
THROTTLE_MAX_MS = 300_000
_DEST_KINDS = {"sqs": "sqs", "sns": "sns", "lambda": "lambda"}
PIPE = "destination"            # the delivery records of destinations and dead-letter sends


def _iso_now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def _json_or_text(data: bytes) -> Any:
    if not data.strip():
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return data.decode("utf-8", "replace")


def destination_record(condition: str, request_id: str, function_arn: str, invokes: int, payload: bytes,
                       response: tuple[bytes, str, str | None] | None) -> dict[str, Any]:
    """AWS's invocation record; ``response`` is (payload, executed version, function error) if it ran."""
    record: dict[str, Any] = {
        "version": "1.0", "timestamp": _iso_now(),
        "requestContext": {"requestId": request_id, "functionArn": function_arn, "condition": condition,
                           "approximateInvokeCount": invokes},
        "requestPayload": _json_or_text(payload),
    }
    if response is not None:
        body, version, error = response
        ctx: dict[str, Any] = {"statusCode": 200, "executedVersion": version}
        if error:
            ctx["functionError"] = error
        record["responseContext"] = ctx
        record["responsePayload"] = _json_or_text(body)
    return record


def _envelope(source_arn: str, request_id: str) -> dict[str, Any]:
    """What every destination delivery says about its cause (also the delivery record's pipe and id)."""
    return {"source_arn": source_arn, "source_service": "lambda.amazonaws.com", "pipe": PIPE,
            "message_id": request_id}


def delivery(arn: str, record: dict[str, Any], source_arn: str) -> tuple[str, str, dict[str, Any]] | None:
    """The outbox row that sends ``record`` to a destination ARN."""
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    text = orjson.dumps(record).decode()
    envelope = _envelope(source_arn, record["requestContext"]["requestId"])
    if service == "sqs":
        return "sqs", arn, {**envelope, "params": {"MessageBody": text}}
    if service == "sns":
        return "sns", arn, {**envelope, "params": {"Message": text}}
    if service == "lambda":
        return "lambda", arn, {**envelope, "params": {"Payload": text, "InvocationType": "Event"}}
    return None


def dead_letter(arn: str, payload: bytes, request_id: str, error_message: str,
                source_arn: str) -> tuple[str, str, dict[str, Any]] | None:
    """The outbox row that sends a failed event to the function's dead-letter queue or topic."""
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    attrs = {"RequestID": {"DataType": "String", "StringValue": request_id},
             "ErrorCode": {"DataType": "Number", "StringValue": "200"},
             "ErrorMessage": {"DataType": "String", "StringValue": (error_message or "Unhandled")[:1024]}}
    body = payload.decode("utf-8", "replace") or "{}"
    envelope = _envelope(source_arn, request_id)
    if service == "sqs":
        return "sqs", arn, {**envelope, "params": {"MessageBody": body, "MessageAttributes": attrs}}
    if service == "sns":
        return "sns", arn, {**envelope, "params": {"Message": body, "MessageAttributes": attrs}}
    return None


class AsyncInvokeMixin:
    """Event invoke configs and the outcome of each asynchronous invocation."""

    platform: Platform

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)  # type: ignore[call-arg]
        self.invoke_configs = EsmRepo(platform.store)
        self._async_outbox = platform.outbox

    # == the runner's step ========================================================================
    async def _invoke_config(self, account: str, region: str, name: str, qualifier: str | None) -> dict[str, Any]:
        try:
            row = await self.invoke_configs.invoke_config(account, region, name, qualifier or "$LATEST")
        except Exception:
            log.exception("reading the async invoke config of %s failed", name)
            return {}
        return orjson.loads(row[1]) if row else {}

    async def _async_attempt(self, row: Any) -> None:
        """Run one claimed asynchronous invocation (``lambda_async`` row) and decide what follows."""
        (inv_id, account, region, name, qualifier, request_id, payload, client_context, attempts, created,
         trace_id, trace_header) = row
        trace_id = trace_id or new_trace_id()
        payload = bytes(payload)
        attempts, created = int(attempts), int(created)
        clock = self.platform.clock
        cfg = await self._invoke_config(account, region, name, qualifier)
        retries = int(cfg.get("MaximumRetryAttempts", DEFAULT_RETRIES))
        max_age_ms = int(cfg.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S)) * 1000
        function_arn = names.function_arn(region, account, name, qualifier or "$LATEST")
        repo = self.repo  # type: ignore[attr-defined]
        if clock.now_ms() - created > max_age_ms:
            await self._async_fail(inv_id, cfg, account, region, name, qualifier, request_id, payload,
                                   "EventAgeExceeded", attempts - 1, None, "Event age exceeded", trace_id)
            return
        try:
            fn = await self._function(account, region, name, qualifier, cached=True)  # type: ignore[attr-defined]
            outcome = await self._run(fn, qualifier, payload, request_id, client_context, None,  # type: ignore[attr-defined]
                                      lambda_header(trace_id, trace_header))
        except ServiceError as e:
            age = clock.now_ms() - created
            if e.code == "TooManyRequestsException" and age < max_age_ms:
                delay = min(max(age // 4, THROTTLE_MIN_MS), THROTTLE_MAX_MS)
                await self.invoke_configs.uncount_async(inv_id, clock.now_ms() + delay, f"{e.code}: {e.message}")
                return
            if e.code == "TooManyRequestsException":
                await self._async_fail(inv_id, cfg, account, region, name, qualifier, request_id, payload,
                                       "EventAgeExceeded", attempts - 1, None, e.message, trace_id)
                return
            log.warning("asynchronous invocation %s of %s dropped: %s", request_id, name, e.message)
            await repo.finish_async(inv_id)
            return
        except Exception:
            log.exception("asynchronous invocation %s of %s failed", request_id, name)
            await repo.finish_async(inv_id)
            return
        response = (outcome.payload, fn.version, None if outcome.ok else "Unhandled")
        if outcome.ok:
            target = ((cfg.get("DestinationConfig") or {}).get("OnSuccess") or {}).get("Destination")
            items = []
            if target:
                record = destination_record("Success", request_id, function_arn, attempts, payload, response)
                item = delivery(target, record, function_arn)
                if item is not None:
                    items.append(item)
            await self._async_finish(inv_id, items, trace_id)
            return
        if attempts <= retries:
            await repo.retry_async(inv_id, clock.now_ms() + int(self.platform.config.async_retry_base_seconds * 1000) * attempts,
                                   outcome.payload.decode("utf-8", "replace")[:1000])
            return
        error = _json_or_text(outcome.payload)
        message = error.get("errorMessage", "") if isinstance(error, dict) else str(error or "")
        await self._async_fail(inv_id, cfg, account, region, name, qualifier, request_id, payload,
                               "RetriesExhausted", attempts, response, message, trace_id,
                               fn.config.get("DeadLetterConfig"))

    async def _async_fail(self, inv_id: int, cfg: dict[str, Any], account: str, region: str, name: str,
                          qualifier: str | None, request_id: str, payload: bytes, condition: str, invokes: int,
                          response: tuple[bytes, str, str | None] | None, message: str, trace_id: str,
                          dead_letter_config: dict[str, Any] | None = None) -> None:
        function_arn = names.function_arn(region, account, name, qualifier or "$LATEST")
        if dead_letter_config is None:
            try:
                fn = await self._function(account, region, name, qualifier, cached=True)  # type: ignore[attr-defined]
                dead_letter_config = fn.config.get("DeadLetterConfig")
            except ServiceError:
                dead_letter_config = None
        items = []
        target = ((cfg.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if target:
            record = destination_record(condition, request_id, function_arn, max(invokes, 0), payload, response)
            item = delivery(target, record, function_arn)
            if item is not None:
                items.append(item)
        dlq = (dead_letter_config or {}).get("TargetArn")
        if dlq:
            item = dead_letter(dlq, payload, request_id, message, function_arn)
            if item is not None:
                items.append(item)
        if not items:
            log.warning("asynchronous invocation %s of %s failed (%s) and has no destination: dropped",
                        request_id, name, condition)
        await self._async_finish(inv_id, items, trace_id)

    async def _async_finish(self, inv_id: int, items: list[tuple[str, str, dict[str, Any]]], trace_id: str) -> None:
        """Remove the invocation and, in the same transaction, write its deliveries (in its journey)."""
        if not items:
            await self.repo.finish_async(inv_id)  # type: ignore[attr-defined]
            return
        async with self.platform.store.transaction() as tx:
            await self._async_outbox.add(tx, [OutboxItem(kind, target, payload, trace_id)
                                         for kind, target, payload in items])
            await self.invoke_configs.finish_async_in(tx, inv_id)

    # == Put/Get/Update/Delete/ListFunctionEventInvokeConfigs ====================================
    async def _eic_target(self, ctx: RequestContext, params: dict[str, Any]) -> tuple[str, str, str, str]:
        account, region, name, qualifier = names.parse_function(params["FunctionName"], ctx.account, ctx.region,
                                                                params.get("Qualifier"))
        await self._function(account, region, name, qualifier, resolve_alias=False)  # type: ignore[attr-defined]
        return account, region, name, qualifier or "$LATEST"

    @staticmethod
    def _eic_check_destinations(dest: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("OnSuccess", "OnFailure"):
            arn = ((dest or {}).get(key) or {}).get("Destination")
            if not arn:
                continue
            parts = arn.split(":")
            service = parts[2] if len(parts) >= 6 and parts[0] == "arn" else ""
            if service not in _DEST_KINDS:
                what = {"events": "EventBridge event buses", "s3": "S3 buckets"}.get(service)
                if what:
                    raise InvalidParameterValue(f"The destination ARN {arn} is not supported: tsunagi does not run "
                                                f"{what}. Use an SQS queue, an SNS topic or a Lambda function.",
                                                Type="User")
                raise InvalidParameterValue(f"The destination ARN {arn} is invalid.", Type="User")
            out[key] = {"Destination": arn}
        return out

    def _eic_out(self, account: str, region: str, name: str, qualifier: str, cfg: dict[str, Any],
                 modified: int) -> dict[str, Any]:
        dest = cfg.get("DestinationConfig") or {}
        out: dict[str, Any] = {"LastModified": modified / 1000.0,
                               "FunctionArn": names.function_arn(region, account, name, qualifier)}
        if "MaximumRetryAttempts" in cfg:
            out["MaximumRetryAttempts"] = cfg["MaximumRetryAttempts"]
        if "MaximumEventAgeInSeconds" in cfg:
            out["MaximumEventAgeInSeconds"] = cfg["MaximumEventAgeInSeconds"]
        out["DestinationConfig"] = {"OnSuccess": dest.get("OnSuccess") or {}, "OnFailure": dest.get("OnFailure") or {}}
        return out

    def _eic_missing(self, account: str, region: str, name: str, qualifier: str) -> Exception:
        arn = names.function_arn(region, account, name, qualifier)
        return ResourceNotFound(f"The function {arn} doesn't have an EventInvokeConfig", Type="User")

    async def _eic_save(self, ctx: RequestContext, params: dict[str, Any], merge: bool) -> dict[str, Any]:
        account, region, name, qualifier = await self._eic_target(ctx, params)
        cfg: dict[str, Any] = {}
        if merge:
            row = await self.invoke_configs.invoke_config(account, region, name, qualifier)
            if row is None:
                raise self._eic_missing(account, region, name, qualifier)
            cfg = orjson.loads(row[1])
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if params.get(key) is not None:
                cfg[key] = int(params[key])
        if params.get("DestinationConfig") is not None or not merge:
            cfg["DestinationConfig"] = self._eic_check_destinations(params.get("DestinationConfig"))
        now = self.platform.clock.now_ms()
        await self.invoke_configs.put_invoke_config(account, region, name, qualifier, orjson.dumps(cfg).decode(), now)
        return self._eic_out(account, region, name, qualifier, cfg, now)

    async def put_function_event_invoke_config(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._eic_save(ctx, params, merge=False)

    async def update_function_event_invoke_config(self, ctx: RequestContext,
                                                  params: dict[str, Any]) -> dict[str, Any]:
        return await self._eic_save(ctx, params, merge=True)

    async def get_function_event_invoke_config(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account, region, name, qualifier = await self._eic_target(ctx, params)
        row = await self.invoke_configs.invoke_config(account, region, name, qualifier)
        if row is None:
            raise self._eic_missing(account, region, name, qualifier)
        return self._eic_out(account, region, name, qualifier, orjson.loads(row[1]), int(row[2]))

    async def delete_function_event_invoke_config(self, ctx: RequestContext,
                                                  params: dict[str, Any]) -> dict[str, Any]:
        account, region, name, qualifier = await self._eic_target(ctx, params)
        if not await self.invoke_configs.delete_invoke_config(account, region, name, qualifier):
            raise self._eic_missing(account, region, name, qualifier)
        return {}

    async def list_function_event_invoke_configs(self, ctx: RequestContext,
                                                 params: dict[str, Any]) -> dict[str, Any]:
        account, region, name, _q = names.parse_function(params["FunctionName"], ctx.account, ctx.region)
        await self._function(account, region, name)  # type: ignore[attr-defined]
        rows = await self.invoke_configs.invoke_configs(account, region, name)
        limit = int(params.get("MaxItems") or 50)
        start = int(params["Marker"]) if str(params.get("Marker") or "").isdigit() else 0
        items = [self._eic_out(account, region, name, r[0], orjson.loads(r[1]), int(r[2]))
                 for r in rows[start:start + limit]]
        out: dict[str, Any] = {"FunctionEventInvokeConfigs": items}
        if start + limit < len(rows):
            out["NextMarker"] = str(start + limit)
        return out

"""Invocation: Invoke and InvokeAsync, and the one internal entry every invocation goes through.

:meth:`Invoker.invoke_internal` resolves the function (name, partial ARN or ARN, alias or version),
checks the payload (6 MB sync / 256 KB async, JSON), and then

- ``DryRun``: answers 204;
- ``Event``: stores the event durably in the async queue (``lambda_async``, with the caller's
  trace id and header) and answers 202; :mod:`.async_invoke` runs it later;
- ``RequestResponse``: runs it now on a warm worker (:class:`tsunagi.runtime.pool.WorkerPool`),
  applying reserved and account concurrency, and answers 200 with an :class:`InvokeResult`.

It raises the same errors a client would get (``ResourceNotFoundException``,
``TooManyRequestsException`` with its ``Reason`` …). Every invocation belongs to its caller's
journey: the function's ``_X_AMZN_TRACE_ID`` has the caller's trace id as Root, with the Parent and
Sampled of the ``X-Amzn-Trace-Id`` / ``AWSTraceHeader`` it came with.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from tsunagi.context import RequestContext
from tsunagi.ports.cloudwatch import COUNTERS
from tsunagi.protocol.errors import ServiceError
from tsunagi.runtime.pool import HERE as RUNTIME_DIR
from tsunagi.runtime.pool import Invocation, Outcome, Throttled, Unlaunchable, WorkerPool, WorkerSpec
from tsunagi.services.awslambda import names
from tsunagi.services.awslambda.catalog import Catalog, Fn
from tsunagi.services.awslambda.code import CodePackages
from tsunagi.services.awslambda.errors import (
    InvalidParameterValue,
    InvalidRequestContent,
    RequestTooLarge,
    throttled,
)
from tsunagi.services.awslambda.function_logs import FunctionLogs
from tsunagi.services.base import Platform
from tsunagi.store.awslambda import LambdaRepo
from tsunagi.trace import lambda_header, new_trace_id

Params = dict[str, Any]
Result = dict[str, Any]

SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT = 256 * 1024
SPECS_KEPT = 1024        # worker specs kept (one per function version and revision invoked)


@dataclass(slots=True)
class InvokeResult:
    status_code: int
    payload: bytes
    executed_version: str
    request_id: str
    function_error: str | None = None
    log_tail: str | None = None        # base64 of the last 4 KB of the invocation's log (LogType=Tail)
    log_stream: str | None = None


class Invoker:
    def __init__(self, platform: Platform, repo: LambdaRepo, catalog: Catalog, code: CodePackages,
                 logs: FunctionLogs, *, max_workers: int, idle_timeout: float, account_limit: int) -> None:
        self.platform = platform
        self.repo = repo
        self.catalog = catalog
        self.code = code
        self.logs = logs
        self.clock = platform.clock
        self.max_workers = max_workers
        self.idle_timeout = idle_timeout
        self.account_limit = account_limit
        self.leases = platform.leases
        self.function_user = platform.config.function_user
        self.pool = self._new_pool()
        # the worker spec of each function version as last changed (RevisionId): built once, not per invoke
        self._specs: dict[tuple[str, str, str, str, str, str], WorkerSpec] = {}
        self._running: dict[tuple[str, str, str], int] = {}     # invocations in flight (ConcurrentExecutions)

    # == life cycle ===============================================================================
    def _new_pool(self) -> WorkerPool:
        return WorkerPool(self.logs.sink, max_workers=self.max_workers, idle_timeout=self.idle_timeout,
                          function_user=self.function_user)

    def start(self) -> None:
        self.pool.start()

    async def stop(self) -> None:
        await self.pool.close()

    async def reset(self) -> None:
        """Every worker goes (the functions they ran are gone); a fresh pool takes over."""
        self._specs.clear()
        await self.pool.close()
        self.pool = self._new_pool()
        self.pool.start()

    def retire(self, prefix: str) -> None:
        """Stop using the warm workers whose key starts with ``prefix`` (``account/region/name/[version/]``)."""
        for key in [k for k in self._specs if ("/".join(k[:4]) + "/").startswith(prefix)]:
            del self._specs[key]
        self.pool.retire(prefix)

    # == operations ===============================================================================
    async def invoke(self, ctx: RequestContext, params: Params) -> Result:
        client_context = params.get("ClientContext")
        if client_context:
            try:
                client_context = base64.b64decode(client_context, validate=True).decode()
                orjson.loads(client_context)
            except (binascii.Error, UnicodeDecodeError, orjson.JSONDecodeError):
                raise InvalidRequestContent("Client context must be a valid Base64-encoded JSON object.",
                                            Type="User") from None
        result = await self.invoke_internal(
            ctx.account, ctx.region, params["FunctionName"], params.get("Payload") or b"",
            invocation_type=params.get("InvocationType") or "RequestResponse", qualifier=params.get("Qualifier"),
            client_context=client_context, log_type=params.get("LogType"), request_id=ctx.request_id,
            trace_id=ctx.trace_id, trace_header=ctx.trace_header)
        out: Result = {"StatusCode": result.status_code}
        if result.status_code == 200:
            out["Payload"] = result.payload
            out["ExecutedVersion"] = result.executed_version
        if result.function_error:
            out["FunctionError"] = result.function_error
        if result.log_tail is not None:
            out["LogResult"] = result.log_tail
        return out

    async def invoke_async(self, ctx: RequestContext, params: Params) -> Result:
        """The deprecated InvokeAsync: an Event invocation."""
        body = params.get("InvokeArgs") or b""
        if not isinstance(body, bytes | bytearray):
            body = body.read() if hasattr(body, "read") else bytes(body)
        await self.invoke_internal(ctx.account, ctx.region, params["FunctionName"], bytes(body),
                                   invocation_type="Event", request_id=ctx.request_id, trace_id=ctx.trace_id,
                                   trace_header=ctx.trace_header)
        return {"Status": 202}

    # == the one way in ===========================================================================
    async def invoke_internal(self, account: str, region: str, function_name_or_arn: str, payload: bytes, *,
                              invocation_type: str = "RequestResponse", qualifier: str | None = None,
                              client_context: str | None = None, log_type: str | None = None,
                              request_id: str | None = None, identity: dict[str, Any] | None = None,
                              trace_id: str | None = None, trace_header: str | None = None) -> InvokeResult:
        """Invoke a function as a client would (see the module docstring). ``trace_id`` is the caller's
        journey (a new one when None) and ``trace_header`` the X-Amzn-Trace-Id / AWSTraceHeader it came
        with: the function sees both in ``_X_AMZN_TRACE_ID``, also after an Event invocation's wait."""
        account, region, name, qualifier = names.parse_function(function_name_or_arn, account, region, qualifier)
        request_id = request_id or str(uuid.uuid4())
        fn = await self.catalog.function(account, region, name, qualifier, cached=True)
        if isinstance(payload, bytearray | memoryview):
            payload = bytes(payload)
        if invocation_type == "Event":
            if len(payload) > ASYNC_PAYLOAD_LIMIT:
                raise RequestTooLarge(f"Request must be smaller than {ASYNC_PAYLOAD_LIMIT} bytes for the "
                                      "InvokeAsync operation", Type="User")
        elif len(payload) > SYNC_PAYLOAD_LIMIT:
            raise RequestTooLarge(f"Request must be smaller than {SYNC_PAYLOAD_LIMIT} bytes for the InvokeFunction "
                                  "operation", Type="User")
        if payload.strip():
            try:
                orjson.loads(payload)
            except orjson.JSONDecodeError as e:
                raise InvalidRequestContent(f"Could not parse request body into json: Could not parse payload into "
                                            f"json: {e}", Type="User") from None
        if invocation_type == "DryRun":
            return InvokeResult(204, b"", fn.version, request_id)
        if invocation_type == "Event":
            await self.repo.enqueue(account, region, name, qualifier, request_id, payload, client_context,
                                    self.clock.now_ms(), trace_id or new_trace_id(), trace_header)
            return InvokeResult(202, b"", fn.version, request_id)
        if invocation_type != "RequestResponse":
            raise InvalidParameterValue(f"Invalid InvocationType: {invocation_type}", Type="User")
        trace = lambda_header(trace_id or new_trace_id(), trace_header)
        outcome = await self.run(fn, qualifier, payload, request_id, client_context, identity, trace)
        tail = None
        if log_type == "Tail":
            text = "\n".join(outcome.log_lines) + "\n"
            tail = base64.b64encode(text.encode()[-4096:]).decode()
        return InvokeResult(200, outcome.payload, fn.version, request_id,
                            None if outcome.ok else "Unhandled", tail, outcome.log_stream)

    async def run(self, fn: Fn, qualifier: str | None, payload: bytes, request_id: str,
                  client_context: str | None, identity: dict[str, Any] | None, trace: str) -> Outcome:
        """Run one invocation of ``fn`` on a warm worker, within its concurrency; ``trace`` is its
        ``_X_AMZN_TRACE_ID``. Raises ``TooManyRequestsException`` when throttled. Counts AWS/Lambda's
        metrics (Invocations, Errors, Duration, Throttles, ConcurrentExecutions) when CloudWatch is served."""
        counters = self.platform.ports.find(COUNTERS)
        dims = (("FunctionName", fn.name),)
        if fn.reserved == 0:
            if counters is not None:
                counters.add(fn.account, fn.region, "AWS/Lambda", "Throttles", dims)
            raise throttled("ReservedFunctionConcurrentInvocationLimitExceeded")
        key = (fn.account, fn.region, fn.name, fn.version, fn.revision_id, fn.code_sha)
        spec = self._specs.get(key)
        if spec is None:
            spec = await self._spec(fn)
            if len(self._specs) >= SPECS_KEPT:
                self._specs.clear()
            self._specs[key] = spec
        unreserved = self.account_limit
        if fn.reserved is None:
            unreserved = self.account_limit - await self.catalog.reserved_total(fn.account, fn.region)
        invoked = names.function_arn(fn.region, fn.account, fn.name, qualifier)
        try:
            lease = await self._lease(fn, unreserved)
        except ServiceError:
            if counters is not None:
                counters.add(fn.account, fn.region, "AWS/Lambda", "Throttles", dims)
            raise
        running = (fn.account, fn.region, fn.name)
        self._running[running] = self._running.get(running, 0) + 1
        try:
            if counters is not None:
                counters.add(fn.account, fn.region, "AWS/Lambda", "ConcurrentExecutions", dims,
                             float(self._running[running]))
            outcome = await self.pool.invoke(spec, Invocation(request_id, payload, invoked, client_context, identity,
                                                              trace),
                                             reserved=fn.reserved, unreserved_limit=unreserved)
        except Throttled as e:
            if counters is not None:
                counters.add(fn.account, fn.region, "AWS/Lambda", "Throttles", dims)
            raise throttled(e.reason, e.message) from None
        except Unlaunchable as e:
            raise ServiceError(str(e), code="ServiceException", status=500, Type="Service") from None
        finally:
            if lease is not None:
                await self.leases.give(*lease)
            left = self._running.get(running, 1) - 1
            if left > 0:
                self._running[running] = left
            else:
                self._running.pop(running, None)
        if counters is not None:
            counters.add(fn.account, fn.region, "AWS/Lambda", "Invocations", dims)
            counters.add(fn.account, fn.region, "AWS/Lambda", "Errors", dims, 0.0 if outcome.ok else 1.0)
            counters.add(fn.account, fn.region, "AWS/Lambda", "Duration", dims, outcome.duration_ms, "Milliseconds")
        return outcome

    async def _lease(self, fn: Fn, unreserved: int) -> tuple[str, str] | None:
        """With several servers on one database: a lease on the function's reserved concurrency, or on
        the account's unreserved concurrency, counted across all of them (this server's pool counts
        only its own executions). None on a store one server owns. Raises the throttle when full."""
        if not self.leases.shared:
            return None
        if fn.reserved is not None:
            scope, limit = f"reserved:{fn.account}:{fn.region}:{fn.name}", fn.reserved
            reason = "ReservedFunctionConcurrentInvocationLimitExceeded"
        else:
            scope, limit = f"unreserved:{fn.account}:{fn.region}", unreserved
            reason = "ConcurrentInvocationLimitExceeded"
        holder = await self.leases.take(scope, limit)
        if holder is None:
            raise throttled(reason)
        return scope, holder

    async def _spec(self, fn: Fn) -> WorkerSpec:
        """What a worker for ``fn`` runs: its code and layers unpacked on this node, its environment.
        It depends only on the version's configuration and code, which a RevisionId names."""
        cfg = fn.config
        code_dir = await self.code.code_dir(fn.code_sha)
        opt_dir = await self.code.opt_dir(cfg.get("Layers") or [])
        runtime = cfg["Runtime"]
        memory = int(cfg.get("MemorySize", 128))
        log_group = (cfg.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{fn.name}"
        host = self.platform.config.host
        if host in ("", "0.0.0.0", "::", "[::]"):
            host = "127.0.0.1"
        elif ":" in host and not host.startswith("["):
            host = f"[{host}]"
        env: dict[str, str] = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": code_dir,
            "LAMBDA_RUNTIME_DIR": RUNTIME_DIR,
            "_HANDLER": cfg["Handler"],
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": fn.name,
            "AWS_LAMBDA_FUNCTION_VERSION": fn.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": log_group,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": fn.region,
            "AWS_DEFAULT_REGION": fn.region,
            "AWS_ACCESS_KEY_ID": fn.account,
            "AWS_SECRET_ACCESS_KEY": "tsunagi",
            "AWS_SESSION_TOKEN": "tsunagi",
            "AWS_ENDPOINT_URL": f"http://{host}:{self.platform.config.port}",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        env.update((cfg.get("Environment") or {}).get("Variables") or {})
        key = f"{fn.account}/{fn.region}/{fn.name}/{fn.version}/{fn.revision_id}"
        return WorkerSpec(key=key, function_key=f"{fn.account}/{fn.region}/{fn.name}", account=fn.account,
                          region=fn.region, function_name=fn.name, version=fn.version, runtime=runtime,
                          handler=cfg["Handler"], code_dir=code_dir, opt_dir=opt_dir, env=tuple(env.items()),
                          memory_mb=memory, timeout_s=int(cfg.get("Timeout", 3)), log_group_name=log_group)

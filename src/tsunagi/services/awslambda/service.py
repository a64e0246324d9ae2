"""Lambda: the control-plane API and invocation, running functions in warm local workers.

Other services invoke functions through one internal method (SNS → Lambda, S3 → Lambda, event
source mappings, async retries)::

    result = await platform.services["lambda"].invoke_internal(
        account, region, "my-function" | "arn:aws:lambda:…:function:my-function[:alias]", payload_bytes,
        invocation_type="RequestResponse" | "Event" | "DryRun", qualifier=None, client_context=None,
        trace_id=ctx.trace_id, trace_header=ctx.trace_header)

It resolves the function (name, partial ARN or ARN, alias or version), checks the payload
(6 MB sync / 256 KB async, JSON), applies reserved and account concurrency, and returns an
:class:`InvokeResult` (``status_code``, ``payload``, ``function_error``, ``executed_version``,
``log_tail``, ``request_id``). It raises the same :class:`ServiceError` a client would get
(``ResourceNotFoundException``, ``TooManyRequestsException`` with its ``Reason`` …).
``invocation_type="Event"`` stores the event durably (table ``lambda_async``) and returns 202;
a background runner on every node claims due events and runs them, with Lambda's default of two
retries on function errors (1 and 2 minutes later) and backoff on throttles, up to 6 hours.

Every invocation belongs to its caller's journey: the function's ``_X_AMZN_TRACE_ID`` (set per
invocation in the reused worker) has the caller's trace id as Root, with the Parent and Sampled of
the ``X-Amzn-Trace-Id`` / ``AWSTraceHeader`` it came with; an Event invocation keeps both through
the async queue, and its destination and dead-letter deliveries run in the same journey.

Function State and LastUpdateStatus are reported as AWS does: the create / update response says
``Pending`` / ``InProgress``, later reads say ``Active`` / ``Successful`` (so boto3's
``function_active_v2`` and ``function_updated_v2`` waiters work).

The code package is kept in the store and unpacked once per node under
``<data_dir>/lambda/code/<sha>``; layers are merged in order under ``<data_dir>/lambda/opt/<hash>``
(the function's ``/opt``). ``GetFunction``'s ``Code.Location`` points at
``/_tsunagi/lambda/code/<sha>`` on the endpoint the client used, signed to work for ten minutes as
AWS's presigned link does (served by :meth:`code_download`; see :mod:`tsunagi.signed_urls`).

Environment knobs (read at start): ``TSUNAGI_LAMBDA_MAX_WORKERS`` (worker processes on this node,
default 1000; the account's ConcurrentExecutions is min(1000, this)), ``TSUNAGI_LAMBDA_IDLE_TIMEOUT``
(seconds before an idle worker is reaped, default 600).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import os
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from tsunagi import signed_urls
from tsunagi.ports.awslambda import LAMBDA
from tsunagi.ports.delivery_policy import trust_problem
from tsunagi.ports.iam import IAM
from tsunagi.ports.logs import LOGS
from tsunagi.ports.s3 import S3
from tsunagi.protocol.errors import ServiceError
from tsunagi.runtime import code as codecache
from tsunagi.runtime.interpreters import ACCEPTED, NODE_RUNTIMES, RETIRED_PYTHON, SUPPORTED, find_node
from tsunagi.runtime.pool import HERE as RUNTIME_DIR
from tsunagi.runtime.pool import Invocation, Throttled, WorkerPool, WorkerSpec
from tsunagi.services.awslambda import names
from tsunagi.services.awslambda.async_invoke import AsyncInvokeMixin
from tsunagi.services.awslambda.errors import (
    CodeStorageExceeded,
    InvalidParameterValue,
    InvalidRequestContent,
    PreconditionFailed,
    RequestTooLarge,
    ResourceConflict,
    ResourceNotFound,
    Validation,
    not_found_function,
    pattern_error,
    throttled,
)
from tsunagi.services.awslambda.esm import EventSourceMappingsMixin
from tsunagi.services.awslambda.port import LambdaPortImpl
from tsunagi.services.base import Platform, RequestContext, Service
from tsunagi.store.awslambda import ASYNC_CHANNEL, META_CHANNEL, FunctionExists, LambdaRepo
from tsunagi.trace import lambda_header, new_trace_id

log = logging.getLogger("tsunagi.lambda")

SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT = 256 * 1024
ZIP_LIMIT = 50 * 1024 * 1024
TOTAL_CODE_LIMIT = 80_530_636_800
ACCOUNT_CONCURRENCY = 1000
MIN_UNRESERVED = 100
ASYNC_RETRIES = 2
ASYNC_MAX_AGE_MS = 6 * 3600 * 1000
ASYNC_LEASE_MS = 905_000
ENV_LIMIT = 4096

RESERVED_ENV = ("_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
                "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
                "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
                "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR")

# Configuration members that distinguish one published version from another.
_VOLATILE = ("Version", "FunctionArn", "RevisionId", "LastModified", "State", "StateReason", "StateReasonCode",
             "LastUpdateStatus", "LastUpdateStatusReason", "LastUpdateStatusReasonCode", "Description")


@dataclass(slots=True)
class InvokeResult:
    status_code: int
    payload: bytes
    executed_version: str
    request_id: str
    function_error: str | None = None
    log_tail: str | None = None        # base64 of the last 4 KB of the invocation's log (LogType=Tail)
    log_stream: str | None = None


@dataclass(slots=True)
class _Fn:
    """A resolved function version."""

    id: int
    account: str
    region: str
    name: str
    arn: str
    tags: dict[str, str]
    policy: list[dict[str, Any]]
    policy_rev: str | None
    reserved: int | None
    version: str
    config: dict[str, Any]
    code_sha: str
    revision_id: str
    modified_at: int


class _MetaCache:
    """Function rows the invoke path reads, per node. Cleared on every change (this node at once, other
    nodes by a store notification); entries also expire after ``ttl`` seconds as a backstop."""

    _MISSING = object()

    def __init__(self, ttl: float = 2.0) -> None:
        self.ttl = ttl
        self.generation = 0
        self.data: dict[Any, tuple[Any, float]] = {}

    def clear(self) -> None:
        self.generation += 1
        self.data.clear()

    async def get(self, key: Any, loader: Any) -> Any:
        hit = self.data.get(key)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        generation = self.generation
        value = await loader()
        if generation == self.generation:
            if len(self.data) > 10_000:
                self.data.clear()
            self.data[key] = (value, now + self.ttl)
        return value


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}+0000"


def _dumps(v: Any) -> str:
    return orjson.dumps(v).decode()



class LambdaService(EventSourceMappingsMixin, AsyncInvokeMixin, Service):
    name = "lambda"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.repo = LambdaRepo(platform.store)
        self.max_workers = platform.config.lambda_max_workers
        self.idle_timeout = platform.config.lambda_idle_timeout
        self.account_limit = min(ACCOUNT_CONCURRENCY, self.max_workers)
        self.cache_dir = os.path.join(os.path.abspath(platform.config.data_dir), "lambda")
        self.pool = WorkerPool(self._sink, max_workers=self.max_workers, idle_timeout=self.idle_timeout)
        self._log_queue: asyncio.Queue[tuple[str, str, str, str, list[tuple[int, str]]]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._async_wake: asyncio.Event | None = None
        self._async_running: set[asyncio.Task[None]] = set()
        self._unpack_locks: dict[str, asyncio.Lock] = {}
        self._opt_dirs: dict[tuple[str, ...], str | None] = {}
        self._stopping = False
        self.meta = _MetaCache()
        platform.ports.provide(LAMBDA, LambdaPortImpl(self))

    # == life cycle ==============================================================================
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._stopping = False
        self._log_queue = asyncio.Queue()
        self._async_wake = asyncio.Event()
        self.pool.start()
        self.store.listen(ASYNC_CHANNEL, self._on_async_notify)
        self.store.listen(META_CHANNEL, self._on_meta_notify)
        self._tasks = [loop.create_task(self._log_writer()), loop.create_task(self._async_runner())]
        await self._esm_start()

    async def stop(self) -> None:
        self._stopping = True
        await self._esm_stop()
        self.store.unlisten(ASYNC_CHANNEL, self._on_async_notify)
        self.store.unlisten(META_CHANNEL, self._on_meta_notify)
        for task in [*self._tasks, *self._async_running]:
            task.cancel()
        for task in [*self._tasks, *self._async_running]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self.pool.close()

    def _on_meta_notify(self, payload: str) -> None:
        self.meta.clear()

    async def _changed(self) -> None:
        """A function, version, alias or limit changed: forget cached rows here and on every node."""
        self.meta.clear()
        await self.repo.notify_changed()

    async def on_reset(self) -> None:
        self.meta.clear()
        await self._esm_reset()
        for task in list(self._async_running):
            task.cancel()
        await self.pool.close()
        self.pool = WorkerPool(self._sink, max_workers=self.max_workers, idle_timeout=self.idle_timeout)
        self.pool.start()

    # == logs =====================================================================================
    def _sink(self, account: str, region: str, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        if self._log_queue is not None and LOGS in self.platform.ports:
            self._log_queue.put_nowait((account, region, group, stream, events))

    async def _log_writer(self) -> None:
        assert self._log_queue is not None
        queue = self._log_queue
        while True:
            item = await queue.get()
            batch: dict[tuple[str, str, str, str], list[tuple[int, str]]] = {}
            while True:
                account, region, group, stream, events = item
                batch.setdefault((account, region, group, stream), []).extend(events)
                if queue.empty():
                    break
                item = queue.get_nowait()
            logs = self.platform.ports.find(LOGS)
            if logs is None:
                continue
            for (account, region, group, stream), events in batch.items():
                try:
                    await logs.append(account, region, group, stream, events)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("could not write function logs to %s %s", group, stream)

    # == lookups ==================================================================================
    async def _function(self, account: str, region: str, name: str, qualifier: str | None = None,
                        *, resolve_alias: bool = True, cached: bool = False) -> _Fn:
        repo = self.repo
        if cached:
            meta = self.meta

            async def fn_row() -> Any:
                return await meta.get(("f", account, region, name), lambda: repo.function(account, region, name))

            async def alias_row(fid: int, alias: str) -> Any:
                return await meta.get(("a", fid, alias), lambda: repo.alias(fid, alias))

            async def version_row(fid: int, version: str) -> Any:
                return await meta.get(("v", fid, version), lambda: repo.version(fid, version))
        else:
            async def fn_row() -> Any:
                return await repo.function(account, region, name)

            async def alias_row(fid: int, alias: str) -> Any:
                return await repo.alias(fid, alias)

            async def version_row(fid: int, version: str) -> Any:
                return await repo.version(fid, version)

        row = await fn_row()
        if row is None:
            raise not_found_function(names.function_arn(region, account, name, qualifier))
        version = qualifier or "$LATEST"
        if qualifier and qualifier != "$LATEST" and not qualifier.isdigit():
            alias = await alias_row(int(row[0]), qualifier)
            if alias is None:
                raise not_found_function(names.function_arn(region, account, name, qualifier))
            version = alias[1]
            if resolve_alias and alias[3]:
                weights = orjson.loads(alias[3]).get("AdditionalVersionWeights") or {}
                r = random.random()
                for ver, weight in weights.items():
                    if r < weight:
                        version = ver
                        break
                    r -= weight
        ver = await version_row(int(row[0]), version)
        if ver is None:
            raise not_found_function(names.function_arn(region, account, name, qualifier))
        return _Fn(int(row[0]), row[1], row[2], row[3], row[4], orjson.loads(row[5]), orjson.loads(row[6]), row[7],
                   row[8], ver[0], orjson.loads(ver[1]), ver[2], ver[3], int(ver[4]))

    async def _resolve(self, ctx: RequestContext, value: str, qualifier: str | None = None,
                       **kw: Any) -> _Fn:
        account, region, name, q = names.parse_function(value, ctx.account, ctx.region, qualifier)
        return await self._function(account, region, name, q, **kw)

    def _config(self, fn: _Fn, *, state: str = "Active", update: str = "Successful") -> dict[str, Any]:
        cfg = dict(fn.config)
        cfg["FunctionName"] = fn.name
        cfg["FunctionArn"] = fn.arn if fn.version == "$LATEST" else f"{fn.arn}:{fn.version}"
        cfg["Version"] = fn.version
        cfg["CodeSha256"] = fn.code_sha
        cfg["RevisionId"] = fn.revision_id
        cfg["LastModified"] = _iso(fn.modified_at)
        cfg["State"] = state
        if state == "Pending":
            cfg["StateReason"] = "The function is being created."
            cfg["StateReasonCode"] = "Creating"
        if update:
            cfg["LastUpdateStatus"] = update
            if update == "InProgress":
                cfg["LastUpdateStatusReason"] = "The function is being created."
                cfg["LastUpdateStatusReasonCode"] = "Creating"
        return cfg

    def _code_location(self, ctx: RequestContext, sha: str) -> str:
        path = f"/_tsunagi/lambda/code/{codecache.safe_dirname(sha)}"
        return ctx.endpoint + signed_urls.sign(self.platform.config.admin_token, path)

    # == code =====================================================================================
    async def _read_code(self, ctx: RequestContext, code: dict[str, Any], *, layer: bool = False) -> bytes:
        if code.get("ImageUri"):
            raise InvalidParameterValue(self._supported_message("Container images (ImageUri)"), Type="User")
        data = code.get("ZipFile")
        if data is None and code.get("S3Bucket"):
            data = await self._read_s3(ctx, code["S3Bucket"], code.get("S3Key") or "", code.get("S3ObjectVersion"))
        if data is None:
            raise InvalidParameterValue("Please provide a source for function code.", Type="User")
        if isinstance(data, str):
            data = data.encode()
        if len(data) > ZIP_LIMIT:
            raise RequestTooLarge(f"Request must be smaller than {ZIP_LIMIT} bytes for the "
                                  f"{'PublishLayerVersion' if layer else 'CreateFunction'} operation", Type="User")
        return data

    async def _read_s3(self, ctx: RequestContext, bucket: str, key: str, version: str | None) -> bytes:
        s3 = self.platform.ports.find(S3)
        if s3 is None:
            raise InvalidParameterValue("Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error "
                                        "Message: The specified bucket does not exist", Type="User")
        try:
            return await s3.read_object(ctx, bucket, key, version)
        except ServiceError as e:
            raise InvalidParameterValue(f"Error occurred while GetObject. S3 Error Code: {e.code}. S3 Error "
                                        f"Message: {e.message}", Type="User") from None

    @staticmethod
    def _check_zip(data: bytes) -> int:
        try:
            return codecache.check_zip(data)
        except codecache.BadZip as e:
            if "Unzipped size" in str(e):
                raise InvalidParameterValue(str(e), Type="User") from None
            raise InvalidParameterValue("Could not unzip uploaded file. Please check your file, then try to "
                                        "upload again.", Type="User") from None

    async def code_download(self, sha_dirname: str) -> bytes | None:
        """The zip for ``GET /_tsunagi/lambda/code/<sha>`` (``Code.Location``), or None."""
        sha = sha_dirname.replace("_", "/").replace("-", "+")
        sha += "=" * (-len(sha) % 4)
        return await self.repo.get_code(sha)

    async def _code_dir(self, sha: str) -> str:
        folder = os.path.join(self.cache_dir, "code", codecache.safe_dirname(sha))
        if os.path.isdir(folder):
            return folder
        lock = self._unpack_locks.setdefault(folder, asyncio.Lock())
        async with lock:
            if not os.path.isdir(folder):
                data = await self.repo.get_code(sha)
                if data is None:
                    raise ResourceNotFound("The function's code package is missing from the store.", Type="Service")
                await asyncio.to_thread(codecache.unpack, data, folder)
        return folder

    async def _opt_dir(self, layers: list[dict[str, Any]]) -> str | None:
        if not layers:
            return None
        arns = tuple(layer["Arn"] for layer in layers)
        if arns in self._opt_dirs:      # layer versions never change: one folder per list of ARNs
            return self._opt_dirs[arns]
        folder = await self._unpack_opt(layers)
        self._opt_dirs[arns] = folder
        return folder

    async def _unpack_opt(self, layers: list[dict[str, Any]]) -> str | None:
        shas = []
        for layer in layers:
            row = await self.repo.layer_by_arn(layer["Arn"])
            if row is None:
                continue
            shas.append(row[4])
        if not shas:
            return None
        key = hashlib.sha256("|".join(shas).encode()).hexdigest()[:32]
        folder = os.path.join(self.cache_dir, "opt", key)
        if os.path.isdir(folder):
            return folder
        lock = self._unpack_locks.setdefault(folder, asyncio.Lock())
        async with lock:
            if not os.path.isdir(folder):
                blobs = []
                for sha in shas:
                    data = await self.repo.get_code(sha)
                    if data is not None:
                        blobs.append((sha, data))
                await asyncio.to_thread(codecache.unpack_layers, blobs, folder)
        return folder

    # == validation ===============================================================================
    @staticmethod
    def _supported_message(what: str) -> str:
        return (f"{what} is not supported by tsunagi, which runs functions natively. Supported runtimes: "
                f"{', '.join(SUPPORTED)} (retired runtimes {', '.join(RETIRED_PYTHON)} run on the server's "
                "Python).")

    def _check_runtime(self, runtime: str) -> None:
        if runtime not in ACCEPTED:
            raise InvalidParameterValue(self._supported_message(f"The runtime parameter of {runtime}"), Type="User")
        if runtime in NODE_RUNTIMES and find_node() is None:
            raise InvalidParameterValue(f"The runtime parameter of {runtime} needs Node.js, and this machine has no "
                                        "'node' program on its PATH.", Type="User")

    @staticmethod
    def _check_env(env: dict[str, Any] | None) -> dict[str, str]:
        variables = (env or {}).get("Variables") or {}
        used = sorted(k for k in variables if k in RESERVED_ENV)
        if used:
            raise InvalidParameterValue(
                "Lambda was unable to configure your environment variables because the environment variables you "
                "have provided contains reserved keys that are currently not supported for modification. Reserved "
                f"keys used in this request: {', '.join(used)}", Type="User")
        size = len(_dumps(variables).encode())
        if size > ENV_LIMIT:
            raise InvalidParameterValue(
                "Lambda was unable to configure your environment variables because the environment variables you "
                f"have provided exceeded the 4KB limit. String measured: {_dumps(variables)}", Type="User")
        return {str(k): str(v) for k, v in variables.items()}

    async def _check_layers(self, arns: list[str]) -> list[dict[str, Any]]:
        if len(arns) > 5:
            raise InvalidParameterValue("Cannot reference more than 5 layers.", Type="User")
        out = []
        for arn in arns:
            if names.parse_layer_version_arn(arn) is None:
                raise pattern_error(arn, "layers", r"arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:"
                                    r"[a-zA-Z0-9-_]+:[0-9]+")
            row = await self.repo.layer_by_arn(arn)
            if row is None:
                raise InvalidParameterValue(f"Layer version {arn} does not exist.", Type="User")
            out.append({"Arn": arn, "CodeSize": int(row[5])})
        return out

    @staticmethod
    def _check_limits(params: dict[str, Any]) -> None:
        problems = []
        timeout, memory = params.get("Timeout"), params.get("MemorySize")
        if timeout is not None and timeout > 900:
            problems.append(f"Value '{timeout}' at 'timeout' failed to satisfy constraint: Member must have value "
                            "less than or equal to 900")
        if memory is not None and not 128 <= memory <= 10240:
            bound = "greater than or equal to 128" if memory < 128 else "less than or equal to 10240"
            problems.append(f"Value '{memory}' at 'memorySize' failed to satisfy constraint: Member must have "
                            f"value {bound}")
        if problems:
            n = len(problems)
            raise Validation(f"{n} validation error{'s' if n > 1 else ''} detected: {'; '.join(problems)}")

    @staticmethod
    def _check_role(role: str | None) -> None:
        if role is not None and not names.ROLE_RE.match(role):
            raise pattern_error(role, "role", names.ROLE_PATTERN)

    async def _check_role_assumable(self, role: str | None) -> None:
        """Under ``--policies enforce``, as AWS: the execution role must exist in IAM and its trust
        policy must let ``lambda.amazonaws.com`` assume it, else InvalidParameterValueException. Under
        ``warn`` the function is kept and the reason logged; ``off``, or a server without IAM, checks
        nothing."""
        mode = self.platform.config.policies
        iam = self.platform.ports.find(IAM)
        if mode == "off" or iam is None or not role:
            return
        why = await trust_problem(iam, role, "lambda.amazonaws.com")
        if why is None:
            return
        if mode == "enforce":
            raise InvalidParameterValue("The role defined for the function cannot be assumed by Lambda.", Type="User")
        log.warning("policies warn: the role %s cannot be assumed by Lambda (%s); enforce would refuse the function",
                    role, why)

    # == functions ================================================================================
    async def create_function(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["FunctionName"]
        account, region, name, qualifier = names.parse_function(name, ctx.account, ctx.region)
        if qualifier is not None:
            raise pattern_error(params["FunctionName"], "functionName", names.FUNCTION_NAME_PATTERN)
        if params.get("PackageType") == "Image":
            raise InvalidParameterValue(self._supported_message("PackageType Image"), Type="User")
        runtime, handler = params.get("Runtime"), params.get("Handler")
        if not runtime or not handler:
            raise InvalidParameterValue("Runtime and Handler are mandatory parameters for functions created with "
                                        "deployment packages.", Type="User")
        self._check_runtime(runtime)
        self._check_limits(params)
        self._check_role(params.get("Role"))
        await self._check_role_assumable(params.get("Role"))
        variables = self._check_env(params.get("Environment"))
        layers = await self._check_layers(params.get("Layers") or [])
        data = await self._read_code(ctx, params.get("Code") or {})
        unzipped = self._check_zip(data)
        _count, total = await self.repo.usage(account, region)
        if total + len(data) > TOTAL_CODE_LIMIT:
            raise CodeStorageExceeded("Code storage limit exceeded.", Type="User")
        sha = codecache.sha256_b64(data)
        arn = names.function_arn(region, account, name)
        config: dict[str, Any] = {
            "Runtime": runtime, "Role": params.get("Role"), "Handler": handler, "CodeSize": len(data),
            "Description": params.get("Description", ""), "Timeout": params.get("Timeout", 3),
            "MemorySize": params.get("MemorySize", 128), "Environment": {"Variables": variables},
            "TracingConfig": params.get("TracingConfig") or {"Mode": "PassThrough"},
            "Layers": layers, "PackageType": "Zip",
            "Architectures": params.get("Architectures") or ["x86_64"],
            "EphemeralStorage": params.get("EphemeralStorage") or {"Size": 512},
            "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
            "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}",
                              **(params.get("LoggingConfig") or {})},
            "RuntimeVersionConfig": {"RuntimeVersionArn": f"arn:aws:lambda:{region}::runtime:tsunagi-{runtime}"},
        }
        for key in ("DeadLetterConfig", "KMSKeyArn", "VpcConfig", "FileSystemConfigs"):
            if params.get(key):
                config[key] = params[key]
        if not variables and not params.get("Environment"):
            config.pop("Environment")
        if not layers:
            config.pop("Layers")
        if runtime in RETIRED_PYTHON:
            log.warning("function %s uses runtime %s, which AWS no longer accepts for new functions; tsunagi runs "
                        "it on its own Python", name, runtime)
        now = self.clock.now_ms()
        revision = str(uuid.uuid4())
        try:
            fid = await self.repo.create_function(account, region, name, arn, _dumps(params.get("Tags") or {}), now,
                                                  _dumps(config), sha, data, unzipped, revision)
        except FunctionExists:
            raise ResourceConflict(f"Function already exist: {name}", Type="User") from None
        await self._changed()
        fn = _Fn(fid, account, region, name, arn, params.get("Tags") or {}, [], None, None, "$LATEST", config, sha,
                 revision, now)
        if params.get("Publish"):
            fn = await self._publish(fn, None)
        return self._config(fn, state="Pending", update="")

    async def get_function(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = await self._resolve(ctx, params["FunctionName"], params.get("Qualifier"), resolve_alias=False)
        out: dict[str, Any] = {
            "Configuration": self._config(fn),
            "Code": {"RepositoryType": "S3", "Location": self._code_location(ctx, fn.code_sha)},
        }
        if fn.tags:
            out["Tags"] = fn.tags
        if fn.reserved is not None:
            out["Concurrency"] = {"ReservedConcurrentExecutions": fn.reserved}
        return out

    async def get_function_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = await self._resolve(ctx, params["FunctionName"], params.get("Qualifier"), resolve_alias=False)
        return self._config(fn)

    async def list_functions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limit = int(params.get("MaxItems") or 50)
        if not 1 <= limit <= 10000:
            raise InvalidParameterValue("MaxItems must be between 1 and 10000.", Type="User")
        after = ""
        marker = params.get("Marker")
        if marker:
            try:
                after = base64.urlsafe_b64decode(marker.encode()).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise InvalidParameterValue("Invalid marker.", Type="User") from None
        rows = await self.repo.list_functions(ctx.account, ctx.region, after, limit + 1)
        functions = []
        all_versions = params.get("FunctionVersion") == "ALL"
        for name, config, sha, revision, modified in rows[:limit]:
            if all_versions:
                fn = await self._function(ctx.account, ctx.region, name)
                for ver in await self.repo.versions(fn.id):
                    v = _Fn(fn.id, fn.account, fn.region, name, fn.arn, {}, [], None, None, ver[0],
                            orjson.loads(ver[1]), ver[2], ver[3], int(ver[4]))
                    functions.append(self._config(v))
                continue
            fn = _Fn(0, ctx.account, ctx.region, name, names.function_arn(ctx.region, ctx.account, name), {}, [],
                     None, None, "$LATEST", orjson.loads(config), sha, revision, int(modified))
            functions.append(self._config(fn))
        out: dict[str, Any] = {"Functions": functions}
        if len(rows) > limit:
            out["NextMarker"] = base64.urlsafe_b64encode(rows[limit - 1][0].encode()).decode()
        return out

    async def delete_function(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account, region, name, qualifier = names.parse_function(params["FunctionName"], ctx.account, ctx.region,
                                                                params.get("Qualifier"))
        fn = await self._function(account, region, name, qualifier if qualifier and qualifier.isdigit() else None)
        if qualifier is None:
            await self.repo.delete_function(fn.id)
            await self._changed()
            self.pool.retire(f"{account}/{region}/{name}/")
            return {"StatusCode": 204}
        if qualifier == "$LATEST":
            raise InvalidParameterValue("$LATEST version cannot be deleted without deleting the function.",
                                        Type="User")
        if not qualifier.isdigit():
            raise InvalidParameterValue("Deletion of aliases is not supported.", Type="User")
        used = await self.repo.version_in_aliases(fn.id, qualifier)
        if used:
            raise ResourceConflict(f"Unable to delete version because the following aliases reference it: "
                                   f"[{', '.join(used)}]", Type="User")
        await self.repo.delete_version(fn.id, qualifier)
        await self._changed()
        self.pool.retire(f"{account}/{region}/{name}/{qualifier}/")
        return {"StatusCode": 204}

    def _check_revision(self, fn: _Fn, revision: str | None) -> None:
        if revision is not None and revision != fn.revision_id:
            raise PreconditionFailed("The Revision Id provided does not match the latest Revision Id. Call the "
                                     "GetFunction/GetAlias API to retrieve the latest Revision Id", Type="User")

    async def update_function_code(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = await self._resolve(ctx, params["FunctionName"])
        self._check_revision(fn, params.get("RevisionId"))
        data = await self._read_code(ctx, params)
        unzipped = self._check_zip(data)
        sha = codecache.sha256_b64(data)
        config = dict(fn.config, CodeSize=len(data))
        if params.get("Architectures"):
            config["Architectures"] = params["Architectures"]
        if params.get("DryRun"):
            fn.config, fn.code_sha = config, sha
            return self._config(fn)
        return await self._save_latest(fn, config, sha, params.get("RevisionId"), params.get("Publish"), data,
                                       unzipped)

    async def _save_latest(self, fn: _Fn, config: dict[str, Any], sha: str, expected: str | None,
                           publish: bool | None, data: bytes | None = None, unzipped: int = 0) -> dict[str, Any]:
        now = self.clock.now_ms()
        revision = str(uuid.uuid4())
        ok = await self.repo.update_latest(fn.id, _dumps(config), sha, revision, now, expected, data, unzipped)
        if not ok:
            raise PreconditionFailed("The Revision Id provided does not match the latest Revision Id. Call the "
                                     "GetFunction/GetAlias API to retrieve the latest Revision Id", Type="User")
        await self._changed()
        self.pool.retire(f"{fn.account}/{fn.region}/{fn.name}/$LATEST/")
        fn.config, fn.code_sha, fn.revision_id, fn.modified_at = config, sha, revision, now
        if publish:
            fn = await self._publish(fn, None)
        return self._config(fn, update="InProgress")

    async def update_function_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = await self._resolve(ctx, params["FunctionName"])
        self._check_revision(fn, params.get("RevisionId"))
        config = dict(fn.config)
        self._check_limits(params)
        if "Runtime" in params:
            self._check_runtime(params["Runtime"])
            config["Runtime"] = params["Runtime"]
        if "Role" in params:
            self._check_role(params["Role"])
            await self._check_role_assumable(params["Role"])
            config["Role"] = params["Role"]
        if "Environment" in params:
            variables = self._check_env(params["Environment"])
            config["Environment"] = {"Variables": variables}
        if "Layers" in params:
            layers = await self._check_layers(params["Layers"] or [])
            if layers:
                config["Layers"] = layers
            else:
                config.pop("Layers", None)
        for key in ("Handler", "Description", "Timeout", "MemorySize", "TracingConfig", "DeadLetterConfig",
                    "KMSKeyArn", "VpcConfig", "EphemeralStorage", "FileSystemConfigs"):
            if key in params:
                config[key] = params[key]
        if "LoggingConfig" in params:
            config["LoggingConfig"] = {**config.get("LoggingConfig", {}), **params["LoggingConfig"]}
        return await self._save_latest(fn, config, fn.code_sha, params.get("RevisionId"), False)

    # == versions =================================================================================
    async def _publish(self, fn: _Fn, description: str | None) -> _Fn:
        versions = await self.repo.versions(fn.id)
        fingerprint = self._fingerprint(fn.config, fn.code_sha)
        published = [v for v in versions if v[0] != "$LATEST"]
        for ver in published[-1:]:
            if self._fingerprint(orjson.loads(ver[1]), ver[2]) == fingerprint:
                return _Fn(fn.id, fn.account, fn.region, fn.name, fn.arn, fn.tags, fn.policy, fn.policy_rev,
                           fn.reserved, ver[0], orjson.loads(ver[1]), ver[2], ver[3], int(ver[4]))
        config = dict(fn.config)
        if description is not None:
            config["Description"] = description
        now = self.clock.now_ms()
        revision = str(uuid.uuid4())
        version = await self.repo.publish_version(fn.id, lambda v: _dumps(config), fn.code_sha, revision, now)
        await self._changed()
        return _Fn(fn.id, fn.account, fn.region, fn.name, fn.arn, fn.tags, fn.policy, fn.policy_rev, fn.reserved,
                   version, config, fn.code_sha, revision, now)

    @staticmethod
    def _fingerprint(config: dict[str, Any], sha: str) -> str:
        return _dumps({k: v for k, v in sorted(config.items()) if k not in _VOLATILE}) + sha

    async def publish_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = await self._resolve(ctx, params["FunctionName"])
        want = params.get("CodeSha256")
        if want and want != fn.code_sha:
            raise InvalidParameterValue(f"CodeSHA256 ({want}) is different from current CodeSHA256 in $LATEST "
                                        f"({fn.code_sha}). Please try again with the CodeSHA256 in $LATEST.",
                                        Type="User")
        self._check_revision(fn, params.get("RevisionId"))
        published = await self._publish(fn, params.get("Description"))
        return self._config(published)

    async def list_versions_by_function(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = await self._resolve(ctx, params["FunctionName"])
        limit = int(params.get("MaxItems") or 50)
        start = int(params["Marker"]) if str(params.get("Marker") or "").isdigit() else 0
        rows = await self.repo.versions(fn.id)
        out = []
        for ver in rows[start:start + limit]:
            v = _Fn(fn.id, fn.account, fn.region, fn.name, fn.arn, {}, [], None, None, ver[0], orjson.loads(ver[1]),
                    ver[2], ver[3], int(ver[4]))
            out.append(self._config(v))
        result: dict[str, Any] = {"Versions": out}
        if start + limit < len(rows):
            result["NextMarker"] = str(start + limit)
        return result

    # == aliases ==================================================================================
    def _alias_out(self, fn: _Fn, row: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"AliasArn": f"{fn.arn}:{row[0]}", "Name": row[0], "FunctionVersion": row[1],
                               "Description": row[2] or "", "RevisionId": row[4]}
        if row[3]:
            out["RoutingConfig"] = orjson.loads(row[3])
        return out

    async def _check_alias_target(self, fn: _Fn, version: str, routing: dict[str, Any] | None) -> None:
        for ver in [version, *((routing or {}).get("AdditionalVersionWeights") or {}).keys()]:
            if ver != "$LATEST" and await self.repo.version(fn.id, ver) is None:
                raise not_found_function(f"{fn.arn}:{ver}")
        weights = (routing or {}).get("AdditionalVersionWeights") or {}
        if len(weights) > 1:
            raise InvalidParameterValue("Number of items in AdditionalVersionWeights cannot be greater than 1",
                                        Type="User")
        if version in weights:
            raise InvalidParameterValue(f"Invalid function version {version}. Function version {version} is already "
                                        "included in routing configuration.", Type="User")

    async def create_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = await self._resolve(ctx, params["FunctionName"])
        name = params["Name"]
        if not names.ALIAS_RE.match(name):
            raise pattern_error(name, "name", r"(?!^[0-9]+$)([a-zA-Z0-9-_]+)")
        routing = params.get("RoutingConfig")
        await self._check_alias_target(fn, params["FunctionVersion"], routing)
        revision = str(uuid.uuid4())
        ok = await self.repo.create_alias(fn.id, name, params["FunctionVersion"], params.get("Description", ""),
                                          _dumps(routing) if routing else None, revision)
        if not ok:
            raise ResourceConflict(f"Alias already exists: {fn.arn}:{name}", Type="User")
        await self._changed()
        return self._alias_out(fn, (name, params["FunctionVersion"], params.get("Description", ""),
                                    _dumps(routing) if routing else None, revision))

    async def _alias(self, ctx: RequestContext, params: dict[str, Any]) -> tuple[_Fn, Any]:
        fn = await self._resolve(ctx, params["FunctionName"])
        row = await self.repo.alias(fn.id, params["Name"])
        if row is None:
            raise ResourceNotFound(f"Cannot find alias arn: {fn.arn}:{params['Name']}", Type="User")
        return fn, row

    async def get_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn, row = await self._alias(ctx, params)
        return self._alias_out(fn, row)

    async def update_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn, row = await self._alias(ctx, params)
        if params.get("RevisionId") and params["RevisionId"] != row[4]:
            raise PreconditionFailed("The Revision Id provided does not match the latest Revision Id. Call the "
                                     "GetFunction/GetAlias API to retrieve the latest Revision Id", Type="User")
        version = params.get("FunctionVersion", row[1])
        description = params.get("Description", row[2])
        routing = params["RoutingConfig"] if "RoutingConfig" in params else (orjson.loads(row[3]) if row[3] else None)
        await self._check_alias_target(fn, version, routing)
        revision = str(uuid.uuid4())
        routing_s = _dumps(routing) if routing and routing.get("AdditionalVersionWeights") else None
        await self.repo.update_alias(fn.id, row[0], version, description, routing_s, revision)
        await self._changed()
        return self._alias_out(fn, (row[0], version, description, routing_s, revision))

    async def delete_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = await self._resolve(ctx, params["FunctionName"])
        await self.repo.delete_alias(fn.id, params["Name"])
        await self._changed()
        return {}

    async def list_aliases(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = await self._resolve(ctx, params["FunctionName"])
        rows = await self.repo.aliases(fn.id)
        want = params.get("FunctionVersion")
        aliases = [self._alias_out(fn, r) for r in rows if want is None or r[1] == want]
        limit = int(params.get("MaxItems") or 50)
        start = int(params["Marker"]) if str(params.get("Marker") or "").isdigit() else 0
        out: dict[str, Any] = {"Aliases": aliases[start:start + limit]}
        if start + limit < len(aliases):
            out["NextMarker"] = str(start + limit)
        return out

    # == concurrency ==============================================================================
    async def put_function_concurrency(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = await self._resolve(ctx, params["FunctionName"])
        n = int(params["ReservedConcurrentExecutions"])
        others = await self.repo.reserved_total(fn.account, fn.region, fn.id)
        if self.account_limit - others - n < min(MIN_UNRESERVED, self.account_limit):
            raise InvalidParameterValue(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{min(MIN_UNRESERVED, self.account_limit)}].",
                Type="User")
        await self.repo.set_reserved(fn.id, n)
        await self._changed()
        return {"ReservedConcurrentExecutions": n}

    async def get_function_concurrency(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = await self._resolve(ctx, params["FunctionName"])
        return {} if fn.reserved is None else {"ReservedConcurrentExecutions": fn.reserved}

    async def delete_function_concurrency(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = await self._resolve(ctx, params["FunctionName"])
        await self.repo.set_reserved(fn.id, None)
        await self._changed()
        return {}

    async def get_account_settings(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        count, total = await self.repo.usage(ctx.account, ctx.region)
        reserved = await self.repo.reserved_total(ctx.account, ctx.region)
        return {
            "AccountLimit": {"TotalCodeSize": TOTAL_CODE_LIMIT, "CodeSizeUnzipped": codecache.UNZIPPED_LIMIT,
                             "CodeSizeZipped": ZIP_LIMIT, "ConcurrentExecutions": self.account_limit,
                             "UnreservedConcurrentExecutions": self.account_limit - reserved},
            "AccountUsage": {"TotalCodeSize": total, "FunctionCount": count},
        }

    # == permissions ==============================================================================
    async def add_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = await self._resolve(ctx, params["FunctionName"], params.get("Qualifier"), resolve_alias=False)
        account, region, name, qualifier = names.parse_function(params["FunctionName"], ctx.account, ctx.region,
                                                                params.get("Qualifier"))
        if params.get("RevisionId") and params["RevisionId"] != fn.policy_rev:
            raise PreconditionFailed("The Revision Id provided does not match the latest Revision Id. Call the "
                                     "GetPolicy API to retrieve the latest Revision Id", Type="User")
        sid = params["StatementId"]
        if any(s.get("Sid") == sid for s in fn.policy):
            raise ResourceConflict(f"The statement id ({sid}) provided already exists. Please provide a new "
                                   "statement id, or remove the existing statement.", Type="User")
        principal = params["Principal"]
        if principal == "*":
            principal_v: Any = "*"
        elif principal.endswith(".amazonaws.com") or principal.endswith(".amazonaws.com.cn"):
            principal_v = {"Service": principal}
        elif principal.isdigit() and len(principal) == 12:
            principal_v = {"AWS": f"arn:aws:iam::{principal}:root"}
        else:
            principal_v = {"AWS": principal}
        statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Principal": principal_v,
                                     "Action": params["Action"],
                                     "Resource": names.function_arn(region, account, name, qualifier)}
        condition: dict[str, dict[str, str]] = {}
        if params.get("SourceAccount"):
            condition.setdefault("StringEquals", {})["AWS:SourceAccount"] = params["SourceAccount"]
        if params.get("PrincipalOrgID"):
            condition.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = params["PrincipalOrgID"]
        if params.get("EventSourceToken"):
            condition.setdefault("StringEquals", {})["lambda:EventSourceToken"] = params["EventSourceToken"]
        if params.get("FunctionUrlAuthType"):
            condition.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = params["FunctionUrlAuthType"]
        if params.get("SourceArn"):
            condition.setdefault("ArnLike", {})["AWS:SourceArn"] = params["SourceArn"]
        if condition:
            statement["Condition"] = condition
        policy = [*fn.policy, statement]
        await self.repo.set_policy(fn.id, _dumps(policy), str(uuid.uuid4()), None)
        await self._changed()
        return {"Statement": _dumps(statement)}

    async def remove_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = await self._resolve(ctx, params["FunctionName"], params.get("Qualifier"), resolve_alias=False)
        if params.get("RevisionId") and params["RevisionId"] != fn.policy_rev:
            raise PreconditionFailed("The Revision Id provided does not match the latest Revision Id. Call the "
                                     "GetPolicy API to retrieve the latest Revision Id", Type="User")
        sid = params["StatementId"]
        policy = [s for s in fn.policy if s.get("Sid") != sid]
        if len(policy) == len(fn.policy):
            raise ResourceNotFound(f"Statement {sid} is not found in resource policy.", Type="User")
        await self.repo.set_policy(fn.id, _dumps(policy), str(uuid.uuid4()) if policy else None, None)
        await self._changed()
        return {}

    async def get_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account, region, name, qualifier = names.parse_function(params["FunctionName"], ctx.account, ctx.region,
                                                                params.get("Qualifier"))
        fn = await self._function(account, region, name, qualifier, resolve_alias=False)
        resource = names.function_arn(region, account, name, qualifier)
        statements = [s for s in fn.policy if s.get("Resource") == resource]
        if not statements:
            raise ResourceNotFound("The resource you requested does not exist.", Type="User")
        doc = {"Version": "2012-10-17", "Id": "default", "Statement": statements}
        return {"Policy": _dumps(doc), "RevisionId": fn.policy_rev or ""}

    # == tags =====================================================================================
    async def _tag_target(self, ctx: RequestContext, arn: str) -> _Fn:
        account, region, name, qualifier = names.parse_function(arn, ctx.account, ctx.region, member="resource")
        if qualifier is not None:
            raise InvalidParameterValue("Tags are not supported on function versions or aliases.", Type="User")
        return await self._function(account, region, name)

    async def tag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = await self._tag_target(ctx, params["Resource"])
        tags = {**fn.tags, **(params.get("Tags") or {})}
        if len(tags) > 50:
            raise InvalidParameterValue("Number of tags exceeds resource tag limit.", Type="User")
        await self.repo.set_tags(fn.id, _dumps(tags))
        await self._changed()
        return {}

    async def untag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = await self._tag_target(ctx, params["Resource"])
        tags = {k: v for k, v in fn.tags.items() if k not in set(params.get("TagKeys") or [])}
        await self.repo.set_tags(fn.id, _dumps(tags))
        await self._changed()
        return {}

    async def list_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = await self._tag_target(ctx, params["Resource"])
        return {"Tags": fn.tags}

    # == layers ===================================================================================
    def _layer_out(self, ctx: RequestContext | None, row: Any, account: str, region: str) -> dict[str, Any]:
        name, version, arn, config, sha, size = row
        cfg = orjson.loads(config)
        out: dict[str, Any] = {"LayerArn": names.layer_arn(region, account, name), "LayerVersionArn": arn,
                               "Description": cfg.get("Description", ""), "CreatedDate": cfg["CreatedDate"],
                               "Version": int(version)}
        for key in ("CompatibleRuntimes", "LicenseInfo", "CompatibleArchitectures"):
            if cfg.get(key):
                out[key] = cfg[key]
        if ctx is not None:
            out["Content"] = {"Location": self._code_location(ctx, sha), "CodeSha256": sha, "CodeSize": int(size)}
        return out

    async def publish_layer_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account, region, name = names.parse_layer(params["LayerName"], ctx.account, ctx.region)
        data = await self._read_code(ctx, params.get("Content") or {}, layer=True)
        unzipped = self._check_zip(data)
        sha = codecache.sha256_b64(data)
        now = self.clock.now_ms()
        cfg = {"Description": params.get("Description", ""), "CreatedDate": _iso(now)}
        for key in ("CompatibleRuntimes", "LicenseInfo", "CompatibleArchitectures"):
            if params.get(key):
                cfg[key] = params[key]
        version, arn = await self.repo.publish_layer(account, region, name,
                                                     lambda v: names.layer_arn(region, account, name, v),
                                                     _dumps(cfg), sha, data, unzipped, now)
        return self._layer_out(ctx, (name, version, arn, _dumps(cfg), sha, len(data)), account, region)

    async def get_layer_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account, region, name = names.parse_layer(params["LayerName"], ctx.account, ctx.region)
        row = await self.repo.layer(account, region, name, int(params["VersionNumber"]))
        if row is None:
            raise ResourceNotFound("The resource you requested does not exist.", Type="User")
        return self._layer_out(ctx, row, account, region)

    async def get_layer_version_by_arn(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        parsed = names.parse_layer_version_arn(params["Arn"])
        row = await self.repo.layer_by_arn(params["Arn"]) if parsed else None
        if row is None or parsed is None:
            raise ResourceNotFound("The resource you requested does not exist.", Type="User")
        return self._layer_out(ctx, row, parsed[0], parsed[1])

    async def list_layer_versions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account, region, name = names.parse_layer(params["LayerName"], ctx.account, ctx.region)
        rows = await self.repo.layer_versions(account, region, name)
        runtime = params.get("CompatibleRuntime")
        arch = params.get("CompatibleArchitecture")
        out = []
        for row in rows:
            item = self._layer_out(None, row, account, region)
            if runtime and runtime not in item.get("CompatibleRuntimes", [runtime]):
                continue
            if arch and arch not in item.get("CompatibleArchitectures", [arch]):
                continue
            item.pop("LayerArn", None)
            out.append(item)
        return {"LayerVersions": out}

    async def list_layers(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rows = await self.repo.layers(ctx.account, ctx.region)
        runtime = params.get("CompatibleRuntime")
        out = []
        for row in rows:
            item = self._layer_out(None, row, ctx.account, ctx.region)
            if runtime and runtime not in item.get("CompatibleRuntimes", [runtime]):
                continue
            arn = item.pop("LayerArn")
            out.append({"LayerName": row[0], "LayerArn": arn, "LatestMatchingVersion": item})
        return {"Layers": out}

    async def delete_layer_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account, region, name = names.parse_layer(params["LayerName"], ctx.account, ctx.region)
        await self.repo.delete_layer(account, region, name, int(params["VersionNumber"]))
        return {}

    # == invoke ===================================================================================
    async def invoke(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
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
        out: dict[str, Any] = {"StatusCode": result.status_code}
        if result.status_code == 200:
            out["Payload"] = result.payload
            out["ExecutedVersion"] = result.executed_version
        if result.function_error:
            out["FunctionError"] = result.function_error
        if result.log_tail is not None:
            out["LogResult"] = result.log_tail
        return out

    async def invoke_async(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """The deprecated InvokeAsync: an Event invocation."""
        body = params.get("InvokeArgs") or b""
        if not isinstance(body, bytes | bytearray):
            body = body.read() if hasattr(body, "read") else bytes(body)
        await self.invoke_internal(ctx.account, ctx.region, params["FunctionName"], bytes(body),
                                   invocation_type="Event", request_id=ctx.request_id, trace_id=ctx.trace_id,
                                   trace_header=ctx.trace_header)
        return {"Status": 202}

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
        fn = await self._function(account, region, name, qualifier, cached=True)
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
        outcome = await self._run(fn, qualifier, payload, request_id, client_context, identity, trace)
        tail = None
        if log_type == "Tail":
            text = "\n".join(outcome.log_lines) + "\n"
            tail = base64.b64encode(text.encode()[-4096:]).decode()
        return InvokeResult(200, outcome.payload, fn.version, request_id,
                            None if outcome.ok else "Unhandled", tail, outcome.log_stream)

    async def _run(self, fn: _Fn, qualifier: str | None, payload: bytes, request_id: str,
                   client_context: str | None, identity: dict[str, Any] | None, trace: str) -> Any:
        if fn.reserved == 0:
            raise throttled("ReservedFunctionConcurrentInvocationLimitExceeded")
        spec = await self._spec(fn)
        unreserved = self.account_limit
        if fn.reserved is None:
            total = await self.meta.get(("r", fn.account, fn.region),
                                        lambda: self.repo.reserved_total(fn.account, fn.region))
            unreserved = self.account_limit - total
        invoked = names.function_arn(fn.region, fn.account, fn.name, qualifier)
        try:
            return await self.pool.invoke(spec, Invocation(request_id, payload, invoked, client_context, identity, trace),
                                          reserved=fn.reserved, unreserved_limit=unreserved)
        except Throttled as e:
            raise throttled(e.reason, e.message) from None

    async def _spec(self, fn: _Fn) -> WorkerSpec:
        cfg = fn.config
        code_dir = await self._code_dir(fn.code_sha)
        opt_dir = await self._opt_dir(cfg.get("Layers") or [])
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

    # == asynchronous invocations =================================================================
    def _on_async_notify(self, payload: str) -> None:
        if self._async_wake is not None:
            self._async_wake.set()

    async def _async_runner(self) -> None:
        assert self._async_wake is not None
        wake = self._async_wake
        capacity = max(1, min(64, self.max_workers))
        while not self._stopping:
            wake.clear()
            try:
                free = capacity - len(self._async_running)
                rows = await self.repo.claim_due(self.clock.now_ms(), ASYNC_LEASE_MS, free) if free > 0 else []
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming asynchronous invocations failed")
                rows = []
            for row in rows:
                task = asyncio.get_running_loop().create_task(self._run_async(row))
                self._async_running.add(task)
                task.add_done_callback(self._async_done)
            if len(rows) == free and free > 0:
                continue
            timeout = 1.0
            with contextlib.suppress(Exception):
                nxt = await self.repo.next_due()
                if nxt is not None:
                    timeout = min(max((nxt - self.clock.now_ms()) / 1000.0, 0.01), 1.0)
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)

    def _async_done(self, task: asyncio.Task[None]) -> None:
        self._async_running.discard(task)
        if self._async_wake is not None:
            self._async_wake.set()

    async def _run_async(self, row: Any) -> None:
        await self._async_attempt(row)   # retries, event age, destinations, DLQ: async_invoke.py

"""Functions: Create/Get/List/DeleteFunction, Update code and configuration, and tags.

A function is a row of function-wide settings and one row per version (``$LATEST`` and the
published ones), each with its configuration as JSON and its code's SHA-256 (:mod:`tsunagi.store.awslambda`).
Inputs are checked as AWS checks them (runtimes, reserved environment variables and their 4 KB
limit, layers, timeout and memory bounds, the role's pattern). A change retires the warm workers of
what changed, so the next invocation runs the new code or configuration.
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from tsunagi.clock import Clock
from tsunagi.context import RequestContext
from tsunagi.ports.delivery_policy import trust_problem
from tsunagi.ports.iam import IAM
from tsunagi.runtime.interpreters import ACCEPTED, NODE_RUNTIMES, RETIRED_PYTHON, find_node
from tsunagi.services.awslambda import names
from tsunagi.services.awslambda.catalog import Catalog, Fn, dumps
from tsunagi.services.awslambda.code import CodePackages, image_problem, supported_message
from tsunagi.services.awslambda.errors import (
    CodeStorageExceeded,
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    Validation,
    pattern_error,
)
from tsunagi.services.awslambda.versions import REVISION_MISMATCH, Versions
from tsunagi.services.base import Platform
from tsunagi.store.awslambda import FunctionExists, LambdaRepo

log = logging.getLogger("tsunagi.lambda")

Params = dict[str, Any]
Result = dict[str, Any]

TOTAL_CODE_LIMIT = 80_530_636_800
ENV_LIMIT = 4096

RESERVED_ENV = ("_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
                "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
                "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
                "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR")

# Configuration members an update takes as they come.
_PLAIN_UPDATES = ("Handler", "Description", "Timeout", "MemorySize", "TracingConfig", "DeadLetterConfig", "KMSKeyArn",
                  "VpcConfig", "EphemeralStorage", "FileSystemConfigs")


class Functions:
    def __init__(self, platform: Platform, repo: LambdaRepo, catalog: Catalog, code: CodePackages,
                 versions: Versions, clock: Clock, retire: Callable[[str], None]) -> None:
        self.platform = platform
        self.repo = repo
        self.catalog = catalog
        self.code = code
        self.versions = versions
        self.clock = clock
        self.retire = retire            # stop using the warm workers whose key starts with a prefix

    # == validation ===============================================================================
    @staticmethod
    def _check_runtime(runtime: str) -> None:
        if runtime not in ACCEPTED:
            raise InvalidParameterValue(supported_message(f"The runtime parameter of {runtime}"), Type="User")
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
        size = len(dumps(variables).encode())
        if size > ENV_LIMIT:
            raise InvalidParameterValue(
                "Lambda was unable to configure your environment variables because the environment variables you "
                f"have provided exceeded the 4KB limit. String measured: {dumps(variables)}", Type="User")
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
            out.append({"Arn": arn, "CodeSize": int(row.size)})
        return out

    @staticmethod
    def _check_limits(params: Params) -> None:
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

    @staticmethod
    def _check_revision(fn: Fn, revision: str | None) -> None:
        if revision is not None and revision != fn.revision_id:
            raise PreconditionFailed(REVISION_MISMATCH, Type="User")

    # == create, read, delete =====================================================================
    async def create_function(self, ctx: RequestContext, params: Params) -> Result:
        name = params["FunctionName"]
        account, region, name, qualifier = names.parse_function(name, ctx.account, ctx.region)
        if qualifier is not None:
            raise pattern_error(params["FunctionName"], "functionName", names.FUNCTION_NAME_PATTERN)
        if params.get("PackageType") == "Image":
            raise InvalidParameterValue(image_problem(params), Type="User")
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
        data = await self.code.read(ctx, params.get("Code") or {})
        unzipped = await self.code.check_zip(data)
        _count, total = await self.repo.usage(account, region)
        if total + len(data) > TOTAL_CODE_LIMIT:
            raise CodeStorageExceeded("Code storage limit exceeded.", Type="User")
        sha = await self.code.digest(data)
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
            fid = await self.repo.create_function(account, region, name, arn, dumps(params.get("Tags") or {}), now,
                                                  dumps(config), sha, data, unzipped, revision)
        except FunctionExists:
            raise ResourceConflict(f"Function already exist: {name}", Type="User") from None
        await self.catalog.changed()
        fn = Fn(fid, account, region, name, arn, params.get("Tags") or {}, [], None, None, "$LATEST", config, sha,
                revision, now)
        if params.get("Publish"):
            fn = await self.versions.publish(fn, None)
        return self.catalog.config(fn, state="Pending", update="")

    async def get_function(self, ctx: RequestContext, params: Params) -> Result:
        fn = await self.catalog.resolve(ctx, params["FunctionName"], params.get("Qualifier"), resolve_alias=False)
        out: Result = {
            "Configuration": self.catalog.config(fn),
            "Code": {"RepositoryType": "S3", "Location": self.code.location(ctx, fn.code_sha)},
        }
        if fn.tags:
            out["Tags"] = fn.tags
        if fn.reserved is not None:
            out["Concurrency"] = {"ReservedConcurrentExecutions": fn.reserved}
        return out

    async def get_function_configuration(self, ctx: RequestContext, params: Params) -> Result:
        fn = await self.catalog.resolve(ctx, params["FunctionName"], params.get("Qualifier"), resolve_alias=False)
        return self.catalog.config(fn)

    async def list_functions(self, ctx: RequestContext, params: Params) -> Result:
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
        for listed in rows[:limit]:
            name = listed.name
            if all_versions:
                fn = await self.catalog.function(ctx.account, ctx.region, name)
                for ver in await self.repo.versions(fn.id):
                    functions.append(self.catalog.config(Fn.listed(fn.account, fn.region, name, fn.arn, ver)))
                continue
            fn = Fn(0, ctx.account, ctx.region, name, names.function_arn(ctx.region, ctx.account, name), {}, [],
                    None, None, "$LATEST", orjson.loads(listed.config), listed.code_sha, listed.revision_id,
                    int(listed.modified_at))
            functions.append(self.catalog.config(fn))
        out: Result = {"Functions": functions}
        if len(rows) > limit:
            out["NextMarker"] = base64.urlsafe_b64encode(rows[limit - 1].name.encode()).decode()
        return out

    async def delete_function(self, ctx: RequestContext, params: Params) -> Result:
        account, region, name, qualifier = names.parse_function(params["FunctionName"], ctx.account, ctx.region,
                                                                params.get("Qualifier"))
        fn = await self.catalog.function(account, region, name,
                                         qualifier if qualifier and qualifier.isdigit() else None)
        if qualifier is None:
            await self.repo.delete_function(fn.id)
            await self.catalog.changed()
            self.retire(f"{account}/{region}/{name}/")
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
        await self.catalog.changed()
        self.retire(f"{account}/{region}/{name}/{qualifier}/")
        return {"StatusCode": 204}

    # == updates ==================================================================================
    async def update_function_code(self, ctx: RequestContext, params: Params) -> Result:
        fn = await self.catalog.resolve(ctx, params["FunctionName"])
        self._check_revision(fn, params.get("RevisionId"))
        data = await self.code.read(ctx, params)
        unzipped = await self.code.check_zip(data)
        sha = await self.code.digest(data)
        config = dict(fn.config, CodeSize=len(data))
        if params.get("Architectures"):
            config["Architectures"] = params["Architectures"]
        if params.get("DryRun"):
            fn.config, fn.code_sha = config, sha
            return self.catalog.config(fn)
        return await self._save_latest(fn, config, sha, params.get("RevisionId"), params.get("Publish"), data,
                                       unzipped)

    async def _save_latest(self, fn: Fn, config: dict[str, Any], sha: str, expected: str | None,
                           publish: bool | None, data: bytes | None = None, unzipped: int = 0) -> Result:
        now = self.clock.now_ms()
        revision = str(uuid.uuid4())
        ok = await self.repo.update_latest(fn.id, dumps(config), sha, revision, now, expected, data, unzipped)
        if not ok:
            raise PreconditionFailed(REVISION_MISMATCH, Type="User")
        await self.catalog.changed()
        self.retire(f"{fn.account}/{fn.region}/{fn.name}/$LATEST/")
        fn.config, fn.code_sha, fn.revision_id, fn.modified_at = config, sha, revision, now
        if publish:
            fn = await self.versions.publish(fn, None)
        return self.catalog.config(fn, update="InProgress")

    async def update_function_configuration(self, ctx: RequestContext, params: Params) -> Result:
        fn = await self.catalog.resolve(ctx, params["FunctionName"])
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
        for key in _PLAIN_UPDATES:
            if key in params:
                config[key] = params[key]
        if "LoggingConfig" in params:
            config["LoggingConfig"] = {**config.get("LoggingConfig", {}), **params["LoggingConfig"]}
        return await self._save_latest(fn, config, fn.code_sha, params.get("RevisionId"), False)

    # == tags =====================================================================================
    async def _tag_target(self, ctx: RequestContext, arn: str) -> Fn:
        account, region, name, qualifier = names.parse_function(arn, ctx.account, ctx.region, member="resource")
        if qualifier is not None:
            raise InvalidParameterValue("Tags are not supported on function versions or aliases.", Type="User")
        return await self.catalog.function(account, region, name)

    async def tag_resource(self, ctx: RequestContext, params: Params) -> Result:
        fn = await self._tag_target(ctx, params["Resource"])
        tags = {**fn.tags, **(params.get("Tags") or {})}
        if len(tags) > 50:
            raise InvalidParameterValue("Number of tags exceeds resource tag limit.", Type="User")
        await self.repo.set_tags(fn.id, dumps(tags))
        await self.catalog.changed()
        return {}

    async def untag_resource(self, ctx: RequestContext, params: Params) -> Result:
        fn = await self._tag_target(ctx, params["Resource"])
        tags = {k: v for k, v in fn.tags.items() if k not in set(params.get("TagKeys") or [])}
        await self.repo.set_tags(fn.id, dumps(tags))
        await self.catalog.changed()
        return {}

    async def list_tags(self, ctx: RequestContext, params: Params) -> Result:
        fn = await self._tag_target(ctx, params["Resource"])
        return {"Tags": fn.tags}

"""Code packages: reading a zip from the request or from S3, checking it, unpacking it for the workers,
and the link ``GetFunction`` / ``GetLayerVersion`` give to download it.

Packages are content-addressed in the store (``lambda_code``, shared by every node on one
PostgreSQL) and unpacked once per node under ``<data_dir>/lambda/code/<sha>``; a function's layers
are merged in order under ``<data_dir>/lambda/opt/<hash>`` (its ``/opt``). ``Code.Location`` points
at ``/_tsunagi/lambda/code/<sha>`` on the endpoint the client used, signed to work for ten minutes
as AWS's presigned link does (:mod:`tsunagi.signed_urls`), and served by :meth:`CodePackages.download`
through the Lambda port.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from typing import Any

from tsunagi import signed_urls
from tsunagi.context import RequestContext
from tsunagi.ports.s3 import S3, ObjectTooLarge
from tsunagi.protocol.errors import ServiceError
from tsunagi.runtime import code as codecache
from tsunagi.runtime import containment
from tsunagi.runtime.interpreters import RETIRED_PYTHON, SUPPORTED
from tsunagi.services.awslambda.errors import InvalidParameterValue, RequestTooLarge, ResourceNotFound
from tsunagi.services.base import Platform
from tsunagi.store.awslambda import LambdaRepo

ZIP_LIMIT = 50 * 1024 * 1024


def supported_message(what: str) -> str:
    """The message for something tsunagi does not run (container images, other runtimes)."""
    return (f"{what} is not supported by tsunagi, which runs functions natively. Supported runtimes: "
            f"{', '.join(SUPPORTED)} (retired runtimes {', '.join(RETIRED_PYTHON)} run on the server's "
            "Python).")


# an image in Amazon ECR: <account>.dkr.ecr.<region>.amazonaws.com/<repository>(:<tag>|@sha256:<digest>)
ECR_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9]+(?:[._/-][a-z0-9]+)*"
                       r"(:[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$")


def image_problem(params: dict[str, Any]) -> str:
    """AWS's refusal of a CreateFunction with ``PackageType: Image``. Functions run from container
    images in Amazon ECR, which tsunagi does not serve, so no image can be found here: a well-formed
    ECR image is one that does not exist, anything else is not a valid source image."""
    if params.get("Runtime") or params.get("Handler") or params.get("Layers"):
        return "Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image."
    uri = (params.get("Code") or {}).get("ImageUri")
    if not uri:
        return "Please provide ImageUri when the intended function PackageType is Image."
    if ECR_IMAGE.match(uri):
        return f"Source image {uri} does not exist. Provide a valid source image."
    return f"Source image {uri} is not valid. Provide a valid source image."


class CodePackages:
    def __init__(self, platform: Platform, repo: LambdaRepo) -> None:
        self.platform = platform
        self.repo = repo
        # where the function user can read it (tsunagi is root, the data dir out of that user's reach: a
        # folder of this server in the temp folder)
        self.cache_dir = containment.code_cache_dir(os.path.join(os.path.abspath(platform.config.data_dir), "lambda"),
                                                    containment.function_user(platform.config.function_user))
        self._unpack_locks: dict[str, asyncio.Lock] = {}
        self._opt_dirs: dict[tuple[str, ...], str | None] = {}

    # == upload ===================================================================================
    async def read(self, ctx: RequestContext, code: dict[str, Any], *, layer: bool = False) -> bytes:
        """The zip a CreateFunction / UpdateFunctionCode / PublishLayerVersion names (inline or in S3)."""
        if code.get("ImageUri"):
            raise InvalidParameterValue("Please don't provide ImageUri when updating a function with packageType Zip."
                                        if not layer and "FunctionName" in code else
                                        "Please don't provide ImageUri when the intended function PackageType is Zip.",
                                        Type="User")
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
        return bytes(data)

    async def _read_s3(self, ctx: RequestContext, bucket: str, key: str, version: str | None) -> bytes:
        s3 = self.platform.ports.find(S3)
        if s3 is None:
            raise InvalidParameterValue("Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error "
                                        "Message: The specified bucket does not exist", Type="User")
        try:
            return await s3.read_object(ctx, bucket, key, version, max_bytes=ZIP_LIMIT)
        except ObjectTooLarge:      # refused before a byte of it is read
            raise RequestTooLarge(f"Request must be smaller than {ZIP_LIMIT} bytes for the "
                                  f"{ctx.operation or 'CreateFunction'} operation", Type="User") from None
        except ServiceError as e:
            raise InvalidParameterValue(f"Error occurred while GetObject. S3 Error Code: {e.code}. S3 Error "
                                        f"Message: {e.message}", Type="User") from None

    @staticmethod
    async def check_zip(data: bytes) -> int:
        """The unzipped size of a package, or AWS's error for one that is not a zip or is too large
        (off the event loop: a large package takes seconds to read through)."""
        try:
            return await asyncio.to_thread(codecache.check_zip, data)
        except codecache.BadZip as e:
            if "Unzipped size" in str(e):
                raise InvalidParameterValue(str(e), Type="User") from None
            raise InvalidParameterValue("Could not unzip uploaded file. Please check your file, then try to "
                                        "upload again.", Type="User") from None

    @staticmethod
    async def digest(data: bytes) -> str:
        """The package's CodeSha256 (50 MB: off the event loop)."""
        return await asyncio.to_thread(codecache.sha256_b64, data)

    # == download =================================================================================
    def location(self, ctx: RequestContext, sha: str) -> str:
        """``Code.Location`` / ``Content.Location``: a link to the zip, signed for ten minutes."""
        path = f"/_tsunagi/lambda/code/{codecache.safe_dirname(sha)}"
        return ctx.endpoint + signed_urls.sign(self.platform.config.admin_token, path)

    async def download(self, sha_dirname: str) -> bytes | None:
        """The zip for ``GET /_tsunagi/lambda/code/<sha>`` (``Code.Location``), or None."""
        sha = sha_dirname.replace("_", "/").replace("-", "+")
        sha += "=" * (-len(sha) % 4)
        return await self.repo.get_code(sha)

    # == unpacked, for the workers ================================================================
    async def code_dir(self, sha: str) -> str:
        """The folder a package is unpacked in on this node (unpacked on first use)."""
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

    async def opt_dir(self, layers: list[dict[str, Any]]) -> str | None:
        """The function's ``/opt``: its layers merged in order, or None without layers."""
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
            shas.append(row.code_sha)
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

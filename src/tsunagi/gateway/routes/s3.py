"""S3's browser-form uploads: ``POST /<bucket>`` (or ``POST /`` on a bucket's virtual host) with
``multipart/form-data``. botocore's model has no operation for them; this route reads the form and
checks its signed policy (:func:`tsunagi.protocol.s3_post.post_params`), hands S3's ``PostObject``
the upload as plain members, and writes AWS's answer (:func:`tsunagi.protocol.s3_post.post_response`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tsunagi.context import Principal, RequestContext
from tsunagi.gateway.anonymous import open_to_everyone
from tsunagi.gateway.bodies import read_body
from tsunagi.gateway.codecs import Codecs
from tsunagi.gateway.exchange import Exchange
from tsunagi.gateway.identity import (
    ANONYMOUS,
    Authenticator,
    StrictAuthenticator,
    read_credential,
    secret_for,
)
from tsunagi.gateway.routes import Route, RouteRegistry
from tsunagi.policy import Dialect
from tsunagi.ports.s3 import S3
from tsunagi.protocol.errors import NotImplementedOperation, ServiceError
from tsunagi.protocol.http import HttpRequest, HttpResponse
from tsunagi.protocol.parse import s3_bucket_from_host
from tsunagi.protocol.presign import parse_form
from tsunagi.protocol.s3_post import is_post_upload, post_params, post_response
from tsunagi.trace import root_of

if TYPE_CHECKING:
    from tsunagi.services.base import Platform


def _no_secret(access_key: str) -> None:
    return None


async def _anonymous_upload(platform: Platform, ctx: RequestContext, ex: Exchange, bucket: str, key: str) -> None:
    """An unsigned form upload writes only where the bucket's policy allows s3:PutObject to everyone; it
    runs in the bucket owner's account (a missing bucket is left to S3 to say)."""
    port = platform.ports.find(S3)
    resource = await port.resource_policy(ctx, f"arn:aws:s3:::{bucket}") if port is not None else None
    if resource is None:
        return
    if not open_to_everyone(resource, Dialect.S3, "s3:PutObject", f"arn:aws:s3:::{bucket}/{key}",
                            now=platform.clock.now(), secure=ctx.scheme == "https", source_ip=ex.source_ip):
        raise ServiceError("Access Denied", code="AccessDenied", status=403)
    ctx.account = resource.account


def install(routes: RouteRegistry, platform: Platform, authenticator: Authenticator, codecs: Codecs) -> None:
    max_body = platform.config.max_body_bytes

    def is_form_upload(request: HttpRequest) -> bool:
        return platform.serves("s3") and is_post_upload(request, s3_bucket_from_host(request.host)) is not None

    async def post_upload(ex: Exchange) -> HttpResponse:
        request = ex.request
        bucket = is_post_upload(request, s3_bucket_from_host(request.host))
        assert bucket is not None
        ex.service = "s3"
        ex.bucket = bucket       # (its request metrics: the bucket, and how long the request took)
        if not ex.started:
            ex.started = time.monotonic()
        ex.codec = codecs.codec("s3", None)
        ex.route = None          # errors answer in S3's XML, like any S3 operation
        await read_body(ex, max_body)
        cred = read_credential(request)
        if isinstance(authenticator, StrictAuthenticator):
            # a form upload is signed in its fields (the policy's signature), not in its headers;
            # the policy's expiry and conditions are S3's to check
            fields, _ = parse_form(request.body, request.content_type)
            principal = await authenticator.authenticate_post(fields)
        else:
            # open: the key id the form's policy is signed with (any signature accepted); a form signed
            # by no one is anonymous, and writes only where the bucket policy lets everyone
            fields, _ = parse_form(request.body, request.content_type)
            signer = fields.get("x-amz-credential", "").split("/", 1)[0] or fields.get("awsaccesskeyid")
            principal = Principal.root(authenticator.account_for(signer), signer) if signer else ANONYMOUS
        header = request.headers.get("x-amzn-trace-id")
        ctx = RequestContext(account=principal.account, region=cred.region or platform.config.default_region,
                             request_id=ex.request_id, service="s3", operation="PostObject",
                             host=request.headers.get("host", "localhost:4566"), principal=principal,
                             scheme=request.headers.get("x-forwarded-proto", "http"),
                             trace_id=root_of(header), trace_header=header, source_ip=ex.source_ip)
        ex.ctx = ctx
        post = codecs.operations("s3", platform.load("s3")).get("PostObject")
        if post is None:
            raise NotImplementedOperation("PostObject is not available in tsunagi's s3 service yet.",
                                          code="NotImplemented")
        # under --auth strict the policy's signature was checked above against the key's real secret
        lookup = _no_secret if isinstance(authenticator, StrictAuthenticator) else secret_for
        params = ex.params = post_params(request, bucket, platform.clock.now(), lookup)
        if not principal.account:
            await _anonymous_upload(platform, ctx, ex, bucket, str(params["Key"]))
        result = await post(ctx, params)
        response = post_response(result, ex.request_id)
        ex.route = "s3-post"
        return response

    routes.add(Route("s3-post", post_upload, match=is_form_upload, methods=frozenset({"POST"}),
                     content_type="multipart/form-data"))

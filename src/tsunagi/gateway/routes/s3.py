"""S3's browser-form uploads: ``POST /<bucket>`` (or ``POST /`` on a bucket's virtual host) with
``multipart/form-data``. botocore's model has no operation for them; this route reads the form and
checks its signed policy (:func:`tsunagi.protocol.s3_post.post_params`), hands S3's ``PostObject``
the upload as plain members, and writes AWS's answer (:func:`tsunagi.protocol.s3_post.post_response`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tsunagi.context import RequestContext
from tsunagi.gateway.bodies import read_body
from tsunagi.gateway.codecs import Codecs
from tsunagi.gateway.exchange import Exchange
from tsunagi.gateway.identity import Authenticator, StrictAuthenticator, read_credential, resolved, secret_for
from tsunagi.gateway.routes import Route, RouteRegistry
from tsunagi.protocol.errors import NotImplementedOperation
from tsunagi.protocol.http import HttpRequest, HttpResponse
from tsunagi.protocol.parse import s3_bucket_from_host
from tsunagi.protocol.presign import parse_form
from tsunagi.protocol.s3_post import is_post_upload, post_params, post_response
from tsunagi.trace import root_of

if TYPE_CHECKING:
    from tsunagi.services.base import Platform


def _no_secret(access_key: str) -> None:
    return None


def install(routes: RouteRegistry, platform: Platform, authenticator: Authenticator, codecs: Codecs) -> None:
    max_body = platform.config.max_body_bytes

    def is_form_upload(request: HttpRequest) -> bool:
        return "s3" in platform.services and is_post_upload(request, s3_bucket_from_host(request.host)) is not None

    async def post_upload(ex: Exchange) -> HttpResponse:
        request = ex.request
        bucket = is_post_upload(request, s3_bucket_from_host(request.host))
        assert bucket is not None
        ex.service = "s3"
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
            principal = await resolved(authenticator.authenticate(request, cred, "s3", "rest-xml"))
        header = request.headers.get("x-amzn-trace-id")
        ctx = RequestContext(account=principal.account, region=cred.region or platform.config.default_region,
                             request_id=ex.request_id, service="s3", operation="PostObject",
                             host=request.headers.get("host", "localhost:4566"), principal=principal,
                             scheme=request.headers.get("x-forwarded-proto", "http"),
                             trace_id=root_of(header), trace_header=header, source_ip=ex.source_ip)
        ex.ctx = ctx
        post = codecs.operations("s3", platform.services["s3"]).get("PostObject")
        if post is None:
            raise NotImplementedOperation("PostObject is not available in tsunagi's s3 service yet.",
                                          code="NotImplemented")
        # under --auth strict the policy's signature was checked above against the key's real secret
        lookup = _no_secret if isinstance(authenticator, StrictAuthenticator) else secret_for
        result = await post(ctx, post_params(request, bucket, platform.clock.now(), lookup))
        response = post_response(result, ex.request_id)
        ex.route = "s3-post"
        return response

    routes.add(Route("s3-post", post_upload, match=is_form_upload, methods=frozenset({"POST"}),
                     content_type="multipart/form-data"))

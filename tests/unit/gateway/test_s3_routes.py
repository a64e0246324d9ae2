"""The S3 browser-form route on its own: the gateway reads the form and checks its signed policy, and
S3's PostObject gets plain members (never the HTTP request); its result becomes AWS's answer."""

from __future__ import annotations

import asyncio
from typing import Any

import boto3

from tests.unit.gateway.test_streaming import call
from tsunagi.clock import Clock
from tsunagi.config import Config
from tsunagi.context import RequestContext
from tsunagi.gateway.app import Gateway
from tsunagi.services.base import Platform, Service
from tsunagi.store.base import open_store

ROOT = "1-5759e988-bd862e3fe1be46a994272793"


class RecordingS3(Service):
    name = "s3"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.calls: list[tuple[RequestContext, dict[str, Any]]] = []

    async def post_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((ctx, params))
        return {"Bucket": params["Bucket"], "Key": params["Key"], "ETag": '"abc"',
                "Location": f"{ctx.endpoint}/{params['Bucket']}/{params['Key']}", "StatusCode": 201}


def gateway(tmp_path: Any) -> tuple[Gateway, RecordingS3]:
    platform = Platform(Config(data_dir=str(tmp_path)), open_store(":memory:", str(tmp_path)), Clock())
    s3 = RecordingS3(platform)
    platform.services["s3"] = s3
    return Gateway(platform), s3


def form(fields: dict[str, str], data: bytes) -> tuple[bytes, str]:
    boundary = "xyz"
    body = b""
    for k, v in fields.items():
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="me.png"\r\n'
             "Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def presigned_post() -> dict[str, Any]:
    client = boto3.client("s3", endpoint_url="http://localhost:4566", aws_access_key_id="test",
                          aws_secret_access_key="test", region_name="us-east-1")
    post: dict[str, Any] = client.generate_presigned_post(
        "forms", "up/${filename}", Fields={"success_action_status": "201"},
        Conditions=[{"success_action_status": "201"}], ExpiresIn=60)
    return post


def test_a_signed_form_reaches_post_object_as_plain_members(tmp_path: Any) -> None:
    app, s3 = gateway(tmp_path)
    body, ctype = form(presigned_post()["fields"], b"PNGDATA")
    headers = {"host": "localhost:4566", "content-type": ctype, "content-length": str(len(body)),
               "x-amzn-trace-id": f"Root={ROOT};Sampled=1"}
    sent = asyncio.run(call(app, "POST", "/forms", [body], headers))
    assert sent[0]["status"] == 201
    assert b"<Key>up/me.png</Key>" in sent[1]["body"] and b"<Bucket>forms</Bucket>" in sent[1]["body"]
    ((ctx, params),) = s3.calls
    assert ctx.operation == "PostObject" and ctx.trace_id == ROOT and ctx.account == "000000000000"
    assert params == {"Bucket": "forms", "Key": "up/me.png", "Body": b"PNGDATA", "ContentType": "image/png",
                      "SuccessActionStatus": "201"}


def test_a_form_whose_signature_does_not_match_never_reaches_s3(tmp_path: Any) -> None:
    app, s3 = gateway(tmp_path)
    fields = dict(presigned_post()["fields"])
    sig_field = "x-amz-signature" if "x-amz-signature" in fields else "signature"
    fields[sig_field] = "0" * len(fields[sig_field])
    body, ctype = form(fields, b"PNGDATA")
    headers = {"host": "localhost:4566", "content-type": ctype, "content-length": str(len(body))}
    sent = asyncio.run(call(app, "POST", "/forms", [body], headers))
    assert sent[0]["status"] == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in sent[1]["body"]
    assert s3.calls == []

"""Which service a request is for, decided in a fixed order on one port:

1. the SigV4 signing name in the credential scope (header or presigned query);
2. the ``X-Amz-Target`` prefix (json services);
3. the host (``<bucket>.s3.…`` or ``<bucket>.localhost`` virtual-host S3);
4. an ``Action`` in the query string or form body (query services): by ``Version`` when given,
   then by the SQS queue-URL path shape, then by the one service that has that action;
5. the REST path: ``/YYYY-MM-DD/…`` is Lambda, API Gateway's top-level collections are
   API Gateway, anything else is S3.
"""

from __future__ import annotations

import re
from functools import cache
from urllib.parse import unquote_plus

from tsunagi.gateway.identity import Credential
from tsunagi.protocol.http import HttpRequest
from tsunagi.protocol.parse import s3_bucket_from_host
from tsunagi.protocol.specs import SERVED, any_service_model, service_model

_QUERY_SERVICES = ("sns", "sts", "iam", "cloudformation", "sqs", "cloudwatch")
# a queue URL's path: /<account>/<name>, with the queue's region before them outside the default region
_QUEUE_PATH = re.compile(r"^/(?:[a-z]{2}(?:-[a-z]+)+-\d+/)?(\d{12}|queue)/[^/]+/?$")
_DATED_PATH = re.compile(r"^/\d{4}-\d{2}-\d{2}/")

# Signing names that differ from botocore's service names.
_SIGNING = {"execute-api": "apigateway-invoke", "email": "ses", "states": "stepfunctions", "monitoring": "cloudwatch",
            "elasticloadbalancing": "elbv2", "elasticfilesystem": "efs", "elasticmapreduce": "emr",
            "mobiletargeting": "pinpoint", "airflow": "mwaa", "es": "opensearch"}


@cache
def _targets() -> dict[str, str]:
    out = {}
    for name in SERVED:
        prefix = service_model(name).metadata.get("targetPrefix")
        if prefix:
            out[prefix] = name
    return out


@cache
def _versions() -> dict[str, str]:
    return {service_model(n).api_version: n for n in _QUERY_SERVICES}


@cache
def _actions() -> dict[str, tuple[str, ...]]:
    """Action name → the query-protocol services that have it (SQS is served over query too)."""
    owners: dict[str, list[str]] = {}
    for name in _QUERY_SERVICES:
        for op in service_model(name).operation_names:
            owners.setdefault(op, []).append(name)
    return {k: tuple(v) for k, v in owners.items()}


@cache
def _apigateway_roots() -> frozenset[str]:
    roots = set()
    for op in service_model("apigateway").operation_names:
        uri = service_model("apigateway").operation_model(op).http.get("requestUri", "/")
        seg = uri.split("?", 1)[0].strip("/").split("/", 1)[0]
        if seg and not seg.startswith("{"):
            roots.add(seg)
    return frozenset(roots)


_FORM_FIELD = re.compile(rb"(?:^|&)(Action|Version)=([^&]*)")
_QUERY_FIELD = re.compile(r"(?:^|&)(Action|Version)=([^&]*)")


def _form_action(request: HttpRequest) -> tuple[str | None, str | None]:
    """``Action`` and ``Version`` from the query string, else from a form body (without parsing all of it)."""
    found: dict[str, str] = {}
    if request.query:
        for key, value in _QUERY_FIELD.findall(request.query):
            found.setdefault(key, unquote_plus(value))
    if "Action" not in found and request.body and request.method == "POST" and \
            request.content_type.startswith("application/x-www-form-urlencoded"):
        for key, value in _FORM_FIELD.findall(request.body):
            found.setdefault(key.decode(), unquote_plus(value.decode("utf-8", "replace")))
    return found.get("Action"), found.get("Version")


def resolve_service(request: HttpRequest, cred: Credential) -> str | None:
    """The botocore service name (or ``apigateway-invoke``) for a request, or None if nothing matches."""
    if cred.service:
        name = _SIGNING.get(cred.service, cred.service)
        if name == "apigateway" and request.path.startswith("/v2/"):
            return "apigatewayv2"          # HTTP APIs sign as apigateway too
        if name in SERVED or name == "apigateway-invoke":
            return name
        if any_service_model(name) is not None:
            return name                    # a service tsunagi does not serve: refused in its own format
        return None                        # signed for a service nobody knows: not S3's either
    target = request.headers.get("x-amz-target")
    if target:
        # Only json services send X-Amz-Target: one tsunagi does not know is not S3's either.
        return _targets().get(target.split(".", 1)[0])
    host = request.host
    if ".execute-api." in host:
        return "apigateway-invoke"
    if s3_bucket_from_host(host):
        return "s3"
    action, version = _form_action(request)
    if action:
        if version and version in _versions():
            return _versions()[version]
        if _QUEUE_PATH.match(request.path):
            return "sqs"
        owners = _actions().get(action)
        if owners:
            return owners[0]
        return None
    path = request.path
    if path.startswith("/service/GraniteServiceVersion20100801/"):
        return "cloudwatch"
    if _DATED_PATH.match(path):
        return "lambda"
    root = path.strip("/").split("/", 1)[0]
    if root == "v2" and path.startswith(("/v2/apis", "/v2/tags/")):
        return "apigatewayv2"
    if root in _apigateway_roots():
        return "apigateway"
    return "s3"


def has_action(request: HttpRequest) -> bool:
    """Whether the request names a query-protocol ``Action`` (query string or form body)."""
    return _form_action(request)[0] is not None


def sqs_protocol(request: HttpRequest) -> str:
    """SQS speaks ``json`` (X-Amz-Target) and the older ``query`` protocol, which answers in JSON
    (``query-json``) to a request that accepts ``application/json``."""
    if "x-amz-target" in request.headers:
        return "json"
    return "query-json" if "application/json" in request.headers.get("accept", "") else "query"


def cloudwatch_protocol(request: HttpRequest) -> str:
    """CloudWatch speaks ``json`` (X-Amz-Target), ``query`` (Action=, older SDKs and the CLI v1) and
    Smithy RPC v2 CBOR (``/service/GraniteServiceVersion20100801/operation/<Op>``)."""
    if "x-amz-target" in request.headers:
        return "json"
    if request.path.startswith("/service/"):
        return "smithy-rpc-v2-cbor"
    return "query"


# Services that answer in more than one protocol: the protocol a request speaks.
PROTOCOL_OF = {"sqs": sqs_protocol, "cloudwatch": cloudwatch_protocol}

"""tsunagi's own endpoints under ``/_tsunagi/``:

Each endpoint but health and the signing certificates needs the server's admin token in the
``X-Tsunagi-Token`` header (printed at start, kept in ``<data dir>/admin-token``; ``TSUNAGI_ADMIN_TOKEN``
sets it); with ``TSUNAGI_INTERNAL_API=off`` they are not served at all. A web page, an SNS subscription
or a function cannot present the token, so none of them can reset the server or read its mailbox.

- ``GET /_tsunagi/health``: 200 with the services and the store once the server is ready (503 before);
- ``POST /_tsunagi/reset``: wipe all state (test suites call it between tests; the account root only,
  under ``--auth strict``);
- ``GET /_tsunagi/api/deliveries?trace_id=…`` (or ``message_id``, ``source_arn``, ``account``): delivery
  records, every pipe's, as JSON (``{"Deliveries": [...]}``);
- ``GET /_tsunagi/sns/SimpleNotificationService-<key id>.pem``: the certificate SNS messages are signed
  with (every message's ``SigningCertURL``);
- ``GET /_tsunagi/sns/mail[?to=<address>&kind=<kind>&after=<id>&limit=<n>]``: the local mailbox (e-mail,
  SMS and mobile push deliveries, subscription confirmations; ``kind``: ``email``, ``email-json``, ``sms``
  or ``push``), read by ``tsunagi mail``;
- ``POST /_tsunagi/sns/sms-reply`` ``{"From": "+15555550100", "Body": "STOP", "Account": …, "Region": …}``:
  a text a phone sends back to an account; ``STOP`` (and SNS's other opt-out keywords) opts the number out;
- ``GET /_tsunagi/sns/deliveries?message_id=<id>`` or ``?topic_arn=<arn>``: SNS's delivery records;
- ``GET /_tsunagi/lambda/code/<sha>``: the function zip a ``Code.Location`` points at.

The handlers reach services through their ports only.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from tsunagi import signed_urls
from tsunagi.gateway.bodies import read_body
from tsunagi.gateway.exchange import Exchange, RouteHandler
from tsunagi.gateway.identity import Authenticator, read_credential, resolved
from tsunagi.gateway.routes import Route, RouteRegistry
from tsunagi.ports.awslambda import LAMBDA
from tsunagi.ports.sns import SNS
from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.http import HttpResponse
from tsunagi.store.deliveries import Delivery

if TYPE_CHECKING:
    from tsunagi.services.base import Platform

_JSON = [("content-type", "application/json")]
_GET = frozenset({"GET", "HEAD"})


def _json(status: int, doc: object) -> HttpResponse:
    return HttpResponse(status, list(_JSON), orjson.dumps(doc))


def not_found(what: str) -> HttpResponse:
    return _json(404, {"__type": "NotFound", "message": what})


def bad_request(what: str) -> HttpResponse:
    return _json(400, {"__type": "BadRequest", "message": what})


class ServerState:
    """What the health endpoint reports about the server itself."""

    def __init__(self) -> None:
        self.ready = False
        self.started_at = time.time()


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {"TraceId": d.trace_id, "Time": d.at, "Account": d.account, "Region": d.region, "Pipe": d.pipe,
            "SourceArn": d.source_arn, "MessageId": d.message_id, "TargetArn": d.target_arn,
            "Protocol": d.protocol, "Outcome": d.outcome, "Reason": d.reason}


TOKEN_HEADER = "x-tsunagi-token"


def install(routes: RouteRegistry, platform: Platform, state: ServerState, authenticator: Authenticator) -> None:
    max_body = platform.config.max_body_bytes
    config = platform.config

    def admin(handler: RouteHandler, *, signed: bool = False) -> RouteHandler:
        """Only with the admin token (and only while the internal API is on); a ``signed`` route also
        opens to a link signed with that token that has not expired (:mod:`tsunagi.signed_urls`)."""

        async def guarded(ex: Exchange) -> HttpResponse:
            if not config.internal_api:
                return not_found(f"No internal endpoint {ex.request.method} {ex.request.path} "
                                 "(TSUNAGI_INTERNAL_API is off)")
            if signed and signed_urls.verify(config.admin_token, ex.request.path, dict(ex.request.query_params())):
                return await handler(ex)
            given = ex.request.headers.get(TOKEN_HEADER, "")
            if not config.admin_token or not hmac.compare_digest(given.encode(), config.admin_token.encode()):
                return _json(403, {"__type": "AccessDenied", "message": (
                    "tsunagi's internal endpoints need the admin token in the X-Tsunagi-Token header: it is "
                    "printed when the server starts and kept in <data dir>/admin-token.")})
            return await handler(ex)

        return guarded

    async def health(ex: Exchange) -> HttpResponse:
        from tsunagi import __version__

        body = {
            "status": "ready" if state.ready else "starting",
            "version": __version__,
            # a service no request has needed yet is loaded by its first request (or shortly after the start)
            "services": {name: "running" if name in platform.services else "loads on first use"
                         for name in platform.served()},
            "store": platform.store.describe(),
            "uptime_seconds": round(time.time() - state.started_at, 3),
        }
        return _json(200 if state.ready else 503, body)

    async def reset(ex: Exchange) -> HttpResponse:
        await read_body(ex, max_body)
        if platform.config.auth == "strict":
            principal = await resolved(authenticator.authenticate(ex.request, read_credential(ex.request)))
            if not principal.arn.endswith(":root"):
                raise ServiceError("Only the account root may reset tsunagi.", code="AccessDenied", status=403)
        await platform.reset()
        return _json(200, {"reset": True})

    async def deliveries(ex: Exchange) -> HttpResponse:
        query = dict(ex.request.query_params())
        try:
            limit = max(1, min(10_000, int(query.get("limit") or 1000)))
        except ValueError:
            return bad_request("limit is an integer")
        repo = platform.deliveries
        readers: dict[str, Callable[[str, int], Any]] = {
            "trace_id": repo.by_trace, "message_id": repo.by_message, "source_arn": repo.by_source,
            "account": repo.by_account}
        for key, read in readers.items():
            if query.get(key):
                rows = await read(query[key], limit)
                return _json(200, {"Deliveries": [delivery_json(d) for d in rows]})
        return bad_request("give one of trace_id, message_id, source_arn or account")

    async def sns(ex: Exchange) -> HttpResponse:
        port = platform.ports.find(SNS)
        request = ex.request
        name = request.path[len("/_tsunagi/sns/"):]
        if request.method == "POST" and name == "sms-reply" and port is not None:
            await read_body(ex, max_body)
            try:
                doc = orjson.loads(request.body or b"{}")
                phone, text = str(doc["From"]), str(doc["Body"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                return bad_request('the body is {"From": "<phone number>", "Body": "<text>"}')
            account = str(doc.get("Account") or platform.config.default_account)
            region = str(doc.get("Region") or platform.config.default_region)
            return _json(200, {"OptedOut": await port.sms_reply(account, region, phone, text)})
        if request.method not in _GET:
            return _json(405, {"__type": "MethodNotAllowed", "message": "only GET is served here"})
        if port is None:
            return not_found("this server does not run the sns service")
        query = dict(request.query_params())
        if name.startswith("SimpleNotificationService-") and name.endswith(".pem"):
            cert = await port.certificate(name[len("SimpleNotificationService-"):-len(".pem")])
            if cert is None:
                return not_found(f"no certificate {name}")
            return HttpResponse(200, [("content-type", "application/x-pem-file")], cert.encode())
        if name == "mail":
            try:
                after = int(query.get("after") or 0)
                limit = max(1, min(1000, int(query.get("limit") or 100)))
            except ValueError:
                return bad_request("after and limit are integers")
            mail = await port.mailbox(query.get("to") or None, after, limit, query.get("kind") or None)
            return _json(200, {"Messages": [
                {"Id": m.id, "Account": m.account, "Region": m.region, "Kind": m.kind, "To": m.recipient,
                 "From": m.sender, "Subject": m.subject, "Body": m.body, "TopicArn": m.topic_arn,
                 "SubscriptionArn": m.subscription_arn, "MessageId": m.message_id, "SubscribeURL": m.subscribe_url,
                 "Time": m.created_at} for m in mail]})
        if name == "deliveries":
            rows = await port.deliveries(message_id=query.get("message_id"), topic_arn=query.get("topic_arn"))
            return _json(200, {"Deliveries": [
                {"MessageId": d.message_id, "TopicArn": d.source_arn, "SubscriptionArn": d.target_arn,
                 "Protocol": d.protocol, "Outcome": d.outcome, "Reason": d.reason, "Time": d.at,
                 "TraceId": d.trace_id} for d in rows]})
        return not_found(f"No internal endpoint {request.method} {request.path}")

    async def lambda_code(ex: Exchange) -> HttpResponse:
        port = platform.ports.find(LAMBDA)
        data = await port.code(ex.request.path.rsplit("/", 1)[-1]) if port is not None else None
        if data is None:
            return HttpResponse(404, list(_JSON),
                                b'{"__type":"ResourceNotFoundException","message":"No such code package"}')
        return HttpResponse(200, [("content-type", "application/zip")], data if ex.request.method == "GET" else b"")

    async def unknown(ex: Exchange) -> HttpResponse:
        return not_found(f"No internal endpoint {ex.request.method} {ex.request.path}")

    def exact(path: str) -> Callable[[Any], bool]:
        return lambda request: request.path.rstrip("/") == path

    routes.add(Route("health", health, prefix="/_tsunagi/health", match=exact("/_tsunagi/health"), methods=_GET))
    routes.add(Route("reset", admin(reset), prefix="/_tsunagi/reset", match=exact("/_tsunagi/reset"),
                     methods=frozenset({"POST"})))
    routes.add(Route("deliveries", admin(deliveries), prefix="/_tsunagi/api/deliveries", methods=_GET))
    routes.add(Route("sns-certificate", sns, prefix="/_tsunagi/sns/SimpleNotificationService-"))
    routes.add(Route("sns", admin(sns), prefix="/_tsunagi/sns/"))
    routes.add(Route("lambda-code", admin(lambda_code, signed=True), prefix="/_tsunagi/lambda/code/", methods=_GET))
    routes.add(Route("internal", unknown, prefix="/_tsunagi/"))


"""SNS's endpoints under ``/_tsunagi/sns/`` (registered with :meth:`Platform.add_internal_route`):

- ``GET /_tsunagi/sns/SimpleNotificationService-<key id>.pem``: the certificate messages are signed
  with (the ``SigningCertURL`` of every message);
- ``GET /_tsunagi/sns/mail[?to=<address>&after=<id>&limit=<n>]``: the local mailbox as JSON
  (``{"Messages": [...]}``): e-mail and SMS deliveries and subscription confirmations; read by
  ``tsunagi mail``;
- ``GET /_tsunagi/sns/deliveries?message_id=<id>`` or ``?topic_arn=<arn>``: delivery records
  (``{"Deliveries": [...]}``): what happened to each message for each subscription, and why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from tsunagi.protocol.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from tsunagi.services.sns.service import SnsService

PREFIX = "/_tsunagi/sns/"
_JSON = [("content-type", "application/json")]


def _not_found(what: str) -> HttpResponse:
    return HttpResponse(404, list(_JSON), orjson.dumps({"__type": "NotFound", "message": what}))


async def handle(svc: SnsService, request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(405, list(_JSON), orjson.dumps({"__type": "MethodNotAllowed",
                                                             "message": "only GET is served here"}))
    name = request.path[len(PREFIX):]
    query = dict(request.query_params())
    if name.startswith("SimpleNotificationService-") and name.endswith(".pem"):
        key_id = name[len("SimpleNotificationService-"):-len(".pem")]
        cert = await svc.repo.certificate(key_id)
        if cert is None:
            return _not_found(f"no certificate {name}")
        return HttpResponse(200, [("content-type", "application/x-pem-file")], cert.encode())
    if name == "mail":
        try:
            after = int(query.get("after") or 0)
            limit = max(1, min(1000, int(query.get("limit") or 100)))
        except ValueError:
            return HttpResponse(400, list(_JSON), orjson.dumps({"__type": "BadRequest",
                                                                 "message": "after and limit are integers"}))
        mail: list[dict[str, Any]] = await svc.mailbox(query.get("to") or None, after, limit)
        return HttpResponse(200, list(_JSON), orjson.dumps({"Messages": mail}))
    if name == "deliveries":
        rows = await svc.deliveries(message_id=query.get("message_id"), topic_arn=query.get("topic_arn"))
        return HttpResponse(200, list(_JSON), orjson.dumps({"Deliveries": rows}))
    return _not_found(f"No internal endpoint {request.method} {request.path}")

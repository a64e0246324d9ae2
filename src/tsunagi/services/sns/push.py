"""Mobile push: what a device of each platform receives, and the outbox row that carries it.

Nothing here can reach APNs, FCM and the rest, so each notification goes to the local mailbox (kind
``push``, addressed to the endpoint ARN, from its platform application), where ``tsunagi mail
--kind push`` reads it, with the body as the platform's push service would get it:

- a ``MessageStructure=json`` message with the platform's own key (``APNS``, ``APNS_SANDBOX``,
  ``GCM``, ``ADM``, ``BAIDU``, ``MPNS``, ``WNS``): that value, as it is;
- otherwise the ``default`` text (or the plain message), in the form SNS wraps it for the platform:
  APNs ``{"aps":{"alert":…}}``, FCM and ADM ``{"data":{"default":…}}``, Baidu
  ``{"title":…,"description":…}``, MPNS and WNS the text itself.
"""

from __future__ import annotations

import orjson

from tsunagi.ports.outbox import JsonObject, OutboxItem

PLATFORMS = ("ADM", "APNS", "APNS_SANDBOX", "BAIDU", "GCM", "MPNS", "WNS")
DIRECT = "direct"             # the mail handler's marker for a row with no subscription behind it


def device_payload(platform: str, message: str, per_protocol: dict[str, str] | None) -> str:
    """What the push service of ``platform`` is given for a message (see the module's notes)."""
    if per_protocol is not None:
        own = per_protocol.get(platform)
        if own is not None:
            return own
        text = per_protocol["default"]
    else:
        text = message
    if platform in ("APNS", "APNS_SANDBOX"):
        doc: dict[str, object] = {"aps": {"alert": text}}
    elif platform in ("GCM", "ADM"):
        doc = {"data": {"default": text}}
    elif platform == "BAIDU":
        doc = {"title": text, "description": text}
    else:
        return text
    return orjson.dumps(doc).decode()


def push_payload(*, endpoint_arn: str, app_arn: str, platform: str, body: str, message_id: str, account: str,
                 region: str, topic_arn: str | None = None) -> JsonObject:
    """The ``sns-mail`` outbox payload of one push notification: the handler puts it in the local
    mailbox (never through SMTP). A topic's notification (``topic_arn``) gets a delivery record; a
    direct publish to the endpoint has no subscription behind it."""
    payload: JsonObject = {"kind": "push", "to": endpoint_arn, "from": app_arn, "subject": platform, "body": body,
                           "message_id": message_id, "account": account, "region": region, "attempt": 1,
                           "local_only": True, "protocol": "application", "source_arn": topic_arn}
    if topic_arn is not None:
        payload["pipe"] = "sns"
    else:
        payload["subscribe_url"] = DIRECT
    return payload


def direct_row(payload: JsonObject, trace_id: str | None) -> OutboxItem:
    """The outbox row of a direct publish's push notification or text."""
    return OutboxItem("sns-mail", f"{payload['kind']}:{payload['to']}", payload, trace_id)

"""Mobile push: platform applications (Create/Get/Set/Delete/List), their endpoints (Create/Get/Set/
Delete/ListEndpointsByPlatformApplication) and Publish with a TargetArn naming an endpoint.

An application's ARN is ``arn:aws:sns:<region>:<account>:app/<PLATFORM>/<name>``, an endpoint's
``arn:aws:sns:<region>:<account>:endpoint/<PLATFORM>/<name>/<uuid>``. The credentials are kept (and never
shown again, as on AWS) but cannot be checked with the push services, which cannot be reached from
here; each notification goes to the local mailbox instead (:mod:`.push`).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from tsunagi.context import RequestContext
from tsunagi.ids import uuid4, uuid7
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.base import Platform
from tsunagi.services.sns.catalog import PAGE, TOPIC_ARN, page_after, page_token
from tsunagi.services.sns.errors import (
    EndpointDisabled,
    NotFound,
    PlatformApplicationDisabled,
    invalid,
)
from tsunagi.services.sns.publishing import MAX_MESSAGE_BYTES, message_attributes, message_parts
from tsunagi.services.sns.push import PLATFORMS, device_payload, direct_row, push_payload
from tsunagi.store.sns_mobile import AppRow, EndpointRow, MobileRepo

APP_ARN = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):app/([A-Z_]+)/([A-Za-z0-9_.-]{1,256})$")
ENDPOINT_ARN = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):endpoint/([A-Z_]+)/([A-Za-z0-9_.-]{1,256})/"
                          r"[0-9a-f-]{36}$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
EVENTS = ("EventEndpointCreated", "EventEndpointDeleted", "EventEndpointUpdated", "EventDeliveryFailure")
APP_ATTRIBUTES = frozenset({"PlatformCredential", "PlatformPrincipal", *EVENTS, "SuccessFeedbackRoleArn",
                            "FailureFeedbackRoleArn", "SuccessFeedbackSampleRate", "ApplePlatformTeamID",
                            "ApplePlatformBundleID", "Enabled"})
HIDDEN = frozenset({"PlatformCredential", "PlatformPrincipal"})     # never returned, as on AWS
ENDPOINT_ATTRIBUTES = frozenset({"CustomUserData", "Enabled", "Token"})
MAX_USER_DATA = 2048          # CustomUserData: UTF-8 bytes
# platforms whose PlatformPrincipal is required (APNs' certificate or signing key id, ADM's client id,
# Baidu's API key, WNS's package security identifier); FCM and MPNS need only the credential
NEEDS_PRINCIPAL = frozenset({"ADM", "APNS", "APNS_SANDBOX", "BAIDU", "WNS"})


def _bool(value: str, name: str) -> str:
    low = value.lower()
    if low not in ("true", "false"):
        raise invalid(f"Attributes Reason: {name} must be true or false")
    return low


def check_app_attributes(given: dict[str, Any], platform: str, stored: dict[str, str] | None) -> dict[str, str]:
    """The attributes an application has once ``given`` is applied to ``stored`` (None: a new one)."""
    out = dict(stored or {})
    for name, raw in given.items():
        if name not in APP_ATTRIBUTES:
            raise invalid(f"Attributes Reason: Invalid attribute name: {name}")
        value = "" if raw is None else str(raw)
        if name in EVENTS and value and not TOPIC_ARN.match(value):
            raise invalid(f"Attributes Reason: {name}: invalid topic ARN: {value}")
        if name in ("SuccessFeedbackRoleArn", "FailureFeedbackRoleArn") and value and not _ROLE_ARN.match(value):
            raise invalid(f"Attributes Reason: {name}: invalid IAM role ARN: {value}")
        if name == "SuccessFeedbackSampleRate" and value and (not value.isdigit() or int(value) > 100):
            raise invalid("Attributes Reason: SuccessFeedbackSampleRate must be an integer from 0 to 100")
        if name == "Enabled":
            value = _bool(value, name)
        out[name] = value
    if not out.get("PlatformCredential"):
        raise invalid("Attributes Reason: Platform credentials are invalid")
    if platform in NEEDS_PRINCIPAL and not out.get("PlatformPrincipal"):
        raise invalid("PlatformPrincipal not valid.")
    if platform in ("APNS", "APNS_SANDBOX") and bool(out.get("ApplePlatformTeamID")) != bool(
            out.get("ApplePlatformBundleID")):
        raise invalid("Attributes Reason: token-based authentication needs both ApplePlatformTeamID and "
                      "ApplePlatformBundleID")
    out.setdefault("Enabled", "true")
    return out


def shown_app(row: AppRow) -> dict[str, str]:
    """An application's attributes as Get/ListPlatformApplications show them (no credentials)."""
    return {k: v for k, v in orjson.loads(row.attributes).items() if k not in HIDDEN and v != ""}


def check_token(platform: str, token: Any) -> str:
    if not isinstance(token, str) or not token:
        raise invalid("Token Reason: cannot be empty")
    if platform in ("APNS", "APNS_SANDBOX") and (len(token) > 400 or not _HEX.match(token)):
        raise invalid("Token Reason: iOS device tokens must be no more than 400 hexadecimal characters")
    if len(token) > 4096:
        raise invalid("Token Reason: must be at most 4096 characters long")
    return token


def check_user_data(value: Any) -> str:
    text = "" if value is None else str(value)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_USER_DATA:
        raise invalid("CustomUserData Reason: must be at most 2048 bytes long in UTF-8 encoding")
    return text


class TopicPublisher(Protocol):
    async def publish(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]: ...


log = logging.getLogger("tsunagi.sns.delivery")


class Mobile:
    def __init__(self, platform: Platform, repo: MobileRepo) -> None:
        self.platform = platform
        self.store = platform.store
        self.clock = platform.clock
        self.repo = repo
        self.topics: TopicPublisher | None = None     # publishes the application's Event* notifications

    async def event(self, ctx: RequestContext, app: AppRow, event: str, endpoint_arn: str) -> None:
        """Tell the application's ``Event<event>`` topic, when it has one, that ``endpoint_arn`` changed
        (``EndpointCreated``, ``EndpointUpdated``, ``EndpointDeleted``). A topic that is gone (or refuses the
        message) costs the notification only, as on AWS."""
        topic = orjson.loads(app.attributes).get(f"Event{event}")
        if not topic or self.topics is None:
            return
        when = datetime.fromtimestamp(self.clock.now_ms() / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        doc = {"EndpointArn": endpoint_arn, "EventType": event, "Resource": app.arn, "Service": "SNS", "Time": when}
        try:
            await self.topics.publish(ctx, {"TopicArn": topic, "Message": orjson.dumps(doc).decode()})
        except ServiceError as e:
            log.info("SNS: %s event of %s not published to %s: %s: %s", event, endpoint_arn, topic, e.code, e.message)

    # == lookups =================================================================================
    async def app(self, ctx: RequestContext, arn: Any, param: str = "PlatformApplicationArn") -> AppRow:
        m = APP_ARN.match(arn) if isinstance(arn, str) else None
        if m is None:
            raise invalid(f"{param} Reason: Wrong format for PlatformApplicationArn")
        row = await self.repo.app(arn) if m.group(1) == ctx.region else None
        if row is None:
            raise NotFound("PlatformApplication does not exist")
        return row

    async def endpoint(self, ctx: RequestContext, arn: Any, param: str = "EndpointArn") -> EndpointRow:
        m = ENDPOINT_ARN.match(arn) if isinstance(arn, str) else None
        if m is None:
            raise invalid(f"{param} Reason: Wrong format for EndpointArn")
        row = await self.repo.endpoint(arn) if m.group(1) == ctx.region else None
        if row is None:
            raise NotFound("Endpoint does not exist")
        return row

    # == platform applications ========================================================================
    async def create_platform_application(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("Name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise invalid("Name Reason: must be 1 to 256 alphanumeric characters, hyphens, underscores or periods")
        platform = params.get("Platform")
        if platform not in PLATFORMS:
            raise invalid(f"Platform Reason: {platform} is not supported")
        attrs = check_app_attributes(dict(params.get("Attributes") or {}), platform, None)
        arn = f"arn:aws:sns:{ctx.region}:{ctx.account}:app/{platform}/{name}"
        doc = orjson.dumps(attrs).decode()
        if not await self.repo.create_app(AppRow(arn, ctx.account, ctx.region, platform, name, doc,
                                                 self.clock.now_ms())):
            existing = await self.repo.app(arn)
            if existing is not None and orjson.loads(existing.attributes) != attrs:
                raise invalid("Name Reason: An application with the same name and platform already exists with "
                              "different attributes")
        return {"PlatformApplicationArn": arn}

    async def get_platform_application_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.app(ctx, params.get("PlatformApplicationArn"))
        return {"Attributes": shown_app(row)}

    async def set_platform_application_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.app(ctx, params.get("PlatformApplicationArn"))
        attrs = check_app_attributes(dict(params.get("Attributes") or {}), row.platform,
                                     orjson.loads(row.attributes))
        await self.repo.set_app_attributes(row.arn, orjson.dumps(attrs).decode())
        return {}

    async def delete_platform_application(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = params.get("PlatformApplicationArn")
        m = APP_ARN.match(arn) if isinstance(arn, str) else None
        if m is None:
            raise invalid("PlatformApplicationArn Reason: Wrong format for PlatformApplicationArn")
        if m.group(1) == ctx.region:
            await self.repo.delete_app(str(arn))        # idempotent, as on AWS
        return {}

    async def list_platform_applications(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rows = await self.repo.list_apps(ctx.account, ctx.region, page_after(params.get("NextToken")), PAGE + 1)
        out: dict[str, Any] = {"PlatformApplications": [
            {"PlatformApplicationArn": r.arn, "Attributes": shown_app(r)} for r in rows[:PAGE]]}
        if len(rows) > PAGE:
            out["NextToken"] = page_token(rows[PAGE - 1].arn)
        return out

    # == endpoints ======================================================================================
    async def create_platform_endpoint(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        app = await self.app(ctx, params.get("PlatformApplicationArn"))
        given = dict(params.get("Attributes") or {})
        for name in given:
            if name not in ENDPOINT_ATTRIBUTES:
                raise invalid(f"Attributes Reason: Invalid attribute name: {name}")
        token = check_token(app.platform, params.get("Token") if params.get("Token") is not None
                            else given.get("Token"))
        attrs = {"Enabled": _bool(str(given.get("Enabled", "true")), "Enabled"), "Token": token}
        user_data = params.get("CustomUserData", given.get("CustomUserData"))
        if user_data is not None:
            attrs["CustomUserData"] = check_user_data(user_data)
        arn = f"arn:aws:sns:{ctx.region}:{ctx.account}:endpoint/{app.platform}/{app.name}/{uuid4()}"
        if await self.repo.create_endpoint(EndpointRow(arn, app.arn, token, orjson.dumps(attrs).decode(),
                                                       self.clock.now_ms())):
            await self.event(ctx, app, "EndpointCreated", arn)
            return {"EndpointArn": arn}
        existing = await self.repo.endpoint_by_token(app.arn, token)
        if existing is None:            # deleted meanwhile: the caller may try again
            raise invalid("Token Reason: the endpoint with this token was deleted while it was created")
        have = orjson.loads(existing.attributes)
        if have.get("Enabled", "true") != attrs["Enabled"] or have.get("CustomUserData", "") != attrs.get(
                "CustomUserData", ""):
            raise invalid(f"Token Reason: Endpoint {existing.arn} already exists with the same Token, but "
                          "different attributes.")
        return {"EndpointArn": existing.arn}

    async def get_endpoint_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.endpoint(ctx, params.get("EndpointArn"))
        return {"Attributes": {k: v for k, v in orjson.loads(row.attributes).items() if v != ""}}

    async def set_endpoint_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.endpoint(ctx, params.get("EndpointArn"))
        app = await self.repo.app(row.app_arn)
        attrs: dict[str, str] = orjson.loads(row.attributes)
        for name, value in dict(params.get("Attributes") or {}).items():
            if name == "Enabled":
                attrs[name] = _bool(str(value), name)
            elif name == "Token":
                attrs[name] = check_token(app.platform if app else "", value)
            elif name == "CustomUserData":
                attrs[name] = check_user_data(value)
            else:
                raise invalid(f"Attributes Reason: Invalid attribute name: {name}")
        token = attrs["Token"]
        if token != row.token:
            other = await self.repo.endpoint_by_token(row.app_arn, token)
            if other is not None and other.arn != row.arn:
                raise invalid(f"Token Reason: Endpoint {other.arn} already exists with the same Token")
        await self.repo.set_endpoint(row.arn, token, orjson.dumps(attrs).decode())
        if app is not None and attrs != orjson.loads(row.attributes):
            await self.event(ctx, app, "EndpointUpdated", row.arn)
        return {}

    async def delete_endpoint(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = params.get("EndpointArn")
        m = ENDPOINT_ARN.match(arn) if isinstance(arn, str) else None
        if m is None:
            raise invalid("EndpointArn Reason: Wrong format for EndpointArn")
        row = await self.repo.endpoint(str(arn)) if m.group(1) == ctx.region else None
        if row is not None:                             # (idempotent, as on AWS)
            await self.repo.delete_endpoint(row.arn)
            app = await self.repo.app(row.app_arn)
            if app is not None:
                await self.event(ctx, app, "EndpointDeleted", row.arn)
        return {}

    async def list_endpoints_by_platform_application(self, ctx: RequestContext,
                                                     params: dict[str, Any]) -> dict[str, Any]:
        app = await self.app(ctx, params.get("PlatformApplicationArn"))
        rows = await self.repo.list_endpoints(app.arn, page_after(params.get("NextToken")), PAGE + 1)
        out: dict[str, Any] = {"Endpoints": [
            {"EndpointArn": r.arn, "Attributes": {k: v for k, v in orjson.loads(r.attributes).items() if v != ""}}
            for r in rows[:PAGE]]}
        if len(rows) > PAGE:
            out["NextToken"] = page_token(rows[PAGE - 1].arn)
        return out

    # == Publish to an endpoint ==========================================================================
    async def publish_to_endpoint(self, ctx: RequestContext, target_arn: str, params: dict[str, Any]) -> dict[str, Any]:
        endpoint = await self.endpoint(ctx, target_arn, "TargetArn")
        app = await self.repo.app(endpoint.app_arn)
        if app is None:
            raise NotFound("Endpoint does not exist")
        message, per_platform = check_message(params)
        if orjson.loads(app.attributes).get("Enabled", "true") != "true":
            raise PlatformApplicationDisabled("Platform application is disabled")
        if orjson.loads(endpoint.attributes).get("Enabled", "true") != "true":
            raise EndpointDisabled("Endpoint is disabled")
        message_id = uuid7()
        payload = push_payload(endpoint_arn=endpoint.arn, app_arn=app.arn, platform=app.platform,
                               body=device_payload(app.platform, message, per_platform), message_id=message_id,
                               account=app.account, region=app.region)
        async with self.store.transaction() as tx:
            await self.platform.outbox.add(tx, [direct_row(payload, ctx.trace_id)])
        return {"MessageId": message_id}


def check_message(params: dict[str, Any]) -> tuple[str, dict[str, str] | None]:
    """A direct publish's message (and its per-platform texts with MessageStructure=json), checked as
    a topic's are; AWS's error otherwise."""
    message, _subject, per = message_parts(params)
    # SNS's own attributes (AWS.SNS.SMS.SenderID, AWS.SNS.MOBILE.APNS.PUSH_TYPE, ...) are settings, not the
    # message's: only the others are checked as a message's attributes are
    message_attributes({k: v for k, v in (params.get("MessageAttributes") or {}).items()
                        if not k.startswith("AWS.SNS.")})
    if len(message.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES:
        raise invalid("Message too long")
    if params.get("MessageGroupId") or params.get("MessageDeduplicationId"):
        raise invalid("MessageGroupId Reason: The request includes MessageGroupId parameter that is not valid "
                      "for this topic type")
    return message, per

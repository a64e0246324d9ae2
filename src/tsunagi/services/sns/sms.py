"""SMS: Publish to a PhoneNumber, the account's SMS attributes, opted-out numbers and the SMS sandbox.

No SMS gateway can be reached from here: every text (a direct publish, a one-time password of the
sandbox) goes to the local mailbox (kind ``sms``, addressed to the number; ``tsunagi mail``).

The sandbox: on AWS a new account is in the SMS sandbox and may text only the destination numbers
it has verified. Here an account is out of it unless the server runs with ``TSUNAGI_SNS_SMS_SANDBOX``
(``sns_sms_sandbox``), since a local developer expects a text to arrive where it was sent; either way
the sandbox's numbers can be added, verified (the one-time password is in the mailbox), listed and
deleted. In the sandbox, Publish to a number that is not verified is refused (``AuthorizationError``).

A number opts out when it answers ``STOP`` (``POST /_tsunagi/sns/sms-reply``, what a phone's reply would
be); texts to it are then dropped, as AWS drops them, until OptInPhoneNumber.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

import orjson

from tsunagi.context import RequestContext
from tsunagi.ids import uuid7
from tsunagi.services.base import Platform
from tsunagi.services.sns.catalog import page_after, page_token
from tsunagi.services.sns.errors import (
    AuthorizationError,
    OptedOut,
    ResourceNotFound,
    UserError,
    ValidationException,
    VerificationException,
    invalid,
)
from tsunagi.services.sns.mobile import check_message
from tsunagi.services.sns.phones import E164
from tsunagi.services.sns.push import direct_row
from tsunagi.store.sns_mobile import MobileRepo, SandboxNumber

log = logging.getLogger("tsunagi.sns.delivery")

SANDBOX_NUMBER = re.compile(r"^(\+[0-9]{8,}|[0-9]{0,9})$")      # botocore's PhoneNumberString
OTP = re.compile(r"^[0-9]{5,8}$")
SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9]{1,11}$")
LANGUAGES = ("en-US", "en-GB", "es-419", "es-ES", "de-DE", "fr-CA", "fr-FR", "it-IT", "ja-JP", "pt-BR", "kr-KR",
             "zh-CN", "zh-TW")
SMS_TYPES = ("Promotional", "Transactional")
SMS_ATTRIBUTES = ("MonthlySpendLimit", "DeliveryStatusIAMRole", "DeliveryStatusSuccessSamplingRate",
                  "DefaultSenderID", "DefaultSMSType", "UsageReportS3Bucket")
MAX_SANDBOX_NUMBERS = 10
OPT_OUT_WORDS = frozenset({"STOP", "ARRET", "CANCEL", "END", "OPT-OUT", "OPTOUT", "QUIT", "REMOVE", "STOPALL",
                           "UNSUBSCRIBE"})
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
PAGE = 100


def check_sms_attribute(name: str, value: Any) -> str:
    """One SetSMSAttributes attribute, checked as AWS documents it."""
    text = "" if value is None else str(value)
    if name not in SMS_ATTRIBUTES:
        raise invalid(f"{name} Reason: not a valid SMS attribute")
    if name == "MonthlySpendLimit" and (not text.isdigit()):
        raise invalid("MonthlySpendLimit Reason: must be a whole number of US dollars")
    if name == "DeliveryStatusIAMRole" and text and not _ROLE_ARN.match(text):
        raise invalid("DeliveryStatusIAMRole Reason: must be an IAM role ARN")
    if name == "DeliveryStatusSuccessSamplingRate" and text and (not text.isdigit() or int(text) > 100):
        raise invalid("DeliveryStatusSuccessSamplingRate Reason: must be an integer from 0 to 100")
    if name == "DefaultSenderID" and text and not SENDER_ID.match(text):
        raise invalid("DefaultSenderID Reason: must be 1 to 11 alphanumeric characters with at least one letter")
    if name == "DefaultSMSType" and text not in SMS_TYPES:
        raise invalid("DefaultSMSType Reason: must be Promotional or Transactional")
    if name == "UsageReportS3Bucket" and text and not _BUCKET.match(text):
        raise invalid("UsageReportS3Bucket Reason: not a valid bucket name")
    return text


def e164(phone: Any, param: str) -> str:
    if not isinstance(phone, str) or not E164.match(phone):
        raise invalid(f"{param} Reason: {phone} is not valid to publish to" if param == "PhoneNumber"
                      else f"{param} Reason: input incorrectly formatted")
    return phone


def sandbox_number(phone: Any) -> str:
    if not isinstance(phone, str) or not phone or not SANDBOX_NUMBER.match(phone) or len(phone) > 20:
        raise invalid("PhoneNumber Reason: input incorrectly formatted")
    return phone


class Sms:
    def __init__(self, platform: Platform, repo: MobileRepo) -> None:
        self.platform = platform
        self.store = platform.store
        self.clock = platform.clock
        self.repo = repo
        self.sandboxed = platform.config.sns_sms_sandbox

    async def _text(self, ctx: RequestContext, phone: str, sender: str, body: str, subject: str = "") -> str:
        message_id = uuid7()
        payload = {"kind": "sms", "to": phone, "from": sender, "subject": subject, "body": body,
                   "message_id": message_id, "source_arn": None, "account": ctx.account, "region": ctx.region,
                   "attempt": 1, "local_only": True, "subscribe_url": "direct"}
        async with self.store.transaction() as tx:
            await self.platform.outbox.add(tx, [direct_row(payload, ctx.trace_id)])
        return message_id

    async def settings(self, ctx: RequestContext) -> dict[str, str]:
        doc = await self.repo.sms_settings(ctx.account, ctx.region)
        return dict(orjson.loads(doc)) if doc else {}

    # == Publish to a phone number =======================================================================
    async def publish_sms(self, ctx: RequestContext, phone: str, params: dict[str, Any]) -> dict[str, Any]:
        phone = e164(phone, "PhoneNumber")
        message, _ = check_message(params)
        attrs = params.get("MessageAttributes") or {}
        settings = await self.settings(ctx)
        sender = (attrs.get("AWS.SNS.SMS.SenderID") or {}).get("StringValue") or settings.get("DefaultSenderID") \
            or "SNS"
        sms_type = (attrs.get("AWS.SNS.SMS.SMSType") or {}).get("StringValue") or settings.get("DefaultSMSType") \
            or "Promotional"
        if sms_type not in SMS_TYPES:
            raise invalid("MessageAttributes Reason: AWS.SNS.SMS.SMSType must be Promotional or Transactional")
        if self.sandboxed:
            number = await self.repo.sandbox_number(ctx.account, ctx.region, phone)
            if number is None or number.status != "Verified":
                raise AuthorizationError(f"Your account is in the SMS sandbox: {phone} is not a verified destination "
                                         "phone number (CreateSMSSandboxPhoneNumber, VerifySMSSandboxPhoneNumber)")
        if await self.repo.opted_out(ctx.account, ctx.region, phone):
            message_id = uuid7()
            log.info("SNS: SMS %s to %s not delivered: the phone number is opted out", message_id, phone)
            return {"MessageId": message_id}
        return {"MessageId": await self._text(ctx, phone, sender, message, sms_type)}

    # == SMS attributes ===============================================================================
    async def set_sms_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        settings = await self.settings(ctx)
        for name, value in dict(params.get("attributes") or {}).items():
            settings[name] = check_sms_attribute(name, value)
        await self.repo.put_sms_settings(ctx.account, ctx.region, orjson.dumps(settings).decode())
        return {}

    async def get_sms_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        settings = {k: v for k, v in (await self.settings(ctx)).items() if v != ""}
        names = params.get("attributes")
        if names:
            settings = {k: v for k, v in settings.items() if k in names}
        return {"attributes": settings}

    # == opt-outs ======================================================================================
    async def check_if_phone_number_is_opted_out(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        phone = e164(params.get("phoneNumber"), "phoneNumber")
        return {"isOptedOut": await self.repo.opted_out(ctx.account, ctx.region, phone)}

    async def list_phone_numbers_opted_out(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        phones = await self.repo.opt_outs(ctx.account, ctx.region, page_after(params.get("nextToken")), PAGE + 1)
        out: dict[str, Any] = {"phoneNumbers": phones[:PAGE]}
        if len(phones) > PAGE:
            out["nextToken"] = page_token(phones[PAGE - 1])
        return out

    async def opt_in_phone_number(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        phone = e164(params.get("phoneNumber"), "phoneNumber")
        await self.repo.opt_in(ctx.account, ctx.region, phone)
        return {}

    async def reply(self, account: str, region: str, phone: str, text: str) -> bool:
        """A text from ``phone`` to the account: an opt-out keyword opts it out. Whether it did."""
        if text.strip().upper() not in OPT_OUT_WORDS:
            return False
        await self.repo.opt_out(account, region, phone, self.clock.now_ms())
        return True

    # == the sandbox ===================================================================================
    async def get_sms_sandbox_account_status(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"IsInSandbox": self.sandboxed}

    async def create_sms_sandbox_phone_number(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        phone = sandbox_number(params.get("PhoneNumber"))
        language = params.get("LanguageCode") or "en-US"
        if language not in LANGUAGES:
            raise invalid("LanguageCode")
        if await self.repo.opted_out(ctx.account, ctx.region, phone):
            raise OptedOut(f"Phone number {phone} has opted out of receiving SMS messages from this account")
        existing = await self.repo.sandbox_number(ctx.account, ctx.region, phone)
        if existing is None and await self.repo.count_sandbox_numbers(ctx.account, ctx.region) >= MAX_SANDBOX_NUMBERS:
            raise UserError(f"The account already has {MAX_SANDBOX_NUMBERS} destination phone numbers in the SMS "
                            "sandbox")
        if existing is not None and existing.status == "Verified":
            raise UserError(f"Phone number {phone} is already verified")
        otp = f"{secrets.randbelow(10**6):06d}"
        await self.repo.put_sandbox_number(ctx.account, ctx.region, SandboxNumber(phone, "Pending", otp,
                                                                                  self.clock.now_ms()))
        await self._text(ctx, phone, "SNS", f"Your Amazon SNS verification code is: {otp}", "Transactional")
        return {}

    async def verify_sms_sandbox_phone_number(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        phone = sandbox_number(params.get("PhoneNumber"))
        otp = params.get("OneTimePassword")
        if not isinstance(otp, str) or not OTP.match(otp):
            raise invalid("OneTimePassword")
        number = await self.repo.sandbox_number(ctx.account, ctx.region, phone)
        if number is None:
            raise ResourceNotFound(f"Phone number {phone} is not in the SMS sandbox of this account")
        if number.status == "Verified":
            return {}
        if not secrets.compare_digest(otp, number.otp):
            raise VerificationException("Invalid one-time password", Status="Failed")
        await self.repo.put_sandbox_number(ctx.account, ctx.region, number._replace(status="Verified",
                                                                                    at=self.clock.now_ms()))
        return {}

    async def delete_sms_sandbox_phone_number(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        phone = sandbox_number(params.get("PhoneNumber"))
        if not await self.repo.delete_sandbox_number(ctx.account, ctx.region, phone):
            raise ResourceNotFound(f"Phone number {phone} is not in the SMS sandbox of this account")
        return {}

    async def list_sms_sandbox_phone_numbers(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limit = _max_results(params.get("MaxResults"), 100)
        rows = await self.repo.sandbox_numbers(ctx.account, ctx.region, page_after(params.get("NextToken")), limit + 1)
        out: dict[str, Any] = {"PhoneNumbers": [{"PhoneNumber": r.phone, "Status": r.status} for r in rows[:limit]]}
        if len(rows) > limit:
            out["NextToken"] = page_token(rows[limit - 1].phone)
        return out

    async def list_origination_numbers(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        _max_results(params.get("MaxResults"), 30)
        return {"PhoneNumbers": []}     # no origination number can be bought here


def _max_results(value: Any, most: int) -> int:
    if value is None:
        return most
    n = int(value)
    if not 1 <= n <= most:
        raise ValidationException(f"1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy "
                                  f"constraint: Member must have value less than or equal to {most}"
                                  if n > most else
                                  f"1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy "
                                  "constraint: Member must have value greater than or equal to 1")
    return n

"""Encryption at rest for topics with a KMS key (``KmsMasterKeyId``: a key id or ARN, an alias, or
``alias/aws/sns``), through KMS's port.

What SNS itself keeps of a message is the outbox rows of the deliveries it has not made yet (http/https,
Lambda, e-mail and SMS subscriptions, and their retries). For an encrypted topic, each row's payload
keeps in the clear only what the outbox and the delivery records need (:data:`~tsunagi.ports.sns.CLEAR_MEMBERS`:
message id, topic, protocol, attempt, dead-letter queue); the rest (body, endpoint, headers, Lambda
event) is sealed with AES-256-GCM under a data key KMS generates for the publish (encryption context
``{"aws:sns:topicArn": <topic ARN>}``, as AWS's SNS asks for), the message id and the row's target
bound as additional authenticated data. The blob carries the data key's KMS ciphertext and the
topic ARN, so it opens whatever happened to the topic's attributes since.

SQS subscriptions get their message in their queue in the publish's transaction: the queue applies
its own encryption (a topic with a key delivering to a queue without one stores the message in the
clear in that queue, as on AWS).

Every publish to an encrypted topic asks KMS for a data key (one per Publish or PublishBatch) before
its transaction, so a disabled key, one pending deletion, one that does not exist or a key policy that
does not allow SNS fails the publish with SNS's ``KMS*`` errors and nothing is written.
"""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import Mapping
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tsunagi.clock import Clock
from tsunagi.context import RequestContext, Source, internal_context
from tsunagi.ports import Ports
from tsunagi.ports.kms import KMS, DataKey, DataKeyCache, KmsError
from tsunagi.ports.sns import CLEAR_MEMBERS, SEALED
from tsunagi.services.sns.attributes import Topic
from tsunagi.services.sns.errors import KMSNotFound, from_kms

_VERSION = 1
_NONCE_BYTES = 12
_LENGTH = struct.Struct(">H")
_SERVICE = "sns"
_OPENED_REUSE_S = 60.0      # a data key decrypted for deliveries is reused this long (retries, fan-outs)


def context_of(topic_arn: str) -> dict[str, str]:
    """The encryption context of a topic's data keys."""
    return {"aws:sns:topicArn": topic_arn}


def _aad(message_id: str, target: str) -> bytes:
    return f"{message_id}\n{target}".encode()


def seal_payload(key: DataKey, topic_arn: str, target: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` (an outbox row's, for ``target``) with everything but its clear members sealed."""
    clear = {k: payload[k] for k in CLEAR_MEMBERS if k in payload}
    secret = {k: v for k, v in payload.items() if k not in clear}
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(key.plaintext).encrypt(nonce, orjson.dumps(secret),
                                           _aad(str(payload.get("message_id") or ""), target))
    arn = topic_arn.encode()
    blob = b"".join((bytes((_VERSION,)), _LENGTH.pack(len(arn)), arn, _LENGTH.pack(len(key.ciphertext)),
                     key.ciphertext, nonce, sealed))
    clear[SEALED] = base64.b64encode(blob).decode()
    return clear


def _parse(blob: bytes) -> tuple[str, bytes, bytes, bytes]:
    if not blob or blob[0] != _VERSION:
        raise ValueError("not a sealed SNS delivery")
    at = 1
    (n,) = _LENGTH.unpack_from(blob, at)
    arn = blob[at + 2:at + 2 + n].decode()
    at += 2 + n
    (n,) = _LENGTH.unpack_from(blob, at)
    key_ciphertext = blob[at + 2:at + 2 + n]
    at += 2 + n
    return arn, key_ciphertext, blob[at:at + _NONCE_BYTES], blob[at + _NONCE_BYTES:]


def _account_region(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return (parts[4], parts[3]) if len(parts) > 5 else ("", "")


class TopicSealer:
    def __init__(self, ports: Ports, clock: Clock) -> None:
        self.ports = ports
        self.keys = DataKeyCache(clock)

    @staticmethod
    def _ctx_for(ctx: RequestContext | None, account: str, region: str, operation: str) -> RequestContext:
        """The caller's context when it is in the topic's account and region (its principal is the one
        the key policy is checked for), else SNS's own."""
        if ctx is not None and ctx.account == account and ctx.region == region:
            return ctx
        return internal_context(account, region, _SERVICE, operation, trace_id=ctx.trace_id if ctx else None)

    async def data_key(self, ctx: RequestContext, topic: Topic) -> DataKey | None:
        """A new data key for one publish to ``topic`` (None when the topic has no KMS key); SNS's
        KMS* error when KMS refuses."""
        key_id = topic.attributes.get("KmsMasterKeyId")
        if not key_id:
            return None
        kms = self.ports.find(KMS)
        if kms is None:
            raise KMSNotFound("KMS is not served by this tsunagi, so the topic's KmsMasterKeyId cannot be used.")
        try:
            return await self.keys.data_key(kms, self._ctx_for(ctx, topic.account, topic.region, "Publish"), key_id,
                                            context_of(topic.arn), service=_SERVICE, reuse_seconds=0.0)
        except KmsError as e:
            raise from_kms(e.code, e.message) from None

    async def open(self, target: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """A row's payload with its sealed members opened (unsealed payloads as they are)."""
        if SEALED not in payload:
            return dict(payload)
        arn, key_ciphertext, nonce, sealed = _parse(base64.b64decode(payload[SEALED]))
        kms = self.ports.find(KMS)
        if kms is None:
            raise KMSNotFound("KMS is not served by this tsunagi, so the topic's messages cannot be decrypted.")
        account, region = _account_region(arn)
        # SNS itself opens it to deliver: the key policy must allow sns.amazonaws.com, as on AWS
        as_sns = internal_context(account, region, _SERVICE, "Publish",
                                  source=Source(arn, "sns.amazonaws.com", account))
        try:
            key = await self.keys.plaintext(kms, as_sns, key_ciphertext,
                                            context_of(arn), service=_SERVICE, reuse_seconds=_OPENED_REUSE_S)
        except KmsError as e:
            raise from_kms(e.code, e.message) from None
        message_id = str(payload.get("message_id") or "")
        try:
            secret = orjson.loads(AESGCM(key.plaintext).decrypt(nonce, sealed, _aad(message_id, target)))
        except InvalidTag:
            raise from_kms("InvalidCiphertextException",
                           f"The delivery of message {message_id} does not open under its data key.") from None
        return {**payload, **secret}

    def forget(self) -> None:
        self.keys.clear()

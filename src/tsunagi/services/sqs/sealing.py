"""Encryption at rest: for queues with a KMS key (``KmsMasterKeyId``: a key id or ARN, an alias, or
``alias/aws/sqs``) through KMS's port, and for queues with ``SqsManagedSseEnabled`` (SSE-SQS, the
default of a new queue) under an SQS-owned key.

A message's body and message attributes are sealed together with AES-256-GCM under a data key that
KMS generates for the queue (encryption context ``{"aws:sqs:arn": <queue ARN>}``, as AWS's SQS asks
for), and stored only in that form: the blob carries the data key's KMS ciphertext and the context's
ARN, so a message still opens after it moved to a dead-letter queue, or after the queue's key changed.
The message id is the additional authenticated data: a blob cannot be passed off as another message.

A data key is reused for the queue's ``KmsDataKeyReusePeriodSeconds`` (one GenerateDataKey per queue per
period when sending, one Decrypt per data key per period when receiving), as AWS does. KMS's failures
(a disabled key, one pending deletion, a key that does not exist, a policy that does not allow SQS)
become SQS's ``KMS.*`` errors, and nothing is stored or handed out.

Messages other services add inside their own transaction (SNS fan-out) cannot wait for KMS there (a
read of the store inside an open SQLite transaction waits for that transaction): their data key is
made ready when the queue is looked up, before the transaction (:meth:`Sealer.prime`), and taken from
there (:meth:`Sealer.primed`).

SSE-SQS seals the same way under one SQS-owned key (no KMS, no data key in the blob): made at random
on first use and kept in the store (``sqs_keys``), as S3 keeps its SSE-S3 key, so that every server on
a PostgreSQL store opens every message. What it protects against is reading the files or rows; whoever
holds the whole database holds the key, as with AWS's service-owned keys inside AWS. A blob names the
key by a fingerprint; a server that meets one it does not know reads the key again (another server
made it after a reset). A message without message attributes is sealed as its body alone (no JSON
around it), with its own tag, which the seal authenticates with the message id.
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
from typing import TYPE_CHECKING, NamedTuple

import orjson

from tsunagi.clock import Clock
from tsunagi.context import RequestContext, internal_context
from tsunagi.ports import Ports
from tsunagi.ports.kms import KMS, DataKey, DataKeyCache, KmsError
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.sqs.attributes import Queue
from tsunagi.services.sqs.errors import KmsNotFound, from_kms
from tsunagi.store.sqs import SqsRepo

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = 1                    # sealed under a KMS data key
_OWNED_VERSION = 2              # sealed under the SQS-owned key (SSE-SQS): the body and attributes, as JSON
_OWNED_BODY_VERSION = 3         # ... a message without attributes: its body alone, in UTF-8
_OWNED_TAG = bytes((_OWNED_VERSION,))
_OWNED_BODY_TAG = bytes((_OWNED_BODY_VERSION,))
_OWNED_TAGS = (_OWNED_TAG, _OWNED_BODY_TAG)
OWNED_KEY_NAME = "sse-sqs/v1"
_OWNED_TTL_PG_S = 5.0           # on PostgreSQL the owned key is read again this often (a reset elsewhere)
_NONCE_BYTES = 12
_LENGTH = struct.Struct(">H")
_PRIME_MARGIN_S = 30.0          # a primed key is made again when it has less than this left
_SERVICE = "sqs"


class Opened(NamedTuple):
    body: str
    attrs: str | None       # the message attributes' stored JSON


_tuple_new = tuple.__new__      # (a named tuple's own __new__ binds its fields in Python)


def context_of(arn: str) -> dict[str, str]:
    """The encryption context of a queue's data keys."""
    return {"aws:sqs:arn": arn}


def _aesgcm(key: bytes) -> AESGCM:
    """An AES-GCM cipher under ``key``. cryptography is imported with the first one: a server whose
    first requests seal nothing (a test suite's ListQueues, CreateQueue) answers them without it."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def _invalid_tag() -> type[Exception]:
    """cryptography's InvalidTag (what a cipher's decrypt raises on a blob that does not open); asked
    for only once a cipher exists, so cryptography is imported already."""
    from cryptography.exceptions import InvalidTag

    return InvalidTag


_AEADS: dict[bytes, AESGCM] = {}     # data key plaintext -> its cipher, made once per data key
_AEADS_MOST = 256


def aead_of(plaintext: bytes) -> AESGCM:
    """The AES-GCM cipher of a data key, made once (a data key is reused for its reuse period)."""
    aead = _AEADS.get(plaintext)
    if aead is None:
        if len(_AEADS) >= _AEADS_MOST:
            _AEADS.clear()
        aead = _AEADS[plaintext] = _aesgcm(plaintext)
    return aead


def seal(key: DataKey, arn: str, message_id: str, body: str, attrs: str | None) -> bytes:
    """``body`` and ``attrs`` of message ``message_id`` sealed under ``key`` (made for queue ``arn``)."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = aead_of(key.plaintext).encrypt(nonce, orjson.dumps([body, attrs]), message_id.encode())
    arn_bytes = arn.encode()
    return b"".join((bytes((_VERSION,)), _LENGTH.pack(len(arn_bytes)), arn_bytes, _LENGTH.pack(len(key.ciphertext)),
                     key.ciphertext, nonce, sealed))


class _Blob(NamedTuple):
    arn: str
    key_ciphertext: bytes
    nonce: bytes
    sealed: bytes


def _parse(blob: bytes) -> _Blob:
    if not blob or blob[0] != _VERSION:
        raise ValueError("not a sealed SQS message")
    at = 1
    (n,) = _LENGTH.unpack_from(blob, at)
    arn = blob[at + 2:at + 2 + n].decode()
    at += 2 + n
    (n,) = _LENGTH.unpack_from(blob, at)
    key_ciphertext = blob[at + 2:at + 2 + n]
    at += 2 + n
    return _Blob(arn, key_ciphertext, blob[at:at + _NONCE_BYTES], blob[at + _NONCE_BYTES:])


class _Nonces:
    """96-bit AES-GCM nonces without a system call each: 64 random bits, drawn again every 2**32
    nonces, then a counter (a nonce never repeats under a key, whichever server makes it)."""

    __slots__ = ("_prefix", "_next")

    def __init__(self) -> None:
        self._prefix = os.urandom(8)
        self._next = 0

    def __call__(self) -> bytes:
        n = self._next
        if n > 0xFFFFFFFF:
            self._prefix, n = os.urandom(8), 0
        self._next = n + 1
        return self._prefix + n.to_bytes(4, "big")


class _OwnedKey(NamedTuple):
    aead: AESGCM
    fingerprint: bytes          # 8 bytes naming the key in each blob
    loaded_at: float            # time.monotonic()
    head: bytes                 # a blob's first bytes under this key: its tag, then the fingerprint
    body_head: bytes            # ... of a message sealed without attributes


def _owned_key(material: bytes, loaded_at: float) -> _OwnedKey:
    fingerprint = hashlib.sha256(material).digest()[:8]
    return _OwnedKey(_aesgcm(material), fingerprint, loaded_at, _OWNED_TAG + fingerprint,
                     _OWNED_BODY_TAG + fingerprint)


def _aad(version: int, message_id: str) -> bytes:
    """What a blob of the SQS-owned key authenticates besides its sealed part: the message id, and the
    tag of the body-only form."""
    return _OWNED_BODY_TAG + message_id.encode() if version == _OWNED_BODY_VERSION else message_id.encode()


def _opened(version: int, plain: bytes) -> Opened:
    if version == _OWNED_BODY_VERSION:
        return _tuple_new(Opened, (plain.decode(), None))
    return _tuple_new(Opened, orjson.loads(plain))


class Sealer:
    def __init__(self, ports: Ports, clock: Clock, repo: SqsRepo) -> None:
        self.ports = ports
        self.clock = clock
        self.repo = repo
        self.shared = repo.store.shared
        self.keys = DataKeyCache(clock)
        self._primed: dict[int, tuple[float, DataKey | ServiceError]] = {}
        self._owned: _OwnedKey | None = None
        self._nonce = _Nonces()

    # == SSE-SQS =================================================================================
    def owned_fresh(self) -> bool:
        """Whether the SQS-owned key is loaded and need not be read again yet."""
        owned = self._owned
        return owned is not None and not (self.shared and time.monotonic() - owned.loaded_at
                                          > _OWNED_TTL_PG_S)

    async def owned_ready(self, *, again: bool = False) -> None:
        """Read (or make) the SQS-owned key unless it is known and fresh; call it outside transactions."""
        if not again and self.owned_fresh():
            return
        now = time.monotonic()
        material = await self.repo.owned_key(OWNED_KEY_NAME, os.urandom(32))
        self._owned = _owned_key(material, now)

    def seal_owned(self, message_id: str, body: str, attrs: str | None) -> bytes:
        """``body`` and ``attrs`` of message ``message_id`` sealed under the SQS-owned key (call
        :meth:`owned_ready` first). A message without attributes is sealed as its body alone (no JSON
        to write now, nor to read when it is received)."""
        owned = self._owned
        if owned is None:
            raise ServiceError("The queue's SQS-owned encryption key is not loaded yet; try again.",
                               code="InternalError", status=500, sender_fault=False)
        nonces = self._nonce                 # (_Nonces.__call__ inlined: every message is sealed here)
        n = nonces._next
        if n > 0xFFFFFFFF:
            nonces._prefix, n = os.urandom(8), 0
        nonces._next = n + 1
        nonce = nonces._prefix + n.to_bytes(4, "big")
        if attrs is None:
            # (the tag is authenticated too: a blob of one form cannot be read as the other)
            return owned.body_head + nonce + owned.aead.encrypt(nonce, body.encode(),
                                                                _OWNED_BODY_TAG + message_id.encode())  # (_aad)
        return owned.head + nonce + owned.aead.encrypt(nonce, orjson.dumps([body, attrs]), message_id.encode())

    def open_owned_now(self, message_id: str, blob: bytes) -> Opened | None:
        """A message sealed under the SQS-owned key, opened without waiting, when that key is the one
        loaded; None otherwise (then :meth:`open`, which reads the key again)."""
        owned = self._owned
        if owned is None or not (blob.startswith(owned.body_head) or blob.startswith(owned.head)):
            return None
        version = blob[0]
        try:
            plain = owned.aead.decrypt(blob[9:9 + _NONCE_BYTES], blob[9 + _NONCE_BYTES:], _aad(version, message_id))
        except _invalid_tag():
            return None
        return _opened(version, plain)

    async def _open_owned(self, message_id: str, blob: bytes) -> Opened:
        fingerprint, nonce, sealed = blob[1:9], blob[9:9 + _NONCE_BYTES], blob[9 + _NONCE_BYTES:]
        if self._owned is None or self._owned.fingerprint != fingerprint:
            await self.owned_ready(again=True)
        owned = self._owned
        assert owned is not None
        plain: bytes | None = None
        if owned.fingerprint == fingerprint:
            try:
                plain = owned.aead.decrypt(nonce, sealed, _aad(blob[0], message_id))
            except _invalid_tag():
                plain = None
        if plain is None:
            raise ServiceError(f"Message {message_id} was sealed under an SQS-owned key this store no longer "
                               "has.", code="InternalError", status=500, sender_fault=False)
        return _opened(blob[0], plain)

    # == SSE-KMS =================================================================================

    @staticmethod
    def _ctx_for(ctx: RequestContext | None, q: Queue, operation: str) -> RequestContext:
        """The context KMS is asked in: the caller's when it is in the queue's account and region (its
        principal is the one the key policy is checked for), else SQS's own for the queue."""
        if ctx is not None and ctx.account == q.account and ctx.region == q.region:
            return ctx
        return internal_context(q.account, q.region, _SERVICE, operation,
                                trace_id=ctx.trace_id if ctx is not None else None)

    async def data_key(self, ctx: RequestContext | None, q: Queue) -> DataKey:
        """The data key to seal ``q``'s messages with now (reused for the queue's reuse period); SQS's
        KMS.* error when KMS refuses."""
        assert q.kms_key is not None
        kms = self.ports.find(KMS)
        if kms is None:
            raise KmsNotFound("KMS is not served by this tsunagi, so the queue's KmsMasterKeyId cannot be used.")
        try:
            return await self.keys.data_key(kms, self._ctx_for(ctx, q, "SendMessage"), q.kms_key,
                                            context_of(q.arn), service=_SERVICE, reuse_seconds=q.kms_reuse_s)
        except KmsError as e:
            raise from_kms(e.code, e.message) from None

    async def prime(self, q: Queue) -> None:
        """Make ``q``'s data key ready for :meth:`primed` (call it outside any transaction); a KMS
        failure is kept, for :meth:`primed` to raise."""
        now = self.clock.now()
        have = self._primed.get(q.id)
        if have is not None and have[0] - now > _PRIME_MARGIN_S:
            return
        try:
            made: DataKey | ServiceError = await self.data_key(None, q)
            until = now + q.kms_reuse_s
        except ServiceError as e:
            made, until = e, now + 1.0          # a failure is looked at again a second later
        self._primed[q.id] = (until, made)

    def primed(self, q: Queue) -> DataKey:
        """The data key :meth:`prime` made ready for ``q`` (used inside a transaction: never asks KMS)."""
        have = self._primed.get(q.id)
        if have is None:
            raise from_kms("KMSInvalidStateException", f"No data key is ready for {q.arn}; try again.")
        made = have[1]
        if isinstance(made, ServiceError):
            raise made
        return made

    async def open(self, ctx: RequestContext | None, q: Queue, message_id: str, blob: bytes) -> Opened:
        """A sealed message's body and attributes; SQS's KMS.* error when KMS will not decrypt its key."""
        if blob[:1] in _OWNED_TAGS:
            return await self._open_owned(message_id, blob)
        parts = _parse(blob)
        kms = self.ports.find(KMS)
        if kms is None:
            raise KmsNotFound("KMS is not served by this tsunagi, so the queue's messages cannot be decrypted.")
        try:
            key = await self.keys.plaintext(kms, self._ctx_for(ctx, q, "ReceiveMessage"), parts.key_ciphertext,
                                            context_of(parts.arn), service=_SERVICE, reuse_seconds=q.kms_reuse_s)
        except KmsError as e:
            raise from_kms(e.code, e.message) from None
        try:
            plain = aead_of(key.plaintext).decrypt(parts.nonce, parts.sealed, message_id.encode())
        except _invalid_tag():
            raise from_kms("InvalidCiphertextException", f"Message {message_id} does not open under its data key.") \
                from None
        body, attrs = orjson.loads(plain)
        return Opened(body, attrs)

    def forget(self) -> None:
        """Drop every key (a reset)."""
        self.keys.clear()
        self._primed.clear()
        self._owned = None
        _AEADS.clear()

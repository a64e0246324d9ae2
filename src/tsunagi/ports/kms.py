"""What the rest of tsunagi may ask of KMS (implemented by ``services/kms/port.py``).

Callers: SQS, SNS and S3 for encryption at rest (``KmsMasterKeyId``, ``SSE-KMS``), later Lambda
(environment variables) and CloudFormation's ``AWS::KMS::*`` handlers.

Every call names the calling service (``service="sqs"``): it is the ``kms:ViaService`` of the request
(``sqs.<region>.amazonaws.com``), which the key policies of AWS managed keys require. A key id may be
a key id, a key ARN, an alias name or an alias ARN; ``alias/aws/<service>`` (``sqs``, ``sns``, ``s3``,
``lambda``) is created on first use, as AWS creates its managed keys.

Failures raise :class:`KmsError` with KMS's own code and message (``DisabledException``,
``KMSInvalidStateException``, ``NotFoundException``, ``AccessDeniedException``,
``InvalidCiphertextException``, ...). Translating them into the calling service's errors
(``KMS.DisabledException`` for SQS, ``KMSDisabled`` for SNS, ...) is the caller's job.

A plaintext data key may be reused for a bounded time instead of asking KMS for every message
(SQS's ``KmsDataKeyReusePeriodSeconds``): :class:`DataKeyCache` keeps generated data keys by
(account, region, key, encryption context, service) and decrypted ones by ciphertext, each until its
reuse period ends.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import NamedTuple, Protocol, TypeVar

from tsunagi.clock import Clock
from tsunagi.context import RequestContext
from tsunagi.ports import PortKey
from tsunagi.ports.resources import ResourcePolicy
from tsunagi.protocol.errors import ServiceError


class KmsError(ServiceError):
    """A KMS failure: ``code`` is KMS's error code (``DisabledException``), ``message`` KMS's text.
    Every error the KMS service raises is one (through its API and through this port)."""


class KmsKey(NamedTuple):
    """A KMS key as callers see it."""

    key_id: str
    arn: str
    account: str
    region: str
    key_manager: str        # CUSTOMER | AWS
    key_state: str          # Enabled | Disabled | PendingDeletion
    key_usage: str          # ENCRYPT_DECRYPT | SIGN_VERIFY | GENERATE_VERIFY_MAC
    key_spec: str           # SYMMETRIC_DEFAULT | RSA_2048 | ...


class DataKey(NamedTuple):
    """A data key: its plaintext (use it, never store it) and the ciphertext to store beside the data."""

    key_arn: str
    plaintext: bytes
    ciphertext: bytes


class Encrypted(NamedTuple):
    key_arn: str
    ciphertext: bytes


class Decrypted(NamedTuple):
    key_arn: str
    plaintext: bytes


Context = Mapping[str, str]     # an encryption context: must be given again, equal, to decrypt


class KmsPort(Protocol):
    async def resolve(self, ctx: RequestContext, key_id: str, *, service: str) -> KmsKey:
        """The key ``key_id`` names for ``ctx``'s account and region (creating ``alias/aws/<service>``
        on first use). NotFoundException when there is none; its state is not checked."""
        ...

    async def generate_data_key(self, ctx: RequestContext, key_id: str, context: Context, *, service: str,
                                number_of_bytes: int = 32) -> DataKey:
        """A new random data key and its encryption under ``key_id`` (GenerateDataKey)."""
        ...

    async def encrypt(self, ctx: RequestContext, key_id: str, plaintext: bytes, context: Context, *,
                      service: str) -> Encrypted:
        """``plaintext`` (at most 4096 bytes) encrypted under a symmetric key (Encrypt)."""
        ...

    async def decrypt(self, ctx: RequestContext, ciphertext: bytes, context: Context, *, service: str,
                      key_id: str | None = None) -> Decrypted:
        """What ``encrypt`` or ``generate_data_key`` encrypted (Decrypt). The ciphertext names its key;
        ``key_id``, when given, must name the same key (IncorrectKeyException otherwise)."""
        ...

    async def resource_policy(self, ctx: RequestContext, arn: str) -> ResourcePolicy | None:
        """The key (a key id, key ARN, alias name or alias ARN) ``arn`` names, its owner and its policy
        (the gateway's authorize step), or None."""
        ...

    async def seal_internal(self, name: str, secret: bytes) -> bytes:
        """``secret``, a key tsunagi itself keeps in the store (S3's SSE-S3 root key), sealed under the
        master key (never in the store; ``TSUNAGI_MASTER_KEY`` or the data dir's file) and bound to
        ``name``: the store alone does not give it away."""
        ...

    async def open_internal(self, name: str, sealed: bytes) -> bytes:
        """What :meth:`seal_internal` sealed as ``name`` (KMSInternalException under another master key)."""
        ...

    async def key_policy(self, ctx: RequestContext, key_id: str) -> tuple[KmsKey, str]:
        """The key ``key_id`` names in ``ctx``'s account and region (an ARN may name another account's)
        and its key policy, for deciding whether a service principal may use it for a delivery
        (``tsunagi.ports.delivery_policy``). No authorization: the caller evaluates the policy.
        NotFoundException when there is no such key."""
        ...


KMS: PortKey[KmsPort] = PortKey("kms")

_K = TypeVar("_K")


def _context_key(context: Context) -> frozenset[tuple[str, str]]:
    return frozenset(context.items())


class DataKeyCache:
    """Data keys a caller reuses for up to ``reuse_seconds`` (SQS's ``KmsDataKeyReusePeriodSeconds``,
    1 minute to 24 hours): one GenerateDataKey per (account, region, key, context, service) per period
    when sending, one Decrypt per ciphertext per period when receiving. At most ``max_entries`` of each
    are kept (the oldest go first); ``clear()`` forgets them all (a reset, a key known to be disabled)."""

    def __init__(self, clock: Clock, max_entries: int = 1000) -> None:
        self.clock = clock
        self.max_entries = max_entries
        self._made: OrderedDict[tuple[str, str, str, frozenset[tuple[str, str]], str], tuple[float, DataKey]] = \
            OrderedDict()
        self._opened: OrderedDict[tuple[str, str, bytes, frozenset[tuple[str, str]], str], tuple[float, DataKey]] = \
            OrderedDict()

    async def data_key(self, kms: KmsPort, ctx: RequestContext, key_id: str, context: Context, *, service: str,
                       reuse_seconds: float) -> DataKey:
        """A data key under ``key_id`` for this context: the one generated less than ``reuse_seconds``
        ago, or a new one."""
        key = (ctx.account, ctx.region, key_id, _context_key(context), service)
        now = self.clock.now()
        hit = self._made.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        made = await kms.generate_data_key(ctx, key_id, context, service=service)
        self._remember(self._made, key, (now + reuse_seconds, made))
        self._remember(self._opened, (ctx.account, ctx.region, made.ciphertext, key[3], service),
                       (now + reuse_seconds, made))
        return made

    async def plaintext(self, kms: KmsPort, ctx: RequestContext, ciphertext: bytes, context: Context, *,
                        service: str, reuse_seconds: float) -> DataKey:
        """The data key ``ciphertext`` holds: decrypted less than ``reuse_seconds`` ago, or now."""
        key = (ctx.account, ctx.region, ciphertext, _context_key(context), service)
        now = self.clock.now()
        hit = self._opened.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        opened = await kms.decrypt(ctx, ciphertext, context, service=service)
        found = DataKey(opened.key_arn, opened.plaintext, ciphertext)
        self._remember(self._opened, key, (now + reuse_seconds, found))
        return found

    def _remember(self, table: OrderedDict[_K, tuple[float, DataKey]], key: _K, value: tuple[float, DataKey]) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self.max_entries:
            table.popitem(last=False)

    def clear(self) -> None:
        self._made.clear()
        self._opened.clear()

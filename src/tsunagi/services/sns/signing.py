"""The key SNS signs messages with: RSA 2048 and a self-signed X.509 certificate, generated once and
kept in the store so that every node signs with the same key and serves the same certificate.

Signatures follow AWS: the string to sign is ``Key\\nValue\\n`` for each signed key in order
(see :func:`string_to_sign`), signed with SHA1withRSA (SignatureVersion 1) or SHA256withRSA (2),
base64-encoded.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.x509.oid import NameOID

NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


def string_to_sign(message: Mapping[str, Any]) -> str:
    """AWS's canonical form: the signed keys present in the message, each as ``Key\\nValue\\n``."""
    keys = NOTIFICATION_KEYS if message.get("Type") == "Notification" else CONFIRMATION_KEYS
    parts = []
    for key in keys:
        value = message.get(key)
        if value is None:
            continue
        parts.append(f"{key}\n{value}\n")
    return "".join(parts)


def generate() -> tuple[str, str, str]:
    """A new (key id, private key PEM, certificate PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tsunagi (local SNS)")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    key_id = hashlib.sha256(cert_pem.encode()).hexdigest()[:32]
    return key_id, key_pem, cert_pem


class _SigningThreads:
    """RSA signing off the event loop. OpenSSL releases the GIL while it signs, so a publish's
    signature is computed on another core while the loop serves other requests. A queue and a
    thread per core, with one hand-off each way (lighter than an executor's futures and locks)."""

    def __init__(self, threads: int) -> None:
        self._queue: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Future[str],
                                             Callable[[], str]]] = queue.SimpleQueue()
        for i in range(threads):
            threading.Thread(target=self._run, name=f"tsunagi-sns-sign-{i}", daemon=True).start()

    def submit(self, job: Callable[[], str]) -> asyncio.Future[str]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[str] = loop.create_future()
        self._queue.put((loop, fut, job))
        return fut

    def _run(self) -> None:
        get = self._queue.get
        while True:
            loop, fut, job = get()
            try:
                value, error = job(), None
            except Exception as e:  # noqa: BLE001 - handed to the awaiting coroutine
                value, error = "", e
            try:
                loop.call_soon_threadsafe(_settle, fut, value, error)
            except RuntimeError:
                pass  # the loop closed (shutdown): nobody waits any more


def _settle(fut: asyncio.Future[str], value: str, error: Exception | None) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(value)


_signers: _SigningThreads | None = None


def _signing_threads() -> _SigningThreads:
    global _signers
    if _signers is None:
        _signers = _SigningThreads(min(4, os.cpu_count() or 2))
    return _signers


class Signer:
    def __init__(self, key_id: str, private_pem: str, cert_pem: str) -> None:
        self.key_id = key_id
        self.cert_pem = cert_pem
        loaded = serialization.load_pem_private_key(private_pem.encode(), password=None)
        assert isinstance(loaded, RSAPrivateKey)
        self._key = loaded
        self._cache: dict[tuple[str, str], str] = {}

    @property
    def cert_name(self) -> str:
        return f"SimpleNotificationService-{self.key_id}.pem"

    def sign(self, message: Mapping[str, Any], version: str = "1") -> str:
        text = string_to_sign(message)
        algo: hashes.HashAlgorithm = hashes.SHA256() if version == "2" else hashes.SHA1()  # noqa: S303 - AWS's v1
        sig = self._key.sign(text.encode("utf-8"), padding.PKCS1v15(), algo)
        return base64.b64encode(sig).decode()

    async def sign_async(self, message: Mapping[str, Any], version: str = "1") -> str:
        """:meth:`sign` on a signing thread (an RSA-2048 signature costs ~0.4 ms of CPU)."""
        return await _signing_threads().submit(lambda: self.sign(message, version))

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
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
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


_pool: ThreadPoolExecutor | None = None


def _signing_pool() -> ThreadPoolExecutor:
    """Threads for RSA signing: OpenSSL releases the GIL while it signs, so a publish's signature is
    computed on another core while the event loop serves other requests."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 2), thread_name_prefix="tsunagi-sns-sign")
    return _pool


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
        return await asyncio.get_running_loop().run_in_executor(_signing_pool(), self.sign, message, version)

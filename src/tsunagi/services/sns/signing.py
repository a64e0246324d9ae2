"""The key SNS signs messages with: RSA 2048 and a self-signed X.509 certificate, generated once and
kept in the store so that every node signs with the same key and serves the same certificate.

Signatures follow AWS: the string to sign is ``Key\\nValue\\n`` for each signed key in order
(see :func:`string_to_sign`), signed with SHA1withRSA (SignatureVersion 1) or SHA256withRSA (2),
base64-encoded.

Where the work happens: a publish signs on a :class:`SigningProcess` (a child process, see
:mod:`tsunagi.services.sns.signer_process`); until it is up, or if it ever fails, on signing threads
in this process (:class:`_SigningThreads`); confirmations, rare, sign inline.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import logging
import os
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.x509.oid import NameOID

log = logging.getLogger("tsunagi.sns")

_KEY = struct.Struct("!I")        # the signing process's wire format (see signer_process)
_JOB = struct.Struct("!IBI")
_REPLY = struct.Struct("!IH")
_PKCS1 = padding.PKCS1v15()
_SHA1 = hashes.SHA1()  # noqa: S303 - SignatureVersion 1 is SHA1withRSA
_SHA256 = hashes.SHA256()

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
                                             Callable[[bytes, str], str], bytes, str]] = queue.SimpleQueue()
        for i in range(threads):
            threading.Thread(target=self._run, name=f"tsunagi-sns-sign-{i}", daemon=True).start()

    def submit(self, sign: Callable[[bytes, str], str], data: bytes, version: str) -> asyncio.Future[str]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[str] = loop.create_future()
        self._queue.put((loop, fut, sign, data, version))
        return fut

    def _run(self) -> None:
        get = self._queue.get
        while True:
            loop, fut, sign, data, version = get()
            try:
                value, error = sign(data, version), None
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
        # tsunagi made this key itself (generate()) and kept it in its store: checking the RSA key's
        # consistency again (~100 ms of CPU) on every load would only slow the start down
        loaded = serialization.load_pem_private_key(private_pem.encode(), password=None,
                                                    unsafe_skip_rsa_key_validation=True)
        assert isinstance(loaded, RSAPrivateKey)
        self._key = loaded
        self.processes: list[SigningProcess] = []   # set by the SNS service (start_processes)

    @property
    def cert_name(self) -> str:
        return f"SimpleNotificationService-{self.key_id}.pem"

    def sign(self, message: Mapping[str, Any], version: str = "1") -> str:
        return self._sign_bytes(string_to_sign(message).encode("utf-8"), version)

    def _sign_bytes(self, data: bytes, version: str) -> str:
        # SHA1withRSA for SignatureVersion 1 (AWS's own choice), SHA256withRSA for 2
        sig = self._key.sign(data, _PKCS1, _SHA256 if version == "2" else _SHA1)
        return base64.b64encode(sig).decode()

    async def sign_async(self, message: Mapping[str, Any], version: str = "1") -> str:
        """:meth:`sign` off the event loop: on the least busy signing process, else on a signing thread.
        The string to sign is built here, so the other side does nothing but the RSA operation."""
        return await self.collect(self.sign_ahead(message, version))

    def sign_ahead(self, message: Mapping[str, Any], version: str = "1") -> Ahead:
        """Send ``message`` to the least busy signing process now (if one is ready); :meth:`collect`
        gets the signature later, so the caller can do other work while it is made."""
        data = string_to_sign(message).encode("utf-8")
        ready = [p for p in self.processes if p.ready]
        if not ready:
            return None, data, version
        proc = min(ready, key=SigningProcess.pending) if len(ready) > 1 else ready[0]
        try:
            fut = proc.sign(data, version)
        except SigningProcessGone:
            return None, data, version
        fut.add_done_callback(_retrieve)    # a future nobody awaits (its publish failed) logs nothing
        return fut, data, version

    async def collect(self, ahead: Ahead) -> str:
        """The signature :meth:`sign_ahead` asked for; made on a signing thread instead when no process
        took the job, or the process ended before answering."""
        fut, data, version = ahead
        if fut is not None:
            try:
                return await fut
            except SigningProcessGone:
                pass   # signed here instead
        return await _signing_threads().submit(self._sign_bytes, data, version)

    async def start_processes(self, count: int) -> None:
        """Start ``count`` signing processes (each signs while the server serves; they are ready a
        moment later, and signing threads stand in until then)."""
        pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        for _ in range(count):
            try:
                self.processes.append(await SigningProcess.start(pem))
            except (OSError, RuntimeError) as e:
                log.warning("SNS: could not start a signing process (%s); signing on threads", e)
                break

    def close_processes(self) -> None:
        for proc in self.processes:
            proc.close()
        self.processes = []

    def processes_alive(self) -> bool:
        return bool(self.processes) and all(not p.closed for p in self.processes)


# a signature on its way: (the signing process's future, or None), the bytes to sign, the version
Ahead = tuple[asyncio.Future[str] | None, bytes, str]


def _retrieve(fut: asyncio.Future[str]) -> None:
    if not fut.cancelled():
        fut.exception()


class SigningProcessGone(Exception):
    """The signing process ended (or failed a job) before answering."""


class SigningProcess(asyncio.SubprocessProtocol):
    """One child process signing for this server (:mod:`tsunagi.services.sns.signer_process` has
    the wire format). Jobs are answered in order; each waits on a future."""

    def __init__(self) -> None:
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._waiting: dict[int, asyncio.Future[str]] = {}
        self._next = 0
        self._buf = b""
        self._loop: asyncio.AbstractEventLoop | None = None     # the loop it was started in
        self.ready = False        # the key is loaded
        self.closed = False

    @classmethod
    async def start(cls, key_pem: bytes) -> SigningProcess:
        loop = asyncio.get_running_loop()
        proc = cls()
        proc._loop = loop
        transport, _ = await loop.subprocess_exec(
            lambda: proc, sys.executable, "-m", "tsunagi.services.sns.signer_process",
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None)
        proc._transport = transport
        stdin = cast(asyncio.WriteTransport, transport.get_pipe_transport(0))  # uvloop's is no subclass
        proc._stdin = stdin
        stdin.write(_KEY.pack(len(key_pem)) + key_pem)
        return proc

    def pending(self) -> int:
        return len(self._waiting)

    def sign(self, data: bytes, version: str) -> asyncio.Future[str]:
        if self.closed or self._stdin is None or self._stdin.is_closing():
            raise SigningProcessGone("the signing process is closed")
        self._next = job = self._next % 0xFFFFFFFF + 1
        # (its own loop, not asyncio.get_running_loop(): a getpid system call per job in Python 3.11)
        fut: asyncio.Future[str] = (self._loop or asyncio.get_running_loop()).create_future()
        self._waiting[job] = fut
        self._stdin.write(_JOB.pack(job, 2 if version == "2" else 1, len(data)) + data)
        return fut

    # -- the child's side ------------------------------------------------------------------------
    def pipe_data_received(self, fd: int, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        at, size = 0, _REPLY.size
        while len(buf) - at >= size:
            job, length = _REPLY.unpack_from(buf, at)
            if len(buf) - at - size < length:
                break
            sig = buf[at + size:at + size + length]
            at += size + length
            if job == 0:
                self.ready = True
                continue
            fut = self._waiting.pop(job, None)
            if fut is None or fut.done():
                continue
            if length:
                fut.set_result(sig.decode("ascii"))
            else:
                fut.set_exception(SigningProcessGone("the signing process could not sign a message"))
        self._buf = buf[at:]

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self._gone()

    def process_exited(self) -> None:
        self._gone()

    def _gone(self) -> None:
        if not self.closed:
            self.closed = True
            if self._transport is not None:
                log.warning("SNS: the signing process ended (exit status %s); signing on threads",
                            self._transport.get_returncode())
        self.ready = False
        waiting, self._waiting = self._waiting, {}
        for fut in waiting.values():
            if not fut.done():
                fut.set_exception(SigningProcessGone("the signing process ended"))

    def close(self) -> None:
        """Close its input (it exits at the end of input), then the transport."""
        self.closed = True
        self.ready = False
        if self._stdin is not None and not self._stdin.is_closing():
            self._stdin.close()
        if self._transport is not None:
            self._transport.close()
        self._gone()

"""The signing process: a child of the server that signs SNS notifications with the topic key.

An RSA-2048 signature is ~0.3 ms of CPU, as much as the rest of a publish. On a signing thread
it runs beside the event loop, but the thread must take the GIL back from the loop after every
signature, and waits for it while the loop is busy; a process has its own interpreter and never
waits for the server's. :class:`tsunagi.services.sns.signing.SigningProcess` starts this module
with ``python -m`` and talks to it over its standard input and output:

- in: the private key (``!I`` length, PEM), then jobs: ``!IBI`` (job id, signature version 1 or 2,
  length) and the bytes to sign;
- out: ``!IH`` (job id 0, length 0) once the key is loaded, then for each job ``!IH`` (job id,
  length) and the base64 signature; length 0 means the job could not be signed (the server signs
  it itself, and reports what went wrong).

The process ends when its standard input closes, which is also what happens if the server dies.
Nothing but the key and the jobs ever crosses the pipe; the key is never on a command line.
"""

from __future__ import annotations

import base64
import struct
import sys
from typing import BinaryIO

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

KEY = struct.Struct("!I")
JOB = struct.Struct("!IBI")
REPLY = struct.Struct("!IH")


def _read(stream: BinaryIO, n: int) -> bytes | None:
    """Exactly ``n`` bytes, or None at the end of the input."""
    data = stream.read(n)
    if data is None or len(data) < n:
        return None
    return data


def serve(inp: BinaryIO, out: BinaryIO) -> int:
    head = _read(inp, KEY.size)
    if head is None:
        return 0
    pem = _read(inp, KEY.unpack(head)[0])
    if pem is None:
        return 0
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, RSAPrivateKey):
        return 2
    pad, sha1, sha256 = padding.PKCS1v15(), hashes.SHA1(), hashes.SHA256()  # noqa: S303 - SignatureVersion 1
    out.write(REPLY.pack(0, 0))
    out.flush()
    while True:
        head = _read(inp, JOB.size)
        if head is None:
            return 0
        job, version, length = JOB.unpack(head)
        data = _read(inp, length)
        if data is None:
            return 0
        try:
            sig = base64.b64encode(key.sign(data, pad, sha256 if version == 2 else sha1))
        except Exception:  # noqa: BLE001 - reported as a failed job; the server signs it and raises
            sig = b""
        out.write(REPLY.pack(job, len(sig)) + sig)
        out.flush()


def main() -> int:
    try:
        return serve(sys.stdin.buffer, sys.stdout.buffer)
    except (BrokenPipeError, KeyboardInterrupt):
        return 0


if __name__ == "__main__":
    raise SystemExit(main())

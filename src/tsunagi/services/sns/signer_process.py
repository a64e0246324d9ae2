"""The signing process: a child of the server that signs SNS notifications with SNS's signing key.

An RSA-2048 signature is 0.3-1 ms of CPU (by machine), as much as the rest of a publish. On a signing thread
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
import os
import struct
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

KEY = struct.Struct("!I")
JOB = struct.Struct("!IBI")
REPLY = struct.Struct("!IH")


def serve(fd_in: int, fd_out: int) -> int:
    buf = b""
    key: RSAPrivateKey | None = None
    pad, sha1, sha256 = padding.PKCS1v15(), hashes.SHA1(), hashes.SHA256()  # noqa: S303 - SignatureVersion 1
    while True:
        data = os.read(fd_in, 1 << 16)
        if not data:
            return 0
        buf += data
        if key is None:
            if len(buf) < KEY.size or len(buf) < KEY.size + KEY.unpack_from(buf)[0]:
                continue
            end = KEY.size + KEY.unpack_from(buf)[0]
            loaded = serialization.load_pem_private_key(buf[KEY.size:end], password=None)
            if not isinstance(loaded, RSAPrivateKey):
                return 2
            key, buf = loaded, buf[end:]
            _write(fd_out, REPLY.pack(0, 0))
        # each signature is answered as soon as it is made: a signature costs ~0.3-1 ms, and holding
        # the answers until every job that had arrived was signed kept the first publishes waiting
        # for the later ones' signatures (13% fewer publishes/s on a machine where a signature is 1 ms)
        at = 0
        while len(buf) - at >= JOB.size:
            job, version, length = JOB.unpack_from(buf, at)
            end = at + JOB.size + length
            if len(buf) < end:
                break
            try:
                sig = base64.b64encode(key.sign(buf[at + JOB.size:end], pad, sha256 if version == 2 else sha1))
            except Exception:  # noqa: BLE001 - reported as a failed job; the server signs it and raises
                sig = b""
            _write(fd_out, REPLY.pack(job, len(sig)) + sig)
            at = end
        buf = buf[at:]


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def main() -> int:
    try:
        return serve(sys.stdin.fileno(), sys.stdout.fileno())
    except (BrokenPipeError, KeyboardInterrupt):
        return 0


if __name__ == "__main__":
    raise SystemExit(main())

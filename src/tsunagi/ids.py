"""Identifiers: UUID strings without a system call per id.

``uuid.uuid4()`` reads 16 bytes from the kernel each time; request and message ids need to be
unique, not secret, so a PRNG seeded once from the kernel is enough (and ~3× cheaper). Anything
that must be unguessable (tokens, keys) uses :mod:`secrets` instead.

:func:`uuid7` ids begin with the time they were made (RFC 9562 version 7): an index on them grows
at its right edge, as the rows it points at are written, instead of touching a random page of the
index for every id.
"""

from __future__ import annotations

import os
import random
import time

_rng = random.Random(int.from_bytes(os.urandom(32), "big"))
_bits = _rng.getrandbits
_VERSION_MASK = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_BITS = (0x4000 << 64) | (0x8000 << 48)
_V7_BITS = (0x7000 << 64) | (0x8000 << 48)
_V7_RANDOM = (0xFFF << 64) | ((1 << 62) - 1)   # rand_a (12 bits) and rand_b (62 bits)


def _reseed_after_fork() -> None:
    _rng.seed(int.from_bytes(os.urandom(32), "big"))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed_after_fork)


def uuid4() -> str:
    """A random (version 4, RFC 4122 variant) UUID in its canonical 36-character form."""
    h = "%032x" % ((_bits(128) & _VERSION_MASK) | _VERSION_BITS)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid7() -> str:
    """A time-ordered (version 7, RFC 4122 variant) UUID: 48 bits of Unix time in milliseconds, then
    74 random bits. Ids made in later milliseconds sort after earlier ones."""
    h = "%032x" % (((time.time_ns() // 1_000_000) << 80) | (_bits(80) & _V7_RANDOM) | _V7_BITS)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_HEX_FORMATS: dict[int, str] = {}


def random_hex(bits: int) -> str:
    """``bits`` random bits (a multiple of 4) as lower-case hex digits, zero-padded."""
    fmt = _HEX_FORMATS.get(bits)
    if fmt is None:
        fmt = _HEX_FORMATS[bits] = f"%0{bits // 4}x"
    return fmt % _bits(bits)


# -- AWS access key ids ------------------------------------------------------------------------------
# An access key id (``AKIA…`` long-term, ``ASIA…`` temporary) carries its account as AWS's do: after
# the four-letter prefix, 16 base32 characters hold 80 bits: a zero bit, the 12-digit account number
# in the next 40, random bits after it. GetAccessKeyInfo reads the account back from any such id.
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_B32_INDEX = {c: i for i, c in enumerate(_B32)}


def access_key_id(prefix: str, account: str) -> str:
    """A new access key id of ``account`` (``prefix`` ``AKIA`` or ``ASIA``): unguessable (``secrets``)."""
    import secrets

    n = (int(account) << 39) | secrets.randbits(39)
    return prefix + "".join(_B32[(n >> shift) & 31] for shift in range(75, -5, -5))


def account_of_access_key(key_id: str) -> str | None:
    """The account an ``AKIA``/``ASIA`` key id carries, or None when it is not of that form."""
    if len(key_id) != 20 or key_id[:4] not in ("AKIA", "ASIA"):
        return None
    n = 0
    for c in key_id[4:]:
        i = _B32_INDEX.get(c)
        if i is None:
            return None
        n = (n << 5) | i
    return f"{(n >> 39) & ((1 << 40) - 1):012d}"

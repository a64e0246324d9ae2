"""Object checksums S3 supports: CRC32, CRC32C, CRC64NVME, SHA1, SHA256 (and SHA512, MD5).

CRC32 comes from zlib, CRC32C and CRC64NVME from awscrt (AWS's own C library, the one botocore
uses for them). Values travel base64-encoded, big-endian.

Multipart objects have either a COMPOSITE checksum (the checksum of the parts' raw checksums,
suffixed ``-N``) or a FULL_OBJECT one: for the CRCs that is the CRC of the whole object, which
:func:`combine` computes from the parts' CRCs and lengths without reading the bytes again.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable
from typing import Any, Protocol

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", "SHA512", "MD5")
CRCS = ("CRC32", "CRC32C", "CRC64NVME")
MEMBERS = {a: f"Checksum{a}" for a in ALGORITHMS}


class Hasher(Protocol):
    def update(self, data: bytes) -> None: ...
    def digest(self) -> bytes: ...


# Reflected polynomials (for :func:`combine`; the CRCs themselves come from zlib and awscrt).
_POLY = {"CRC32": 0xEDB88320, "CRC32C": 0x82F63B78, "CRC64NVME": 0x9A6C9329AC4BC9B5}
_WIDTH = {"CRC32": 32, "CRC32C": 32, "CRC64NVME": 64}


# The running CRC functions: f(data, previous) -> the CRC of everything so far. awscrt's (12 MB of C)
# are loaded on first use, which keeps them out of the server's start.
_CRC_FN: dict[str, Callable[[bytes, int], int]] = {"CRC32": zlib.crc32}


def _crc_fn(name: str) -> Callable[[bytes, int], int]:
    fn = _CRC_FN.get(name)
    if fn is None:
        from awscrt import checksums as crt_checksums

        _CRC_FN.update(CRC32C=crt_checksums.crc32c, CRC64NVME=crt_checksums.crc64nvme)
        fn = _CRC_FN[name]
    return fn


class Crc:
    """A running CRC32, CRC32C or CRC64NVME (zlib and awscrt release the GIL on large buffers)."""

    __slots__ = ("_crc", "_fn", "_width")

    def __init__(self, name: str) -> None:
        self._fn = _crc_fn(name)
        self._width = _WIDTH[name]
        self._crc = 0

    def update(self, data: bytes) -> None:
        self._crc = self._fn(data, self._crc)

    def digest(self) -> bytes:
        return self._crc.to_bytes(self._width // 8, "big")


def new_hasher(algorithm: str) -> Hasher:
    if algorithm in CRCS:
        return Crc(algorithm)
    return hashlib.new(algorithm.lower())


def compute(algorithm: str, data: bytes) -> str:
    h = new_hasher(algorithm)
    h.update(data)
    return b64(h.digest())


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def unb64(value: str) -> bytes:
    return base64.b64decode(value.split("-", 1)[0])


def requested(params: dict[str, Any]) -> dict[str, str]:
    """The ``Checksum<ALG>`` values a request carries, by algorithm."""
    return {a: params[m] for a, m in MEMBERS.items() if params.get(m)}


def composite(algorithm: str, part_checksums: list[str]) -> str:
    h = new_hasher(algorithm)
    for value in part_checksums:
        h.update(unb64(value))
    return f"{b64(h.digest())}-{len(part_checksums)}"


# -- CRC combination (zlib's crc32_combine, for any width) ------------------------------------------------

def _gf2_times(mat: list[int], vec: int) -> int:
    out = 0
    i = 0
    while vec:
        if vec & 1:
            out ^= mat[i]
        vec >>= 1
        i += 1
    return out


def _gf2_square(mat: list[int]) -> list[int]:
    return [_gf2_times(mat, m) for m in mat]


def combine(algorithm: str, crc1: bytes, crc2: bytes, len2: int) -> bytes:
    """The CRC of A+B from CRC(A), CRC(B) and len(B)."""
    width = _WIDTH[algorithm]
    a = int.from_bytes(crc1, "big")
    b = int.from_bytes(crc2, "big")
    if len2 <= 0:
        return crc1
    odd = [_POLY[algorithm]] + [1 << i for i in range(width - 1)]   # operator for one zero bit
    even = _gf2_square(odd)       # two zero bits
    odd = _gf2_square(even)       # four zero bits
    n = len2
    while True:
        even = _gf2_square(odd)   # first pass: one zero byte
        if n & 1:
            a = _gf2_times(even, a)
        n >>= 1
        if not n:
            break
        odd = _gf2_square(even)
        if n & 1:
            a = _gf2_times(odd, a)
        n >>= 1
        if not n:
            break
    return (a ^ b).to_bytes(width // 8, "big")

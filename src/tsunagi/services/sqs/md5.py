"""The digests SQS returns and SDKs verify: MD5OfMessageBody, MD5OfMessageAttributes,
MD5OfMessageSystemAttributes.

Attributes are digested in name order; each contributes its name, its data type, a transport
byte (1 for String/Number values, 2 for Binary) and its value, every string and value
preceded by its length as a 4-byte big-endian integer.
"""

from __future__ import annotations

from hashlib import md5
from typing import Any

_TRANSPORT_STRING = b"\x01"
_TRANSPORT_BINARY = b"\x02"


def md5_hex(data: str) -> str:
    return md5(data.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()


def _lp(b: bytes) -> bytes:
    return len(b).to_bytes(4, "big") + b


def md5_of_attributes(attributes: dict[str, dict[str, Any]]) -> str:
    """The digest of message (or system) attributes, each ``{DataType, StringValue|BinaryValue}``."""
    parts: list[bytes] = []
    for name in sorted(attributes):
        attr = attributes[name]
        data_type = attr["DataType"]
        parts.append(_lp(name.encode("utf-8")))
        parts.append(_lp(data_type.encode("utf-8")))
        if data_type.startswith("Binary"):
            parts.append(_TRANSPORT_BINARY)
            value = attr.get("BinaryValue") or b""
            if isinstance(value, str):
                value = value.encode("utf-8")
            parts.append(_lp(bytes(value)))
        else:
            parts.append(_TRANSPORT_STRING)
            parts.append(_lp(str(attr.get("StringValue", "")).encode("utf-8")))
    return md5(b"".join(parts), usedforsecurity=False).hexdigest()

"""Small helpers shared by the parsers, serializers and the validator.

Everything here works on botocore ``Shape`` objects directly; nothing wraps them. The
helpers that are called per request (timestamps, names) are plain functions with no
model walking.
"""

from __future__ import annotations

import base64
import binascii
import calendar
from datetime import UTC, datetime
from typing import Any

from tsunagi.clock import http_date
from tsunagi.protocol.model import Shape

SCALAR_TYPES = frozenset({"string", "integer", "long", "float", "double", "boolean", "blob", "timestamp"})
INT_TYPES = frozenset({"integer", "long"})
FLOAT_TYPES = frozenset({"float", "double"})

# The timestamp format each protocol uses in bodies, and the one used in headers/querystrings.
BODY_TIMESTAMP = {"query": "iso8601", "rest-xml": "iso8601", "json": "unixTimestamp", "rest-json": "unixTimestamp"}
HEADER_TIMESTAMP = "rfc822"
QUERYSTRING_TIMESTAMP = "iso8601"


class BadValue(ValueError):
    """A wire value that cannot be converted to its shape's type (the caller adds context)."""


def lower_first(name: str) -> str:
    """AWS names members in validation messages lower-camel: ``FunctionName`` -> ``functionName``."""
    return name[:1].lower() + name[1:] if name else name


def serialized_name(shape: Shape, default: str) -> str:
    return shape.serialization.get("name") or default


def is_flattened(shape: Shape) -> bool:
    return bool(shape.serialization.get("flattened"))


def is_streaming(shape: Shape) -> bool:
    return shape.type_name == "blob" and bool(getattr(shape, "metadata", {}).get("streaming") or
                                               shape.serialization.get("streaming"))


# -- timestamps ---------------------------------------------------------------------------------------


def parse_timestamp(value: Any) -> datetime:
    """Any of AWS's timestamp forms (epoch seconds, ISO 8601, RFC 822) as an aware UTC datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise BadValue(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        return _from_epoch(value)
    if not isinstance(value, str) or not value:
        raise BadValue(f"not a timestamp: {value!r}")
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return _from_epoch(seconds)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        from email.utils import parsedate_to_datetime  # (the email package loads when first needed)

        try:
            dt = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError) as e:
            raise BadValue(f"not a timestamp: {value!r}") from e
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _from_epoch(seconds: float) -> datetime:
    """Epoch seconds as a datetime; NaN, infinities and values past year 9999 are bad values."""
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as e:
        raise BadValue(f"not a timestamp: {seconds!r}") from e


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_timestamp(value)


def format_timestamp(value: Any, fmt: str) -> Any:
    """A datetime (or epoch number, or already-formatted string) in ``fmt``.

    ``unixTimestamp`` gives a number (int when whole), the others strings.
    """
    if isinstance(value, str) and fmt != "unixTimestamp":
        return value
    dt = _as_datetime(value)
    if fmt == "unixTimestamp":
        seconds = calendar.timegm(dt.utctimetuple())
        ms = dt.microsecond // 1000
        return seconds if not ms else round(seconds + ms / 1000, 3)
    if fmt == "rfc822":
        return http_date(dt.timestamp())
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def timestamp_format(shape: Shape, default: str) -> str:
    return shape.serialization.get("timestampFormat") or default


# -- blobs ------------------------------------------------------------------------------------------


def b64decode(value: Any) -> bytes:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        raise BadValue("not base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise BadValue("invalid base64") from e


def b64encode(value: Any) -> str:
    if isinstance(value, str):
        value = value.encode()
    return base64.b64encode(value).decode("ascii")


def to_bytes(value: Any) -> bytes:
    """A payload a service returned (bytes, str, bytearray or a file-like object) as bytes."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    read = getattr(value, "read", None)
    if read is not None:
        data = read()
        return data.encode() if isinstance(data, str) else bytes(data)
    if value is None:
        return b""
    return b"".join(to_bytes(chunk) for chunk in value)


# -- scalar conversions for text-based locations (query, XML, headers, querystring) ------------------


def text_to_scalar(shape_type: str, text: str) -> Any:
    """Convert wire text to ``shape_type``'s Python type (timestamps and blobs handled by callers)."""
    if shape_type == "string":
        return text
    if shape_type in INT_TYPES:
        try:
            return int(text)
        except ValueError as e:
            raise BadValue(f"{text!r} is not an integer") from e
    if shape_type in FLOAT_TYPES:
        try:
            return float(text)
        except ValueError as e:
            raise BadValue(f"{text!r} is not a number") from e
    if shape_type == "boolean":
        low = text.lower()
        if low == "true":
            return True
        if low == "false":
            return False
        raise BadValue(f"{text!r} is not a boolean")
    return text


def scalar_to_text(shape_type: str, value: Any) -> str:
    if shape_type == "boolean":
        if isinstance(value, str):
            return value.lower()
        return "true" if value else "false"
    if shape_type in FLOAT_TYPES and isinstance(value, float):
        return repr(value)
    return str(value)

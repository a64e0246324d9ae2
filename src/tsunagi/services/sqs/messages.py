"""Message-level rules: bodies, message attributes, sizes, receipt handles, and the rows the
repository stores and returns."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import orjson

from tsunagi.services.sqs.errors import (
    BatchEntryIdsNotDistinct,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    InvalidMessageContents,
    InvalidParameterValue,
    ReceiptHandleIsInvalid,
    TooManyEntriesInBatchRequest,
)
from tsunagi.services.sqs.md5 import md5_of_attributes

# what SQS refuses: everything but #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF, written
# as the few ranges that are left out (the same set; compiled in well under a millisecond, where the
# allowed ranges' class took several at every start)
_INVALID_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ASCII_ALLOWED = b"\t\n\r" + bytes(range(0x20, 0x80))
# Letters and digits in Unicode's sense ("alphanumeric" in AWS's rule; AWS takes accented letters such
# as "ä" and "ß"), underscore, hyphen and period, 1 to 256 of them.
_ATTR_NAME = re.compile(r"^[\w.-]{1,256}$")
_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")

INVALID_CHARS_MESSAGE = ("Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to "
                         "#xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")


def check_body(body: str) -> int:
    """Raise on characters SQS refuses; return the body's size in bytes."""
    if body.isascii():
        # deleting every allowed byte leaves nothing unless a control character is there: a C loop
        # over a 256-entry table, several times faster than a regex or str.isprintable() over the text
        if not body.encode("ascii").translate(None, _ASCII_ALLOWED):
            return len(body)
        raise InvalidMessageContents(INVALID_CHARS_MESSAGE)
    if _INVALID_CHARS.search(body):
        raise InvalidMessageContents(INVALID_CHARS_MESSAGE)
    return len(body.encode("utf-8"))


def attributes_size(attributes: dict[str, dict[str, Any]] | None) -> int:
    """How much message attributes count toward MaximumMessageSize: name, type and value of each."""
    if not attributes:
        return 0
    size = 0
    for name, attr in attributes.items():
        size += len(name.encode("utf-8")) + len(str(attr.get("DataType", "")).encode("utf-8"))
        if attr.get("BinaryValue") is not None:
            size += len(attr["BinaryValue"])
        elif attr.get("StringValue") is not None:
            size += len(str(attr["StringValue"]).encode("utf-8"))
    return size


def check_attributes(attributes: dict[str, dict[str, Any]], *, system: bool = False) -> tuple[str, str]:
    """Validate message attributes; return (stored JSON, MD5OfMessageAttributes)."""
    kind = "system" if system else "user"
    if len(attributes) > 10:
        raise InvalidParameterValue(f"Number of message attributes [{len(attributes)}] exceeds the allowed "
                                    "maximum [10].")
    stored: dict[str, list[Any]] = {}
    for name, attr in attributes.items():
        if system:
            if name != "AWSTraceHeader":
                raise InvalidParameterValue(f"Message system attribute name '{name}' is invalid.")
        elif (not _ATTR_NAME.match(name) or name.startswith(".") or name.endswith(".") or ".." in name
              or name.lower().startswith(("aws.", "amazon."))):
            raise InvalidParameterValue(f"Message ({kind}) attribute name '{name}' is invalid. Names can "
                                        "contain alphanumeric characters, hyphens, underscores and periods, "
                                        "must not start or end with a period, must not contain consecutive "
                                        "periods, must not start with 'AWS.' or 'Amazon.' and can be up to "
                                        "256 characters long.")
        if not isinstance(attr, dict):
            raise InvalidParameterValue(f"Message ({kind}) attribute '{name}' must contain a non-empty value "
                                        "of message attribute type 'String'.")
        data_type = attr.get("DataType")
        if not data_type:
            raise InvalidParameterValue(f"The message attribute '{name}' must contain non-empty message "
                                        "attribute type.")
        base = data_type.split(".", 1)[0]
        if base not in ("String", "Number", "Binary") or len(data_type) > 256:
            raise InvalidParameterValue(f"The type of message ({kind}) attribute '{name}' is invalid. You must "
                                        "use only the following supported type prefixes: Binary, Number, "
                                        "String.")
        if system and base != "String":
            raise InvalidParameterValue(f"The type of message (system) attribute '{name}' is invalid. It must be "
                                        "String.")
        if attr.get("StringListValues") or attr.get("BinaryListValues"):
            raise InvalidParameterValue(f"Message ({kind}) attribute '{name}' uses list values, which are not "
                                        "supported.")
        string_value = attr.get("StringValue")
        binary_value = attr.get("BinaryValue")
        if base == "Binary":
            if binary_value is None or string_value is not None or len(binary_value) == 0:
                raise InvalidParameterValue(f"The message ({kind}) attribute '{name}' with type 'Binary' must "
                                            "use field 'Binary'.")
            if isinstance(binary_value, str):
                binary_value = binary_value.encode("utf-8")
            stored[name] = [data_type, None, base64.b64encode(bytes(binary_value)).decode("ascii")]
        else:
            if string_value == "" and binary_value is None:
                raise InvalidParameterValue(f"Message ({kind}) attribute '{name}' must contain a non-empty value "
                                            f"of type '{base}'.")
            if string_value is None or binary_value is not None:
                raise InvalidParameterValue(f"The message ({kind}) attribute '{name}' with type '{base}' must "
                                            "use field 'String'.")
            if _INVALID_CHARS.search(string_value):
                raise InvalidParameterValue(f"Message ({kind}) attribute '{name}' value contains invalid "
                                            f"characters. {INVALID_CHARS_MESSAGE}")
            if base == "Number" and not _NUMBER.match(string_value.strip()):
                raise InvalidParameterValue(f"Can't cast the value of message ({kind}) attribute '{name}' to a "
                                            "number.")
            stored[name] = [data_type, string_value, None]
    return orjson.dumps(stored).decode(), md5_of_attributes(attributes)


def load_attributes(stored: str) -> dict[str, dict[str, Any]]:
    """Stored JSON back into the output shape ``{name: {DataType, StringValue|BinaryValue}}``."""
    out: dict[str, dict[str, Any]] = {}
    for name, (data_type, string_value, binary_value) in orjson.loads(stored).items():
        if binary_value is not None:
            out[name] = {"DataType": data_type, "BinaryValue": base64.b64decode(binary_value)}
        else:
            out[name] = {"DataType": data_type, "StringValue": string_value}
    return out


def select_attributes(attributes: dict[str, dict[str, Any]], wanted: list[str]) -> dict[str, dict[str, Any]]:
    """MessageAttributeNames: ``All``, ``.*`` or ``*`` (every attribute), ``prefix.*`` (names that start
    with ``prefix``) or exact names."""
    if not wanted:
        return {}
    exact: set[str] = set()
    prefixes: list[str] = []
    for w in wanted:
        if w in ("All", ".*", "*"):
            return attributes
        if w.endswith(".*"):
            prefixes.append(w[:-2])
        else:
            exact.add(w)
    return {n: a for n, a in attributes.items() if n in exact or any(n.startswith(p) for p in prefixes)}


# -- receipt handles ---------------------------------------------------------------------------
_b2a = binascii.b2a_base64
_a2b = binascii.a2b_base64


def make_handle(queue_id: int, row_id: int, receipt: int, message_id: str) -> str:
    return _b2a(f"{queue_id}:{row_id}:{receipt}:{message_id}".encode("ascii"), newline=False).decode("ascii")


def parse_handle(handle: str | None) -> tuple[int, int, int, str]:
    """(queue id, message row id, receive nonce, message id); ReceiptHandleIsInvalid when it is not ours."""
    try:
        # (binascii straight: what base64.b64decode(validate=True) calls, without its Python wrapper)
        raw = _a2b(handle or "", strict_mode=True).decode("ascii")
        queue_id, row_id, receipt, message_id = raw.split(":", 3)
        return int(queue_id), int(row_id), int(receipt), message_id
    except (ValueError, UnicodeDecodeError):
        raise ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not a valid receipt handle.') \
            from None


def check_batch(entries: Any, entry_name: str) -> list[dict[str, Any]]:
    """A batch's entries: 1 to 10, each with a distinct Id of AWS's form (AWS's batch errors otherwise)."""
    entries = list(entries or [])
    if not entries:
        raise EmptyBatchRequest(f"There should be at least one {entry_name} in the request.")
    if len(entries) > 10:
        raise TooManyEntriesInBatchRequest(f"Maximum number of entries per request are 10. You have sent "
                                           f"{len(entries)}.")
    seen: set[str] = set()
    for e in entries:
        entry_id = e.get("Id")
        if not isinstance(entry_id, str) or not _BATCH_ID.match(entry_id):
            raise InvalidBatchEntryId("A batch entry id can only contain alphanumeric characters, hyphens and "
                                      "underscores. It can be at most 80 letters long.")
        if entry_id in seen:
            raise BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
        seen.add(entry_id)
    return entries

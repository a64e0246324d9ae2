"""Opaque paging tokens: a small JSON document, URL-safe base64 without padding."""

from __future__ import annotations

import base64
import json
from typing import Any

from tsunagi.services.logs.errors import BAD_TOKEN, InvalidParameter


def encode(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(token: str) -> Any:
    """The document a token carries; InvalidParameterException ("The specified nextToken is invalid.")
    when it is not one of ours."""
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError):
        raise InvalidParameter(BAD_TOKEN) from None


def name_after(token: str | None) -> str | None:
    """The name a ``{"n": name}`` token resumes after (None without a token)."""
    if not token:
        return None
    doc = decode(token)
    after = doc.get("n") if isinstance(doc, dict) else None
    if not isinstance(after, str):
        raise InvalidParameter(BAD_TOKEN)
    return after

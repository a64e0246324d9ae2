"""Phone numbers as SNS checks and keeps them: E.164 (``+`` then up to 15 digits, no leading zero)."""

from __future__ import annotations

import re

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


def e164_form(phone: str) -> str:
    """An sms subscription's number as opt-outs know it: E.164, without separators (``1-555-0100`` is
    ``+15550100``)."""
    return "+" + "".join(c for c in phone if c.isdigit())

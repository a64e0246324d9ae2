"""Trace ids: the one id that follows a request through every hop it causes.

A request that carries ``X-Amzn-Trace-Id`` (or a message that carries ``AWSTraceHeader``) keeps the
``Root`` of that header as its trace id; any other request gets a new one, in X-Ray's form
(``1-<8 hex digits of epoch seconds>-<24 random hex digits>``). Every message, outbox row,
invocation and delivery record that a request causes carries its trace id, so ``tsunagi trace``
and the console can put a journey back together from the store alone.

The trace id is tsunagi's; whether a *header* is shown to the user is another matter, decided the
way AWS decides it (SQS shows ``AWSTraceHeader`` only when the sender set one, Lambda always sets
``_X_AMZN_TRACE_ID``).
"""

from __future__ import annotations

import time

from tsunagi.ids import _bits, random_hex

_HEX = frozenset("0123456789abcdef")


_epoch: list[int | str] = [-1, ""]     # [second, "1-<8 hex>-"], made once a second


def new_trace_id(now: float | None = None) -> str:
    """A fresh X-Ray trace id: ``1-<epoch seconds, 8 hex>-<96 random bits, 24 hex>``."""
    seconds = int(time.time() if now is None else now)
    if seconds != _epoch[0]:
        _epoch[0], _epoch[1] = seconds, f"1-{seconds & 0xFFFFFFFF:08x}-"
    return f"{_epoch[1]}{'%024x' % _bits(96)}"  # noqa: UP031 - %-formatting is the cheaper here


def is_trace_id(value: str) -> bool:
    """``1-xxxxxxxx-<24 hex>``: the shape of an X-Ray trace id."""
    return (len(value) == 35 and value[:2] == "1-" and value[10] == "-"
            and _HEX.issuperset(value[2:10]) and _HEX.issuperset(value[11:]))


def root_of(header: str | None) -> str | None:
    """The ``Root=`` field of an ``X-Amzn-Trace-Id`` / ``AWSTraceHeader`` value, when it has a valid one."""
    if not header:
        return None
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == "Root":
            value = value.strip()
            return value if is_trace_id(value) else None
    return None


def trace_id_for(header: str | None, now: float | None = None) -> str:
    """The trace id of a request that arrived with ``header`` (its Root), or a new one."""
    return root_of(header) or new_trace_id(now)


def lambda_header(trace_id: str, upstream: str | None = None) -> str:
    """The ``_X_AMZN_TRACE_ID`` value a function invocation sees: the upstream header's Parent and
    Sampled fields kept when the header belongs to this trace, a new Parent (segment id) otherwise."""
    parent = None
    sampled = "0"
    if upstream and root_of(upstream) == trace_id:
        for part in upstream.split(";"):
            key, _, value = part.strip().partition("=")
            if key == "Parent" and value:
                parent = value.strip()
            elif key == "Sampled" and value.strip() in ("0", "1", "?"):
                sampled = value.strip()
    return f"Root={trace_id};Parent={parent or random_hex(64)};Sampled={sampled}"

"""SNS's http/https deliveries: one POST through :mod:`tsunagi.outbound` (never to tsunagi's own internal
routes, the answer read up to a small cap, connect and read timeouts).

TLS uses the system's trust store; ``TSUNAGI_SNS_HTTPS_INSECURE=1`` skips verification for local
self-signed endpoints. Errors come back as :class:`HttpFailure` with a readable reason;
:class:`Refused` (a subclass) is a delivery tsunagi will never make, not to be retried.
"""

from __future__ import annotations

from tsunagi import outbound

USER_AGENT = "Amazon Simple Notification Service Agent"
TIMEOUT_S = 15.0
HttpFailure = outbound.OutboundFailure
Refused = outbound.OutboundRefused


async def post(url: str, body: bytes, headers: dict[str, str], timeout: float = TIMEOUT_S, *,
               guard: outbound.SelfNames, insecure: bool = False) -> tuple[int, bytes]:
    """POST ``body`` to ``url``; returns (status, the first bytes of the response body)."""
    answer = await outbound.request("POST", url, body, headers, guard=guard, user_agent=USER_AGENT,
                                    insecure=insecure, read_timeout=timeout)
    return answer.status, answer.body

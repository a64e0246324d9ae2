"""What the rest of tsunagi may ask of STS (implemented by ``services/sts/port.py``).

Callers: the gateway's authenticate step and the services that act as a role (function executions,
ECS tasks, API Gateway integrations with credentials) once IAM keeps credentials.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from tsunagi.context import RequestContext
from tsunagi.ports import PortKey


class CallerIdentity(NamedTuple):
    account: str
    arn: str
    user_id: str


class StsPort(Protocol):
    async def caller_identity(self, ctx: RequestContext) -> CallerIdentity:
        """Who ``ctx``'s principal is, as GetCallerIdentity answers."""
        ...


STS: PortKey[StsPort] = PortKey("sts")

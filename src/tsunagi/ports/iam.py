"""What the rest of tsunagi may ask of IAM and STS (implemented by ``services/iam/port.py``).

Callers: the gateway's authenticate step under ``--auth strict`` (``credentials``: the secret, owner
and expiry of an access key from CreateAccessKey, AssumeRole, GetSessionToken, …), the authorize step
and the pipes that act as a role (``identity_policies``, ``role``: a role's trust policy and its
permissions when a function, an event source mapping, API Gateway or an ECS task uses it), and STS
(``issue_session``: the temporary credentials of AssumeRole and GetSessionToken).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from tsunagi.ports import PortKey


class Credentials(NamedTuple):
    """An access key as the authenticator needs it."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None        # set for temporary credentials (STS)
    account: str
    principal_arn: str               # the user, or the assumed-role session (arn:aws:sts::…:assumed-role/R/S)
    user_id: str                     # AIDA… for users, AROA…:session for role sessions
    expires_at_ms: int | None        # temporary credentials expire
    active: bool = True              # UpdateAccessKey --status Inactive
    session_policy: str | None = None   # the Policy a role session was given (it limits what the role allows)
    role_arn: str | None = None         # a role session's role, its path included (aws:PrincipalArn)


class RoleRef(NamedTuple):
    arn: str
    account: str
    name: str
    role_id: str
    trust_policy: str                # AssumeRolePolicyDocument (JSON)
    max_session_seconds: int


class IamPort(Protocol):
    async def credentials(self, access_key_id: str) -> Credentials | None:
        """The key's owner and secret, or None when no such key exists (or it was deleted)."""
        ...

    async def identity_policies(self, principal_arn: str) -> list[tuple[str, str]]:
        """``(label, document)`` of every identity policy that applies to a user or a role (session):
        inline, attached managed policies (their default versions) and, for users, their groups'."""
        ...

    async def permissions_boundary(self, principal_arn: str) -> str | None:
        """The document of the principal's permissions boundary, if it has one."""
        ...

    async def role(self, arn: str) -> RoleRef | None:
        """The role an ARN names (its path must match), or None."""
        ...

    async def issue_session(self, *, account: str, principal_arn: str, user_id: str, duration_s: int,
                            role_arn: str | None = None, source_key: str | None = None,
                            region: str | None = None, session_policy: str | None = None) -> Credentials:
        """New temporary credentials (``ASIA…``, a secret, a session token) for ``principal_arn``,
        valid ``duration_s`` seconds: STS's AssumeRole, AssumeRoleWithWebIdentity and GetSessionToken.
        ``role_arn`` (an assumed role) has its RoleLastUsed set (in ``region``)."""
        ...

    async def key_used(self, access_key_id: str, service: str, region: str) -> None:
        """Record that a long-term key signed a request (GetAccessKeyLastUsed). Cheap to call on every
        request: at most one write per key a minute."""
        ...


IAM: PortKey[IamPort] = PortKey("iam")

"""The facts a decision is made on: who is calling, what action on which resource, and the request
context (condition keys).

:class:`Caller` is the principal. Its identity "chain" is what ``Principal`` and ``NotPrincipal``
elements are checked against: the account (``arn:aws:iam::111122223333:root`` or ``111122223333``),
then, for a role session, the role (``arn:aws:iam::…:role/name``), then the user, session or
federated-user ARN itself (NotPrincipal page: "AWS might validate the account first, then the role,
and then the assumed-role user").

:class:`Request` fills in the global keys AWS derives from the caller unless the context already has
them (global condition keys page): ``aws:PrincipalArn`` (the role's ARN for a role session),
``aws:PrincipalAccount``, ``aws:PrincipalType`` (``Account``, ``User``, ``AssumedRole``,
``FederatedUser``, ``Anonymous``), ``aws:username`` (IAM users only), ``aws:userid`` (the account id
for the root user, ``anonymous`` for anonymous callers; others only when given), and for a service
principal ``aws:PrincipalServiceName`` and ``aws:PrincipalIsAWSService``. ``aws:CurrentTime`` and
``aws:EpochTime`` are "always included" (AWS): from ``now`` when given (pass the service's clock), from
the wall clock otherwise. ``secure_transport`` and ``source_ip`` give
``aws:SecureTransport`` and ``aws:SourceIp``. Everything else (``aws:SourceArn``, ``aws:SourceAccount``,
tags, ``kms:ViaService``, ``kms:EncryptionContext:k``, ``s3:prefix`` …) is passed in ``context`` as the
caller knows it. Key names are case-insensitive; values are strings (bytes become base64, booleans
``true``/``false``), or tuples of strings for multivalued keys (``aws:TagKeys``, ``aws:CalledVia``, ``kms:EncryptionContextKeys``).
"""

from __future__ import annotations

import base64
import functools
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tsunagi.policy.patterns import ContextValue


class CallerType(StrEnum):
    ROOT = "root"                       # an account's root user
    USER = "user"                       # an IAM user
    ROLE_SESSION = "assumed-role"       # a session of an IAM role (arn:aws:sts::…:assumed-role/…)
    FEDERATED_USER = "federated-user"   # a GetFederationToken session
    SERVICE = "service"                 # an AWS service principal (sns.amazonaws.com)
    ANONYMOUS = "anonymous"             # an unsigned request


_PRINCIPAL_TYPE = {
    CallerType.ROOT: "Account",
    CallerType.USER: "User",
    CallerType.ROLE_SESSION: "AssumedRole",
    CallerType.FEDERATED_USER: "FederatedUser",
    CallerType.ANONYMOUS: "Anonymous",
}


def _arn_parts(arn: str) -> list[str]:
    return arn.split(":", 5)


@dataclass(frozen=True, slots=True)
class Caller:
    """The principal making a request."""

    type: CallerType
    arn: str | None = None              # the caller's ARN; a service principal's name for SERVICE
    account: str | None = None
    role_arn: str | None = None         # a role session's role (its path included when known)
    federated_provider: str | None = None   # web identity / SAML provider a session came from
    canonical_user: str | None = None   # S3 canonical user id, when the caller has one

    @classmethod
    def root(cls, account: str, partition: str = "aws") -> Caller:
        return cls(CallerType.ROOT, f"arn:{partition}:iam::{account}:root", account)

    @classmethod
    def user(cls, arn: str) -> Caller:
        return cls(CallerType.USER, arn, _arn_parts(arn)[4])

    @classmethod
    def session(cls, arn: str, role_arn: str | None = None, *, federated_provider: str | None = None) -> Caller:
        """A role session, ``arn:aws:sts::111122223333:assumed-role/role-name/session-name``. The role's
        ARN is derived from it unless given (it cannot carry the role's path)."""
        parts = _arn_parts(arn)
        if role_arn is None:
            role_name = parts[5].split("/")[1] if parts[5].count("/") >= 2 else ""
            role_arn = f"arn:{parts[1]}:iam::{parts[4]}:role/{role_name}"
        return cls(CallerType.ROLE_SESSION, arn, parts[4], role_arn, federated_provider)

    @classmethod
    def federated_user(cls, arn: str) -> Caller:
        return cls(CallerType.FEDERATED_USER, arn, _arn_parts(arn)[4])

    @classmethod
    def service(cls, name: str) -> Caller:
        return cls(CallerType.SERVICE, name)

    @classmethod
    def anonymous(cls) -> Caller:
        return cls(CallerType.ANONYMOUS)

    @classmethod
    def from_arn(cls, arn: str) -> Caller:
        """The caller an ARN (or a service principal name, or ``*``/empty for anonymous) names."""
        if not arn or arn == "*":
            return cls.anonymous()
        if not arn.startswith("arn:"):
            return cls.service(arn)
        parts = _arn_parts(arn)
        if len(parts) < 6:
            raise ValueError(f"not a principal ARN: {arn}")
        resource = parts[5]
        if parts[2] == "iam" and resource == "root":
            return cls.root(parts[4], parts[1])
        if parts[2] == "iam" and resource.startswith("user/"):
            return cls.user(arn)
        if parts[2] == "sts" and resource.startswith("assumed-role/"):
            return cls.session(arn)
        if parts[2] == "sts" and resource.startswith("federated-user/"):
            return cls.federated_user(arn)
        raise ValueError(f"not a principal ARN: {arn}")

    @property
    def is_iam(self) -> bool:
        """A caller that has identity-based policies (or is the root user) in an account."""
        return self.type in (CallerType.ROOT, CallerType.USER, CallerType.ROLE_SESSION, CallerType.FEDERATED_USER)

    def describe(self) -> str:
        if self.type is CallerType.ANONYMOUS:
            return "anonymous callers"
        return self.arn or str(self.type)


def _value(value: Any) -> ContextValue:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()         # binary keys travel as base64, as in policies
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Iterable):
        return tuple(v if isinstance(v, str) else str(_value(v)) for v in value)
    return str(value)


@functools.lru_cache(maxsize=8)
def _iso(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


class Request:
    """What is asked: ``caller`` wants ``action`` on ``resource`` (owned by ``resource_account``)."""

    __slots__ = ("caller", "action", "action_lower", "resource", "resource_account", "context")

    def __init__(self, caller: Caller, action: str, resource: str = "*", *, resource_account: str | None = None,
                 context: Mapping[str, Any] | None = None, now: float | None = None,
                 secure_transport: bool | None = None, source_ip: str | None = None) -> None:
        self.caller = caller
        self.action = action
        self.action_lower = action.casefold()
        self.resource = resource
        self.resource_account = resource_account
        ctx: dict[str, ContextValue] = {}
        if context:
            for key, value in context.items():
                ctx[key.lower()] = _value(value)
        second = int(time.time() if now is None else now)
        ctx.setdefault("aws:currenttime", _iso(second))
        ctx.setdefault("aws:epochtime", str(second))
        if secure_transport is not None:
            ctx.setdefault("aws:securetransport", "true" if secure_transport else "false")
        if source_ip is not None:
            ctx.setdefault("aws:sourceip", source_ip)
        kind = caller.type
        if kind is CallerType.SERVICE:
            ctx.setdefault("aws:principalservicename", caller.arn or "")
            ctx.setdefault("aws:principalisawsservice", "true")
        else:
            ctx.setdefault("aws:principalisawsservice", "false")
            ctx.setdefault("aws:principaltype", _PRINCIPAL_TYPE[kind])
            if kind is CallerType.ANONYMOUS:
                ctx.setdefault("aws:userid", "anonymous")
            else:
                principal_arn = caller.role_arn if kind is CallerType.ROLE_SESSION else caller.arn
                if principal_arn:
                    ctx.setdefault("aws:principalarn", principal_arn)
                if caller.account:
                    ctx.setdefault("aws:principalaccount", caller.account)
                if kind is CallerType.ROOT and caller.account:
                    ctx.setdefault("aws:userid", caller.account)
                if kind is CallerType.USER and caller.arn:
                    ctx.setdefault("aws:username", caller.arn.rsplit("/", 1)[-1])
        self.context: Mapping[str, ContextValue] = ctx

    def __repr__(self) -> str:
        return f"Request({self.caller.describe()} {self.action} {self.resource})"

"""IAM (query protocol, global: ARNs carry no region).

The service is put together from one class per family of operations, each on :class:`.core.IamCore`
(the repository, lookups, policy checks, caches): :mod:`.users` (users, groups, access keys, login
profiles), :mod:`.roles` (roles, service-linked roles, instance profiles), :mod:`.policies` (inline and
managed policies, versions, attachments), :mod:`.tags`, :mod:`.providers` (OpenID Connect providers), :mod:`.account` (the account's
authorization details and summary) and :mod:`.simulate` (the policy simulator, on
the policy evaluator). Other parts of tsunagi (the authenticator,
the authorizer, STS) reach IAM through its port (:mod:`.port`).
"""

from __future__ import annotations

from tsunagi.ports.iam import IAM
from tsunagi.services.base import Platform
from tsunagi.services.iam.account import AccountOps
from tsunagi.services.iam.policies import PolicyOps
from tsunagi.services.iam.port import IamPortImpl
from tsunagi.services.iam.providers import ProviderOps
from tsunagi.services.iam.roles import RoleOps
from tsunagi.services.iam.simulate import SimulateOps
from tsunagi.services.iam.tags import TagOps
from tsunagi.services.iam.users import UserOps

__all__ = ["IamService"]


class IamService(UserOps, RoleOps, PolicyOps, TagOps, SimulateOps, ProviderOps, AccountOps):
    name = "iam"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        platform.ports.provide(IAM, IamPortImpl(self))

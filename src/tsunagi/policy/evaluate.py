"""Allow, explicit deny or implicit deny, and what decided it: AWS's policy evaluation logic.

The rules (IAM User Guide, "Policy evaluation logic", "Cross-account policy evaluation logic",
"Principal"; KMS Developer Guide, "Default key policy"):

1. An explicit ``Deny`` that applies, in any policy (identity-based, resource-based, key, trust,
   permissions boundary, session), decides: denied.
2. Otherwise something must allow. Identity-based policies apply to IAM users and role sessions; a
   permissions boundary and a session policy only limit them (they grant nothing). The root user is
   allowed everything in its own account except where a key or trust policy must name it.
3. Within one account either side suffices, but how a resource-based statement names the caller
   matters: the caller's own ARN (user, role session, federated user), ``"*"``, or a service principal
   grants directly; the role's ARN grants subject to the role's permissions boundary and session
   policy; the account (``111122223333`` or ``arn:aws:iam::111122223333:root``) only delegates: the
   caller's identity-based policies must allow too.
4. KMS key policies and role trust policies are required: without a statement there that allows
   the caller (directly or through its account), identity-based policies do not help.
5. Across accounts both sides must allow: the caller's identity-based policies (within its boundary
   and session policy) and the resource-based policy of the resource's account.
6. Service principals and anonymous callers have no identity-based policies: the resource-based
   policy alone decides.

The :class:`Decision` names the deciding statements, or for an implicit deny the sides that had no
allowing statement, and explains in a sentence a user can act on; for a resource-based policy that
does not allow, it says for each allowing statement what did not match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from tsunagi.policy.document import Effect, Level, Policy, PolicyKind, Statement
from tsunagi.policy.request import CallerType, Request

Found = tuple[Policy, Statement]            # a deciding statement and the policy it is in


class Outcome(StrEnum):
    ALLOW = "Allow"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"


class Side(StrEnum):
    """Where an allowing statement was missing."""

    IDENTITY = "identity"           # the caller's identity-based policies
    RESOURCE = "resource"           # the resource-based, key or trust policy
    BOUNDARY = "boundary"           # the caller's permissions boundary
    SESSION = "session"             # the session policy of a role or federated-user session


@dataclass(frozen=True, slots=True)
class StatementRef:
    """A statement in a decision: which policy (by label), its Sid or position, its effect."""

    policy: str
    kind: PolicyKind
    sid: str | None
    index: int
    effect: Effect

    def __str__(self) -> str:
        name = f"statement {self.sid!r}" if self.sid else f"statement #{self.index + 1}"
        return f"{name} of {self.policy}"


class Decision:
    """The outcome of one evaluation and what decided it."""

    __slots__ = ("outcome", "found", "missing", "request", "resource_label", "_notes", "_explain")

    def __init__(self, outcome: Outcome, request: Request, found: tuple[Found, ...] = (),
                 missing: tuple[Side, ...] = (), resource_label: str | None = None,
                 notes: tuple[str, ...] = (), explain: Policy | None = None) -> None:
        self.outcome = outcome
        self.request = request
        self.found = found
        self.missing = missing
        self.resource_label = resource_label
        self._notes: tuple[str, ...] | None = notes if explain is None else None
        self._explain = explain

    @property
    def notes(self) -> tuple[str, ...]:
        """For each allowing statement of the resource's policy (at most three), what did not match
        the request. Worked out when first asked for: a refusal that nobody reads costs nothing."""
        if self._notes is None:
            self._notes = _near_misses(self._explain, self.request) if self._explain is not None else ()
        return self._notes

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW

    @property
    def statements(self) -> tuple[StatementRef, ...]:
        """The deciding statements: an explicit deny, or the allow(s) that granted."""
        return tuple(StatementRef(p.label, p.kind, s.sid, s.index, s.effect) for p, s in self.found)

    @property
    def statement(self) -> StatementRef | None:
        """The deciding statement (an allow decided by two sides lists both in ``statements``)."""
        return self.statements[0] if self.statements else None

    @property
    def reason(self) -> str:
        request = self.request
        who = request.caller.describe()
        what = f"{request.action} on {request.resource}"
        if self.outcome is Outcome.ALLOW:
            if not self.statements:
                return f"allowed: {who} is the root user of the account that owns {request.resource}"
            return "allowed by " + " and ".join(str(s) for s in self.statements)
        if self.outcome is Outcome.EXPLICIT_DENY:
            return f"{what} by {who} is explicitly denied by {self.statements[0]}"
        parts: list[str] = []
        for side in self.missing:
            if side is Side.RESOURCE:
                if self.resource_label is None:
                    parts.append(f"{request.resource} has no resource-based policy that allows {who}, "
                                 f"who is in another account")
                else:
                    parts.append(f"{self.resource_label} has no statement that allows {who} to "
                                 f"{request.action} on {request.resource}{_source(request)}")
            elif side is Side.IDENTITY:
                parts.append(f"no identity-based policy of {who} allows {what}")
            elif side is Side.BOUNDARY:
                parts.append(f"the permissions boundary of {who} does not allow {what}")
            else:
                parts.append(f"no session policy of {who} allows {what}")
        text = "; ".join(parts) or f"nothing allows {who} to {what}"
        if self.notes:
            text += " (" + "; ".join(self.notes) + ")"
        return text

    def __repr__(self) -> str:
        return f"Decision({self.outcome.value}: {self.reason})"


def _source(request: Request) -> str:
    context = request.context
    out = ""
    arn = context.get("aws:sourcearn")
    if isinstance(arn, str):
        out += f" with aws:SourceArn {arn}"
    account = context.get("aws:sourceaccount")
    if isinstance(account, str):
        out += f" {'and' if out else 'with'} aws:SourceAccount {account}"
    return out




def _scan(policy: Policy, request: Request) -> tuple[Statement | None, Statement | None, Level]:
    """The first applying Deny (if any, the scan stops there), else the applying Allow that names the
    caller most directly, and how directly."""
    caller = request.caller
    allow: Statement | None = None
    best = Level.NONE
    for statement in policy.statements:
        level = statement.level(caller)
        if level is Level.NONE:
            continue
        if statement.effect is Effect.ALLOW and level <= best:
            continue                                  # cannot improve on the allow already found
        if not statement.covers(request):
            continue
        if statement.effect is Effect.DENY:
            return statement, None, Level.NONE
        allow, best = statement, level
    return None, allow, best


def evaluate(request: Request, *, identity: Sequence[Policy] = (), resource: Policy | None = None,
             boundary: Policy | None = None, session: Policy | Sequence[Policy] | None = None) -> Decision:
    """Decide ``request`` under the caller's identity-based policies, the resource's policy (a
    resource-based, key or trust policy), the caller's permissions boundary and its session policies.

    ``session=None`` means the session carries no session policy (a role session is then limited by
    nothing; a federated-user session always carries one)."""
    caller = request.caller
    kind = caller.type
    iam = kind is not CallerType.SERVICE and kind is not CallerType.ANONYMOUS
    boundary_applies = boundary is not None and (kind is CallerType.USER or kind is CallerType.ROLE_SESSION)
    sessions: tuple[Policy, ...] = ()
    session_applies = kind is CallerType.ROLE_SESSION or kind is CallerType.FEDERATED_USER
    if session_applies and session is not None:
        sessions = (session,) if isinstance(session, Policy) else tuple(session)

    # 1. explicit denies, and the allows found on the way
    identity_allow: tuple[Policy, Statement] | None = None
    if iam:
        for policy in identity:
            deny, allow, _ = _scan(policy, request)
            if deny is not None:
                return Decision(Outcome.EXPLICIT_DENY, request, ((policy, deny),))
            if allow is not None and identity_allow is None:
                identity_allow = (policy, allow)
    resource_allow: Statement | None = None
    level = Level.NONE
    if resource is not None:
        deny, resource_allow, level = _scan(resource, request)
        if deny is not None:
            return Decision(Outcome.EXPLICIT_DENY, request, ((resource, deny),))
    if not iam:                                     # a service principal or an anonymous caller
        if resource is not None and resource_allow is not None:
            return Decision(Outcome.ALLOW, request, ((resource, resource_allow),))
        return _implicit(request, resource, (Side.RESOURCE,))
    boundary_ok = True
    if boundary_applies:
        assert boundary is not None
        deny, allow, _ = _scan(boundary, request)
        if deny is not None:
            return Decision(Outcome.EXPLICIT_DENY, request, ((boundary, deny),))
        boundary_ok = allow is not None
    session_ok = True
    if session_applies:
        if sessions:
            session_ok = False
            for policy in sessions:
                deny, allow, _ = _scan(policy, request)
                if deny is not None:
                    return Decision(Outcome.EXPLICIT_DENY, request, ((policy, deny),))
                session_ok = session_ok or allow is not None
        else:
            session_ok = kind is CallerType.ROLE_SESSION

    # 2. what allows
    identity_missing: list[Side] = []
    if kind is not CallerType.ROOT:
        if identity_allow is None:
            identity_missing.append(Side.IDENTITY)
        if not boundary_ok:
            identity_missing.append(Side.BOUNDARY)
        if not session_ok:
            identity_missing.append(Side.SESSION)
    identity_ok = iam and not identity_missing
    identity_refs = (identity_allow,) if identity_allow is not None and kind is not CallerType.ROOT else ()
    resource_refs: tuple[Found, ...] = ((resource, resource_allow),) \
        if resource is not None and resource_allow is not None else ()
    resource_label = resource.label if resource is not None else None
    required = resource is not None and resource.kind in (PolicyKind.KEY, PolicyKind.TRUST)

    same_account = request.resource_account is None or request.resource_account == caller.account
    if same_account:
        if level is Level.DIRECT or (level is Level.ROLE and boundary_ok and session_ok) \
                or (level is Level.ACCOUNT and identity_ok):
            return Decision(Outcome.ALLOW, request, resource_refs + (identity_refs if level is Level.ACCOUNT else ()))
        if not required and identity_ok:
            return Decision(Outcome.ALLOW, request, identity_refs)
        if level is Level.NONE:
            if required:
                return _implicit(request, resource, (Side.RESOURCE,))
            if resource is None:
                return Decision(Outcome.IMPLICIT_DENY, request, (), tuple(identity_missing))
            return _implicit(request, resource, (*identity_missing, Side.RESOURCE))
        # the resource's policy names the caller's account (delegation: identity policies must allow
        # too) or its role (a boundary or session policy still limits it), and that is what is missing
        assert resource_allow is not None
        if level is Level.ACCOUNT:
            note = (f"{resource_allow.name()} of {resource_label} allows the account {caller.account}, "
                    f"so an identity-based policy must allow it too")
            return Decision(Outcome.IMPLICIT_DENY, request, (), tuple(identity_missing), resource_label, (note,))
        blocked = tuple(side for side in identity_missing if side is not Side.IDENTITY)
        return Decision(Outcome.IMPLICIT_DENY, request, (), blocked, resource_label)

    # across accounts: both sides
    if identity_ok and level is not Level.NONE:
        return Decision(Outcome.ALLOW, request, identity_refs + resource_refs)
    missing = list(identity_missing) if not identity_ok else []
    if level is Level.NONE:
        missing.append(Side.RESOURCE)
        return _implicit(request, resource, tuple(missing))
    return Decision(Outcome.IMPLICIT_DENY, request, (), tuple(missing), resource_label)


def _implicit(request: Request, resource: Policy | None, missing: tuple[Side, ...]) -> Decision:
    """An implicit deny where the resource side allowed nothing; its notes say why."""
    return Decision(Outcome.IMPLICIT_DENY, request, (), missing, resource.label if resource is not None else None,
                    explain=resource)


def _near_misses(resource: Policy, request: Request) -> tuple[str, ...]:
    notes: list[str] = []
    for statement in resource.statements:
        if statement.effect is Effect.ALLOW:
            why = statement.miss(request)
            if why is not None:
                notes.append(f"{statement.name()}: {why}")
                if len(notes) == 3:
                    break
    return tuple(notes)

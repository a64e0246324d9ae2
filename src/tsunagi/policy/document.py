"""Policy documents: parsed, validated the way AWS validates them, and compiled for evaluation.

Grammar (IAM User Guide, "Grammar of the IAM JSON policy language" and the element pages):

* ``Version``: ``2012-10-17`` or ``2008-10-17`` (the default when missing; policy variables are
  plain text under it). ``Id`` optional. ``Statement``: one statement object or a list of them.
* A statement: ``Sid`` (unique within the policy when given), ``Effect`` (``Allow``/``Deny``),
  ``Principal`` or ``NotPrincipal``, ``Action`` or ``NotAction``, ``Resource`` or ``NotResource``,
  ``Condition``. Element names are case-sensitive; anything else is refused.
* Identity policies (and permissions boundaries and session policies) name no principal and must
  name resources. Resource-based, key and trust policies must name a principal. Trust policies name
  no resource; in resource-based and key policies a missing ``Resource`` means the resource the
  policy is attached to.
* Principals: ``"*"``, ``{"AWS": …}`` with ``*``, 12-digit account ids, account root ARNs, IAM
  user and role ARNs, assumed-role session ARNs and federated-user ARNs; ``{"Service": …}`` service
  principals; ``{"Federated": …}`` identity providers; ``{"CanonicalUser": …}`` (S3). A wildcard
  cannot stand for part of a principal (Principal page).
* Actions: ``*`` or ``vendor:Action`` with wildcards in the action part only. Resources: ``*`` or an
  ARN; IAM resources carry no region.
* Sizes and counts: the caller passes :class:`Limits`; presets for IAM managed policies and trust
  policies (IAM quotas page: non-whitespace characters), KMS key policies (32 KB, key policy page)
  and SQS queue policies (SQS policy quotas page: 8,192 bytes, 20 statements, 50 principals,
  10 conditions, 7 actions per statement).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from tsunagi.policy.conditions import Condition, compile_block
from tsunagi.policy.errors import Dialect, PolicyError, Problem
from tsunagi.policy.patterns import Matcher, Style
from tsunagi.policy.request import Caller, CallerType, Request


class PolicyKind(StrEnum):
    IDENTITY = "identity"       # identity-based policies; also permissions boundaries and session policies
    RESOURCE = "resource"       # SQS queue, SNS topic, S3 bucket, Lambda function policies
    TRUST = "trust"             # a role's AssumeRolePolicyDocument
    KEY = "key"                 # a KMS key policy


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


class Level(IntEnum):
    """How a resource-based statement names the caller: it decides which other policies still count
    (policy evaluation logic page, "Resource-based policies")."""

    NONE = 0
    ACCOUNT = 1     # the caller's account: delegation, identity policies must allow too
    ROLE = 2        # the caller's role: limited by a permissions boundary and a session policy
    DIRECT = 3      # the caller itself (user, session), "*", or a service principal


@dataclass(frozen=True)
class Limits:
    """Size and count quotas a service enforces on a policy it is handed."""

    size: int | None = None                 # characters (bytes for UTF-8 text)
    count_whitespace: bool = True           # IAM does not count whitespace
    statements: int | None = None
    principals: int | None = None
    conditions: int | None = None
    actions: int | None = None              # per statement
    code: str | None = None                 # the error code when exceeded (default: the dialect's)
    message: str | None = None


IAM_MANAGED_POLICY = Limits(size=6144, count_whitespace=False, code="LimitExceeded",
                            message="Cannot exceed quota for PolicySize: 6144")
IAM_TRUST_POLICY = Limits(size=2048, count_whitespace=False, code="LimitExceeded",
                          message="Cannot exceed quota for ACLSizePerRole: 2048")
KMS_KEY_POLICY = Limits(size=32768)
SQS_QUEUE_POLICY = Limits(size=8192, statements=20, principals=50, conditions=10, actions=7)

VERSIONS = ("2012-10-17", "2008-10-17")
_TOP_FIELDS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_FIELDS = frozenset({"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
                               "Resource", "NotResource", "Condition"})
_ACCOUNT = re.compile(r"\d{12}")
_ROOT = re.compile(r"arn:[a-z-]+:iam::(\d{12}):root")
_IAM_ENTITY = re.compile(r"arn:[a-z-]+:iam::(\d{12}|cloudfront):(?:user|role)/[^*?]+")
_STS_SESSION = re.compile(r"arn:[a-z-]+:sts::(\d{12}):(?:assumed-role/[^/*?]+/[^*?]+|federated-user/[^*?]+)")
_SERVICE = re.compile(r"[a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)+")
_CANONICAL = re.compile(r"[0-9a-f]{64}")
_VENDOR = re.compile(r"[A-Za-z0-9-]+")
_ALLOWED_CHARS = re.compile(r"[\t\n\r\x20-\xff]*")
_SCOPE = {Dialect.SNS: "sns", Dialect.SQS: "sqs", Dialect.S3: "s3"}


class PrincipalSpec:
    """A ``Principal`` (or ``NotPrincipal``) element."""

    __slots__ = ("everyone", "accounts", "arns", "services", "federated", "canonical", "count")

    def __init__(self, everyone: bool, accounts: frozenset[str], arns: frozenset[str], services: frozenset[str],
                 federated: frozenset[str], canonical: frozenset[str], count: int) -> None:
        self.everyone = everyone
        self.accounts = accounts
        self.arns = arns
        self.services = services
        self.federated = federated
        self.canonical = canonical
        self.count = count

    def level(self, caller: Caller) -> Level:
        """How directly this element names ``caller`` (NONE: not at all)."""
        if self.everyone:
            return Level.DIRECT
        kind = caller.type
        if kind is CallerType.SERVICE:
            return Level.DIRECT if caller.arn in self.services else Level.NONE
        if caller.federated_provider is not None and caller.federated_provider in self.federated:
            return Level.DIRECT
        if caller.canonical_user is not None and caller.canonical_user in self.canonical:
            return Level.DIRECT
        if kind is CallerType.ANONYMOUS:
            return Level.NONE
        if kind is not CallerType.ROOT and caller.arn in self.arns:
            return Level.DIRECT
        if kind is CallerType.ROLE_SESSION and caller.role_arn in self.arns:
            return Level.ROLE
        if caller.account in self.accounts:
            return Level.ACCOUNT
        return Level.NONE

    def lists_all(self, caller: Caller) -> bool:
        """Does this element list every identity of the caller's chain (account, role, session)? A
        ``NotPrincipal`` leaves out only such a caller."""
        if self.everyone:
            return True
        kind = caller.type
        if kind is CallerType.SERVICE:
            return caller.arn in self.services
        if kind is CallerType.ANONYMOUS:
            return caller.federated_provider is not None and caller.federated_provider in self.federated
        if caller.account not in self.accounts:
            return False
        if kind is CallerType.ROLE_SESSION and caller.role_arn not in self.arns:
            return False
        return kind is CallerType.ROOT or caller.arn in self.arns

    def describe(self) -> str:
        if self.everyone:
            return "*"
        names = sorted(self.accounts) + sorted(self.arns) + sorted(self.services) + sorted(self.federated)
        return ", ".join(names) if len(names) < 4 else ", ".join(names[:3]) + ", …"


class Statement:
    """One compiled statement."""

    __slots__ = ("index", "sid", "effect", "principal", "not_principal", "actions", "not_action",
                 "resources", "not_resource", "conditions")

    def __init__(self, index: int, sid: str | None, effect: Effect, principal: PrincipalSpec | None,
                 not_principal: bool, actions: Matcher, not_action: bool, resources: Matcher | None,
                 not_resource: bool, conditions: tuple[Condition, ...]) -> None:
        self.index = index
        self.sid = sid
        self.effect = effect
        self.principal = principal
        self.not_principal = not_principal
        self.actions = actions
        self.not_action = not_action
        self.resources = resources
        self.not_resource = not_resource
        self.conditions = conditions

    def level(self, caller: Caller) -> Level:
        """How this statement names the caller; an identity statement always applies to its caller."""
        spec = self.principal
        if spec is None:
            return Level.DIRECT
        if self.not_principal:
            return Level.NONE if spec.lists_all(caller) else Level.DIRECT
        return spec.level(caller)

    def covers(self, request: Request) -> bool:
        """Do action, resource and conditions all match (the principal is checked by :meth:`level`)?"""
        if self.actions.match(request.action_lower) is self.not_action:
            return False
        resources = self.resources
        context = request.context
        if resources is not None and resources.match(request.resource, context) is self.not_resource:
            return False
        for condition in self.conditions:  # noqa: SIM110 (a loop: no generator on every delivery)
            if not condition.holds(context):
                return False
        return True

    def miss(self, request: Request) -> str | None:
        """Why this statement does not apply to ``request`` (None: it does)."""
        if self.level(request.caller) is Level.NONE:
            assert self.principal is not None
            element = "NotPrincipal" if self.not_principal else "Principal"
            return f"its {element} ({self.principal.describe()}) does not cover {request.caller.describe()}"
        if self.actions.match(request.action_lower) is self.not_action:
            return f"its {'NotAction' if self.not_action else 'Action'} does not cover {request.action}"
        if self.resources is not None and \
                self.resources.match(request.resource, request.context) is self.not_resource:
            return f"its {'NotResource' if self.not_resource else 'Resource'} does not cover {request.resource}"
        for condition in self.conditions:
            if not condition.holds(request.context):
                got = request.context.get(condition.key)
                shown = "missing" if got is None else (got if isinstance(got, str) else list(got))
                return f"its condition {condition.describe()} is not met ({condition.name} is {shown})"
        return None

    def name(self) -> str:
        return f"statement {self.sid!r}" if self.sid else f"statement #{self.index + 1}"


_DEFAULT_LABEL = {
    PolicyKind.IDENTITY: "an identity-based policy",
    PolicyKind.RESOURCE: "the resource-based policy",
    PolicyKind.TRUST: "the role trust policy",
    PolicyKind.KEY: "the key policy",
}


@dataclass(frozen=True, slots=True, eq=False)
class Policy:
    """A validated, compiled policy. ``label`` names it in decisions ("the queue policy of arn:…")."""

    kind: PolicyKind
    statements: tuple[Statement, ...]
    version: str
    id: str | None
    label: str
    dialect: Dialect
    document: Mapping[str, Any]
    size: int

    def labelled(self, label: str) -> Policy:
        """The same compiled policy under another name (cheap: nothing is recompiled)."""
        return dataclasses.replace(self, label=label)


def _fail(problem: Problem, dialect: Dialect, detail: str = "") -> PolicyError:
    return PolicyError(problem, detail, dialect=dialect)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key}")
        out[key] = value
    return out


def _strings(value: Any, dialect: Dialect, empty: Problem) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _fail(empty, dialect)
    if not all(isinstance(v, str) for v in items):
        raise _fail(Problem.SYNTAX, dialect, "expected strings")
    return items


def _principal(value: Any, dialect: Dialect) -> PrincipalSpec:
    if value == "*":
        return PrincipalSpec(True, frozenset(), frozenset(), frozenset(), frozenset(), frozenset(), 1)
    if not isinstance(value, dict) or not value:
        raise _fail(Problem.PRINCIPAL_INVALID, dialect, json.dumps(value))
    everyone = False
    accounts: set[str] = set()
    arns: set[str] = set()
    services: set[str] = set()
    federated: set[str] = set()
    canonical: set[str] = set()
    count = 0
    for kind, raw in value.items():
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            raise _fail(Problem.PRINCIPAL_INVALID, dialect, f'"{kind.upper()}":[]')
        for item in items:
            count += 1
            bad = PolicyError(Problem.PRINCIPAL_INVALID, f'"{kind.upper()}":{json.dumps(item)}', dialect=dialect)
            if not isinstance(item, str):
                raise bad
            if kind == "AWS":
                if item == "*":
                    everyone = True
                elif _ACCOUNT.fullmatch(item):
                    accounts.add(item)
                elif (m := _ROOT.fullmatch(item)) is not None:
                    accounts.add(m.group(1))
                elif _IAM_ENTITY.fullmatch(item) or _STS_SESSION.fullmatch(item):
                    arns.add(item)
                else:
                    raise bad
            elif kind == "Service":
                if not _SERVICE.fullmatch(item):
                    raise bad
                services.add(item)
            elif kind == "Federated":
                if not item or "*" in item or "?" in item:
                    raise bad
                federated.add(item)
            elif kind == "CanonicalUser":
                if not _CANONICAL.fullmatch(item):
                    raise bad
                canonical.add(item)
            else:
                raise bad
    return PrincipalSpec(everyone, frozenset(accounts), frozenset(arns), frozenset(services),
                         frozenset(federated), frozenset(canonical), count)


def _check_action(action: str, dialect: Dialect) -> str:
    if action == "*":
        return action
    if ":" not in action:
        raise _fail(Problem.ACTION_VENDOR, dialect, action)
    if action.count(":") > 1:
        raise _fail(Problem.ACTION_COLONS, dialect, action)
    vendor = action.split(":", 1)[0]
    if "*" in vendor or "?" in vendor:
        raise _fail(Problem.ACTION_VENDOR_WILDCARD, dialect, action)
    if not _VENDOR.fullmatch(vendor):
        raise _fail(Problem.ACTION_VENDOR, dialect, action)
    scope = _SCOPE.get(dialect)
    if scope is not None and vendor.lower() != scope:
        raise _fail(Problem.ACTION_SCOPE, dialect, action)
    return action.casefold()


def _check_resource(resource: str, dialect: Dialect) -> str:
    if resource == "*":
        return resource
    if not resource.startswith("arn:"):
        raise _fail(Problem.RESOURCE_FORMAT, dialect, resource)
    parts = resource.split(":", 5)
    if len(parts) < 6 and not resource.endswith("*"):
        raise _fail(Problem.RESOURCE_LEGACY, dialect, resource)
    if len(parts) >= 3 and parts[2] == "iam" and len(parts) >= 4 and parts[3] not in ("", "*"):
        raise _fail(Problem.RESOURCE_REGION, dialect, resource)
    if dialect is Dialect.S3 and (len(parts) < 3 or parts[2] not in ("s3", "*")):
        raise _fail(Problem.RESOURCE_FORMAT, dialect, resource)
    return resource


def _size(text: str, limits: Limits) -> int:
    if limits.count_whitespace:
        return len(text.encode())
    return sum(1 for c in text if not c.isspace())


def _too_many(what: str, limit: int, limits: Limits, dialect: Dialect) -> PolicyError:
    return PolicyError(Problem.TOO_MANY, f"Too many {what} in policy (at most {limit}).", dialect=dialect,
                       code=limits.code, message=limits.message)


def parse_policy(document: str | Mapping[str, Any], kind: PolicyKind = PolicyKind.IDENTITY, *,
                 dialect: Dialect = Dialect.IAM, label: str | None = None,
                 limits: Limits | None = None) -> Policy:
    """Validate ``document`` (JSON text or a parsed mapping) as a policy of ``kind`` handed to
    ``dialect``'s service, and compile it. Raises :class:`PolicyError` with that service's error."""
    if isinstance(document, str):
        text = document
        if dialect is Dialect.IAM and not _ALLOWED_CHARS.fullmatch(text):
            # IAM quotas page: tab, LF, CR and U+0020..U+00FF only; only the rule is documented
            raise _fail(Problem.SYNTAX, dialect, "characters outside U+0020-U+00FF")
        try:
            parsed = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        except (ValueError, RecursionError):      # RecursionError: nesting deeper than the decoder goes
            raise _fail(Problem.NOT_JSON, dialect) from None
    else:
        parsed = dict(document)
        try:
            text = json.dumps(parsed)
        except (TypeError, ValueError, RecursionError):
            raise _fail(Problem.SYNTAX, dialect, "not JSON values") from None
    if not isinstance(parsed, dict):
        raise _fail(Problem.NOT_JSON, dialect)
    size = len(text.encode())
    if limits is not None and limits.size is not None:
        measured = _size(text, limits)
        if measured > limits.size:
            raise PolicyError(Problem.TOO_LARGE, f"Policy is {measured} characters, at most {limits.size}.",
                              dialect=dialect, code=limits.code, message=limits.message)
    for field in parsed:
        if field not in _TOP_FIELDS:
            raise _fail(Problem.UNKNOWN_FIELD, dialect, field)
    version = parsed.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise _fail(Problem.VERSION, dialect, str(version))
    policy_id = parsed.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise _fail(Problem.SYNTAX, dialect, "Id")
    if "Statement" not in parsed:
        raise _fail(Problem.NO_STATEMENT, dialect)
    raw_statements = parsed["Statement"]
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list):
        raise _fail(Problem.SYNTAX, dialect, "Statement")
    if not raw_statements:
        raise _fail(Problem.NO_STATEMENT, dialect)
    if limits is not None and limits.statements is not None and len(raw_statements) > limits.statements:
        raise _too_many("statements", limits.statements, limits, dialect)
    variables = version == "2012-10-17"
    statements = []
    sids: set[str] = set()
    principals = conditions = 0
    for index, raw in enumerate(raw_statements):
        statement = _statement(index, raw, kind, dialect, variables)
        if statement.sid is not None or dialect is Dialect.SNS:
            sid = statement.sid or ""
            if sid in sids and (sid or len(raw_statements) > 1):
                raise _fail(Problem.DUPLICATE_SID, dialect, sid)
            sids.add(sid)
        if limits is not None:
            principals += statement.principal.count if statement.principal is not None else 0
            conditions += len(statement.conditions)
            raw_actions = raw.get("NotAction", raw.get("Action"))
            n_actions = len(raw_actions) if isinstance(raw_actions, list) else 1
            if limits.actions is not None and n_actions > limits.actions:
                raise _too_many("actions in a statement", limits.actions, limits, dialect)
        statements.append(statement)
    if limits is not None:
        if limits.principals is not None and principals > limits.principals:
            raise _too_many("principals", limits.principals, limits, dialect)
        if limits.conditions is not None and conditions > limits.conditions:
            raise _too_many("conditions", limits.conditions, limits, dialect)
    return Policy(kind, tuple(statements), version, policy_id, label or _DEFAULT_LABEL[kind], dialect,
                  parsed, size)


def _statement(index: int, raw: Any, kind: PolicyKind, dialect: Dialect, variables: bool) -> Statement:
    if not isinstance(raw, dict):
        raise _fail(Problem.SYNTAX, dialect, "Statement")
    for field in raw:
        if field not in _STATEMENT_FIELDS:
            raise _fail(Problem.UNKNOWN_FIELD, dialect, field)
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise _fail(Problem.SYNTAX, dialect, "Sid")
    if "Effect" not in raw:
        raise _fail(Problem.NO_EFFECT, dialect)
    effect_text = raw["Effect"]
    if effect_text not in ("Allow", "Deny"):
        raise _fail(Problem.EFFECT, dialect, str(effect_text))
    effect = Effect(effect_text)

    for a, b in (("Principal", "NotPrincipal"), ("Action", "NotAction"), ("Resource", "NotResource")):
        if a in raw and b in raw:
            raise _fail(Problem.SYNTAX, dialect, f"{a} and {b}")

    principal: PrincipalSpec | None = None
    not_principal = "NotPrincipal" in raw
    if kind is PolicyKind.IDENTITY:
        if "Principal" in raw or not_principal:
            raise _fail(Problem.PRINCIPAL_PROHIBITED, dialect)
    else:
        if "Principal" not in raw and not not_principal:
            raise _fail(Problem.PRINCIPAL_MISSING, dialect)
        principal = _principal(raw["NotPrincipal" if not_principal else "Principal"], dialect)

    if "Action" not in raw and "NotAction" not in raw:
        raise _fail(Problem.NO_ACTION, dialect)
    not_action = "NotAction" in raw
    actions = [_check_action(a, dialect)
               for a in _strings(raw["NotAction" if not_action else "Action"], dialect, Problem.NO_ACTION)]

    has_resource = "Resource" in raw or "NotResource" in raw
    not_resource = "NotResource" in raw
    resources: Matcher | None = None
    if kind is PolicyKind.TRUST and has_resource:
        raise _fail(Problem.RESOURCE_PROHIBITED, dialect)
    if kind is PolicyKind.IDENTITY and not has_resource:
        raise _fail(Problem.NO_RESOURCE, dialect)
    if has_resource:
        values = [_check_resource(r, dialect)
                  for r in _strings(raw["NotResource" if not_resource else "Resource"], dialect, Problem.NO_RESOURCE)]
        resources = Matcher(values, Style.RESOURCE, variables=variables)

    conditions: tuple[Condition, ...] = ()
    if "Condition" in raw:
        conditions = compile_block(raw["Condition"], variables=variables, dialect=dialect)
    return Statement(index, sid, effect, principal, not_principal, Matcher(actions, Style.LIKE), not_action,
                     resources, not_resource, conditions)


@functools.lru_cache(maxsize=2048)
def compile_policy(text: str, kind: PolicyKind = PolicyKind.IDENTITY, dialect: Dialect = Dialect.IAM,
                   label: str | None = None, limits: Limits | None = None) -> Policy:
    """:func:`parse_policy` for JSON text, cached by its arguments: a policy stored with a queue or a
    topic is compiled once and evaluated on every delivery. Errors are not cached."""
    return parse_policy(text, kind, dialect=dialect, label=label, limits=limits)

"""Shared helpers for the policy tables: accounts, callers, and a case that evaluates itself."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tsunagi.policy import (
    Caller,
    Decision,
    Dialect,
    Outcome,
    PolicyKind,
    Request,
    Side,
    evaluate,
    parse_policy,
)

A = "111122223333"
B = "444455556666"
ALLOW, EXPLICIT, IMPLICIT = Outcome.ALLOW, Outcome.EXPLICIT_DENY, Outcome.IMPLICIT_DENY
IDENTITY, RESOURCE, BOUNDARY, SESSION = Side.IDENTITY, Side.RESOURCE, Side.BOUNDARY, Side.SESSION


def user(name: str, account: str = A) -> Caller:
    return Caller.user(f"arn:aws:iam::{account}:user/{name}")


def session(role: str, name: str, account: str = A) -> Caller:
    return Caller.session(f"arn:aws:sts::{account}:assumed-role/{role}/{name}")


def doc(*statements: dict[str, Any], version: str | None = "2012-10-17") -> dict[str, Any]:
    out: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        out = {"Version": version, **out}
    return out


@dataclass
class Case:
    name: str
    request: Request
    expect: Outcome
    identity: list[dict[str, Any]] = field(default_factory=list)
    resource: dict[str, Any] | None = None
    kind: PolicyKind = PolicyKind.RESOURCE
    boundary: dict[str, Any] | None = None
    session: dict[str, Any] | None = None
    by: str | None = None                       # Sid of the first deciding statement
    missing: tuple[Side, ...] | None = None     # for implicit denies

    def decide(self) -> Decision:
        dialect = {PolicyKind.KEY: Dialect.KMS}.get(self.kind, Dialect.IAM)
        # every document goes in as JSON text, the way a service receives it
        identity = [parse_policy(json.dumps(d), PolicyKind.IDENTITY) for d in self.identity]
        resource = parse_policy(json.dumps(self.resource), self.kind, dialect=dialect) \
            if self.resource is not None else None
        boundary = parse_policy(json.dumps(self.boundary), PolicyKind.IDENTITY, label="the permissions boundary") \
            if self.boundary is not None else None
        sess = parse_policy(json.dumps(self.session), PolicyKind.IDENTITY, label="the session policy") \
            if self.session is not None else None
        return evaluate(self.request, identity=identity, resource=resource, boundary=boundary, session=sess)

    def check(self) -> None:
        decision = self.decide()
        assert decision.outcome is self.expect, decision.reason
        if self.by is not None:
            assert decision.statement is not None and decision.statement.sid == self.by, decision.reason
        if self.missing is not None:
            assert decision.missing == self.missing, decision.reason
        assert decision.reason          # every decision explains itself

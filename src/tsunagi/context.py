"""Who is asking, where, for what, and as part of which journey: the context every operation gets.

A :class:`RequestContext` is made by the gateway for a request from outside, and by a port for a
call one part of tsunagi makes on a service on another's behalf (SNS delivering to a queue, an
event source mapping invoking a function). It carries no HTTP: services see plain values.
"""

from __future__ import annotations

from dataclasses import dataclass

from tsunagi.ids import uuid4
from tsunagi.trace import new_trace_id


@dataclass(slots=True, frozen=True)
class Principal:
    """The identity a request is evaluated as: an account's root, an IAM user or role session,
    or an AWS service principal (``sns.amazonaws.com``) acting for a delivery."""

    account: str
    arn: str
    access_key_id: str | None = None
    service: str | None = None          # set for a service principal ("sns.amazonaws.com")
    user_id: str | None = None          # the principal id: AIDA… for a user, AROA…:session for a role session

    @classmethod
    def root(cls, account: str, access_key_id: str | None = None) -> Principal:
        return cls(account, f"arn:aws:iam::{account}:root", access_key_id)

    @classmethod
    def of_service(cls, service: str, account: str) -> Principal:
        """A service acting for a resource of ``account`` (the account the policy checks run in)."""
        return cls(account, service, None, service)


@dataclass(slots=True, frozen=True)
class Source:
    """What caused a call one service makes on another: the ARN and account of the resource whose
    event it is, and the service principal delivering it. Resource policies test these
    (``aws:SourceArn``, ``aws:SourceAccount``, ``Principal: {"Service": …}``)."""

    arn: str
    service: str | None = None          # "sns.amazonaws.com", "s3.amazonaws.com", …
    account: str | None = None


class RequestContext:
    """One operation's caller and surroundings.

    ``trace_id`` is the journey the operation belongs to: given by the caller (the gateway passes the
    ``Root`` of the request's ``X-Amzn-Trace-Id``), else made the first time anything asks for it, so
    that a call that causes nothing (a List or Get) never pays for a new id."""

    __slots__ = ("account", "region", "request_id", "service", "operation", "host", "scheme", "principal",
                 "_trace_id", "trace_header", "source_ip", "source")

    def __init__(self, account: str, region: str, request_id: str, service: str = "", operation: str = "",
                 host: str = "localhost:4566", scheme: str = "http", principal: Principal | None = None,
                 trace_id: str | None = None, trace_header: str | None = None, source_ip: str = "127.0.0.1",
                 source: Source | None = None) -> None:
        self.account = account
        self.region = region
        self.request_id = request_id
        self.service = service
        self.operation = operation
        self.host = host                    # the Host header the client used (queue URLs are built from it)
        self.scheme = scheme
        self.principal = principal          # None: the account's root
        self._trace_id = trace_id or None
        self.trace_header = trace_header    # the X-Amzn-Trace-Id / AWSTraceHeader the caller sent, if any
        self.source_ip = source_ip
        self.source = source                # set when another service's event caused this call

    @property
    def trace_id(self) -> str:
        trace_id = self._trace_id
        if trace_id is None:
            trace_id = self._trace_id = new_trace_id()
        return trace_id

    @trace_id.setter
    def trace_id(self, value: str) -> None:
        self._trace_id = value

    def __repr__(self) -> str:
        return (f"RequestContext(account={self.account!r}, region={self.region!r}, request_id={self.request_id!r}, "
                f"operation={self.service}.{self.operation}, trace_id={self._trace_id!r})")

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def access_key_id(self) -> str | None:
        return self.principal.access_key_id if self.principal is not None else None

    @property
    def principal_id(self) -> str:
        """The caller's principal id, as SQS's SenderId shows it: a user's (AIDA…) or a role session's
        (AROA…:session) unique id, and the account id for the account's root."""
        p = self.principal
        return (p.user_id if p is not None and p.user_id else None) or self.account

    @property
    def principal_arn(self) -> str:
        if self.principal is not None:
            return self.principal.arn
        return f"arn:aws:iam::{self.account}:root"

    def on_behalf(self, *, account: str, region: str, service: str, operation: str,
                  source: Source | None = None, request_id: str | None = None) -> RequestContext:
        """The context for a call this operation causes on another service: same journey (trace id and
        header), same host; the target's account and region; ``source`` says what caused it."""
        principal = Principal.of_service(source.service, account) if source and source.service else self.principal
        return RequestContext(account=account, region=region, request_id=request_id or uuid4(), service=service,
                              operation=operation, host=self.host, scheme=self.scheme, principal=principal,
                              trace_id=self.trace_id, trace_header=self.trace_header, source_ip=self.source_ip,
                              source=source)


def internal_context(account: str, region: str, service: str, operation: str, *, trace_id: str | None = None,
                     trace_header: str | None = None, source: Source | None = None,
                     request_id: str | None = None, host: str = "localhost:4566") -> RequestContext:
    """A context for work tsunagi starts itself (an outbox delivery, a poller's invocation) rather
    than a request from outside: it continues the journey ``trace_id`` when one is known."""
    principal = Principal.of_service(source.service, account) if source and source.service else None
    return RequestContext(account=account, region=region, request_id=request_id or uuid4(), service=service,
                          operation=operation, host=host, principal=principal, trace_id=trace_id,
                          trace_header=trace_header, source=source)

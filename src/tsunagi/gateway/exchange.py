"""One request on its way through the gateway's chain of steps.

Each step (:mod:`tsunagi.gateway.steps`) reads what the steps before it left on the
:class:`Exchange` and adds its own part; a step that has the answer sets ``response`` and the
chain stops there (the log step still runs). Nothing here knows about a web framework: the
request is :class:`~tsunagi.protocol.http.HttpRequest`, the answer
:class:`~tsunagi.protocol.http.HttpResponse`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tsunagi.context import Principal, RequestContext
from tsunagi.gateway.body import BodySource
from tsunagi.gateway.identity import Credential
from tsunagi.protocol.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from tsunagi.gateway.codecs import Codec
    from tsunagi.protocol.model import OperationModel


@dataclass(slots=True)
class Exchange:
    """One request on its way through the gateway's steps, and what each step found out about it."""

    request: HttpRequest
    request_id: str
    source_ip: str
    body: BodySource
    started: float                                   # loop time the request arrived
    credential: Credential | None = None             # route: what the signature says (key, region, service)
    service: str | None = None                       # route: botocore's service name
    codec: Codec | None = None                       # route: the service's parser and serializer
    bucket: str | None = None                        # route: S3's bucket from a virtual-host name
    principal: Principal | None = None               # authenticate
    operation: OperationModel | None = None          # parse
    params: dict[str, Any] | None = None             # parse
    ctx: RequestContext | None = None                # trace context
    result: dict[str, Any] | None = None             # dispatch
    response: HttpResponse | None = None             # any step that answers; serialize
    route: str | None = None                         # the raw route that answered, if one did

    @property
    def operation_name(self) -> str:
        return self.operation.name if self.operation is not None else "?"


class Step(Protocol):
    """One named step of the chain: ``step(exchange)``, awaited when it returns an awaitable."""

    name: str

    def __call__(self, ex: Exchange) -> Awaitable[None] | None: ...


RouteHandler = Callable[[Exchange], Awaitable[HttpResponse]]

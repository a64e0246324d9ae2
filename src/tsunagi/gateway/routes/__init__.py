"""Raw-HTTP routes: requests that are not an operation of a botocore model.

tsunagi's own endpoints under ``/_tsunagi/`` (health, reset, delivery records, SNS signing
certificates, the local mailbox, function code downloads), S3's browser-form uploads, and next
API Gateway's execute-api hosts and paths and the console. Each is a :class:`Route` in one
:class:`RouteRegistry`; the route step asks the registry before it looks for an AWS service, so
adding one never adds a branch to the chain.

A route matches by path prefix (longest first) and/or a predicate on the request, and answers
through its handler, which gets the :class:`~tsunagi.gateway.exchange.Exchange` (its body not
read yet: ``await read_body(ex)`` when it needs it) and returns the response.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tsunagi.gateway.exchange import RouteHandler
from tsunagi.protocol.http import HttpRequest


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    handler: RouteHandler
    prefix: str | None = None                                   # path prefix, e.g. "/_tsunagi/sns/"
    match: Callable[[HttpRequest], bool] | None = None          # a further test (method, headers, host)
    methods: frozenset[str] | None = None                       # None: any method

    def matches(self, request: HttpRequest) -> bool:
        if self.prefix is not None and not request.path.startswith(self.prefix):
            return False
        if self.methods is not None and request.method not in self.methods:
            return False
        return self.match is None or self.match(request)


class RouteRegistry:
    def __init__(self) -> None:
        self._prefixed: list[Route] = []     # longest prefix first
        self._others: list[Route] = []       # predicate-only routes, in the order added
        self._names: set[str] = set()

    def add(self, route: Route) -> None:
        if route.name in self._names:
            raise ValueError(f"a route named {route.name!r} is registered already")
        if route.prefix is None and route.match is None:
            raise ValueError(f"route {route.name!r} needs a prefix or a match")
        self._names.add(route.name)
        if route.prefix is not None:
            self._prefixed.append(route)
            self._prefixed.sort(key=lambda r: len(r.prefix or ""), reverse=True)
        else:
            self._others.append(route)

    def find(self, request: HttpRequest) -> Route | None:
        for route in self._prefixed:
            if route.matches(request):
                return route
        for route in self._others:
            if route.matches(request):
                return route
        return None

    def names(self) -> list[str]:
        return [r.name for r in (*self._prefixed, *self._others)]

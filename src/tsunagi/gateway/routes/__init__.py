"""Raw-HTTP routes: requests that are not an operation of a botocore model.

tsunagi's own endpoints under ``/_tsunagi/`` (health, reset, delivery records, SNS signing
certificates, the local mailbox, function code downloads), S3's browser-form uploads, and next
API Gateway's execute-api hosts and paths and the console. Each is a :class:`Route` in one
:class:`RouteRegistry`; the route step asks the registry before it looks for an AWS service, so
adding one never adds a branch to the chain.

A route matches by path prefix (longest first), by a part of the Host header, and/or a predicate on
the request, and answers
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
    """A raw-HTTP route: its name, its handler and what it matches (a path prefix, a further test)."""

    name: str
    handler: RouteHandler
    prefix: str | None = None                                   # path prefix, e.g. "/_tsunagi/sns/"
    match: Callable[[HttpRequest], bool] | None = None          # a further test (method, headers, host)
    methods: frozenset[str] | None = None                       # None: any method
    content_type: str | None = None                             # a Content-Type prefix (lower case)
    host: str | None = None                                     # text the Host header contains

    def matches(self, request: HttpRequest) -> bool:
        if self.prefix is not None and not request.path.startswith(self.prefix):
            return False
        if self.host is not None and self.host not in request.headers.get("host", ""):
            return False
        if self.methods is not None and request.method not in self.methods:
            return False
        return self.match is None or self.match(request)


def _first_segment(path: str) -> str:
    """``/_tsunagi/sns/x`` → ``_tsunagi``; the key routes are indexed by (every request looks it up)."""
    return path[1:].split("/", 1)[0] if path.startswith("/") else path.split("/", 1)[0]


class RouteRegistry:
    """Prefixed routes indexed by the first segment of their prefix (longest prefix first within it),
    so that an API call, whose path no raw route claims, costs one dict lookup; then the
    predicate-only routes, filtered by method (and by the text their Host must contain) before their
    predicate runs."""

    def __init__(self) -> None:
        self._by_segment: dict[str, list[Route]] = {}
        self._others: dict[str | None, list[Route]] = {}   # method (None: any) -> predicate-only routes
        self._names: set[str] = set()
        self._order: list[Route] = []
        self._root_claimed = False                   # whether a prefixed route claims "/"
        self._predicate_methods: set[str | None] = set()
        # For requests to "/": method -> the content types a route may claim them with (a method not in
        # it: none); None when any request to "/" might be claimed. The route step checks it inline, so
        # an API call costs no lookup at all. Routes claimed by their Host (API Gateway's execute-api
        # hosts) are left out of it: the step also checks the Host against ``root_hosts``.
        self.root_filter: dict[str, tuple[str, ...]] | None = {}
        self.root_hosts: tuple[str, ...] = ()
        self.host_claims: dict[str, bool] = {}       # Host header -> claims_by_host (hosts repeat)

    def add(self, route: Route) -> None:
        if route.name in self._names:
            raise ValueError(f"a route named {route.name!r} is registered already")
        if route.prefix is None and route.match is None and route.host is None:
            raise ValueError(f"route {route.name!r} needs a prefix, a host or a match")
        if route.prefix is not None and not route.prefix.startswith("/"):
            raise ValueError(f"route {route.name!r}: a prefix starts with '/'")
        self._names.add(route.name)
        self._order.append(route)
        if route.prefix is not None:
            self._root_claimed = self._root_claimed or _first_segment(route.prefix) == ""
            bucket = self._by_segment.setdefault(_first_segment(route.prefix), [])
            bucket.append(route)
            bucket.sort(key=lambda r: len(r.prefix or ""), reverse=True)
        else:
            for method in route.methods if route.methods is not None else (None,):
                self._others.setdefault(method, []).append(route)
                self._predicate_methods.add(method)
        self.root_filter = self._root_filter()
        self.root_hosts = tuple(sorted({r.host for rs in self._others.values() for r in rs if r.host is not None}))
        self.host_claims = {}

    def _root_filter(self) -> dict[str, tuple[str, ...]] | None:
        if self._root_claimed:
            return None
        types: dict[str, tuple[str, ...]] = {}
        for method, routes in self._others.items():
            routes = [r for r in routes if r.host is None]
            if not routes:
                continue
            if method is None or any(r.content_type is None for r in routes):
                return None
            types[method] = tuple(r.content_type for r in routes if r.content_type is not None)
        return types

    def claims_root(self, request: HttpRequest, content_type: str) -> bool:
        """Whether a route may claim this request to "/" (``content_type``: its Content-Type), without
        looking at each route: False for every API call when :attr:`root_filter` is known."""
        root = self.root_filter
        if root is None or content_type.lower().startswith(root.get(request.method, ())):
            return True
        return self.claims_by_host(request)

    def claims_by_host(self, request: HttpRequest) -> bool:
        """Whether a route claimed by its Host (:attr:`root_hosts`) may claim this request."""
        host = request.headers.get("host", "")
        claimed = self.host_claims.get(host)
        if claimed is None:
            claimed = any(marker in host for marker in self.root_hosts)
            if len(self.host_claims) < 1024:
                self.host_claims[host] = claimed
        return claimed

    def find(self, request: HttpRequest) -> Route | None:
        path = request.path
        # most API calls go to "/", which no prefixed route claims
        bucket = self._by_segment.get("" if path == "/" else _first_segment(path))
        if bucket is not None:
            for route in bucket:
                if route.matches(request):
                    return route
        for key in (request.method, None):
            for route in self._others.get(key, ()):
                if route.host is not None and route.host not in request.headers.get("host", ""):
                    continue
                if route.content_type is not None and \
                        request.headers.get("content-type", "")[:len(route.content_type)].lower() != route.content_type:
                    continue
                if route.match is None or route.match(request):
                    return route
        return None

    def names(self) -> list[str]:
        return [r.name for r in self._order]

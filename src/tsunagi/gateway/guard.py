"""Who may reach the server at all, before anything else runs: no drive-by from a web page.

tsunagi runs on developers' machines, where any web page the developer opens can make the browser
send requests to ``http://localhost:4566``. Two checks keep those pages out:

- **Host**: a request must name a host this server serves: an IP address that is a loopback address
  or the one the server is bound to (any address when it is bound to all of them), ``localhost`` and
  ``*.localhost`` (S3 virtual-host buckets, API hosts), and the names configured with ``--hostname`` /
  ``TSUNAGI_HOSTNAMES`` (``*.example.test`` matches any subdomain). A page whose own name was made to
  resolve to 127.0.0.1 (DNS rebinding) sends its own name, and is refused.
- **Browser context**: a request a browser sends on behalf of another site (``Sec-Fetch-Site:
  cross-site``, or an ``Origin`` whose host this server does not serve, or ``Origin: null``) is refused,
  except on the routes made for browsers: S3 presigned URLs, S3 form uploads and CORS preflights.
  (A page on ``http://localhost:3000`` is the same site as ``http://localhost:4566`` and is let through,
  as browsers themselves treat it.)

The refusal is a 403 that says what to change.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from tsunagi.gateway.exchange import Exchange
from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.http import HttpRequest

# API Gateway's invoke URLs (the routes in gateway/routes/apigateway.py claim exactly these)
_EXECUTE_API_HOST = re.compile(r"^[A-Za-z0-9]+\.execute-api\.", re.ASCII)
_EXECUTE_API_PATH = re.compile(r"^/restapis/[^/]+/[^/]+/_user_request_/")


class HostPolicy:
    def __init__(self, bound: str, names: Iterable[str]) -> None:
        self.any_address = bound in ("0.0.0.0", "::", "")
        try:
            self.bound = ipaddress.ip_address(bound.strip("[]")) if not self.any_address else None
        except ValueError:
            self.bound = None
            names = [*names, bound]
        exact: set[str] = set()
        suffixes: list[str] = [".localhost"]
        for name in names:
            name = name.strip().lower().rstrip(".")
            if not name:
                continue
            if name.startswith("*."):
                suffixes.append(name[1:])
            else:
                exact.add(name)
        exact.add("localhost")
        self.exact = frozenset(exact)
        self.suffixes = tuple(suffixes)
        self._seen: dict[str, bool] = {}

    def serves(self, host_header: str) -> bool:
        """Whether a Host header (``name[:port]``, ``[v6]:port``) names this server."""
        known = self._seen.get(host_header)
        if known is not None:
            return known
        ok = self._check(host_header)
        if len(self._seen) < 1024:
            self._seen[host_header] = ok
        return ok

    def _check(self, host_header: str) -> bool:
        host = host_header.strip().lower()
        if host.startswith("["):
            host = host[1:].partition("]")[0]
        elif host.count(":") == 1:
            host = host.partition(":")[0]
        host = host.rstrip(".")
        if not host:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host in self.exact or host.endswith(self.suffixes)
        return address.is_loopback or self.any_address or address == self.bound


def origin_host(origin: str) -> str | None:
    """``http://name:port`` → ``name:port``; None for ``null`` and what is not an origin."""
    scheme, sep, rest = origin.strip().partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest:
        return None
    return rest.split("/", 1)[0]


def made_for_browsers(request: HttpRequest) -> bool:
    """Requests a web page may legitimately send here from another site: S3 presigned URLs, S3 form
    uploads (multipart POST), CORS preflights, and requests to the APIs users deploy on API Gateway
    (``{id}.execute-api.…`` and ``/restapis/{id}/{stage}/_user_request_/…``), which are made to be called
    by pages and answer with the CORS headers their API configures. (The service checks their signatures,
    policies, keys and authorizers.)"""
    if request.method == "OPTIONS":
        return True
    if _EXECUTE_API_HOST.match(request.headers.get("host", "")) or _EXECUTE_API_PATH.match(request.path):
        return True
    query = request.query
    if query and ("X-Amz-Signature=" in query or ("Signature=" in query and "AWSAccessKeyId=" in query)):
        return True
    return request.method == "POST" and request.content_type.lower().startswith("multipart/form-data")


class Guard:
    """The first step: refuse hosts this server does not serve and requests from other sites' pages."""

    name = "guard"

    def __init__(self, hosts: HostPolicy) -> None:
        self.hosts = hosts

    def __call__(self, ex: Exchange) -> None:
        request = ex.request
        headers = request.headers
        host = headers.get("host", "")
        # the common case, inline: a host seen and served before, from no browser
        if self.hosts._seen.get(host) is True and "origin" not in headers and "sec-fetch-site" not in headers:
            return
        if not self.hosts.serves(host):
            raise ServiceError(
                f"tsunagi does not serve the host name {host!r}. If you reach this server by that name, "
                "start it with --hostname (or TSUNAGI_HOSTNAMES) naming it.", code="AccessDenied", status=403)
        fetch_site = headers.get("sec-fetch-site")
        origin = headers.get("origin")
        if fetch_site is None and origin is None:
            return
        cross = fetch_site == "cross-site"
        if origin is not None:
            other = origin_host(origin)
            cross = cross or other is None or not self.hosts.serves(other)
        if cross and not made_for_browsers(request):
            raise ServiceError(
                f"tsunagi refuses requests that web pages of other sites make through a browser (Origin: "
                f"{origin or 'unknown'}, Sec-Fetch-Site: {fetch_site or 'unknown'}): only S3 presigned URLs and "
                "form uploads are served to them.", code="AccessDenied", status=403)

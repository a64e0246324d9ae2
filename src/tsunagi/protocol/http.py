"""The two plain types the protocol layer speaks: no web framework appears past the gateway."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl


@dataclass(slots=True)
class HttpRequest:
    """An HTTP request as received.

    ``path`` is the raw (still percent-encoded) path, ``query`` the raw query string,
    ``headers`` maps lower-cased names to values (repeated headers joined with ``,``).
    """

    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    _query_params: list[tuple[str, str]] | None = None

    @property
    def host(self) -> str:
        return self.headers.get("host", "localhost:4566")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def query_params(self) -> list[tuple[str, str]]:
        if self._query_params is None:
            self._query_params = parse_qsl(self.query, keep_blank_values=True)
        return self._query_params


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

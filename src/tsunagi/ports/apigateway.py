"""What the rest of tsunagi may ask of API Gateway (implemented by ``services/apigateway/port.py``).

Caller: the gateway's execute-api route (``/restapis/{id}/{stage}/_user_request_/{path}`` and
``{id}.execute-api.localhost``), which hands over a request to an API's stage as plain values and
writes back what the API answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from tsunagi.ports import PortKey


@dataclass(slots=True)
class ApiRequest:
    """One request to a deployed API, as the client sent it."""

    api_id: str
    stage: str
    method: str
    path: str                                  # the resource path, still percent-encoded, starting with "/"
    query: str                                 # the raw query string
    headers: list[tuple[str, str]]             # names as sent (one entry per header line)
    body: bytes
    request_id: str
    source_ip: str = "127.0.0.1"
    host: str = "localhost:4566"
    scheme: str = "http"
    trace_header: str | None = None            # X-Amzn-Trace-Id, when the client sent one
    caller: Caller | None = None               # who signed the request (SigV4), when it was signed
    signature_error: str | None = None         # why a signed request's signature was refused


@dataclass(frozen=True, slots=True)
class Caller:
    """The signer of a request, for methods whose authorization is AWS_IAM."""

    account: str
    arn: str
    access_key_id: str | None


@dataclass(slots=True)
class ApiResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class ApiGatewayPort(Protocol):
    async def execute(self, request: ApiRequest) -> ApiResponse:
        """Answer a request to an API's stage as API Gateway would (its own errors included: 403
        ``Missing Authentication Token`` for an unknown stage or route, 502, 504, 413, 429, …)."""
        ...


APIGATEWAY: PortKey[ApiGatewayPort] = PortKey("apigateway")

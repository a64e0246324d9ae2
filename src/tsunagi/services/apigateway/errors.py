"""The errors API Gateway's control plane returns, with its codes and HTTP statuses."""

from __future__ import annotations

from typing import Any

from tsunagi.protocol.errors import ServiceError


def _error(code: str, status: int) -> type[ServiceError]:
    def __init__(self: ServiceError, message: str = "", **kw: Any) -> None:
        ServiceError.__init__(self, message, **kw)

    return type(code, (ServiceError,), {"code": code, "status": status, "sender_fault": status < 500,
                                        "__init__": __init__})


BadRequest = _error("BadRequestException", 400)
NotFound = _error("NotFoundException", 404)
Conflict = _error("ConflictException", 409)
LimitExceeded = _error("LimitExceededException", 429)
TooManyRequests = _error("TooManyRequestsException", 429)
Unauthorized = _error("UnauthorizedException", 401)


def invalid_api(account: str, api_id: str) -> ServiceError:
    return NotFound(f"Invalid API identifier specified {account}:{api_id}")


def invalid_resource(account: str, api_id: str, resource_id: str) -> ServiceError:
    return NotFound("Invalid Resource identifier specified")


def invalid_method() -> ServiceError:
    return NotFound("Invalid Method identifier specified")


def invalid_integration() -> ServiceError:
    return NotFound("Invalid Integration identifier specified")


def invalid_response() -> ServiceError:
    return NotFound("Invalid Response status code specified")


def invalid_stage() -> ServiceError:
    return NotFound("Invalid Stage identifier specified")


def invalid_deployment() -> ServiceError:
    return NotFound("Invalid Deployment identifier specified")

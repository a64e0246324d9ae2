"""API Gateway's port: what the rest of tsunagi may ask of it (:class:`tsunagi.ports.apigateway.ApiGatewayPort`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tsunagi.ports.apigateway import ApiRequest, ApiResponse
from tsunagi.services.apigateway.execute import Executor

if TYPE_CHECKING:
    from tsunagi.services.apigateway.core import ApiGatewayCore, Deployed


class ApiGatewayPortImpl:
    def __init__(self, service: ApiGatewayCore) -> None:
        self._executor = Executor(service)

    async def execute(self, request: ApiRequest) -> ApiResponse:
        return await self._executor.execute(request)

    async def test_invoke(self, request: ApiRequest, deployed: Deployed) -> ApiResponse:
        """TestInvokeMethod's call (not part of the port's protocol: the service's own)."""
        return await self._executor.test_invoke(request, deployed)

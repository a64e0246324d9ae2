"""API Gateway: REST APIs (v1) and the requests they answer.

The service is put together from one class per concern, each on :class:`.core.ApiGatewayCore`:
:mod:`.apis` (APIs and resources), :mod:`.methods` (methods, integrations, responses),
:mod:`.deployments` (deployments and stages), :mod:`.importer` (OpenAPI and Swagger) and
:mod:`.keys` (API keys and usage plans), :mod:`.extras` (authorizers, models, validators, gateway
responses). The
gateway's execute-api route reaches the invoke path (:mod:`.execute`) through the port (:mod:`.port`).
"""

from __future__ import annotations

from tsunagi.ports.apigateway import APIGATEWAY
from tsunagi.services.apigateway.apis import ApiOps
from tsunagi.services.apigateway.deployments import DeploymentOps
from tsunagi.services.apigateway.extras import ExtraOps
from tsunagi.services.apigateway.importer import ImportOps
from tsunagi.services.apigateway.keys import KeyOps
from tsunagi.services.apigateway.methods import MethodOps
from tsunagi.services.apigateway.port import ApiGatewayPortImpl
from tsunagi.services.base import Platform

__all__ = ["ApiGatewayService"]


class ApiGatewayService(ApiOps, MethodOps, DeploymentOps, ImportOps, KeyOps, ExtraOps):
    name = "apigateway"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        platform.ports.provide(APIGATEWAY, ApiGatewayPortImpl(self))

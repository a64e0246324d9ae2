"""botocore's service models, loaded once: the single source of truth for every wire format."""

from __future__ import annotations

from functools import cache

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel

_loader = Loader()

# The services tsunagi serves, by the name botocore knows them.
SERVED = ("sqs", "sns", "lambda", "s3", "logs", "kms", "sts", "iam", "cloudformation", "apigateway", "ecs",
          "apigatewayv2")


@cache
def service_model(name: str) -> ServiceModel:
    """The botocore ServiceModel for ``name`` (e.g. ``"sqs"``)."""
    return ServiceModel(_loader.load_service_model(name, "service-2"), service_name=name)


@cache
def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)

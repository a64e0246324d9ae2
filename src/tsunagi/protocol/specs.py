"""botocore's service models, loaded once: the single source of truth for every wire format."""

from __future__ import annotations

from functools import cache, lru_cache

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel

_loader = Loader()

# The services tsunagi serves, by the name botocore knows them.
SERVED = ("sqs", "sns", "lambda", "s3", "logs", "kms", "sts", "iam", "cloudformation", "apigateway", "ecs",
          "apigatewayv2", "cloudwatch")


@cache
def service_model(name: str) -> ServiceModel:
    """The botocore ServiceModel for ``name`` (e.g. ``"sqs"``)."""
    return ServiceModel(_loader.load_service_model(name, "service-2"), service_name=name)


@cache
def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)


@lru_cache(maxsize=128)
def any_service_model(name: str) -> ServiceModel | None:
    """botocore's model of any AWS service ``name`` (served or not), or None if botocore has none:
    a service tsunagi does not serve still gets its error in the format its clients parse."""
    from botocore.exceptions import DataNotFoundError

    if not name or not all(c.isalnum() or c in "-." for c in name):
        return None
    try:
        return ServiceModel(_loader.load_service_model(name, "service-2"), service_name=name)
    except (DataNotFoundError, ValueError, OSError):
        return None

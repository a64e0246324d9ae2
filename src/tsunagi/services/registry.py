"""The services this build serves, by botocore name. Imported lazily so start-up stays fast."""

from __future__ import annotations

import importlib

from tsunagi.services.base import Platform, Service

# name -> "module:Class"
SERVICES: dict[str, str] = {
    "iam": "tsunagi.services.iam.service:IamService",
    "sts": "tsunagi.services.sts.service:StsService",
    "kms": "tsunagi.services.kms.service:KmsService",
    "sqs": "tsunagi.services.sqs.service:SqsService",
    "sns": "tsunagi.services.sns.service:SnsService",
    "logs": "tsunagi.services.logs.service:LogsService",
    "lambda": "tsunagi.services.awslambda.service:LambdaService",
    "s3": "tsunagi.services.s3.service:S3Service",
    "ecs": "tsunagi.services.ecs.service:EcsService",
    "apigateway": "tsunagi.services.apigateway.service:ApiGatewayService",
    "apigatewayv2": "tsunagi.services.apigateway.v2:ApiGatewayV2Service",
    "cloudwatch": "tsunagi.services.cloudwatch.service:CloudWatchService",
}


def load_services(platform: Platform, names: list[str] | None = None, *, lazy: bool = False) -> None:
    """The services this server serves (``names``: only those). Loaded now, or with ``lazy`` only listed:
    the platform loads each when it is first needed, or when the store it opens holds state already
    (:meth:`Platform.start`)."""
    for name, target in SERVICES.items():
        if names is not None and name not in names:
            continue
        if lazy:
            platform.available[name] = target
        else:
            service = instantiate(platform, target)
            if service is not None:
                platform.services[name] = service


def instantiate(platform: Platform, target: str) -> Service | None:
    """Import a service's module and make the service ("module:Class"); None when it is not built."""
    module, cls = target.split(":")
    try:
        klass: type[Service] = getattr(importlib.import_module(module), cls)
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith(module.rsplit(".", 1)[0]):
            return None  # not built yet
        raise
    return klass(platform)

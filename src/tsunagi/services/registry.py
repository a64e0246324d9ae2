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


def load_services(platform: Platform, names: list[str] | None = None) -> None:
    for name, target in SERVICES.items():
        if names is not None and name not in names:
            continue
        module, cls = target.split(":")
        try:
            klass: type[Service] = getattr(importlib.import_module(module), cls)
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith(module.rsplit(".", 1)[0]):
                continue  # not built yet
            raise
        platform.services[name] = klass(platform)

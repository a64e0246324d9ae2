"""botocore's service models, loaded once: the single source of truth for every wire format.

The models are botocore's JSON files (``botocore/data/<service>/<api version>/service-2.json[.gz]``, with
the ``service-2.sdk-extras.json`` merged in where there is one), read here the way botocore's loader reads
them (its newest API version; ``~/.aws/models`` first when it exists, through botocore's own loader then)
and held in :mod:`tsunagi.protocol.model`'s classes: a server answers its first request without importing
botocore's SDK code (its HTTP, signing and configuration modules, a quarter of a new server's start).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
from functools import cache, lru_cache
from typing import Any

import orjson

from tsunagi.protocol.model import OperationModel, ServiceModel

# The services tsunagi serves, by the name botocore knows them.
SERVED = ("sqs", "sns", "lambda", "s3", "logs", "kms", "sts", "iam", "cloudformation", "apigateway", "ecs",
          "apigatewayv2", "cloudwatch")

_CUSTOMER_MODELS = os.path.join(os.path.expanduser("~"), ".aws", "models")


class ModelNotFound(LookupError):
    """botocore has no model of that service."""


@cache
def _data_dir() -> str:
    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound("botocore is not installed")
    return os.path.join(next(iter(spec.submodule_search_locations)), "data")


def _read(path: str) -> dict[str, Any] | None:
    """A JSON file of botocore's data, gzipped or not, or None if neither is there."""
    for name, opener in ((path + ".json", open), (path + ".json.gz", gzip.open)):
        if os.path.isfile(name):
            with opener(name, "rb") as f:
                raw = f.read()
            try:
                data: dict[str, Any] = orjson.loads(raw)
            except orjson.JSONDecodeError:      # what only Python's parser takes (lone surrogates)
                data = json.loads(raw.decode("utf-8"))
            return data
    return None


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    """``extra`` laid over ``base`` in place, dicts merged key by key (as botocore merges its extras)."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


@cache
def description(name: str) -> dict[str, Any]:
    """The JSON description of service ``name``'s newest API version, as botocore's loader gives it
    (shared: copy it before changing it); :class:`ModelNotFound` if botocore has none."""
    if os.path.isdir(_CUSTOMER_MODELS):        # models of the user's own: botocore's loader knows where they win
        from botocore.exceptions import DataNotFoundError
        from botocore.loaders import Loader

        try:
            loaded: dict[str, Any] = Loader().load_service_model(name, "service-2")
        except DataNotFoundError as e:
            raise ModelNotFound(name) from e
        return loaded
    if not name or name.startswith(".") or "/" in name or os.sep in name:
        raise ModelNotFound(name)
    folder = os.path.join(_data_dir(), name)
    try:
        versions = [v for v in os.listdir(folder)
                    if os.path.isfile(os.path.join(folder, v, "service-2.json"))
                    or os.path.isfile(os.path.join(folder, v, "service-2.json.gz"))]
    except OSError:
        versions = []
    if not versions:
        raise ModelNotFound(name)
    version = os.path.join(folder, max(versions))
    model = _read(os.path.join(version, "service-2"))
    if model is None:
        raise ModelNotFound(name)
    extras = _read(os.path.join(version, "service-2.sdk-extras"))
    if extras is not None and "merge" in extras:
        _merge(model, extras["merge"])
    return model


@cache
def service_model(name: str) -> ServiceModel:
    """The ServiceModel for ``name`` (e.g. ``"sqs"``)."""
    return ServiceModel(description(name), service_name=name)


@cache
def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)


@lru_cache(maxsize=128)
def any_service_model(name: str) -> ServiceModel | None:
    """The model of any AWS service ``name`` botocore knows (served or not), or None if it has none:
    a service tsunagi does not serve still gets its error in the format its clients parse."""
    if not name or not all(c.isalnum() or c in "-." for c in name):
        return None
    try:
        return ServiceModel(description(name), service_name=name)
    except (ModelNotFound, ValueError, OSError):
        return None

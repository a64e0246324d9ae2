"""Lambda: the control-plane API and invocation, running functions in warm local workers.

Plain Python: params in (botocore's member names), dicts out, :mod:`.errors` raised. The service is
one method per operation over parts that each do one thing, and that it holds (no mixins):

- :mod:`.catalog`: finding a function version by name, ARN, version or alias (a per-node cache for
  the invoke path), and its configuration as the API shows it;
- :mod:`.code`: code packages (inline or from S3), checking and unpacking them, ``Code.Location``;
- :mod:`.functions`: Create/Get/List/Delete/UpdateFunction…, input checks, tags;
- :mod:`.versions`: PublishVersion and aliases;
- :mod:`.layers`: layer versions;
- :mod:`.permissions`: the function's resource policy;
- :mod:`.concurrency`: reserved concurrency and the account's settings;
- :mod:`.invocation`: Invoke and the one internal entry every invocation takes, the warm workers;
- :mod:`.function_logs`: the workers' log lines to the logs service;
- :mod:`.async_invoke` and :mod:`.invoke_configs`: Event invocations, their retries, destinations and
  dead-letter queue, and the settings they follow;
- :mod:`.esm`: event source mappings (the pollers that run them are ``pipes/pollers.py``);
- :mod:`.port`: what the rest of tsunagi may ask of Lambda (``LambdaPort``: invoke, function lookups,
  concurrency limits, the code behind ``Code.Location``).

Function State and LastUpdateStatus are reported as AWS does: the create / update response says
``Pending`` / ``InProgress``, later reads say ``Active`` / ``Successful`` (so boto3's
``function_active_v2`` and ``function_updated_v2`` waiters work).

Settings (read by :mod:`tsunagi.config`): ``TSUNAGI_LAMBDA_MAX_WORKERS`` (worker processes on this
node, default 1000; the account's ConcurrentExecutions is min(1000, this)),
``TSUNAGI_LAMBDA_IDLE_TIMEOUT`` (seconds before an idle worker is reaped, default 600).
"""

from __future__ import annotations

from typing import Any

from tsunagi.ports.awslambda import LAMBDA
from tsunagi.services.awslambda.async_invoke import AsyncInvocations
from tsunagi.services.awslambda.catalog import Catalog
from tsunagi.services.awslambda.code import CodePackages
from tsunagi.services.awslambda.concurrency import ACCOUNT_CONCURRENCY, Concurrency
from tsunagi.services.awslambda.esm import EventSourceMappings
from tsunagi.services.awslambda.function_logs import FunctionLogs
from tsunagi.services.awslambda.functions import Functions
from tsunagi.services.awslambda.invocation import Invoker
from tsunagi.services.awslambda.invoke_configs import EventInvokeConfigs
from tsunagi.services.awslambda.layers import Layers
from tsunagi.services.awslambda.permissions import Permissions
from tsunagi.services.awslambda.port import LambdaPortImpl
from tsunagi.services.awslambda.versions import Versions
from tsunagi.services.base import Platform, RequestContext, Service
from tsunagi.store.awslambda import LambdaRepo
from tsunagi.store.esm import EsmRepo

Params = dict[str, Any]
Result = dict[str, Any]


class LambdaService(Service):
    name = "lambda"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        config = platform.config
        self.repo = LambdaRepo(self.store)
        account_limit = min(ACCOUNT_CONCURRENCY, config.lambda_max_workers)
        self.catalog = Catalog(self.store, self.repo)
        self.code = CodePackages(platform, self.repo)
        self.logs = FunctionLogs(platform.ports)
        self.invoker = Invoker(platform, self.repo, self.catalog, self.code, self.logs,
                               max_workers=config.lambda_max_workers, idle_timeout=config.lambda_idle_timeout,
                               account_limit=account_limit)
        self.versions = Versions(self.repo, self.catalog, self.clock)
        self.functions = Functions(platform, self.repo, self.catalog, self.code, self.versions, self.clock,
                                   self.invoker.retire)
        self.layers = Layers(self.repo, self.code, self.clock)
        self.permissions = Permissions(self.repo, self.catalog)
        self.concurrency = Concurrency(self.repo, self.catalog, account_limit)
        self.invoke_configs = EventInvokeConfigs(EsmRepo(self.store), self.catalog, self.clock)
        self.async_invocations = AsyncInvocations(platform, self.repo, self.catalog, self.invoker,
                                                  self.invoke_configs, capacity=config.lambda_max_workers)
        self.mappings = EventSourceMappings(platform, self.catalog)
        platform.ports.provide(LAMBDA, LambdaPortImpl(self.catalog, self.invoker, self.code))

    # == life cycle ===============================================================================
    async def start(self) -> None:
        self.logs.start()
        self.invoker.start()
        self.catalog.listen()
        self.async_invocations.start()

    async def stop(self) -> None:
        self.catalog.unlisten()
        await self.async_invocations.stop()
        await self.logs.stop()
        await self.invoker.stop()

    async def on_reset(self) -> None:
        self.catalog.clear()
        self.async_invocations.reset()
        await self.invoker.reset()

    # == functions ================================================================================
    async def create_function(self, ctx: RequestContext, params: Params) -> Result:
        return await self.functions.create_function(ctx, params)

    async def get_function(self, ctx: RequestContext, params: Params) -> Result:
        return await self.functions.get_function(ctx, params)

    async def get_function_configuration(self, ctx: RequestContext, params: Params) -> Result:
        return await self.functions.get_function_configuration(ctx, params)

    async def list_functions(self, ctx: RequestContext, params: Params) -> Result:
        return await self.functions.list_functions(ctx, params)

    async def delete_function(self, ctx: RequestContext, params: Params) -> Result:
        return await self.functions.delete_function(ctx, params)

    async def update_function_code(self, ctx: RequestContext, params: Params) -> Result:
        return await self.functions.update_function_code(ctx, params)

    async def update_function_configuration(self, ctx: RequestContext, params: Params) -> Result:
        return await self.functions.update_function_configuration(ctx, params)

    async def tag_resource(self, ctx: RequestContext, params: Params) -> Result:
        return await self.functions.tag_resource(ctx, params)

    async def untag_resource(self, ctx: RequestContext, params: Params) -> Result:
        return await self.functions.untag_resource(ctx, params)

    async def list_tags(self, ctx: RequestContext, params: Params) -> Result:
        return await self.functions.list_tags(ctx, params)

    # == versions and aliases =====================================================================
    async def publish_version(self, ctx: RequestContext, params: Params) -> Result:
        return await self.versions.publish_version(ctx, params)

    async def list_versions_by_function(self, ctx: RequestContext, params: Params) -> Result:
        return await self.versions.list_versions_by_function(ctx, params)

    async def create_alias(self, ctx: RequestContext, params: Params) -> Result:
        return await self.versions.create_alias(ctx, params)

    async def get_alias(self, ctx: RequestContext, params: Params) -> Result:
        return await self.versions.get_alias(ctx, params)

    async def update_alias(self, ctx: RequestContext, params: Params) -> Result:
        return await self.versions.update_alias(ctx, params)

    async def delete_alias(self, ctx: RequestContext, params: Params) -> Result:
        return await self.versions.delete_alias(ctx, params)

    async def list_aliases(self, ctx: RequestContext, params: Params) -> Result:
        return await self.versions.list_aliases(ctx, params)

    # == layers ===================================================================================
    async def publish_layer_version(self, ctx: RequestContext, params: Params) -> Result:
        return await self.layers.publish_layer_version(ctx, params)

    async def get_layer_version(self, ctx: RequestContext, params: Params) -> Result:
        return await self.layers.get_layer_version(ctx, params)

    async def add_layer_version_permission(self, ctx: RequestContext, params: Params) -> Result:
        return await self.layers.add_layer_version_permission(ctx, params)

    async def remove_layer_version_permission(self, ctx: RequestContext, params: Params) -> Result:
        return await self.layers.remove_layer_version_permission(ctx, params)

    async def get_layer_version_policy(self, ctx: RequestContext, params: Params) -> Result:
        return await self.layers.get_layer_version_policy(ctx, params)

    async def get_layer_version_by_arn(self, ctx: RequestContext, params: Params) -> Result:
        return await self.layers.get_layer_version_by_arn(ctx, params)

    async def list_layer_versions(self, ctx: RequestContext, params: Params) -> Result:
        return await self.layers.list_layer_versions(ctx, params)

    async def list_layers(self, ctx: RequestContext, params: Params) -> Result:
        return await self.layers.list_layers(ctx, params)

    async def delete_layer_version(self, ctx: RequestContext, params: Params) -> Result:
        return await self.layers.delete_layer_version(ctx, params)

    # == permissions ==============================================================================
    async def add_permission(self, ctx: RequestContext, params: Params) -> Result:
        return await self.permissions.add_permission(ctx, params)

    async def remove_permission(self, ctx: RequestContext, params: Params) -> Result:
        return await self.permissions.remove_permission(ctx, params)

    async def get_policy(self, ctx: RequestContext, params: Params) -> Result:
        return await self.permissions.get_policy(ctx, params)

    # == concurrency ==============================================================================
    async def put_function_concurrency(self, ctx: RequestContext, params: Params) -> Result:
        return await self.concurrency.put_function_concurrency(ctx, params)

    async def get_function_concurrency(self, ctx: RequestContext, params: Params) -> Result:
        return await self.concurrency.get_function_concurrency(ctx, params)

    async def delete_function_concurrency(self, ctx: RequestContext, params: Params) -> Result:
        return await self.concurrency.delete_function_concurrency(ctx, params)

    async def get_account_settings(self, ctx: RequestContext, params: Params) -> Result:
        return await self.concurrency.get_account_settings(ctx, params)

    # == invocation ===============================================================================
    async def invoke(self, ctx: RequestContext, params: Params) -> Result:
        return await self.invoker.invoke(ctx, params)

    async def invoke_async(self, ctx: RequestContext, params: Params) -> Result:
        return await self.invoker.invoke_async(ctx, params)

    # == event invoke configs =====================================================================
    async def put_function_event_invoke_config(self, ctx: RequestContext, params: Params) -> Result:
        return await self.invoke_configs.put_function_event_invoke_config(ctx, params)

    async def update_function_event_invoke_config(self, ctx: RequestContext, params: Params) -> Result:
        return await self.invoke_configs.update_function_event_invoke_config(ctx, params)

    async def get_function_event_invoke_config(self, ctx: RequestContext, params: Params) -> Result:
        return await self.invoke_configs.get_function_event_invoke_config(ctx, params)

    async def delete_function_event_invoke_config(self, ctx: RequestContext, params: Params) -> Result:
        return await self.invoke_configs.delete_function_event_invoke_config(ctx, params)

    async def list_function_event_invoke_configs(self, ctx: RequestContext, params: Params) -> Result:
        return await self.invoke_configs.list_function_event_invoke_configs(ctx, params)

    # == event source mappings ====================================================================
    async def create_event_source_mapping(self, ctx: RequestContext, params: Params) -> Result:
        return await self.mappings.create_event_source_mapping(ctx, params)

    async def get_event_source_mapping(self, ctx: RequestContext, params: Params) -> Result:
        return await self.mappings.get_event_source_mapping(ctx, params)

    async def update_event_source_mapping(self, ctx: RequestContext, params: Params) -> Result:
        return await self.mappings.update_event_source_mapping(ctx, params)

    async def delete_event_source_mapping(self, ctx: RequestContext, params: Params) -> Result:
        return await self.mappings.delete_event_source_mapping(ctx, params)

    async def list_event_source_mappings(self, ctx: RequestContext, params: Params) -> Result:
        return await self.mappings.list_event_source_mappings(ctx, params)


__all__ = ["LambdaService"]

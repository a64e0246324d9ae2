"""ECS: clusters, task definitions, tasks run as host processes without Docker, tags.

Put together by composition: one part per concern, each on :class:`.core.EcsCore` (the repository,
this server's node, shapes): :mod:`.clusters`, :mod:`.taskdefs`, :mod:`.tasks` with the runner
(:mod:`.runner`, tasks' processes and their life cycle), :mod:`.services` with their scheduler,
:mod:`.tags`; the port (:mod:`.port`) for
the metadata and credentials endpoints tasks call. Each API operation below is one line handing its
params to the part that owns it.
"""

from __future__ import annotations

from typing import Any

from tsunagi.ports.ecs import ECS
from tsunagi.services.base import Platform, RequestContext, Service
from tsunagi.services.ecs.clusters import Clusters
from tsunagi.services.ecs.core import EcsCore
from tsunagi.services.ecs.port import EcsPortImpl
from tsunagi.services.ecs.runner import TaskRunner
from tsunagi.services.ecs.services import Services
from tsunagi.services.ecs.tags import Tags
from tsunagi.services.ecs.taskdefs import TaskDefinitions
from tsunagi.services.ecs.tasks import Tasks

Params = dict[str, Any]
Result = dict[str, Any]


class EcsService(Service):
    name = "ecs"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.core = EcsCore(platform)
        self.clusters = Clusters(self.core)
        self.taskdefs = TaskDefinitions(self.core)
        self.runner = TaskRunner(self.core)
        self.tasks = Tasks(self.core, self.taskdefs, self.runner)
        self.tags = Tags(self.core)
        self.services = Services(self.core, self.taskdefs, self.tasks)
        platform.ports.provide(ECS, EcsPortImpl(self.core, self.taskdefs))

    async def start(self) -> None:
        await self.runner.start()          # first: tasks a restart left behind are stopped ...
        await self.services.start()        # ... then services replace them

    async def stop(self) -> None:
        await self.services.stop()
        await self.runner.stop()

    async def on_reset(self) -> None:
        self.services.reset()
        await self.runner.reset()

    # == clusters ==============================================================================
    async def create_cluster(self, ctx: RequestContext, params: Params) -> Result:
        return await self.clusters.create(ctx, params)

    async def delete_cluster(self, ctx: RequestContext, params: Params) -> Result:
        return await self.clusters.delete(ctx, params)

    async def describe_clusters(self, ctx: RequestContext, params: Params) -> Result:
        return await self.clusters.describe(ctx, params)

    async def list_clusters(self, ctx: RequestContext, params: Params) -> Result:
        return await self.clusters.list(ctx, params)

    async def update_cluster(self, ctx: RequestContext, params: Params) -> Result:
        return await self.clusters.update(ctx, params)

    async def update_cluster_settings(self, ctx: RequestContext, params: Params) -> Result:
        return await self.clusters.update_settings(ctx, params)

    async def put_cluster_capacity_providers(self, ctx: RequestContext, params: Params) -> Result:
        return await self.clusters.put_capacity_providers(ctx, params)

    # == task definitions ======================================================================
    async def register_task_definition(self, ctx: RequestContext, params: Params) -> Result:
        return await self.taskdefs.register(ctx, params)

    async def deregister_task_definition(self, ctx: RequestContext, params: Params) -> Result:
        return await self.taskdefs.deregister(ctx, params)

    async def delete_task_definitions(self, ctx: RequestContext, params: Params) -> Result:
        return await self.taskdefs.delete(ctx, params)

    async def describe_task_definition(self, ctx: RequestContext, params: Params) -> Result:
        return await self.taskdefs.describe(ctx, params)

    async def list_task_definitions(self, ctx: RequestContext, params: Params) -> Result:
        return await self.taskdefs.list(ctx, params)

    async def list_task_definition_families(self, ctx: RequestContext, params: Params) -> Result:
        return await self.taskdefs.families(ctx, params)

    # == tasks =================================================================================
    async def run_task(self, ctx: RequestContext, params: Params) -> Result:
        return await self.tasks.run(ctx, params)

    async def start_task(self, ctx: RequestContext, params: Params) -> Result:
        return await self.tasks.start(ctx, params)

    async def stop_task(self, ctx: RequestContext, params: Params) -> Result:
        return await self.tasks.stop(ctx, params)

    async def describe_tasks(self, ctx: RequestContext, params: Params) -> Result:
        return await self.tasks.describe(ctx, params)

    async def list_tasks(self, ctx: RequestContext, params: Params) -> Result:
        return await self.tasks.list(ctx, params)

    # == services ==============================================================================
    async def create_service(self, ctx: RequestContext, params: Params) -> Result:
        return await self.services.create(ctx, params)

    async def update_service(self, ctx: RequestContext, params: Params) -> Result:
        return await self.services.update(ctx, params)

    async def delete_service(self, ctx: RequestContext, params: Params) -> Result:
        return await self.services.delete(ctx, params)

    async def describe_services(self, ctx: RequestContext, params: Params) -> Result:
        return await self.services.describe(ctx, params)

    async def list_services(self, ctx: RequestContext, params: Params) -> Result:
        return await self.services.list_arns(ctx, params)

    # == tags ==================================================================================
    async def tag_resource(self, ctx: RequestContext, params: Params) -> Result:
        return await self.tags.tag(ctx, params)

    async def untag_resource(self, ctx: RequestContext, params: Params) -> Result:
        return await self.tags.untag(ctx, params)

    async def list_tags_for_resource(self, ctx: RequestContext, params: Params) -> Result:
        return await self.tags.list(ctx, params)

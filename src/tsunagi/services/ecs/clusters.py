"""Clusters: CreateCluster, DeleteCluster, DescribeClusters, ListClusters, UpdateCluster,
UpdateClusterSettings, PutClusterCapacityProviders.

A deleted cluster stays, INACTIVE (DescribeClusters still shows it); creating one of the same name
makes it ACTIVE again, as on AWS. A cluster with tasks not yet stopped, or active services, cannot
be deleted.
"""

from __future__ import annotations

from typing import Any

from tsunagi.services.base import RequestContext
from tsunagi.services.ecs import names
from tsunagi.services.ecs.core import EcsCore, from_token, max_results, tags_in, to_token
from tsunagi.services.ecs.errors import (
    CLUSTER_HAS_SERVICES,
    CLUSTER_HAS_TASKS,
    ClusterContainsServices,
    ClusterContainsTasks,
    InvalidParameter,
)
from tsunagi.store.ecs import ClusterRow

FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")


def _settings(raw: Any) -> list[dict[str, str]]:
    out = []
    for s in raw or []:
        if s.get("name") != "containerInsights":
            raise InvalidParameter(f"Invalid setting name: {s.get('name')}. The only valid setting name is "
                                   "containerInsights.")
        if s.get("value") not in ("enabled", "disabled", "enhanced"):
            raise InvalidParameter("Invalid value for containerInsights setting. Valid values are enabled, "
                                   "disabled and enhanced.")
        out.append({"name": "containerInsights", "value": s["value"]})
    return out


def _providers(raw: Any, strategy: Any) -> tuple[list[str], list[dict[str, Any]]]:
    providers = list(raw or [])
    for p in providers:
        if p not in FARGATE_PROVIDERS:
            raise InvalidParameter(f"The specified capacity provider '{p}' is not in an ACTIVE state. Specify a "
                                   "valid capacity provider and try again.")
    out = []
    for item in strategy or []:
        if item.get("capacityProvider") not in providers:
            raise InvalidParameter("The specified capacity provider strategy cannot contain a capacity provider "
                                   "that is not associated with the cluster. Associate the capacity provider with "
                                   "the cluster or specify a valid capacity provider and try again.")
        out.append({"capacityProvider": item["capacityProvider"], "weight": item.get("weight", 0),
                    "base": item.get("base", 0)})
    return providers, out


class Clusters:
    def __init__(self, core: EcsCore) -> None:
        self.core = core
        self.repo = core.repo

    async def create(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("clusterName") or "default"
        if not names.NAME.fullmatch(name):
            raise InvalidParameter("Cluster name must be up to 255 letters (uppercase and lowercase), numbers, "
                                   "underscores, and hyphens.")
        arn = names.cluster_arn(ctx.region, ctx.account, name)
        tags = tags_in(params.get("tags"))
        existing = await self.repo.cluster(arn)
        if existing is not None and existing.status == "ACTIVE":
            return {"cluster": await self.core.cluster_shape(existing, {"TAGS"} if tags else set())}
        providers, strategy = _providers(params.get("capacityProviders"),
                                         params.get("defaultCapacityProviderStrategy"))
        doc: dict[str, Any] = {"settings": _settings(params.get("settings"))
                               or [{"name": "containerInsights", "value": "disabled"}],
                               "capacityProviders": providers, "defaultCapacityProviderStrategy": strategy}
        for member in ("configuration", "serviceConnectDefaults"):
            if params.get(member):
                doc[member] = params[member]
        row = ClusterRow(arn, ctx.account, ctx.region, name, "ACTIVE", self.core.clock.now_ms(), doc)
        await self.repo.save_cluster(row, tags)
        return {"cluster": await self.core.cluster_shape(row, {"TAGS"} if tags else set())}

    async def delete(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.core.active_cluster(ctx, params.get("cluster"))
        _running, _pending, services = await self.repo.cluster_counts(row.arn)
        if services:
            raise ClusterContainsServices(CLUSTER_HAS_SERVICES)
        if await self.repo.active_task_count(row.arn):
            raise ClusterContainsTasks(CLUSTER_HAS_TASKS)
        await self.repo.update_cluster(row.arn, "INACTIVE", row.doc)
        shape = await self.core.cluster_shape(row._replace(status="INACTIVE"), set())
        return {"cluster": shape}

    async def describe(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        include = set(params.get("include") or [])
        refs = params.get("clusters") or ["default"]
        clusters, failures = [], []
        for ref in refs:
            arn = names.cluster_ref(ctx.region, ctx.account, ref)
            row = await self.repo.cluster(arn) if EcsCore._ours(ctx, arn) else None
            if row is None:
                failures.append({"arn": arn, "reason": "MISSING"})
                continue
            clusters.append(await self.core.cluster_shape(row, include))
        return {"clusters": clusters, "failures": failures}

    async def list(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limit = max_results(params, 100)
        after = from_token(params.get("nextToken"), "")
        arns = await self.repo.cluster_arns(ctx.account, ctx.region, str(after), limit + 1)
        out: dict[str, Any] = {"clusterArns": arns[:limit]}
        if len(arns) > limit:
            out["nextToken"] = to_token(arns[limit - 1])
        return out

    async def update(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.core.active_cluster(ctx, params.get("cluster"))
        doc = dict(row.doc)
        if params.get("settings") is not None:
            doc["settings"] = _settings(params["settings"])
        for member in ("configuration", "serviceConnectDefaults"):
            if params.get(member) is not None:
                doc[member] = params[member]
        await self.repo.update_cluster(row.arn, row.status, doc)
        return {"cluster": await self.core.cluster_shape(row._replace(doc=doc), set())}

    async def update_settings(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.core.active_cluster(ctx, params.get("cluster"))
        doc = {**row.doc, "settings": _settings(params.get("settings"))}
        await self.repo.update_cluster(row.arn, row.status, doc)
        return {"cluster": await self.core.cluster_shape(row._replace(doc=doc), {"SETTINGS"})}

    async def put_capacity_providers(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self.core.active_cluster(ctx, params.get("cluster"))
        providers, strategy = _providers(params.get("capacityProviders"),
                                         params.get("defaultCapacityProviderStrategy"))
        doc = {**row.doc, "capacityProviders": providers, "defaultCapacityProviderStrategy": strategy}
        await self.repo.update_cluster(row.arn, row.status, doc)
        return {"cluster": await self.core.cluster_shape(row._replace(doc=doc), set())}

"""OpenID Connect identity providers: the issuers whose tokens AssumeRoleWithWebIdentity takes (GitHub
Actions, EKS, …), kept as data: their URL, client ids (audiences) and certificate thumbprints."""

from __future__ import annotations

import json
from typing import Any

from tsunagi.services.base import RequestContext
from tsunagi.services.iam.core import IamCore, ms_to_dt
from tsunagi.services.iam.errors import EntityAlreadyExists, InvalidInput, NoSuchEntity
from tsunagi.store.base import ConstraintViolation
from tsunagi.store.iam import OIDC, OidcRow


class ProviderOps(IamCore):
    async def _provider(self, ctx: RequestContext, arn: str) -> OidcRow:
        row = await self.repo.oidc(arn)
        if row is None or row.account != ctx.account:
            raise NoSuchEntity(f"OpenIDConnect Provider not found for arn {arn}")
        return row

    async def create_open_id_connect_provider(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        url: str = params["Url"]
        if not url.startswith("https://") or len(url) <= len("https://"):
            raise InvalidInput(f"The URL of an OpenID Connect provider must begin with https://, got {url}")
        where = url[len("https://"):].rstrip("/")
        arn = f"arn:aws:iam::{ctx.account}:oidc-provider/{where}"
        tags = self.tag_pairs(params)
        client_ids = list(dict.fromkeys(params.get("ClientIDList") or []))
        row = OidcRow(arn, ctx.account, f"https://{where}", json.dumps(client_ids),
                      json.dumps(list(params.get("ThumbprintList") or [])), self.clock.now_ms())
        try:
            await self.repo.create_oidc(row, tags)
        except ConstraintViolation:
            raise EntityAlreadyExists(f"Provider with url {row.url} already exists.") from None
        out: dict[str, Any] = {"OpenIDConnectProviderArn": arn}
        if tags:
            out["Tags"] = self.tag_list(tags)
        return out

    async def get_open_id_connect_provider(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._provider(ctx, params["OpenIDConnectProviderArn"])
        out: dict[str, Any] = {"Url": row.url[len("https://"):], "ClientIDList": json.loads(row.client_ids),
                               "ThumbprintList": json.loads(row.thumbprints), "CreateDate": ms_to_dt(row.created_at)}
        tags = await self.repo.tags(ctx.account, OIDC, row.arn)
        if tags:
            out["Tags"] = self.tag_list(tags)
        return out

    async def list_open_id_connect_providers(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"OpenIDConnectProviderList": [{"Arn": r.arn} for r in await self.repo.oidc_of_account(ctx.account)]}

    async def delete_open_id_connect_provider(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._provider(ctx, params["OpenIDConnectProviderArn"])
        await self.repo.delete_oidc(ctx.account, row.arn)
        return {}

    async def add_client_id_to_open_id_connect_provider(self, ctx: RequestContext,
                                                        params: dict[str, Any]) -> dict[str, Any]:
        row = await self._provider(ctx, params["OpenIDConnectProviderArn"])
        ids = json.loads(row.client_ids)
        if params["ClientID"] not in ids:
            ids.append(params["ClientID"])
            await self.repo.update_oidc(row.arn, json.dumps(ids), row.thumbprints)
        return {}

    async def remove_client_id_from_open_id_connect_provider(self, ctx: RequestContext,
                                                             params: dict[str, Any]) -> dict[str, Any]:
        row = await self._provider(ctx, params["OpenIDConnectProviderArn"])
        ids = [i for i in json.loads(row.client_ids) if i != params["ClientID"]]
        await self.repo.update_oidc(row.arn, json.dumps(ids), row.thumbprints)
        return {}

    async def update_open_id_connect_provider_thumbprint(self, ctx: RequestContext,
                                                         params: dict[str, Any]) -> dict[str, Any]:
        row = await self._provider(ctx, params["OpenIDConnectProviderArn"])
        await self.repo.update_oidc(row.arn, row.client_ids, json.dumps(list(params["ThumbprintList"])))
        return {}

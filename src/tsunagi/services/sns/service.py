"""SNS: topics, subscriptions and publishing with AWS's semantics, on the store.

Plain Python: params in (botocore's member names), dicts out, :mod:`.errors` raised. The service is
one method per operation over parts that each do one thing:

- :mod:`.catalog`: ARN checks, lookups with AWS's errors, the per-topic cache publishes read;
- :mod:`.topics`: topics, their attributes, data protection policy, tags and permissions;
- :mod:`.subscriptions`: subscribing, endpoint checks, confirmations, attributes, listing;
- :mod:`.publishing`: Publish, PublishBatch and SMS, each entry validated, one transaction each;
- :mod:`.fanout`: what each subscription gets (one strategy per protocol), written in that transaction;
- :mod:`.keys` and :mod:`.signing`: the signing key and the processes that sign with it;
- :mod:`.port`: what the rest of tsunagi may ask of SNS.

SQL lives in :mod:`tsunagi.store.sns`; what happens after a publish commits (http/https posts,
Lambda invocations, e-mail, their retries and dead letters) in ``pipes/sns_delivery.py``, which
runs the outbox rows the fan-out writes.
"""

from __future__ import annotations

from typing import Any

from tsunagi.ports.sns import SNS
from tsunagi.services.base import Platform, RequestContext, Service
from tsunagi.services.sns.catalog import Catalog
from tsunagi.services.sns.errors import subscription_not_found, topic_not_found
from tsunagi.services.sns.fanout import Fanout
from tsunagi.services.sns.keys import SigningKeys
from tsunagi.services.sns.port import SnsPortImpl
from tsunagi.services.sns.publishing import Publishing
from tsunagi.services.sns.sealing import TopicSealer
from tsunagi.services.sns.subscriptions import Subscriptions
from tsunagi.services.sns.topics import Topics
from tsunagi.store.sns import SnsRepo

Params = dict[str, Any]
Result = dict[str, Any]


def in_region(ctx: RequestContext, arn: Any, param: str) -> None:
    """A topic (and its subscriptions) is found only from its own region, as on AWS: a client of
    another region gets NotFound. (A malformed ARN is left to the operation's own check.)"""
    if isinstance(arn, str) and arn.count(":") >= 5:
        region = arn.split(":", 4)[3]
        if region != ctx.region:
            raise topic_not_found() if param == "TopicArn" else subscription_not_found()


class SnsService(Service):
    name = "sns"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.repo = SnsRepo(self.store)
        self.catalog = Catalog(self.repo)
        self.keys = SigningKeys(self.repo, self.clock, platform.config.sns_signing_processes)
        self.topics = Topics(self.repo, self.catalog, self.clock)
        self.subscriptions = Subscriptions(platform, self.repo, self.catalog, self.keys)
        self.sealer = TopicSealer(platform.ports, self.clock)
        self.publishing = Publishing(platform, self.repo, self.catalog, self.keys, Fanout(platform), self.sealer)
        platform.ports.provide(SNS, SnsPortImpl(self.repo, self.catalog, self.publishing, platform.deliveries,
                                                self.sealer))

    # == lifecycle ===========================================================================
    async def start(self) -> None:
        self.catalog.listen()
        self.keys.preload()

    async def stop(self) -> None:
        self.keys.close()

    async def on_reset(self) -> None:
        self.catalog.clear()
        self.keys.forget()
        self.sealer.forget()

    # == topics ================================================================================
    async def create_topic(self, ctx: RequestContext, params: Params) -> Result:
        return await self.topics.create_topic(ctx, params)

    async def delete_topic(self, ctx: RequestContext, params: Params) -> Result:
        in_region(ctx, params.get("TopicArn"), "TopicArn")
        return await self.topics.delete_topic(ctx, params)

    async def list_topics(self, ctx: RequestContext, params: Params) -> Result:
        return await self.topics.list_topics(ctx, params)

    async def get_topic_attributes(self, ctx: RequestContext, params: Params) -> Result:
        in_region(ctx, params.get("TopicArn"), "TopicArn")
        return await self.topics.get_topic_attributes(ctx, params)

    async def set_topic_attributes(self, ctx: RequestContext, params: Params) -> Result:
        in_region(ctx, params.get("TopicArn"), "TopicArn")
        return await self.topics.set_topic_attributes(ctx, params)

    async def get_data_protection_policy(self, ctx: RequestContext, params: Params) -> Result:
        in_region(ctx, params.get("TopicArn"), "TopicArn")
        return await self.topics.get_data_protection_policy(ctx, params)

    async def put_data_protection_policy(self, ctx: RequestContext, params: Params) -> Result:
        in_region(ctx, params.get("TopicArn"), "TopicArn")
        return await self.topics.put_data_protection_policy(ctx, params)

    async def tag_resource(self, ctx: RequestContext, params: Params) -> Result:
        return await self.topics.tag_resource(ctx, params)

    async def untag_resource(self, ctx: RequestContext, params: Params) -> Result:
        return await self.topics.untag_resource(ctx, params)

    async def list_tags_for_resource(self, ctx: RequestContext, params: Params) -> Result:
        return await self.topics.list_tags_for_resource(ctx, params)

    async def add_permission(self, ctx: RequestContext, params: Params) -> Result:
        in_region(ctx, params.get("TopicArn"), "TopicArn")
        return await self.topics.add_permission(ctx, params)

    async def remove_permission(self, ctx: RequestContext, params: Params) -> Result:
        in_region(ctx, params.get("TopicArn"), "TopicArn")
        return await self.topics.remove_permission(ctx, params)

    # == subscriptions ===========================================================================
    async def subscribe(self, ctx: RequestContext, params: Params) -> Result:
        in_region(ctx, params.get("TopicArn"), "TopicArn")
        return await self.subscriptions.subscribe(ctx, params)

    async def confirm_subscription(self, ctx: RequestContext, params: Params) -> Result:
        return await self.subscriptions.confirm_subscription(ctx, params)

    async def unsubscribe(self, ctx: RequestContext, params: Params) -> Result:
        return await self.subscriptions.unsubscribe(ctx, params)

    async def list_subscriptions(self, ctx: RequestContext, params: Params) -> Result:
        return await self.subscriptions.list_subscriptions(ctx, params)

    async def list_subscriptions_by_topic(self, ctx: RequestContext, params: Params) -> Result:
        in_region(ctx, params.get("TopicArn"), "TopicArn")
        return await self.subscriptions.list_subscriptions_by_topic(ctx, params)

    async def get_subscription_attributes(self, ctx: RequestContext, params: Params) -> Result:
        in_region(ctx, params.get("SubscriptionArn"), "SubscriptionArn")
        return await self.subscriptions.get_subscription_attributes(ctx, params)

    async def set_subscription_attributes(self, ctx: RequestContext, params: Params) -> Result:
        in_region(ctx, params.get("SubscriptionArn"), "SubscriptionArn")
        return await self.subscriptions.set_subscription_attributes(ctx, params)

    # == publishing ================================================================================
    async def publish(self, ctx: RequestContext, params: Params) -> Result:
        in_region(ctx, params.get("TopicArn"), "TopicArn")
        return await self.publishing.publish(ctx, params)

    async def publish_batch(self, ctx: RequestContext, params: Params) -> Result:
        in_region(ctx, params.get("TopicArn"), "TopicArn")
        return await self.publishing.publish_batch(ctx, params)


__all__ = ["SnsService"]

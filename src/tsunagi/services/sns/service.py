"""SNS: topics, subscriptions and publishing with AWS's semantics, on the store.

Plain Python: params in (botocore's member names), dicts out, :mod:`.errors` raised. The service is
one method per operation over parts that each do one thing:

- :mod:`.catalog`: ARN checks, lookups with AWS's errors, the per-topic cache publishes read;
- :mod:`.topics`: topics, their attributes, data protection policy, tags and permissions;
- :mod:`.subscriptions`: subscribing, endpoint checks, confirmations, attributes, listing;
- :mod:`.publishing`: Publish, PublishBatch and SMS, each entry validated, one transaction each;
- :mod:`.fanout`: what each subscription gets (one strategy per protocol), written in that transaction;
- :mod:`.keys` and :mod:`.signing`: the signing key and the processes that sign with it;
- :mod:`.mobile` and :mod:`.push`: platform applications, their endpoints and push notifications;
- :mod:`.sms`: texts to phone numbers, SMS attributes, opt-outs and the SMS sandbox;
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
from tsunagi.services.sns.mobile import Mobile
from tsunagi.services.sns.port import SnsPortImpl
from tsunagi.services.sns.publishing import Publishing
from tsunagi.services.sns.sealing import TopicSealer
from tsunagi.services.sns.sms import Sms
from tsunagi.services.sns.subscriptions import Subscriptions
from tsunagi.services.sns.topics import Topics
from tsunagi.store.sns import SnsRepo
from tsunagi.store.sns_mobile import MobileRepo

Params = dict[str, Any]
Result = dict[str, Any]


def in_region(ctx: RequestContext, arn: Any, param: str) -> None:
    """A topic (and its subscriptions) is found only from its own region, as on AWS: a client of
    another region gets NotFound. (A malformed ARN is left to the operation's own check.)"""
    if isinstance(arn, str) and arn.count(":") >= 5:
        region = arn.split(":", 4)[3]
        if region != ctx.region:
            raise topic_not_found() if param == "TopicArn" else subscription_not_found()


class DirectPublish:
    """Publish without a topic: to a phone number (:mod:`.sms`) or a platform endpoint (:mod:`.mobile`)."""

    def __init__(self, sms: Sms, mobile: Mobile) -> None:
        self.sms = sms
        self.mobile = mobile

    async def publish_sms(self, ctx: RequestContext, phone: str, params: Params) -> Result:
        return await self.sms.publish_sms(ctx, phone, params)

    async def publish_to_endpoint(self, ctx: RequestContext, target_arn: str, params: Params) -> Result:
        return await self.mobile.publish_to_endpoint(ctx, target_arn, params)


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
        mobile_repo = MobileRepo(self.store)
        self.mobile = Mobile(platform, mobile_repo)
        self.sms = Sms(platform, mobile_repo)
        self.publishing.direct = DirectPublish(self.sms, self.mobile)
        self.mobile.topics = self.publishing
        platform.ports.provide(SNS, SnsPortImpl(self.repo, self.catalog, self.publishing, platform.deliveries,
                                                self.sealer, self.sms))

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


    # == mobile push: platform applications and endpoints ===========================================
    async def create_platform_application(self, ctx: RequestContext, params: Params) -> Result:
        return await self.mobile.create_platform_application(ctx, params)

    async def get_platform_application_attributes(self, ctx: RequestContext, params: Params) -> Result:
        return await self.mobile.get_platform_application_attributes(ctx, params)

    async def set_platform_application_attributes(self, ctx: RequestContext, params: Params) -> Result:
        return await self.mobile.set_platform_application_attributes(ctx, params)

    async def delete_platform_application(self, ctx: RequestContext, params: Params) -> Result:
        return await self.mobile.delete_platform_application(ctx, params)

    async def list_platform_applications(self, ctx: RequestContext, params: Params) -> Result:
        return await self.mobile.list_platform_applications(ctx, params)

    async def create_platform_endpoint(self, ctx: RequestContext, params: Params) -> Result:
        return await self.mobile.create_platform_endpoint(ctx, params)

    async def get_endpoint_attributes(self, ctx: RequestContext, params: Params) -> Result:
        return await self.mobile.get_endpoint_attributes(ctx, params)

    async def set_endpoint_attributes(self, ctx: RequestContext, params: Params) -> Result:
        return await self.mobile.set_endpoint_attributes(ctx, params)

    async def delete_endpoint(self, ctx: RequestContext, params: Params) -> Result:
        return await self.mobile.delete_endpoint(ctx, params)

    async def list_endpoints_by_platform_application(self, ctx: RequestContext, params: Params) -> Result:
        return await self.mobile.list_endpoints_by_platform_application(ctx, params)

    # == SMS =========================================================================================
    async def set_sms_attributes(self, ctx: RequestContext, params: Params) -> Result:
        return await self.sms.set_sms_attributes(ctx, params)

    async def get_sms_attributes(self, ctx: RequestContext, params: Params) -> Result:
        return await self.sms.get_sms_attributes(ctx, params)

    async def check_if_phone_number_is_opted_out(self, ctx: RequestContext, params: Params) -> Result:
        return await self.sms.check_if_phone_number_is_opted_out(ctx, params)

    async def list_phone_numbers_opted_out(self, ctx: RequestContext, params: Params) -> Result:
        return await self.sms.list_phone_numbers_opted_out(ctx, params)

    async def opt_in_phone_number(self, ctx: RequestContext, params: Params) -> Result:
        return await self.sms.opt_in_phone_number(ctx, params)

    async def get_sms_sandbox_account_status(self, ctx: RequestContext, params: Params) -> Result:
        return await self.sms.get_sms_sandbox_account_status(ctx, params)

    async def create_sms_sandbox_phone_number(self, ctx: RequestContext, params: Params) -> Result:
        return await self.sms.create_sms_sandbox_phone_number(ctx, params)

    async def verify_sms_sandbox_phone_number(self, ctx: RequestContext, params: Params) -> Result:
        return await self.sms.verify_sms_sandbox_phone_number(ctx, params)

    async def delete_sms_sandbox_phone_number(self, ctx: RequestContext, params: Params) -> Result:
        return await self.sms.delete_sms_sandbox_phone_number(ctx, params)

    async def list_sms_sandbox_phone_numbers(self, ctx: RequestContext, params: Params) -> Result:
        return await self.sms.list_sms_sandbox_phone_numbers(ctx, params)

    async def list_origination_numbers(self, ctx: RequestContext, params: Params) -> Result:
        return await self.sms.list_origination_numbers(ctx, params)

__all__ = ["SnsService"]

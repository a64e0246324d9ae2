"""SNS's port: what the rest of tsunagi may ask of SNS (:class:`tsunagi.ports.sns.SnsPort`).

It works on SNS's parts (the catalog, publishing, the repository) and the platform's delivery
records, not on the service object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tsunagi.context import RequestContext
from tsunagi.ports.resources import ResourcePolicy
from tsunagi.ports.sns import MailMessage, NewMail, TopicRef
from tsunagi.ports.sqs import MessageAttributeValue
from tsunagi.services.sns.catalog import Catalog
from tsunagi.services.sns.fanout import PIPE
from tsunagi.services.sns.publishing import Publishing
from tsunagi.services.sns.sealing import TopicSealer
from tsunagi.services.sns.sms import Sms
from tsunagi.store.deliveries import Delivery, DeliveryRepo
from tsunagi.store.sns import NewMailRow, SnsRepo


class SnsPortImpl:
    def __init__(self, repo: SnsRepo, catalog: Catalog, publishing: Publishing, deliveries: DeliveryRepo,
                 sealer: TopicSealer, sms: Sms) -> None:
        self._repo = repo
        self._sms = sms
        self._sealer = sealer
        self._catalog = catalog
        self._publishing = publishing
        self._deliveries = deliveries

    async def resource_policy(self, ctx: RequestContext, arn: str) -> ResourcePolicy | None:
        topic = await self._catalog.find_topic(arn)
        if topic is None:
            return None
        return ResourcePolicy(topic.arn, topic.account, topic.attributes.get("Policy") or None)

    async def topic(self, arn: str) -> TopicRef | None:
        return await self._catalog.find_topic(arn)

    async def publish(self, ctx: RequestContext, topic_arn: str, message: str, *, subject: str | None = None,
                      attributes: Mapping[str, MessageAttributeValue] | None = None, group_id: str | None = None,
                      dedup_id: str | None = None) -> str:
        params: dict[str, Any] = {"TopicArn": topic_arn, "Message": message}
        if subject is not None:
            params["Subject"] = subject
        if attributes:
            params["MessageAttributes"] = dict(attributes)
        if group_id is not None:
            params["MessageGroupId"] = group_id
        if dedup_id is not None:
            params["MessageDeduplicationId"] = dedup_id
        out = await self._publishing.publish(ctx, params)
        return str(out["MessageId"])

    async def open_delivery(self, target: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        return await self._sealer.open(target, payload)

    async def subscribed(self, subscription_arn: str) -> bool:
        return await self._repo.subscription_exists(subscription_arn)

    async def certificate(self, key_id: str) -> str | None:
        return await self._repo.certificate(key_id)

    async def add_mail(self, mail: NewMail) -> None:
        await self._repo.add_mail(self._repo.store, [NewMailRow(**mail._asdict())])

    async def mailbox(self, recipient: str | None, after_id: int, limit: int,
                      kind: str | None = None) -> list[MailMessage]:
        return [MailMessage(**r._asdict()) for r in await self._repo.mail(recipient, after_id, limit, kind)]

    async def sms_reply(self, account: str, region: str, phone: str, text: str) -> bool:
        return await self._sms.reply(account, region, phone, text)

    async def deliveries(self, *, message_id: str | None = None, topic_arn: str | None = None,
                         limit: int = 1000) -> list[Delivery]:
        if message_id is not None:
            records = await self._deliveries.by_message(message_id, limit)
        elif topic_arn is not None:
            records = await self._deliveries.recent_by_source(topic_arn, limit)
        else:
            records = await self._deliveries.recent_of_pipe(PIPE, limit)
        return [d for d in records if d.pipe == PIPE]

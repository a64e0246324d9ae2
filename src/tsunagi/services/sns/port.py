"""SNS's port: what the rest of tsunagi may ask of SNS (:class:`tsunagi.ports.sns.SnsPort`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tsunagi.context import RequestContext
from tsunagi.ports.sns import MailMessage, TopicRef
from tsunagi.ports.sqs import MessageAttributeValue
from tsunagi.store.deliveries import Delivery

if TYPE_CHECKING:
    from tsunagi.services.sns.service import SnsService


class SnsPortImpl:
    def __init__(self, service: SnsService) -> None:
        self._svc = service

    async def topic(self, arn: str) -> TopicRef | None:
        topic, _subs = await self._svc._topic_entry(arn)
        return topic

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
        out = await self._svc.publish(ctx, params)
        return str(out["MessageId"])

    async def certificate(self, key_id: str) -> str | None:
        return await self._svc.repo.certificate(key_id)

    async def mailbox(self, recipient: str | None, after_id: int, limit: int) -> list[MailMessage]:
        return [MailMessage._make(r) for r in await self._svc.repo.mail(recipient, after_id, limit)]

    async def deliveries(self, *, message_id: str | None = None, topic_arn: str | None = None,
                         limit: int = 1000) -> list[Delivery]:
        rows = await self._svc.repo.deliveries(message_id=message_id, topic_arn=topic_arn, limit=limit)
        out = []
        for message, topic, sub, protocol, outcome, reason, at in rows:
            parts = str(topic).split(":")
            account, region = (parts[4], parts[3]) if len(parts) > 5 else ("", "")
            out.append(Delivery("", int(at), account, region, "sns", topic, message, sub, protocol, outcome, reason))
        return out

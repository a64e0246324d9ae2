"""Topics: CreateTopic, DeleteTopic, ListTopics, the attributes, the data protection policy, tags and
the permissions (AddPermission, RemovePermission: statements of the topic's policy)."""

from __future__ import annotations

from typing import Any

import orjson

from tsunagi.clock import Clock
from tsunagi.context import RequestContext
from tsunagi.ports.sns import DEFAULT_RETRY
from tsunagi.services.sns import attributes as tattrs
from tsunagi.services.sns.attributes import Topic
from tsunagi.services.sns.catalog import PAGE, TOPIC_ARN, Catalog, check_topic_arn, page_after, page_token
from tsunagi.services.sns.errors import ResourceNotFound, TagLimitExceeded, invalid
from tsunagi.store.sns import NewTopic, SnsRepo

MAX_TAGS = 50


def tag_map(tags: Any) -> dict[str, str]:
    """A Tags list (``[{"Key", "Value"}]``) as a dict, or AWS's error."""
    out: dict[str, str] = {}
    keys = [tag.get("Key") for tag in tags or []]
    if len(set(keys)) < len(keys):
        raise invalid("Duplicated keys are not allowed.")
    for tag in tags or []:
        key = tag.get("Key")
        value = tag.get("Value")
        if key is None or value is None:
            raise invalid("Tags")
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise invalid("Tags")
        out[key] = value
    if len(out) > MAX_TAGS:
        raise TagLimitExceeded("Could not complete request: tag quota of per resource exceeded")
    return out


def effective_topic_delivery(topic: Topic) -> dict[str, Any]:
    """The EffectiveDeliveryPolicy GetTopicAttributes shows: the topic's own over AWS's defaults."""
    own = topic.attributes.get("DeliveryPolicy")
    if not own:
        return tattrs.DEFAULT_EFFECTIVE_DELIVERY
    doc = orjson.loads(own)
    http = {**tattrs.DEFAULT_EFFECTIVE_DELIVERY["http"], **(doc.get("http") or {})}
    http["defaultHealthyRetryPolicy"] = {**DEFAULT_RETRY, **(http.get("defaultHealthyRetryPolicy") or {})}
    return {**doc, "http": http}


# The actions a topic's policy may grant (the ones AddPermission accepts), as in the default policy.
TOPIC_POLICY_ACTIONS = frozenset({"GetTopicAttributes", "SetTopicAttributes", "AddPermission", "RemovePermission",
                                  "DeleteTopic", "Subscribe", "ListSubscriptionsByTopic", "Publish"})


class Topics:
    def __init__(self, repo: SnsRepo, catalog: Catalog, clock: Clock) -> None:
        self.repo = repo
        self.catalog = catalog
        self.clock = clock

    async def create_topic(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("Name") or ""
        given = dict(params.get("Attributes") or {})
        fifo_attr = str(given.get("FifoTopic", "false")).lower() == "true"
        if fifo_attr or name.endswith(".fifo"):
            if not fifo_attr:
                raise invalid("Topic Name")
            if not tattrs.FIFO_TOPIC_NAME.match(name):
                raise invalid("Fifo Topic names must end with .fifo and must be made up of only uppercase and "
                              "lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 "
                              "and 256 characters long.")
        elif not tattrs.TOPIC_NAME.match(name):
            raise invalid("Topic Name")
        fifo = fifo_attr
        stored: dict[str, str] = {}
        for key, value in given.items():
            stored[key] = tattrs.check_topic_attribute(key, value, fifo, creating=True)
        if params.get("DataProtectionPolicy"):
            stored["DataProtectionPolicy"] = str(params["DataProtectionPolicy"])
        stored.pop("FifoTopic", None)
        tags = tag_map(params.get("Tags"))
        arn = f"arn:aws:sns:{ctx.region}:{ctx.account}:{name}"
        stored.setdefault("Policy", tattrs.default_policy(arn, ctx.account))
        stored.setdefault("DisplayName", "")
        if fifo:
            stored.setdefault("ContentBasedDeduplication", "false")
        created = await self.repo.create_topic(NewTopic(ctx.account, ctx.region, name, arn, fifo,
                                                        orjson.dumps(stored).decode(), orjson.dumps(tags).decode(),
                                                        self.clock.now_ms()))
        if not created:
            existing = await self.catalog.fresh_topic(arn)
            for key in given:
                if key == "FifoTopic":
                    continue
                if existing.attributes.get(key, "") != stored.get(key):
                    raise invalid("Attributes Reason: Topic already exists with different attributes")
            if tags and any(existing.tags.get(k) != v for k, v in tags.items()):
                raise invalid("Tags Reason: Topic already exists with different tags")
        return {"TopicArn": arn}

    async def delete_topic(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = check_topic_arn(str(params.get("TopicArn") or ""))
        await self.repo.delete_topic(arn)
        self.catalog.forget(arn)
        return {}

    async def list_topics(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        after = page_after(params.get("NextToken"))
        arns = await self.repo.list_topics(ctx.account, ctx.region, after, PAGE + 1)
        out: dict[str, Any] = {"Topics": [{"TopicArn": arn} for arn in arns[:PAGE]]}
        if len(arns) > PAGE:
            out["NextToken"] = page_token(arns[PAGE - 1])
        return out

    async def get_topic_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self.catalog.fresh_topic(params.get("TopicArn"))
        counts = await self.repo.count_subscriptions(topic.arn)
        attrs: dict[str, str] = {
            "Policy": topic.attributes.get("Policy", ""),
            "Owner": topic.account,
            "SubscriptionsPending": str(counts.pending),
            "TopicArn": topic.arn,
            "EffectiveDeliveryPolicy": orjson.dumps(effective_topic_delivery(topic)).decode(),
            "SubscriptionsConfirmed": str(counts.confirmed),
            "DisplayName": topic.attributes.get("DisplayName", ""),
            "SubscriptionsDeleted": "0",
        }
        for key, value in topic.attributes.items():
            if key not in attrs and key != "DataProtectionPolicy":
                attrs[key] = value
        if topic.fifo:
            attrs["FifoTopic"] = "true"
            attrs.setdefault("ContentBasedDeduplication", "false")
        return {"Attributes": attrs}

    async def set_topic_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self.catalog.fresh_topic(params.get("TopicArn"))
        name = params.get("AttributeName") or ""
        value = tattrs.check_topic_attribute(name, params.get("AttributeValue"), topic.fifo, creating=False)
        attrs = dict(topic.attributes)
        if name == "Policy" and not value:
            value = tattrs.default_policy(topic.arn, topic.account)
        attrs[name] = value
        await self._set_attributes(topic, attrs)
        return {}

    async def _set_attributes(self, topic: Topic, attrs: dict[str, str]) -> None:
        await self.repo.update_topic(topic.arn, attributes=orjson.dumps(attrs).decode())
        self.catalog.forget(topic.arn)

    # -- the data protection policy ---------------------------------------------------------------
    async def get_data_protection_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self.catalog.fresh_topic(params.get("ResourceArn"))
        policy = topic.attributes.get("DataProtectionPolicy")
        return {"DataProtectionPolicy": policy} if policy else {}

    async def put_data_protection_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self.catalog.fresh_topic(params.get("ResourceArn"))
        attrs = dict(topic.attributes)
        attrs["DataProtectionPolicy"] = str(params.get("DataProtectionPolicy") or "")
        await self._set_attributes(topic, attrs)
        return {}

    # -- tags -------------------------------------------------------------------------------------
    async def _tagged(self, arn: Any) -> Topic:
        """The topic a tagging call names; ResourceNotFound for anything else."""
        if not isinstance(arn, str) or not TOPIC_ARN.match(arn):
            raise ResourceNotFound("Resource does not exist")
        row = await self.repo.topic(arn)
        if row is None:
            raise ResourceNotFound("Resource does not exist")
        return Topic.from_row(row)

    async def tag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self._tagged(params.get("ResourceArn"))
        tags = dict(topic.tags)
        tags.update(tag_map(params.get("Tags")))
        if len(tags) > MAX_TAGS:
            raise TagLimitExceeded("Could not complete request: tag quota of per resource exceeded")
        await self.repo.update_topic(topic.arn, tags=orjson.dumps(tags).decode())
        return {}

    async def untag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self._tagged(params.get("ResourceArn"))
        tags = dict(topic.tags)
        for key in params.get("TagKeys") or []:
            tags.pop(key, None)
        await self.repo.update_topic(topic.arn, tags=orjson.dumps(tags).decode())
        return {}

    async def list_tags_for_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self._tagged(params.get("ResourceArn"))
        return {"Tags": [{"Key": k, "Value": v} for k, v in topic.tags.items()]}

    # -- permissions: statements of the topic's policy ----------------------------------------------
    async def add_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self.catalog.fresh_topic(params.get("TopicArn"))
        label = params.get("Label") or ""
        accounts = list(params.get("AWSAccountId") or [])
        actions = list(params.get("ActionName") or [])
        if not accounts or not actions:
            raise invalid("AWSAccountId" if not accounts else "ActionName")
        policy = orjson.loads(topic.attributes.get("Policy") or tattrs.default_policy(topic.arn, topic.account))
        statements = policy.setdefault("Statement", [])
        if isinstance(statements, dict):
            statements = policy["Statement"] = [statements]
        if any(s.get("Sid") == label for s in statements):
            raise invalid("Statement already exists")
        if any(a not in TOPIC_POLICY_ACTIONS for a in actions):
            raise invalid("Policy statement action out of service scope!")
        principals = [f"arn:aws:iam::{a}:root" for a in accounts]
        sns_actions = [f"SNS:{a}" for a in actions]
        statements.append({"Sid": label, "Effect": "Allow",
                           "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                           "Action": sns_actions[0] if len(sns_actions) == 1 else sns_actions,
                           "Resource": topic.arn})
        attrs = dict(topic.attributes)
        attrs["Policy"] = orjson.dumps(policy).decode()
        await self.repo.update_topic(topic.arn, attributes=orjson.dumps(attrs).decode())
        return {}

    async def remove_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = await self.catalog.fresh_topic(params.get("TopicArn"))
        label = params.get("Label") or ""
        policy = orjson.loads(topic.attributes.get("Policy") or "{}")
        statements = policy.get("Statement") or []
        if isinstance(statements, dict):
            statements = [statements]
        policy["Statement"] = [s for s in statements if s.get("Sid") != label]
        attrs = dict(topic.attributes)
        attrs["Policy"] = orjson.dumps(policy).decode()
        await self.repo.update_topic(topic.arn, attributes=orjson.dumps(attrs).decode())
        return {}

"""SQS's old ``query`` wire form, as data.

botocore ships SQS only as ``json`` now, but older SDKs, curl and API Gateway's AWS
integration still speak ``Action=SendMessage&MessageBody=...`` to SQS. The json model keeps
``flattened`` on the right shapes but dropped the XML/query names, so this module puts them
back (from the 2012-11-05 query model and the SQS API reference) and builds a botocore
``ServiceModel`` with ``protocol: query`` that the generic query parser and serializer use.

The patched model is only used for the wire form: parsers still return the json model's
``OperationModel`` (same operation and member names).
"""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Any

from tsunagi.protocol import specs
from tsunagi.protocol.model import ServiceModel

XML_NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")

# list shape -> its member's name on the wire (``AttributeName.1``, ``<Message>`` ...)
LIST_MEMBER_NAMES = {
    "AWSAccountIdList": "AWSAccountId",
    "ActionNameList": "ActionName",
    "AttributeNameList": "AttributeName",
    "BatchResultErrorEntryList": "BatchResultErrorEntry",
    "BinaryList": "BinaryListValue",
    "StringList": "StringListValue",
    "ChangeMessageVisibilityBatchRequestEntryList": "ChangeMessageVisibilityBatchRequestEntry",
    "ChangeMessageVisibilityBatchResultEntryList": "ChangeMessageVisibilityBatchResultEntry",
    "DeleteMessageBatchRequestEntryList": "DeleteMessageBatchRequestEntry",
    "DeleteMessageBatchResultEntryList": "DeleteMessageBatchResultEntry",
    "ListMessageMoveTasksResultEntryList": "ListMessageMoveTasksResultEntry",
    "MessageAttributeNameList": "MessageAttributeName",
    "MessageList": "Message",
    "MessageSystemAttributeList": "MessageSystemAttributeName",
    "QueueUrlList": "QueueUrl",
    "SendMessageBatchRequestEntryList": "SendMessageBatchRequestEntry",
    "SendMessageBatchResultEntryList": "SendMessageBatchResultEntry",
    "TagKeyList": "TagKey",
}

# map shape -> (key name, value name)
MAP_ENTRY_NAMES = {
    "MessageBodyAttributeMap": ("Name", "Value"),
    "MessageBodySystemAttributeMap": ("Name", "Value"),
    "MessageSystemAttributeMap": ("Name", "Value"),
    "QueueAttributeMap": ("Name", "Value"),
    "TagMap": ("Key", "Value"),
}

# (structure, member) -> the member's name on the wire
MEMBER_NAMES = {
    ("CreateQueueRequest", "Attributes"): "Attribute",
    ("CreateQueueRequest", "tags"): "Tag",
    ("SetQueueAttributesRequest", "Attributes"): "Attribute",
    ("GetQueueAttributesResult", "Attributes"): "Attribute",
    ("ListQueueTagsResult", "Tags"): "Tag",
    ("TagQueueRequest", "Tags"): "Tag",
    ("Message", "Attributes"): "Attribute",
    ("Message", "MessageAttributes"): "MessageAttribute",
    ("SendMessageRequest", "MessageAttributes"): "MessageAttribute",
    ("SendMessageRequest", "MessageSystemAttributes"): "MessageSystemAttribute",
    ("SendMessageBatchRequestEntry", "MessageAttributes"): "MessageAttribute",
    ("SendMessageBatchRequestEntry", "MessageSystemAttributes"): "MessageSystemAttribute",
    ("MessageAttributeValue", "StringListValues"): "StringListValue",
    ("MessageAttributeValue", "BinaryListValues"): "BinaryListValue",
    ("MessageSystemAttributeValue", "StringListValues"): "StringListValue",
    ("MessageSystemAttributeValue", "BinaryListValues"): "BinaryListValue",
}


def patch_description(description: dict[str, Any]) -> dict[str, Any]:
    """A copy of SQS's json model description turned into its query form."""
    d = copy.deepcopy(description)
    meta = d["metadata"]
    meta["protocol"] = "query"
    meta["protocols"] = ["query"]
    meta["xmlNamespace"] = XML_NAMESPACE
    for key in ("jsonVersion", "targetPrefix", "awsQueryCompatible"):
        meta.pop(key, None)
    shapes = d["shapes"]
    for name, member_name in LIST_MEMBER_NAMES.items():
        if name in shapes:
            shapes[name]["member"]["locationName"] = member_name
            shapes[name]["flattened"] = True
    for name, (k, v) in MAP_ENTRY_NAMES.items():
        if name in shapes:
            shapes[name]["key"]["locationName"] = k
            shapes[name]["value"]["locationName"] = v
            shapes[name]["flattened"] = True
    for (struct, member), wire in MEMBER_NAMES.items():
        if struct in shapes and member in shapes[struct].get("members", {}):
            shapes[struct]["members"][member]["locationName"] = wire
    for name, op in d["operations"].items():
        if "output" in op:
            op["output"].setdefault("resultWrapper", f"{name}Result")
    return d


@cache
def query_model() -> ServiceModel:
    """SQS's model in its query form (cached)."""
    base = specs.description("sqs")
    return ServiceModel(patch_description(base), service_name="sqs")


def queue_url_from_request(host: str, path: str, scheme: str = "http") -> str | None:
    """The queue URL a query request was posted to (``/<account>/<name>``), if any."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if len(parts) >= 2 and parts[-2].isdigit():
        if len(parts) >= 3 and _REGION.match(parts[-3]):      # a queue outside the default region
            return f"{scheme}://{host}/{parts[-3]}/{parts[-2]}/{parts[-1]}"
        return f"{scheme}://{host}/{parts[-2]}/{parts[-1]}"
    return None

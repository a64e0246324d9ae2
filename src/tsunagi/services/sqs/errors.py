"""SQS's errors: the modeled code (json protocol) and the legacy code (query protocol and the
``x-amzn-query-error`` header), with AWS's HTTP status."""

from __future__ import annotations

from typing import Any

from tsunagi.protocol.errors import ServiceError, error_class

InvalidParameterValue = error_class("InvalidParameterValue")
MissingParameter = error_class("MissingParameter")
InvalidAttributeName = error_class("InvalidAttributeName")
InvalidAttributeValue = error_class("InvalidAttributeValue")
QueueDoesNotExist = error_class("QueueDoesNotExist", query_code="AWS.SimpleQueueService.NonExistentQueue")
QueueNameExists = error_class("QueueNameExists", query_code="QueueAlreadyExists")
QueueDeletedRecently = error_class("QueueDeletedRecently",
                                   query_code="AWS.SimpleQueueService.QueueDeletedRecently")
PurgeQueueInProgress = error_class("PurgeQueueInProgress", status=403,
                                   query_code="AWS.SimpleQueueService.PurgeQueueInProgress")
ReceiptHandleIsInvalid = error_class("ReceiptHandleIsInvalid", query_code="ReceiptHandleIsInvalid")
MessageNotInflight = error_class("MessageNotInflight", query_code="AWS.SimpleQueueService.MessageNotInflight")
InvalidMessageContents = error_class("InvalidMessageContents")
EmptyBatchRequest = error_class("EmptyBatchRequest", query_code="AWS.SimpleQueueService.EmptyBatchRequest")
TooManyEntriesInBatchRequest = error_class(
    "TooManyEntriesInBatchRequest", query_code="AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
BatchEntryIdsNotDistinct = error_class("BatchEntryIdsNotDistinct",
                                       query_code="AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
InvalidBatchEntryId = error_class("InvalidBatchEntryId", query_code="AWS.SimpleQueueService.InvalidBatchEntryId")
BatchRequestTooLong = error_class("BatchRequestTooLong", query_code="AWS.SimpleQueueService.BatchRequestTooLong")
OverLimit = error_class("OverLimit", status=403, query_code="OverLimit")
UnsupportedOperation = error_class("UnsupportedOperation",
                                   query_code="AWS.SimpleQueueService.UnsupportedOperation")
ResourceNotFoundException = error_class("ResourceNotFoundException", status=404,
                                        query_code="ResourceNotFoundException")
InvalidAddress = error_class("InvalidAddress", status=404, query_code="InvalidAddress")


def queue_does_not_exist() -> ServiceError:
    return QueueDoesNotExist("The specified queue does not exist.")


def invalid_value(value: object, parameter: str, reason: str) -> ServiceError:
    """AWS's usual wording: ``Value X for parameter P is invalid. Reason: R``."""
    return InvalidParameterValue(f"Value {value} for parameter {parameter} is invalid. Reason: {reason}")


def missing(parameter: str) -> ServiceError:
    return MissingParameter(f"The request must contain the parameter {parameter}.")


def int_param(params: dict[str, Any], name: str, lo: int, hi: int, reason: str) -> int | None:
    """An optional integer parameter in ``[lo, hi]``, or InvalidParameterValue with ``reason``."""
    value = params.get(name)
    if value is None:
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise invalid_value(value, name, reason) from None
    if not lo <= n <= hi:
        raise invalid_value(value, name, reason)
    return n

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

# KMS failures while encrypting or decrypting a queue's messages (SSE-KMS), in SQS's own form.
KmsAccessDenied = error_class("KmsAccessDenied", query_code="KMS.AccessDeniedException")
KmsDisabled = error_class("KmsDisabled", query_code="KMS.DisabledException")
KmsInvalidKeyUsage = error_class("KmsInvalidKeyUsage", query_code="KMS.InvalidKeyUsageException")
KmsInvalidState = error_class("KmsInvalidState", query_code="KMS.InvalidStateException")
KmsNotFound = error_class("KmsNotFound", query_code="KMS.NotFoundException")
KmsOptInRequired = error_class("KmsOptInRequired", status=403, query_code="KMS.OptInRequired")
KmsThrottled = error_class("KmsThrottled", sender_fault=False, query_code="KMS.ThrottlingException")

_FROM_KMS = {
    "AccessDeniedException": KmsAccessDenied,
    "DisabledException": KmsDisabled,
    "InvalidKeyUsageException": KmsInvalidKeyUsage,
    "IncorrectKeyException": KmsInvalidKeyUsage,
    "KMSInvalidStateException": KmsInvalidState,
    "NotFoundException": KmsNotFound,
    "KMSOptInRequired": KmsOptInRequired,
    "ThrottlingException": KmsThrottled,
    "KMSThrottlingException": KmsThrottled,
    "InvalidCiphertextException": KmsAccessDenied,
}


def queue_does_not_exist() -> ServiceError:
    return QueueDoesNotExist("The specified queue does not exist.",
                             query_message="The specified queue does not exist for this wsdl version.")


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


def from_kms(code: str, message: str) -> ServiceError:
    """A KMS error (its code and message) as SQS reports it: ``KMS.DisabledException`` for a disabled
    key, and so on; a KMS failure SQS has no code for is ``KmsInvalidState``."""
    return _FROM_KMS.get(code, KmsInvalidState)(f"{message} (Service: AWSKMS; Status Code: 400; Error Code: "
                                                f"{code})")

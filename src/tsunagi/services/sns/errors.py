"""SNS's errors, with AWS's codes, statuses and wording."""

from __future__ import annotations

from tsunagi.protocol.errors import ServiceError, error_class

InvalidParameter = error_class("InvalidParameter")
InvalidParameterValue = error_class("ParameterValueInvalid", query_code="ParameterValueInvalid")
NotFound = error_class("NotFound", status=404)
AuthorizationError = error_class("AuthorizationError", status=403)
InvalidSecurity = error_class("InvalidSecurity", status=403)
FilterPolicyLimitExceeded = error_class("FilterPolicyLimitExceeded", status=403)
SubscriptionLimitExceeded = error_class("SubscriptionLimitExceeded", status=403)
TopicLimitExceeded = error_class("TopicLimitExceeded", status=403)
TagLimitExceeded = error_class("TagLimitExceeded")
TagPolicy = error_class("TagPolicy")
ResourceNotFound = error_class("ResourceNotFound", status=404)
ConcurrentAccess = error_class("ConcurrentAccess")
EmptyBatchRequest = error_class("EmptyBatchRequest")
TooManyEntriesInBatchRequest = error_class("TooManyEntriesInBatchRequest")
BatchEntryIdsNotDistinct = error_class("BatchEntryIdsNotDistinct")
InvalidBatchEntryId = error_class("InvalidBatchEntryId")
BatchRequestTooLong = error_class("BatchRequestTooLong")
EndpointDisabled = error_class("EndpointDisabled")
PlatformApplicationDisabled = error_class("PlatformApplicationDisabled")
OptedOut = error_class("OptedOut")
UserError = error_class("UserError")
VerificationException = error_class("VerificationException")
ValidationException = error_class("ValidationException")
KMSNotFound = error_class("KMSNotFound")
# KMS failures while sealing or opening an encrypted topic's messages, in SNS's own form.
KMSAccessDenied = error_class("KMSAccessDenied")
KMSDisabled = error_class("KMSDisabled")
KMSInvalidState = error_class("KMSInvalidState")
KMSOptInRequired = error_class("KMSOptInRequired", status=403)
KMSThrottling = error_class("KMSThrottling", sender_fault=False)

_FROM_KMS = {
    "AccessDeniedException": KMSAccessDenied,
    "DisabledException": KMSDisabled,
    "KMSInvalidStateException": KMSInvalidState,
    "NotFoundException": KMSNotFound,
    "KMSOptInRequired": KMSOptInRequired,
    "ThrottlingException": KMSThrottling,
    "KMSThrottlingException": KMSThrottling,
    "InvalidCiphertextException": KMSAccessDenied,
    "IncorrectKeyException": KMSInvalidState,
    "InvalidKeyUsageException": KMSInvalidState,
}


def from_kms(code: str, message: str) -> ServiceError:
    """A KMS error (its code and message) as SNS reports it: ``KMSDisabled`` for a disabled key, and so
    on (botocore's ``KMSDisabledException``...); a KMS failure SNS has no code for is ``KMSInvalidState``."""
    return _FROM_KMS.get(code, KMSInvalidState)(f"{message} (Service: AWSKMS; Status Code: 400; Error Code: "
                                                f"{code})")


def invalid(message: str) -> ServiceError:
    """``InvalidParameter`` with AWS's ``Invalid parameter: …`` prefix."""
    return InvalidParameter(f"Invalid parameter: {message}")


def topic_not_found() -> ServiceError:
    return NotFound("Topic does not exist")


def subscription_not_found() -> ServiceError:
    return NotFound("Subscription does not exist")

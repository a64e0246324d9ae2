"""Lambda's errors, with the HTTP statuses of its service model."""

from __future__ import annotations

from tsunagi.protocol.errors import error_class

ResourceNotFound = error_class("ResourceNotFoundException", 404)
ResourceConflict = error_class("ResourceConflictException", 409)
InvalidParameterValue = error_class("InvalidParameterValueException", 400)
InvalidRequestContent = error_class("InvalidRequestContentException", 400)
TooManyRequests = error_class("TooManyRequestsException", 429)
CodeStorageExceeded = error_class("CodeStorageExceededException", 400)
RequestTooLarge = error_class("RequestTooLargeException", 413)
PreconditionFailed = error_class("PreconditionFailedException", 412)
Validation = error_class("ValidationException", 400)
ServiceFault = error_class("ServiceException", 500, sender_fault=False)
ResourceNotReady = error_class("ResourceNotReadyException", 502, sender_fault=False)


def throttled(reason: str, message: str = "Rate Exceeded.") -> Exception:
    return TooManyRequests(message, Reason=reason, Type="User")


def not_found_function(arn: str) -> Exception:
    return ResourceNotFound(f"Function not found: {arn}", Type="User")


def pattern_error(value: str, member: str, pattern: str) -> Exception:
    return Validation(f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
                      f"Member must satisfy regular expression pattern: {pattern}")

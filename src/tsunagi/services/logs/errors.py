"""The errors CloudWatch Logs returns, with its exact codes."""

from __future__ import annotations

from tsunagi.protocol.errors import error_class

ResourceNotFound = error_class("ResourceNotFoundException")
ResourceAlreadyExists = error_class("ResourceAlreadyExistsException")
InvalidParameter = error_class("InvalidParameterException")
OperationAborted = error_class("OperationAbortedException")
TooManyTags = error_class("TooManyTagsException")
LogsValidation = error_class("ValidationException")
LimitExceeded = error_class("LimitExceededException")
InvalidOperation = error_class("InvalidOperationException")

NO_GROUP = "The specified log group does not exist."
NO_STREAM = "The specified log stream does not exist."
NO_RESOURCE = "The specified resource does not exist."
GROUP_EXISTS = "The specified log group already exists"
STREAM_EXISTS = "The specified log stream already exists"
BAD_TOKEN = "The specified nextToken is invalid."


def constraint(value: object, member: str, rule: str) -> InvalidParameter:  # type: ignore[valid-type]
    """AWS's wording for a value that breaks a model constraint."""
    return InvalidParameter(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}")

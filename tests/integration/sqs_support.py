"""Helpers for the SQS integration tests."""

from __future__ import annotations

import uuid

import pytest

# AWS's error codes, as both protocols report them in Error.Code (the JSON protocol carries the
# query-era code in the x-amzn-query-error header, which botocore surfaces as Error.Code).
CODES = {
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "QueueNameExists": "QueueAlreadyExists",
    "QueueDeletedRecently": "AWS.SimpleQueueService.QueueDeletedRecently",
    "PurgeQueueInProgress": "AWS.SimpleQueueService.PurgeQueueInProgress",
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
    "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
    "ReceiptHandleIsInvalid": "ReceiptHandleIsInvalid",
    "InvalidAttributeName": "InvalidAttributeName",
    "InvalidAttributeValue": "InvalidAttributeValue",
    "InvalidMessageContents": "InvalidMessageContents",
    "InvalidParameterValue": "InvalidParameterValue",
    "MissingParameter": "MissingParameter",
    "OverLimit": "OverLimit",
    "ResourceNotFoundException": "ResourceNotFoundException",
}


def code(excinfo: pytest.ExceptionInfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def expect(excinfo: pytest.ExceptionInfo, shape: str) -> None:
    """The error is AWS's ``shape`` error, with a message a user can act on."""
    err = excinfo.value.response["Error"]
    assert err["Code"] == CODES[shape], err
    assert err.get("Message"), f"{shape} without a message"


def name(prefix: str = "q", fifo: bool = False) -> str:
    n = f"{prefix}-{uuid.uuid4().hex[:12]}"
    return n + ".fifo" if fifo else n

"""Typed errors that carry AWS's exact code, HTTP status and message.

Services raise :class:`ServiceError` (or a subclass); the protocol layer turns it into the
wire form of the service's protocol. Nothing here knows about HTTP frameworks.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An error AWS would return: ``code`` is the error code (e.g. ``QueueDoesNotExist``).

    ``query_code`` is the code the query protocol (and the ``x-amzn-query-error`` header)
    uses when it differs (SQS: ``AWS.SimpleQueueService.NonExistentQueue``).
    ``fields`` are extra members of the error shape (e.g. S3's ``BucketName``).
    ``output`` are members of the operation's *output* that the error answer carries too, by their
    output-shape names (S3's GetObject on a delete marker: ``DeleteMarker``, ``VersionId``,
    ``LastModified``); the protocol puts them where the output shape says (S3: headers).
    ``headers`` are for the gateway's own answers only (``Connection: close``); services use ``output``.
    ``query_message`` is the message the query protocol carries when AWS words it differently there
    (SQS: ``The specified queue does not exist for this wsdl version.``).
    """

    code: str = "InternalFailure"
    status: int = 400
    sender_fault: bool = True

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        status: int | None = None,
        sender_fault: bool | None = None,
        query_code: str | None = None,
        query_message: str | None = None,
        headers: dict[str, str] | None = None,
        output: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if sender_fault is not None:
            self.sender_fault = sender_fault
        self.query_code = query_code or self.code
        self._query_message = query_message
        self.headers = headers or {}
        self.output = output or {}
        self.fields = fields

    @property
    def query_message(self) -> str:
        custom = getattr(self, "_query_message", None)
        return self.message if custom is None else custom

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


def error_class(code: str, status: int = 400, sender_fault: bool = True, query_code: str | None = None):
    """Build a ServiceError subclass for one AWS error code."""

    def __init__(self, message: str = "", **kw: Any) -> None:
        kw.setdefault("query_code", query_code)
        ServiceError.__init__(self, message, **kw)

    return type(code, (ServiceError,), {"code": code, "status": status, "sender_fault": sender_fault,
                                        "__init__": __init__})


# Errors common to every service (AWS's "common errors").
InvalidAction = error_class("InvalidAction")
MissingParameter = error_class("MissingParameter")
InvalidParameterValue = error_class("InvalidParameterValue")
InvalidParameterCombination = error_class("InvalidParameterCombination")
ValidationError = error_class("ValidationError")
ValidationException = error_class("ValidationException")
SerializationException = error_class("SerializationException")
UnknownOperationException = error_class("UnknownOperationException")
InvalidQueryParameter = error_class("InvalidQueryParameter")
RequestEntityTooLarge = error_class("RequestEntityTooLarge", status=413)
AccessDenied = error_class("AccessDenied", status=403)
InternalFailure = error_class("InternalFailure", status=500, sender_fault=False)
ServiceUnavailable = error_class("ServiceUnavailable", status=503, sender_fault=False)
NotImplementedOperation = error_class("NotImplemented", status=501, sender_fault=False)

"""The errors CloudWatch returns. The JSON and CBOR protocols name the error shape (``…Exception``);
the query protocol and the ``x-amzn-query-error`` header carry the code AWS's SDKs show."""

from __future__ import annotations

from tsunagi.protocol.errors import error_class

InvalidParameterValue = error_class("InvalidParameterValueException", query_code="InvalidParameterValue")
InvalidParameterCombination = error_class("InvalidParameterCombinationException",
                                          query_code="InvalidParameterCombination")
MissingParameter = error_class("MissingRequiredParameterException", query_code="MissingParameter")
InvalidNextToken = error_class("InvalidNextToken")
InvalidFormat = error_class("InvalidFormatFault", query_code="InvalidFormat")
ResourceNotFound = error_class("ResourceNotFound", status=404)
ResourceNotFoundException = error_class("ResourceNotFoundException", status=404)
LimitExceeded = error_class("LimitExceededFault", query_code="LimitExceeded")
ValidationError = error_class("ValidationError")

"""Check parsed params against an operation's input shape, the way AWS does.

``validate(operation_model, params)`` raises the error the service itself would return.
Parsers call it after parsing; it is also usable alone.

What is checked depends on the *style*, because AWS services differ:

- ``"json"`` (json / rest-json services such as Lambda, Logs, KMS, ECS): required members,
  basic types, and the model's ``min``/``max`` (lengths and ranges) and ``enum``; all problems
  are reported together as ``ValidationException``: ``"2 validation errors detected: Value null
  at 'functionName' failed to satisfy constraint: Member must not be null; ..."``.
- ``"query"`` (SNS, CloudFormation): required members only, as ``ValidationError`` with the same
  message form. IAM and STS check every constraint of their model, ``pattern`` included
  (:data:`CHECKS_PATTERNS`), and say so in that form (``Value 'a b' at 'userName' failed to satisfy
  constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+``).
- ``"sqs"`` (SQS over either protocol): SQS does its own value checks (``InvalidParameterValue``
  in the service), so only required members, reported as ``MissingParameter`` /
  ``"The request must contain the parameter QueueUrl."``.
- ``"rest-xml"`` (S3): required members only, reported as ``InvalidRequest``.

``constraints=True/False`` overrides whether ``min``/``max``/``enum`` are enforced.

The checks for each operation are compiled into nested closures on first use and cached, so
a request costs a dict lookup per member and no walking of botocore objects.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tsunagi.protocol.errors import (
    MissingParameter,
    SerializationException,
    ServiceError,
    ValidationError,
    ValidationException,
    error_class,
)
from tsunagi.protocol.model import OperationModel, ServiceModel, Shape
from tsunagi.protocol.shapes import lower_first
from tsunagi.streams import StreamingBody

InvalidRequest = error_class("InvalidRequest")
MalformedXML = error_class("MalformedXML")
InvalidParameterException = error_class("InvalidParameterException")

# json services that answer a constraint violation with another code than ValidationException
# (CloudWatch Logs: "1 validation error detected: …" as InvalidParameterException), except in their
# operations whose model lists ValidationException and not that code (Logs' vended-log deliveries).
VALIDATION_CODES: dict[str, type[ServiceError]] = {"logs": InvalidParameterException}

# Services whose every model pattern is checked too (query services IAM and STS; CloudWatch Logs).
CHECKS_PATTERNS = frozenset({"iam", "sts", "logs"})
# Services that report constraint violations as ``ValidationError`` whatever protocol the request spoke
# (their JSON protocol is query-compatible), checking lengths, ranges and enums.
QUERY_STYLE = frozenset({"cloudwatch"})


def _pattern(java: str) -> re.Pattern[str]:
    """A model's (Java) pattern as a Python one, matched whole. ``\\w`` is ASCII in Java; the Unicode
    classes IAM's tag patterns use (letters, separators, numbers) become ``\\w``/``\\s`` in Unicode mode. A
    ``-`` right after ``\\w`` in a class is a literal in Java (``[\\w-_]``), a bad range in Python."""
    java = java.replace("\\w-_", "\\w\\-_")
    if "\\p{" in java:
        return re.compile(java.replace("\\p{L}\\p{Z}\\p{N}", "\\w\\s"))
    return re.compile(java, re.ASCII)

Problems = list[str]
Check = Callable[[Any, str, Problems], None]

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (float, int),
    "double": (float, int),
    "boolean": (bool,),
    "blob": (bytes, bytearray, str, StreamingBody),
    "timestamp": (datetime,),
    "structure": (dict,),
    "list": (list, tuple),
    "map": (dict,),
}


class _TypeProblem(Exception):
    pass


def style_for(service_model: ServiceModel, protocol: str) -> str:
    if service_model.service_name == "sqs":
        return "sqs"
    if protocol == "query" or service_model.service_name in QUERY_STYLE:
        return "query"
    if protocol == "rest-xml":
        return "rest-xml"
    return "json"


class Validator:
    """Compiled validators for one service model and style."""

    def __init__(self, style: str, constraints: bool | None = None, patterns: bool = False,
                 error: type[ServiceError] = ValidationException) -> None:
        self.style = style
        self.error = error
        self.constraints = (style == "json" or patterns) if constraints is None else constraints
        self.patterns = patterns and self.constraints
        self._by_op: dict[str, Callable[[dict], None]] = {}
        self._shape_checks: dict[tuple, Check] = {}
        self._plain_types: dict[tuple, tuple[type, ...]] = {}   # scalar shapes checked by their type alone

    def __call__(self, operation_model: OperationModel, params: dict) -> None:
        fn = self._by_op.get(operation_model.name)
        if fn is None:
            fn = self._by_op[operation_model.name] = self._compile_operation(operation_model)
        fn(params)

    # -- compilation ------------------------------------------------------------------------------

    def _compile_operation(self, operation_model: OperationModel) -> Callable[[dict], None]:
        shape = operation_model.input_shape
        if shape is None:
            return lambda params: None
        if self.style == "sqs":
            return self._compile_first_missing(shape)
        check = self._check_for(shape)
        style = self.style
        error = self.error
        codes = {e.name for e in operation_model.error_shapes}
        if error is not ValidationException and "ValidationException" in codes and error.code not in codes:
            error = ValidationException      # a newer operation of the service that models ValidationException
        payload = shape.serialization.get("payload")
        # S3 checks an XML body against its schema: a required element missing inside it is MalformedXML
        in_body = f"'{lower_first(payload)}." if payload and style == "rest-xml" else None

        def run(params: dict) -> None:
            problems: Problems = []
            try:
                check(params, "", problems)
            except _TypeProblem as e:
                raise SerializationException(str(e)) from None
            if problems:
                n = len(problems)
                msg = f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(problems)
                if style == "query":
                    raise ValidationError(msg)
                if style == "rest-xml":
                    if in_body is not None and any(in_body in p for p in problems):
                        raise MalformedXML("The XML you provided was not well-formed or did not validate "
                                           "against our published schema")
                    raise InvalidRequest(msg)
                raise error(msg)

        return run

    def _compile_first_missing(self, shape: Shape) -> Callable[[dict], None]:
        """SQS style: report the first missing required member (any depth), check basic types."""
        check = self._check_for(shape)

        def run(params: dict) -> None:
            problems: Problems = []
            try:
                check(params, "", problems)
            except _TypeProblem as e:
                raise SerializationException(str(e)) from None
            for p in problems:
                if p.startswith("MISSING:"):
                    raise MissingParameter(f"The request must contain the parameter {p[8:]}.")

        return run

    def _check_for(self, shape: Shape) -> Check:
        key = (shape.name, shape.type_name)
        check = self._shape_checks.get(key)
        if check is not None:
            return check
        cell: list[Check] = []

        def deferred(value: Any, path: str, problems: Problems) -> None:
            cell[0](value, path, problems)

        self._shape_checks[key] = deferred  # recursive shapes resolve through the cell
        check = self._build(shape)
        cell.append(check)
        self._shape_checks[key] = check
        return check

    def _build(self, shape: Shape) -> Check:
        t = shape.type_name
        types = _PY_TYPES.get(t, (object,))
        meta = shape.metadata
        lo, hi = meta.get("min"), meta.get("max")
        enum = shape.enum if t == "string" else None
        sensitive = bool(meta.get("sensitive"))      # AWS does not echo a sensitive value ("Value at 'plaintext'")
        constraints = self.constraints
        sqs = self.style == "sqs"
        is_int = t in ("integer", "long")

        def type_error(value: Any, path: str) -> _TypeProblem:
            return _TypeProblem(f"Invalid type for parameter {path or shape.name}, value: {_brief(value)}, "
                                f"type: {type(value).__name__}, valid types: "
                                f"{', '.join(x.__name__ for x in types)}")

        if t == "structure":
            members = {name: (lower_first(name), self._check_for(ms)) for name, ms in shape.members.items()}
            required = tuple(shape.required_members)
            # members whose whole check is their Python type (a string with no constraint to check):
            # a value of that type is checked here, without calling the member's check
            typed = {name: self._plain_types[(ms.name, ms.type_name)] for name, ms in shape.members.items()
                     if (ms.name, ms.type_name) in self._plain_types}

            def check_structure(value: Any, path: str, problems: Problems) -> None:
                if not isinstance(value, dict):
                    raise type_error(value, path)
                prefix = path + "." if path else ""
                for name in required:
                    if value.get(name) is None:
                        if sqs:
                            problems.append("MISSING:" + name)
                        else:
                            problems.append(f"Value null at '{prefix}{lower_first(name)}' failed to satisfy "
                                            "constraint: Member must not be null")
                for name, v in value.items():   # the members present (a request sets few of them)
                    if v is None:
                        continue
                    plain = typed.get(name)
                    if plain is not None and isinstance(v, plain):
                        continue
                    member = members.get(name)
                    if member is not None:
                        member[1](v, prefix + member[0], problems)

            return check_structure

        if t == "list":
            member = self._check_for(shape.member)

            def check_list(value: Any, path: str, problems: Problems) -> None:
                if not isinstance(value, list | tuple):
                    raise type_error(value, path)
                if constraints:
                    _check_size(len(value), lo, hi, value, path, problems, "length")
                for i, item in enumerate(value, 1):
                    if item is not None:
                        member(item, f"{path}.{i}.member", problems)

            return check_list

        if t == "map":
            kcheck = self._check_for(shape.key)
            vcheck = self._check_for(shape.value)

            def check_map(value: Any, path: str, problems: Problems) -> None:
                if not isinstance(value, dict):
                    raise type_error(value, path)
                if constraints:
                    _check_size(len(value), lo, hi, value, path, problems, "length")
                for k, v in value.items():
                    kcheck(k, f"{path}.key", problems)
                    if v is not None:
                        vcheck(v, f"{path}.{k}.value", problems)

            return check_map

        raw_pattern = meta.get("pattern") if self.patterns and t == "string" else None
        pattern = _pattern(raw_pattern) if raw_pattern else None
        want_constraint = constraints and (lo is not None or hi is not None or enum or pattern is not None)
        if not want_constraint and not is_int:
            self._plain_types[(shape.name, t)] = types     # (a bool passes as an int: ints are not plain)

        def check_scalar(value: Any, path: str, problems: Problems) -> None:
            if not isinstance(value, types) or (is_int and isinstance(value, bool)):
                raise type_error(value, path)
            if not want_constraint:
                return
            if enum and value not in enum:
                problems.append(f"Value '{value}' at '{path}' failed to satisfy constraint: Member must "
                                f"satisfy enum value set: [{', '.join(enum)}]")
            elif t in ("string", "blob") and not isinstance(value, StreamingBody):
                before = len(problems)
                _check_size(len(value), lo, hi, value, path, problems, "length", sensitive)  # type: ignore[arg-type]
                if pattern is not None and len(problems) == before and isinstance(value, str) \
                        and not pattern.fullmatch(value):
                    shown = "Value at" if sensitive else f"Value {_show(value)} at"
                    problems.append(f"{shown} '{path}' failed to satisfy constraint: Member must satisfy "
                                    f"regular expression pattern: {raw_pattern}")
            elif t not in ("boolean", "timestamp"):
                _check_size(value, lo, hi, value, path, problems, "value", sensitive)

        return check_scalar


# repr of a client's value for messages: bounded in depth and length (a 1,000-level nested object
# would otherwise overflow the stack, a megabyte string would be echoed whole)
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxdict, _REPR.maxlist = 3, 64, 64, 6, 6


def _brief(value: Any) -> str:
    return _REPR.repr(value)


def _check_size(n: Any, lo: Any, hi: Any, value: Any, path: str, problems: Problems, what: str,
                sensitive: bool = False) -> None:
    shown = "Value at" if sensitive else f"Value {_show(value)} at"
    if lo is not None and n < lo:
        problems.append(f"{shown} '{path}' failed to satisfy constraint: Member must have "
                        f"{what} greater than or equal to {lo}")
    elif hi is not None and n > hi:
        problems.append(f"{shown} '{path}' failed to satisfy constraint: Member must have "
                        f"{what} less than or equal to {hi}")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, bytes | bytearray):
        return "'java.nio.HeapByteBuffer'"
    return f"'{value}'" if isinstance(value, int | float) else str(value)


_validators: dict[tuple[str, str, bool | None], Validator] = {}


def validator_for(service_model: ServiceModel, protocol: str, constraints: bool | None = None) -> Validator:
    key = (service_model.service_name, protocol, constraints)
    v = _validators.get(key)
    if v is None:
        if constraints is None and service_model.service_name in QUERY_STYLE:
            constraints = True
        v = _validators[key] = Validator(style_for(service_model, protocol), constraints,
                                         patterns=service_model.service_name in CHECKS_PATTERNS,
                                         error=VALIDATION_CODES.get(service_model.service_name,
                                                                    ValidationException))
    return v


def validate(operation_model: OperationModel, params: dict, *, protocol: str | None = None,
             constraints: bool | None = None) -> None:
    """Raise the service's validation error if ``params`` do not fit the operation's input."""
    service_model = operation_model.service_model
    validator_for(service_model, protocol or service_model.protocol, constraints)(operation_model, params)


__all__ = ["Validator", "validate", "validator_for", "style_for", "ServiceError", "InvalidRequest"]

"""Result dict / ServiceError -> HttpResponse, one generic serializer per AWS protocol.

Usage (the API the gateway relies on)::

    ser = create_serializer(service_model, protocol=None)     # protocol overrides the model's
    response = ser.serialize_result(operation_model, result, request_id)
    response = ser.serialize_error(error, operation_model_or_None, request_id)

Results are dicts shaped like the operation's output (botocore member names). ``None``
members and keys the output shape does not know are left out. Timestamps may be aware or
naive (UTC) datetimes, epoch numbers or preformatted strings; blobs bytes or str; blob
payloads (S3 GetObject ``Body``, Lambda Invoke ``Payload``) may also be file-like objects.

Wire forms:

- ``query``: ``<OpResponse xmlns><OpResult>...</OpResult><ResponseMetadata>`` (SQS's
  query names from :mod:`tsunagi.protocol.sqs_query`); errors are ``<ErrorResponse>`` with
  ``error.query_code``.
- ``json``: body members by their JSON names, blobs base64, timestamps epoch seconds;
  errors ``{"__type", "message"}``, plus ``x-amzn-query-error: <query code>;Sender`` and
  a ``com.amazonaws.<service>#Code`` type for ``awsQueryCompatible`` services (SQS).
- ``rest-json``: status code / header / headers-map / payload members, the rest as a JSON
  body; errors carry ``x-amzn-ErrorType``.
- ``rest-xml`` (S3): the same locations, XML body with the root element AWS uses; errors
  ``<Error><Code/><Message/>...fields...<RequestId/></Error>`` (no body for HEAD).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import orjson

from tsunagi.protocol import sqs_query
from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.http import HttpResponse
from tsunagi.protocol.model import OperationModel, ServiceModel, Shape
from tsunagi.protocol.shapes import (
    BODY_TIMESTAMP,
    HEADER_TIMESTAMP,
    b64encode,
    format_timestamp,
    scalar_to_text,
    to_bytes,
)

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"

# Operations whose success status S3 sends differs from the model's (which gives none): PutBucketTagging
# answers 204 No Content.
S3_STATUS = {"PutBucketTagging": 204}
# a result's status when its operation answers more than one success status and the model names
# none (S3 RestoreObject: 202 Accepted for a restore started, 200 OK for one already done)
STATUS_KEY = "__status__"

# Root elements S3 uses for outputs that are not a single payload member (default: the
# output shape's name with ``Output`` replaced by ``Result``).
S3_ROOTS = {
    "ListBuckets": "ListAllMyBucketsResult",
    "ListDirectoryBuckets": "ListAllMyDirectoryBucketsResult",
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "ListObjectVersions": "ListVersionsResult",
    "ListMultipartUploads": "ListMultipartUploadsResult",
    "ListParts": "ListPartsResult",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "DeleteObjects": "DeleteResult",
    "GetBucketAcl": "AccessControlPolicy",
    "GetObjectAcl": "AccessControlPolicy",
    "GetBucketTagging": "Tagging",
    "GetObjectTagging": "Tagging",
    "GetBucketVersioning": "VersioningConfiguration",
    "GetBucketCors": "CORSConfiguration",
    "GetBucketLifecycle": "LifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "LifecycleConfiguration",
    "GetBucketNotification": "NotificationConfiguration",
    "GetBucketNotificationConfiguration": "NotificationConfiguration",
    "GetBucketWebsite": "WebsiteConfiguration",
    "GetBucketLogging": "BucketLoggingStatus",
    "GetBucketRequestPayment": "RequestPaymentConfiguration",
    "GetBucketAccelerateConfiguration": "AccelerateConfiguration",
    "GetObjectAttributes": "GetObjectAttributesResponse",
    "ListBucketAnalyticsConfigurations": "ListBucketAnalyticsConfigurationResult",
    "ListBucketInventoryConfigurations": "ListInventoryConfigurationsResult",
    "ListBucketMetricsConfigurations": "ListMetricsConfigurationsResult",
    "ListBucketIntelligentTieringConfigurations": "ListBucketIntelligentTieringConfigurationsOutput",
}
# Outputs whose single member is the root element's text (``<LocationConstraint>eu-west-1</...>``).
S3_TEXT_ROOTS = {"GetBucketLocation": "LocationConstraint"}

JSONEncoder = Callable[[Any], Any]
XMLEncoder = Callable[[Any, str, list], None]


# ---------------------------------------------------------------------------------------------------
# XML


def xml_escape(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#xD;")
    return text


def _attr_escape(text: str) -> str:
    return xml_escape(text).replace('"', "&quot;")


def _ns_attr(ns: Any) -> str:
    if not ns:
        return ""
    if isinstance(ns, str):
        return f' xmlns="{ns}"'
    prefix = ns.get("prefix")
    return f' xmlns:{prefix}="{ns["uri"]}"' if prefix else f' xmlns="{ns["uri"]}"'


class _XMLEncoders:
    """Compiled writers: ``enc(value, tag, out)`` appends ``<tag>...</tag>`` fragments to ``out``."""

    def __init__(self, ts_default: str = "iso8601") -> None:
        self.ts_default = ts_default
        self._cache: dict[tuple, XMLEncoder] = {}
        self._members: dict[tuple, Callable[[Any, list], str]] = {}

    def get(self, shape: Shape) -> XMLEncoder:
        key = _shape_key(shape)
        enc = self._cache.get(key)
        if enc is None:
            cell: list[XMLEncoder] = []
            self._cache[key] = lambda v, tag, out: cell[0](v, tag, out)
            enc = self._build(shape)
            cell.append(enc)
            self._cache[key] = enc
        return enc

    def members(self, shape: Shape) -> Callable[[Any, list], str]:
        """A writer for a structure's children; returns the attribute text for its element."""
        key = _shape_key(shape)
        fn = self._members.get(key)
        if fn is not None:
            return fn
        cell: list[Callable[[Any, list], str]] = []
        self._members[key] = lambda v, out: cell[0](v, out)
        children, attributes = [], []
        for name, ms in shape.members.items():
            ser = ms.serialization
            if ser.get("location"):
                continue
            if ser.get("xmlAttribute"):
                attributes.append((name, ser.get("name") or name))
                continue
            tag = ser.get("name") or name
            if ms.type_name == "list" and ser.get("flattened") and ms.member.serialization.get("name"):
                tag = ms.member.serialization["name"]
            children.append((name, tag, self.get(ms)))

        def write(value: Any, out: list) -> str:
            if not isinstance(value, dict):
                return ""
            for name, tag, enc in children:
                v = value.get(name)
                if v is not None:
                    enc(v, tag, out)
            if not attributes:
                return ""
            return "".join(f' {attr}="{_attr_escape(str(value[name]))}"'
                           for name, attr in attributes if value.get(name) is not None)

        cell.append(write)
        self._members[key] = write
        return write

    def _build(self, shape: Shape) -> XMLEncoder:
        t = shape.type_name
        ns = _ns_attr(shape.serialization.get("xmlNamespace"))
        if t == "structure":
            write_members = self.members(shape)

            def structure(value: Any, tag: str, out: list) -> None:
                i = len(out)
                out.append("")
                attrs = write_members(value, out)
                out[i] = f"<{tag}{ns}{attrs}>"
                out.append(f"</{tag}>")

            return structure
        if t == "list":
            member = self.get(shape.member)
            if shape.serialization.get("flattened"):
                def flat_list(value: Any, tag: str, out: list) -> None:
                    for item in value:
                        if item is not None:
                            member(item, tag, out)
                return flat_list
            member_tag = shape.member.serialization.get("name") or "member"

            def list_(value: Any, tag: str, out: list) -> None:
                out.append(f"<{tag}{ns}>")
                for item in value:
                    if item is not None:
                        member(item, member_tag, out)
                out.append(f"</{tag}>")
            return list_
        if t == "map":
            kenc, venc = self.get(shape.key), self.get(shape.value)
            kname = shape.key.serialization.get("name") or "key"
            vname = shape.value.serialization.get("name") or "value"
            if shape.serialization.get("flattened"):
                def flat_map(value: Any, tag: str, out: list) -> None:
                    for k, v in value.items():
                        out.append(f"<{tag}>")
                        kenc(k, kname, out)
                        if v is not None:
                            venc(v, vname, out)
                        out.append(f"</{tag}>")
                return flat_map

            def map_(value: Any, tag: str, out: list) -> None:
                out.append(f"<{tag}{ns}>")
                for k, v in value.items():
                    out.append("<entry>")
                    kenc(k, kname, out)
                    if v is not None:
                        venc(v, vname, out)
                    out.append("</entry>")
                out.append(f"</{tag}>")
            return map_
        text = _text_encoder(shape, self.ts_default)

        def scalar(value: Any, tag: str, out: list) -> None:
            out.append(f"<{tag}{ns}>{xml_escape(text(value))}</{tag}>")
        return scalar


def _text_encoder(shape: Shape, ts_default: str) -> Callable[[Any], str]:
    t = shape.type_name
    if t == "blob":
        return b64encode
    if t == "timestamp":
        fmt = shape.serialization.get("timestampFormat") or ts_default
        return lambda v: str(format_timestamp(v, fmt))
    if t == "string":
        return lambda v: v if isinstance(v, str) else str(v)
    return lambda v: scalar_to_text(t, v)


def _shape_key(shape: Shape) -> tuple:
    ser = shape.serialization
    return (shape.name, shape.type_name, tuple(sorted((k, str(v)) for k, v in ser.items())) if ser else ())


# ---------------------------------------------------------------------------------------------------
# JSON


class _JSONEncoders:
    """``enc(value) -> JSON-ready value``; ``None`` when the value can be dumped as it is."""

    def __init__(self, ts_default: str = "unixTimestamp") -> None:
        self.ts_default = ts_default
        self._cache: dict[tuple, JSONEncoder | None] = {}

    def get(self, shape: Shape) -> JSONEncoder | None:
        key = _shape_key(shape)
        if key in self._cache:
            return self._cache[key]
        cell: list[JSONEncoder | None] = []

        def deferred(v: Any) -> Any:
            fn = cell[0]
            return fn(v) if fn is not None else v

        self._cache[key] = deferred
        enc = self._build(shape)
        cell.append(enc)
        self._cache[key] = enc
        return enc

    def _build(self, shape: Shape) -> JSONEncoder | None:
        t = shape.type_name
        if t == "structure":
            members: dict[str, tuple[str, JSONEncoder | None]] = {}
            for name, ms in shape.members.items():
                if ms.serialization.get("location"):
                    continue
                members[name] = (ms.serialization.get("name") or name, self.get(ms))

            # members written as they are, under their own name (most strings): no lookup of an encoder
            plain = frozenset(name for name, (wire, enc) in members.items() if enc is None and wire == name)

            def structure(value: Any) -> dict:
                # only members written as they are, none of them None (a received message without
                # attributes, a batch's entries): the value is its own wire form, with no copy
                if value.keys() <= plain and None not in value.values():
                    return value
                out = {}
                for k, v in value.items():
                    if v is None:
                        continue
                    if k in plain:
                        out[k] = v
                        continue
                    m = members.get(k)
                    if m is not None:
                        out[m[0]] = m[1](v) if m[1] is not None else v
                return out
            return structure
        if t == "list":
            member = self.get(shape.member)
            if member is None:
                return list
            return lambda value: [member(x) if x is not None else None for x in value]
        if t == "map":
            venc = self.get(shape.value)
            if venc is None:
                return lambda value: {k: v for k, v in value.items() if v is not None}
            return lambda value: {k: venc(v) for k, v in value.items() if v is not None}
        if t == "blob":
            return b64encode
        if t == "timestamp":
            fmt = shape.serialization.get("timestampFormat") or self.ts_default
            return lambda v: format_timestamp(v, fmt)
        if t == "string":
            return None
        if t in ("float", "double"):
            return _json_float
        return None


def _json_float(v: Any) -> Any:
    if isinstance(v, float) and v != v:  # NaN
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def _dumps(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)


# ---------------------------------------------------------------------------------------------------
# serializers


class ResponseSerializer:
    protocol = ""

    def __init__(self, service_model: ServiceModel, protocol: str) -> None:
        self.service_model = service_model
        self.protocol = protocol

    def serialize_result(self, operation_model: OperationModel, result: dict | None,
                         request_id: str) -> HttpResponse:
        raise NotImplementedError

    def serialize_error(self, error: ServiceError, operation_model: OperationModel | None,
                        request_id: str) -> HttpResponse:
        raise NotImplementedError

    # -- helpers ---------------------------------------------------------------------------------

    def _error_shape(self, code: str) -> Shape | None:
        try:
            return self.service_model.shape_for_error_code(code)
        except Exception:
            return None

    def _error_status(self, error: ServiceError) -> int:
        if "status" in vars(error) or type(error).status != ServiceError.status:
            return error.status
        shape = self._error_shape(error.code)
        if shape is not None:
            status = shape.metadata.get("error", {}).get("httpStatusCode")
            if status:
                return int(status)
        return error.status

    @staticmethod
    def _extra_headers(error: ServiceError, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if error.headers:
            headers.extend(error.headers.items())
        return headers


class QuerySerializer(ResponseSerializer):
    def __init__(self, service_model: ServiceModel, protocol: str = "query") -> None:
        super().__init__(service_model, protocol)
        self.sqs = service_model.service_name == "sqs"
        self.wire_model = sqs_query.query_model() if self.sqs and service_model.protocol != "query" \
            else service_model
        self.namespace = self.wire_model.metadata.get("xmlNamespace", "")
        self._xml = _XMLEncoders("iso8601")
        self._ops: dict[str, tuple[str | None, Callable[[Any, list], str] | None]] = {}

    def _op(self, name: str) -> tuple[str | None, Callable[[Any, list], str] | None]:
        entry = self._ops.get(name)
        if entry is None:
            op = self.wire_model.operation_model(name)
            shape = op.output_shape
            if shape is None:
                entry = (None, None)
            else:
                entry = (shape.serialization.get("resultWrapper"), self._xml.members(shape))
            self._ops[name] = entry
        return entry

    def serialize_result(self, operation_model: OperationModel, result: dict | None,
                         request_id: str) -> HttpResponse:
        name = operation_model.name
        wrapper, write = self._op(name)
        out = [f'<?xml version="1.0" encoding="UTF-8"?>\n<{name}Response xmlns="{self.namespace}">']
        if write is not None:
            if wrapper:
                out.append(f"<{wrapper}>")
            start = len(out)
            write(result or {}, out)
            if wrapper:
                if self.sqs and len(out) == start:
                    out[-1] = f"<{wrapper}/>"       # SQS writes an empty result as <ReceiveMessageResult/>
                else:
                    out.append(f"</{wrapper}>")
        out.append(f"<ResponseMetadata><RequestId>{xml_escape(request_id)}</RequestId></ResponseMetadata>"
                   f"</{name}Response>")
        return HttpResponse(200, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)],
                            "".join(out).encode())

    def serialize_error(self, error: ServiceError, operation_model: OperationModel | None,
                        request_id: str) -> HttpResponse:
        if self.sqs and error.code == "UnknownOperationException":
            # SQS's answer to a request that names no operation at all: 404, a bare element
            return HttpResponse(404, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)],
                                b"<UnknownOperationException/>")
        kind = "Sender" if error.sender_fault else "Receiver"
        out = [f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="{self.namespace}"><Error>'
               f"<Type>{kind}</Type><Code>{xml_escape(error.query_code)}</Code>"
               f"<Message>{xml_escape(error.query_message)}</Message>"]
        for k, v in error.fields.items():
            if v is not None:
                out.append(f"<{k}>{xml_escape(str(v))}</{k}>")
        out.append(f"</Error><RequestId>{xml_escape(request_id)}</RequestId></ErrorResponse>")
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
        return HttpResponse(self._error_status(error), self._extra_headers(error, headers),
                            "".join(out).encode())


class QueryJSONSerializer(QuerySerializer):
    """The query protocol answered in JSON, as AWS answers a query request that sends
    ``Accept: application/json``: ``{"<Op>Response": {"<Op>Result": {...}, "ResponseMetadata": {...}}}``
    with members by name, lists as arrays and maps as arrays of their entries (``{"Name", "Value"}``);
    errors are ``{"Error": {"Type", "Code", "Message"}, "RequestId"}``."""

    def __init__(self, service_model: ServiceModel, protocol: str = "query-json") -> None:
        super().__init__(service_model, "query")

    def serialize_result(self, operation_model: OperationModel, result: dict | None,
                         request_id: str) -> HttpResponse:
        name = operation_model.name
        op = self.wire_model.operation_model(name)
        doc: dict[str, Any] = {}
        if op.output_shape is not None:
            wrapper = op.output_shape.serialization.get("resultWrapper") or f"{name}Result"
            doc[wrapper] = _query_json(op.output_shape, result or {})
        doc["ResponseMetadata"] = {"RequestId": request_id}
        return HttpResponse(200, [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)],
                            _dumps({f"{name}Response": doc}))

    def serialize_error(self, error: ServiceError, operation_model: OperationModel | None,
                        request_id: str) -> HttpResponse:
        if self.sqs and error.code == "UnknownOperationException":
            return super().serialize_error(error, operation_model, request_id)    # XML whatever was asked
        err: dict[str, Any] = {"Type": "Sender" if error.sender_fault else "Receiver", "Code": error.query_code,
                               "Message": error.query_message}
        err.update({k: str(v) for k, v in error.fields.items() if v is not None})
        headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
        return HttpResponse(self._error_status(error), self._extra_headers(error, headers),
                            _dumps({"Error": err, "RequestId": request_id}))


def _query_json(shape: Shape, value: Any) -> Any:
    """``value`` of ``shape`` in the query protocol's JSON form."""
    kind = shape.type_name
    if kind == "structure":
        members = shape.members  # type: ignore[attr-defined]
        return {m: _query_json(members[m], v) for m, v in value.items() if m in members and v is not None}
    if kind == "list":
        return [_query_json(shape.member, v) for v in value]  # type: ignore[attr-defined]
    if kind == "map":
        key, val = shape.key, shape.value  # type: ignore[attr-defined]
        k_name, v_name = key.serialization.get("name", "key"), val.serialization.get("name", "value")
        return [{k_name: _query_json(key, k), v_name: _query_json(val, v)} for k, v in value.items()]
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode("ascii")
    return value


# The JSON type AWS gives a query-era error code that the model has no shape for, in services whose
# JSON protocol is query compatible (SQS): the query code stays in ``x-amzn-query-error``.
QUERY_COMPATIBLE_TYPES = {
    "InvalidParameterValue": "InvalidParameterValueException",
    "MissingParameter": "MissingRequiredParameterException",
}


class JSONSerializer(ResponseSerializer):
    def __init__(self, service_model: ServiceModel, protocol: str = "json") -> None:
        super().__init__(service_model, protocol)
        version = service_model.metadata.get("jsonVersion", "1.0")
        self.content_type = f"application/x-amz-json-{version}"
        self.query_compatible = "awsQueryCompatible" in service_model.metadata
        self.type_prefix = f"com.amazonaws.{service_model.endpoint_prefix}#" if self.query_compatible else ""
        self._json = _JSONEncoders(BODY_TIMESTAMP["json"])
        self._ops: dict[str, JSONEncoder | None] = {}

    def _encoder(self, operation_model: OperationModel) -> JSONEncoder | None:
        name = operation_model.name
        if name in self._ops:
            return self._ops[name]
        shape = operation_model.output_shape
        enc = self._json.get(shape) if shape is not None else None
        self._ops[name] = enc
        return enc

    def serialize_result(self, operation_model: OperationModel, result: dict | None,
                         request_id: str) -> HttpResponse:
        enc = self._encoder(operation_model)
        body = _dumps(enc(result) if enc is not None and result else {})
        return HttpResponse(200, [("Content-Type", self.content_type), ("x-amzn-RequestId", request_id)], body)

    def serialize_error(self, error: ServiceError, operation_model: OperationModel | None,
                        request_id: str) -> HttpResponse:
        code = error.code
        if self.query_compatible:
            code = QUERY_COMPATIBLE_TYPES.get(code, code)
        data: dict[str, Any] = {"__type": self.type_prefix + code, "message": error.message}
        if error.fields:
            data.update(_error_fields(self, error))
        headers = [("Content-Type", self.content_type), ("x-amzn-RequestId", request_id)]
        if self.query_compatible:
            headers.append(("x-amzn-query-error",
                            f"{error.query_code};{'Sender' if error.sender_fault else 'Receiver'}"))
        return HttpResponse(self._error_status(error), self._extra_headers(error, headers), _dumps(data))


def _error_fields(ser: Any, error: ServiceError) -> dict:
    shape = ser._error_shape(error.code)
    fields = {k: v for k, v in error.fields.items() if v is not None}
    if shape is None:
        return {k: v if isinstance(v, str | int | float | bool | list | dict) else str(v) for k, v in fields.items()}
    enc = ser._json.get(shape)
    return enc(fields) if enc is not None else fields


class RestSerializer(ResponseSerializer):
    """Status code, header and payload members; subclasses write the body."""

    content_type = ""

    def __init__(self, service_model: ServiceModel, protocol: str) -> None:
        super().__init__(service_model, protocol)
        self._plans: dict[str, Callable[[dict], HttpResponse]] = {}

    def serialize_result(self, operation_model: OperationModel, result: dict | None,
                         request_id: str) -> HttpResponse:
        plan = self._plans.get(operation_model.name)
        if plan is None:
            plan = self._plans[operation_model.name] = self._plan(operation_model)
        response = plan(result or {})
        self._add_request_id(response.headers, request_id)
        return response

    def _add_request_id(self, headers: list[tuple[str, str]], request_id: str) -> None:
        headers.append(("x-amzn-RequestId", request_id))

    def _plan(self, operation_model: OperationModel) -> Callable[[dict], HttpResponse]:
        default_status = int(operation_model.http.get("responseCode") or 200)
        if operation_model.service_model.service_name == "s3":
            default_status = S3_STATUS.get(operation_model.name, default_status)
        shape = operation_model.output_shape
        if shape is None:
            return lambda result: HttpResponse(default_status, self._base_headers(False), b"")
        status_member = None
        headers, header_maps, body_members = [], [], False
        payload = shape.serialization.get("payload")
        for name, ms in shape.members.items():
            loc = ms.serialization.get("location")
            wire = ms.serialization.get("name") or name
            if loc == "statusCode":
                status_member = name
            elif loc == "header":
                headers.append((name, wire, _header_encoder(ms)))
            elif loc == "headers":
                header_maps.append((name, wire))
            elif not loc and name != payload:
                body_members = True
        body = self._body_writer(operation_model, shape, payload, body_members)
        partial = "ContentRange" in shape.members and shape.members["ContentRange"].serialization.get(
            "location") == "header"

        def plan(result: dict) -> HttpResponse:
            status = default_status
            if status_member is not None and result.get(status_member) is not None:
                status = int(result[status_member])
            elif STATUS_KEY in result:      # a status the model has no member for (RestoreObject's 202)
                status = int(result.pop(STATUS_KEY))
            elif partial and status == 200 and result.get("ContentRange"):
                status = 206  # a ranged read (S3 GetObject): Content-Range goes with 206 Partial Content
            out_headers = []
            for name, wire, enc in headers:
                v = result.get(name)
                if v is not None:
                    out_headers.append((wire, enc(v)))
            for name, prefix in header_maps:
                v = result.get(name)
                if v:
                    out_headers.extend((prefix + k, str(x)) for k, x in v.items() if x is not None)
            data, content_type = body(result) if body is not None else (b"", None)
            if content_type and not any(h.lower() == "content-type" for h, _ in out_headers):
                out_headers.append(("Content-Type", content_type))
            if not isinstance(data, bytes):  # an async iterator of chunks: streamed by the gateway
                return HttpResponse(status, out_headers, b"", data)
            return HttpResponse(status, out_headers, data)

        return plan

    def _base_headers(self, with_body: bool) -> list[tuple[str, str]]:
        return [("Content-Type", self.content_type)] if with_body else []

    @staticmethod
    def _output_headers(error: ServiceError, operation_model: OperationModel | None,
                        headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The output members an error carries (``error.output``) that the output shape puts in headers."""
        shape = operation_model.output_shape if operation_model is not None else None
        if not error.output or shape is None:
            return headers
        for name, value in error.output.items():
            ms = shape.members.get(name)
            if value is not None and ms is not None and ms.serialization.get("location") == "header":
                headers.append((ms.serialization.get("name") or name, _header_encoder(ms)(value)))
        return headers

    def _body_writer(self, operation_model: OperationModel, shape: Shape, payload: str | None,
                     body_members: bool) -> Callable[[dict], tuple[bytes, str | None]] | None:
        if payload:
            ms = shape.members[payload]
            if ms.type_name in ("blob", "string"):
                def raw(result: dict) -> tuple[bytes, str | None]:
                    v = result.get(payload)
                    if v is None:
                        return b"", None
                    if hasattr(v, "__aiter__"):
                        return v, None
                    return to_bytes(v), None
                return raw
            return self._structure_payload(operation_model, ms, payload)
        if body_members:
            return self._body_structure(operation_model, shape)
        return None

    def _structure_payload(self, operation_model: OperationModel, member: Shape,
                           name: str) -> Callable[[dict], tuple[bytes, str | None]]:
        raise NotImplementedError

    def _body_structure(self, operation_model: OperationModel,
                        shape: Shape) -> Callable[[dict], tuple[bytes, str | None]]:
        raise NotImplementedError


def _header_encoder(shape: Shape) -> Callable[[Any], str]:
    t = shape.type_name
    if t == "string" and shape.serialization.get("jsonvalue"):
        return lambda v: b64encode(orjson.dumps(v))
    if t == "list":
        member = _header_encoder(shape.member)
        return lambda v: ",".join(member(x) for x in v)
    if t == "timestamp":
        fmt = shape.serialization.get("timestampFormat") or HEADER_TIMESTAMP
        return lambda v: str(format_timestamp(v, fmt))
    if t == "blob":
        return b64encode
    return lambda v: scalar_to_text(t, v) if t != "string" else (v if isinstance(v, str) else str(v))


class RestJSONSerializer(RestSerializer):
    content_type = "application/json"

    def __init__(self, service_model: ServiceModel, protocol: str = "rest-json") -> None:
        super().__init__(service_model, protocol)
        self._json = _JSONEncoders(BODY_TIMESTAMP["rest-json"])

    def _structure_payload(self, operation_model: OperationModel, member: Shape,
                           name: str) -> Callable[[dict], tuple[bytes, str | None]]:
        enc = self._json.get(member)

        def payload(result: dict) -> tuple[bytes, str | None]:
            v = result.get(name)
            if v is None:
                return b"", None
            return _dumps(enc(v) if enc is not None else v), self.content_type
        return payload

    def _body_structure(self, operation_model: OperationModel,
                        shape: Shape) -> Callable[[dict], tuple[bytes, str | None]]:
        enc = self._json.get(shape)
        assert enc is not None
        return lambda result: (_dumps(enc(result)), self.content_type)

    def serialize_error(self, error: ServiceError, operation_model: OperationModel | None,
                        request_id: str) -> HttpResponse:
        shape = self._error_shape(error.code)
        key = "message"
        data: dict[str, Any] = {}
        if shape is not None:
            if "Message" in shape.members and "message" not in shape.members:
                key = "Message"
            if "Type" in shape.members:
                data["Type"] = "User" if error.sender_fault else "Service"
        data[key] = error.message
        if error.fields:
            data.update(_error_fields(self, error))
        headers = [("Content-Type", self.content_type), ("x-amzn-RequestId", request_id),
                   ("x-amzn-ErrorType", error.code)]
        self._output_headers(error, operation_model, headers)
        return HttpResponse(self._error_status(error), self._extra_headers(error, headers), _dumps(data))


class RestXMLSerializer(RestSerializer):
    content_type = "application/xml"

    def __init__(self, service_model: ServiceModel, protocol: str = "rest-xml") -> None:
        super().__init__(service_model, protocol)
        self._xml = _XMLEncoders(BODY_TIMESTAMP["rest-xml"])
        self.s3 = service_model.service_name == "s3"
        self.namespace = S3_NAMESPACE if self.s3 else service_model.metadata.get("xmlNamespace", "")

    def _add_request_id(self, headers: list[tuple[str, str]], request_id: str) -> None:
        if self.s3:
            headers.append(("x-amz-request-id", request_id))
            headers.append(("x-amz-id-2", request_id))
        else:
            headers.append(("x-amzn-RequestId", request_id))

    def _root_ns(self, member: Shape) -> str:
        ns = member.serialization.get("xmlNamespace")
        return "" if ns else _ns_attr(self.namespace)

    def _structure_payload(self, operation_model: OperationModel, member: Shape,
                           name: str) -> Callable[[dict], tuple[bytes, str | None]]:
        tag = member.serialization.get("name") or member.name
        enc = self._xml.get(member)
        extra = self._root_ns(member)

        def payload(result: dict) -> tuple[bytes, str | None]:
            v = result.get(name)
            if v is None:
                return b"", None
            out: list[str] = []
            enc(v, tag, out)
            if extra and out:
                first = out[0]
                out[0] = first.replace(f"<{tag}", f"<{tag}{extra}", 1)
            return _xml_doc(out), self.content_type
        return payload

    def _body_structure(self, operation_model: OperationModel,
                        shape: Shape) -> Callable[[dict], tuple[bytes, str | None]]:
        name = operation_model.name
        ns = _ns_attr(self.namespace)
        text_root = S3_TEXT_ROOTS.get(name) if self.s3 else None
        if text_root:
            member = shape.members[text_root]
            text = _text_encoder(member, "iso8601")

            def text_body(result: dict) -> tuple[bytes, str | None]:
                v = result.get(text_root)
                inner = xml_escape(text(v)) if v is not None else ""
                return _xml_doc([f"<{text_root}{ns}>{inner}</{text_root}>"]), self.content_type
            return text_body
        root = (S3_ROOTS.get(name) if self.s3 else None) or shape.serialization.get("name") or \
            shape.name.removesuffix("Output") + "Result"
        write = self._xml.members(shape)

        def body(result: dict) -> tuple[bytes, str | None]:
            out = [""]
            attrs = write(result, out)
            out[0] = f"<{root}{ns}{attrs}>"
            out.append(f"</{root}>")
            return _xml_doc(out), self.content_type
        return body

    def serialize_error(self, error: ServiceError, operation_model: OperationModel | None,
                        request_id: str) -> HttpResponse:
        headers: list[tuple[str, str]] = []
        self._add_request_id(headers, request_id)
        self._output_headers(error, operation_model, headers)
        if self.s3 and error.code == "MethodNotAllowed" and error.fields.get("ResourceType") == "DeleteMarker":
            headers.append(("Allow", "DELETE"))        # the one method a delete marker allows
        status = self._error_status(error)
        if status == 304 or (operation_model is not None and operation_model.http.get("method") == "HEAD"):
            return HttpResponse(status, self._extra_headers(error, headers), b"")  # no body may follow
        out = [f"<Error><Code>{xml_escape(error.code)}</Code><Message>{xml_escape(error.message)}</Message>"]
        for k, v in error.fields.items():
            if v is not None:
                out.append(f"<{k}>{xml_escape(str(v))}</{k}>")
        out.append(f"<RequestId>{xml_escape(request_id)}</RequestId>")
        if self.s3:
            out.append(f"<HostId>{xml_escape(request_id)}</HostId>")
        out.append("</Error>")
        headers.append(("Content-Type", self.content_type))
        return HttpResponse(status, self._extra_headers(error, headers), _xml_doc(out))


def _xml_doc(parts: list[str]) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + "".join(parts)).encode()


_SERIALIZERS: dict[str, type[ResponseSerializer]] = {
    "query": QuerySerializer,
    "query-json": QueryJSONSerializer,
    "json": JSONSerializer,
    "rest-json": RestJSONSerializer,
    "rest-xml": RestXMLSerializer,
}
_cache: dict[tuple, ResponseSerializer] = {}


def create_serializer(service_model: ServiceModel, protocol: str | None = None) -> ResponseSerializer:
    """The (cached) serializer for ``service_model`` speaking ``protocol`` (default: the model's)."""
    protocol = protocol or service_model.protocol
    key = (id(service_model), protocol)
    ser = _cache.get(key)
    if ser is None:
        cls = _SERIALIZERS.get(protocol)
        if cls is None and protocol == "smithy-rpc-v2-cbor":
            from tsunagi.protocol.cbor import CBORSerializer
            cls = _SERIALIZERS[protocol] = CBORSerializer
        if cls is None:
            raise ValueError(f"unsupported protocol {protocol!r}")
        ser = _cache[key] = cls(service_model, protocol)
    return ser


__all__ = ["create_serializer", "error_in_protocol", "ResponseSerializer", "QuerySerializer", "QueryJSONSerializer",
           "JSONSerializer",
           "RestJSONSerializer", "RestXMLSerializer", "xml_escape"]


def _ec2_error(error: ServiceError, request_id: str) -> HttpResponse:
    """EC2's own error document (its protocol is query-like, its errors are not)."""
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{xml_escape(error.code)}</Code><Message>{xml_escape(error.message)}</Message>"
            f"</Error></Errors><RequestID>{xml_escape(request_id)}</RequestID></Response>")
    return HttpResponse(error.status, [("Content-Type", "text/xml;charset=UTF-8"), ("x-amzn-RequestId", request_id)],
                        body.encode())


def error_in_protocol(service_model: ServiceModel | None, error: ServiceError, request_id: str,
                      fallback: str = "json") -> HttpResponse:
    """``error`` written the way ``service_model``'s clients parse errors (any AWS service botocore
    knows, served or not); without a model, in the ``fallback`` protocol's generic form."""
    if service_model is None:
        if fallback == "query":
            service_model = ServiceModel({"metadata": {"protocol": "query", "apiVersion": "", "endpointPrefix": ""},
                                          "operations": {}, "shapes": {}})
        else:
            body = _dumps({"__type": error.code, "message": error.message})
            return HttpResponse(error.status, [("Content-Type", "application/x-amz-json-1.1"),
                                               ("x-amzn-RequestId", request_id),
                                               ("x-amzn-ErrorType", error.code)], body)
    protocol = service_model.protocol
    if protocol == "ec2":
        return _ec2_error(error, request_id)
    cls = _SERIALIZERS.get(protocol) or _SERIALIZERS["json"]
    return cls(service_model, protocol if protocol in _SERIALIZERS else "json").serialize_error(
        error, None, request_id)

"""botocore's service models read as tsunagi needs them: the service, its operations and its shapes.

botocore's own model classes (``botocore.model``) come with the rest of the SDK: importing them imports
its signing, HTTP (urllib3) and configuration code, about a quarter of a new server's start, none of which
a server uses. These classes read the same JSON (botocore's ``data/`` files, through :mod:`tsunagi.protocol.specs`)
and answer with the same names and values, so the protocol layer and botocore's own parsers and serializers
(which tests run against tsunagi's answers) can take either; ``tests/unit/protocol/test_model.py`` compares
them, attribute by attribute, over every model tsunagi serves.

A shape is made anew each time a reference to it is resolved, the member's traits (``locationName``,
``flattened``…) laid over the shape's own, as botocore does; what each object works out is kept on it.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, NamedTuple

# what a shape or a member's reference says about its place on the wire (``locationName`` is ``name`` here)
_SERIALIZED = ("locationName", "queryName", "flattened", "location", "payload", "streaming", "timestampFormat",
               "xmlNamespace", "resultWrapper", "xmlAttribute", "eventstream", "event", "eventheader",
               "eventpayload", "jsonvalue", "hostLabel")
# what it says about its values
_METADATA = ("required", "min", "max", "pattern", "sensitive", "enum", "idempotencyToken", "error", "exception",
             "endpointdiscoveryid", "retryable", "document", "union", "contextParam", "clientContextParams",
             "requiresLength")


class OperationNotFoundError(Exception):
    """The model has no operation of that name."""


class NoShapeFoundError(Exception):
    """The model has no shape of that name."""


class UndefinedModelAttributeError(Exception):
    """The model's metadata lacks a key that was asked for."""


class Shape:
    """One shape of a model (with the traits of the member reference it was reached by)."""

    # what only some kinds of shape have, declared here so code walking shapes of any kind type-checks
    members: dict[str, Shape]
    member: Shape
    key: Shape
    value: Shape
    enum: list[str]
    error_code: str | None
    is_document_type: bool
    is_tagged_union: bool

    def __init__(self, shape_name: str, shape_model: dict[str, Any], shape_resolver: ShapeResolver | None = None):
        self.name = shape_name
        self.type_name: str = shape_model["type"]
        self.documentation: str = shape_model.get("documentation", "")
        self._shape_model = shape_model
        self._shape_resolver = shape_resolver

    @cached_property
    def serialization(self) -> dict[str, Any]:
        model = self._shape_model
        out = {key: model[key] for key in _SERIALIZED if key in model}
        if "locationName" in out:
            out["name"] = out.pop("locationName")
        return out

    @cached_property
    def metadata(self) -> dict[str, Any]:
        model = self._shape_model
        return {key: model[key] for key in _METADATA if key in model}

    @cached_property
    def required_members(self) -> list[str]:
        return list(self.metadata.get("required", []))

    @property
    def event_stream_name(self) -> str | None:
        return None

    def _resolve_shape_ref(self, ref: dict[str, Any]) -> Shape:
        if self._shape_resolver is None:
            raise ValueError(f"shape {self.name} has no resolver for its references")
        return self._shape_resolver.resolve_shape_ref(ref)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}({self.name})>"


class StructureShape(Shape):
    @cached_property
    def members(self) -> dict[str, Shape]:  # type: ignore[override]
        return {name: self._resolve_shape_ref(ref) for name, ref in self._shape_model.get("members", {}).items()}

    @cached_property
    def event_stream_name(self) -> str | None:  # type: ignore[override]
        return next((name for name, shape in self.members.items() if shape.serialization.get("eventstream")), None)

    @cached_property
    def error_code(self) -> str | None:  # type: ignore[override]
        if not self.metadata.get("exception", False):
            return None
        return self.metadata.get("error", {}).get("code") or self.name

    @cached_property
    def is_document_type(self) -> bool:  # type: ignore[override]
        return bool(self.metadata.get("document", False))

    @cached_property
    def is_tagged_union(self) -> bool:  # type: ignore[override]
        return bool(self.metadata.get("union", False))


class ListShape(Shape):
    @cached_property
    def member(self) -> Shape:  # type: ignore[override]
        return self._resolve_shape_ref(self._shape_model["member"])


class MapShape(Shape):
    @cached_property
    def key(self) -> Shape:  # type: ignore[override]
        return self._resolve_shape_ref(self._shape_model["key"])

    @cached_property
    def value(self) -> Shape:  # type: ignore[override]
        return self._resolve_shape_ref(self._shape_model["value"])


class StringShape(Shape):
    @cached_property
    def enum(self) -> list[str]:  # type: ignore[override]
        return list(self.metadata.get("enum", []))


_KINDS: dict[str, type[Shape]] = {"structure": StructureShape, "list": ListShape, "map": MapShape,
                                  "string": StringShape}


class ShapeResolver:
    """Shapes by name from a model's ``shapes``, and shape references resolved to shapes."""

    def __init__(self, shape_map: dict[str, Any]) -> None:
        self._shape_map = shape_map

    def get_shape_by_name(self, shape_name: str, member_traits: dict[str, Any] | None = None) -> Shape:
        try:
            model = self._shape_map[shape_name]
        except KeyError:
            raise NoShapeFoundError(shape_name) from None
        cls = _KINDS.get(model["type"], Shape)
        if member_traits:
            model = {**model, **member_traits}
        return cls(shape_name, model, self)

    def resolve_shape_ref(self, shape_ref: dict[str, Any]) -> Shape:
        if len(shape_ref) == 1 and "shape" in shape_ref:
            return self.get_shape_by_name(shape_ref["shape"])
        traits = dict(shape_ref)
        name = traits.pop("shape")
        return self.get_shape_by_name(name, traits)


class StaticContextParameter(NamedTuple):
    name: str
    value: bool | str


class ContextParameter(NamedTuple):
    name: str
    member_name: str


class ServiceModel:
    """A service's model: its metadata, operations and shapes."""

    def __init__(self, service_description: dict[str, Any], service_name: str | None = None) -> None:
        self._service_description = service_description
        self.metadata: dict[str, Any] = service_description.get("metadata", {})
        self._shape_resolver = ShapeResolver(service_description.get("shapes", {}))
        self._service_name = service_name
        self._operations: dict[str, OperationModel] = {}
        self._signature_version: str | None = self.metadata.get("signatureVersion")

    def shape_for(self, shape_name: str, member_traits: dict[str, Any] | None = None) -> Shape:
        return self._shape_resolver.get_shape_by_name(shape_name, member_traits)

    def resolve_shape_ref(self, shape_ref: dict[str, Any]) -> Shape:
        return self._shape_resolver.resolve_shape_ref(shape_ref)

    @cached_property
    def shape_names(self) -> list[str]:
        return list(self._service_description.get("shapes", {}))

    @cached_property
    def error_shapes(self) -> list[Shape]:
        return [shape for shape in map(self.shape_for, self.shape_names) if shape.metadata.get("exception", False)]

    @cached_property
    def _by_error_code(self) -> dict[str | None, Shape]:
        return {shape.error_code: shape for shape in self.error_shapes}

    def shape_for_error_code(self, error_code: str) -> Shape | None:
        return self._by_error_code.get(error_code)

    def operation_model(self, operation_name: str) -> OperationModel:
        found = self._operations.get(operation_name)
        if found is None:
            try:
                description = self._service_description["operations"][operation_name]
            except KeyError:
                raise OperationNotFoundError(operation_name) from None
            found = self._operations[operation_name] = OperationModel(description, self, operation_name)
        return found

    @cached_property
    def operation_names(self) -> list[str]:
        return list(self._service_description.get("operations", []))

    @cached_property
    def documentation(self) -> str:
        return str(self._service_description.get("documentation", ""))

    def _metadata(self, name: str) -> Any:
        try:
            return self.metadata[name]
        except KeyError:
            raise UndefinedModelAttributeError(f'"{name}" not defined in the metadata of the model: {self}') from None

    @cached_property
    def service_name(self) -> str:
        return self._service_name if self._service_name is not None else str(self.endpoint_prefix)

    @cached_property
    def service_id(self) -> str:
        return str(self._metadata("serviceId"))

    @cached_property
    def signing_name(self) -> str:
        return str(self.metadata.get("signingName") or self.endpoint_prefix)

    @cached_property
    def api_version(self) -> str:
        return str(self._metadata("apiVersion"))

    @cached_property
    def protocol(self) -> str:
        return str(self._metadata("protocol"))

    @cached_property
    def protocols(self) -> list[str]:
        return list(self._metadata("protocols"))

    @cached_property
    def resolved_protocol(self) -> str:
        if self.metadata.get("protocols"):
            from botocore.utils import PRIORITY_ORDERED_SUPPORTED_PROTOCOLS  # botocore's own clients only

            for protocol in PRIORITY_ORDERED_SUPPORTED_PROTOCOLS:
                if protocol in self.protocols:
                    return str(protocol)
        return self.protocol

    @cached_property
    def endpoint_prefix(self) -> str:
        return str(self._metadata("endpointPrefix"))

    @property
    def signature_version(self) -> str | None:
        return self._signature_version

    @signature_version.setter
    def signature_version(self, value: str | None) -> None:
        self._signature_version = value

    @cached_property
    def is_query_compatible(self) -> bool:
        return "awsQueryCompatible" in self.metadata

    def __repr__(self) -> str:
        return f"ServiceModel({self._service_name or self.metadata.get('endpointPrefix')})"


class OperationModel:
    """One operation of a service's model."""

    def __init__(self, operation_model: dict[str, Any], service_model: ServiceModel, name: str | None = None):
        self._operation_model = operation_model
        self._service_model = service_model
        self._api_name = name
        self.metadata = service_model.metadata
        self.http: dict[str, Any] = operation_model.get("http", {})

    @cached_property
    def name(self) -> str:
        return self._api_name if self._api_name is not None else str(self.wire_name)

    @property
    def wire_name(self) -> str | None:
        return self._operation_model.get("name")

    @property
    def service_model(self) -> ServiceModel:
        return self._service_model

    def _get(self, key: str, default: Any = None) -> Any:
        return self._operation_model.get(key, default)

    @cached_property
    def documentation(self) -> str:
        return str(self._get("documentation", ""))

    @cached_property
    def deprecated(self) -> bool:
        return bool(self._get("deprecated", False))

    @cached_property
    def endpoint_discovery(self) -> dict[str, Any] | None:
        return self._get("endpointdiscovery")

    @cached_property
    def is_endpoint_discovery_operation(self) -> bool:
        return bool(self._get("endpointoperation", False))

    @cached_property
    def input_shape(self) -> Shape | None:
        ref = self._get("input")
        return None if ref is None else self._service_model.resolve_shape_ref(ref)

    @cached_property
    def output_shape(self) -> Shape | None:
        ref = self._get("output")
        return None if ref is None else self._service_model.resolve_shape_ref(ref)

    @cached_property
    def error_shapes(self) -> list[Shape]:
        return [self._service_model.resolve_shape_ref(ref) for ref in self._get("errors", [])]

    @cached_property
    def idempotent_members(self) -> list[str]:
        shape = self.input_shape
        if shape is None:
            return []
        return [name for name, member in shape.members.items() if member.metadata.get("idempotencyToken")]

    @cached_property
    def static_context_parameters(self) -> list[StaticContextParameter]:
        return [StaticContextParameter(name=name, value=props.get("value"))
                for name, props in self._get("staticContextParams", {}).items()]

    @cached_property
    def context_parameters(self) -> list[ContextParameter]:
        shape = self.input_shape
        if shape is None:
            return []
        return [ContextParameter(name=member.metadata["contextParam"]["name"], member_name=name)
                for name, member in shape.members.items()
                if "name" in member.metadata.get("contextParam", {})]

    @cached_property
    def operation_context_parameters(self) -> list[Any]:
        return list(self._get("operationContextParams", []))

    @cached_property
    def request_compression(self) -> dict[str, Any] | None:
        return self._get("requestcompression")

    @cached_property
    def auth(self) -> list[str] | None:
        return self._get("auth")

    @cached_property
    def auth_type(self) -> str | None:
        return self._get("authtype")

    @cached_property
    def resolved_auth_type(self) -> str | None:
        if self.auth:
            from botocore.auth import resolve_auth_type  # botocore's own clients only

            return str(resolve_auth_type(self.auth))
        return self.auth_type

    @cached_property
    def unsigned_payload(self) -> bool | None:
        return self._get("unsignedPayload")

    @cached_property
    def endpoint(self) -> dict[str, Any] | None:
        return self._get("endpoint")

    @cached_property
    def http_checksum_required(self) -> bool:
        return bool(self._get("httpChecksumRequired", False))

    @cached_property
    def http_checksum(self) -> dict[str, Any]:
        return dict(self._get("httpChecksum", {}))

    @cached_property
    def has_event_stream_input(self) -> bool:
        return self.get_event_stream_input() is not None

    @cached_property
    def has_event_stream_output(self) -> bool:
        return self.get_event_stream_output() is not None

    def get_event_stream_input(self) -> Shape | None:
        return _event_stream(self.input_shape)

    def get_event_stream_output(self) -> Shape | None:
        return _event_stream(self.output_shape)

    @cached_property
    def has_streaming_input(self) -> bool:
        return self.get_streaming_input() is not None

    @cached_property
    def has_streaming_output(self) -> bool:
        return self.get_streaming_output() is not None

    def get_streaming_input(self) -> Shape | None:
        return _streaming_body(self.input_shape)

    def get_streaming_output(self) -> Shape | None:
        return _streaming_body(self.output_shape)

    def __repr__(self) -> str:
        return f"OperationModel(name={self.name})"


def _event_stream(shape: Shape | None) -> Shape | None:
    name = shape.event_stream_name if shape is not None else None
    return shape.members[name] if shape is not None and name else None


def _streaming_body(shape: Shape | None) -> Shape | None:
    """The blob member a shape names as its payload (a streamed body), if any."""
    if shape is None:
        return None
    payload = shape.serialization.get("payload")
    if payload is not None and shape.members[payload].type_name == "blob":
        return shape.members[payload]
    return None

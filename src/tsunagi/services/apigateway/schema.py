"""Request body validation against a model's JSON Schema (draft 4, as API Gateway's models are written):
``type``, ``properties``, ``required``, ``additionalProperties``, ``items``, ``enum``, ``minLength`` /
``maxLength``, ``pattern``, ``minimum`` / ``maximum`` (and their ``exclusive`` flags), ``minItems`` /
``maxItems``, ``$ref`` to another model of the API (``#/definitions/X`` or a model URL ending in the
model's name), ``allOf``, ``anyOf``, ``oneOf`` and ``not``. :func:`problems` lists what does not fit, in
the words API Gateway's validation errors use."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def problems(value: Any, schema: Any, resolve: Callable[[str], Any], path: str = "", depth: int = 0) -> list[str]:
    """What in ``value`` does not fit ``schema`` (empty when it fits)."""
    if not isinstance(schema, dict) or depth > 64:
        return []
    where = path or "instance"
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = resolve(ref)
        return problems(value, target, resolve, path, depth + 1) if target is not None else \
            [f"unable to resolve the reference {ref}"]
    out: list[str] = []
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_TYPES.get(k, lambda v: True)(value) for k in kinds):
            found = next((k for k, test in _TYPES.items() if test(value) and k != "number"), "unknown")
            return [f"{where}: {value!r} is not of type {kind} (found {found})"[:300]]
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: instance value ({value!r}) not found in enum (possible values: {schema['enum']})")
    if isinstance(value, str):
        if isinstance(schema.get("minLength"), int) and len(value) < schema["minLength"]:
            out.append(f"{where}: string {value!r} is too short (length: {len(value)}, required minimum: "
                       f"{schema['minLength']})")
        if isinstance(schema.get("maxLength"), int) and len(value) > schema["maxLength"]:
            out.append(f"{where}: string is too long (length: {len(value)}, maximum allowed: {schema['maxLength']})")
        if isinstance(schema.get("pattern"), str):
            try:
                if re.search(schema["pattern"], value) is None:
                    out.append(f"{where}: ECMA 262 regex \"{schema['pattern']}\" does not match input string {value!r}")
            except re.error:
                pass
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = schema.get("minimum"), schema.get("maximum")
        if isinstance(low, int | float) and (value < low or (schema.get("exclusiveMinimum") is True and value == low)):
            out.append(f"{where}: numeric instance is lower than the required minimum (minimum: {low}, found: {value})")
        if isinstance(high, int | float) and (value > high or (schema.get("exclusiveMaximum") is True and value == high)):
            out.append(f"{where}: numeric instance is greater than the required maximum (maximum: {high}, found: {value})")
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        missing = [k for k in schema.get("required") or [] if k not in value]
        if missing:
            out.append(f"{where}: object has missing required properties ({missing})")
        for k, v in value.items():
            if k in props:
                out += problems(v, props[k], resolve, f"{path}/{k}", depth + 1)
            elif schema.get("additionalProperties") is False:
                out.append(f"{where}: object instance has properties which are not allowed by the schema: [{k!r}]")
            elif isinstance(schema.get("additionalProperties"), dict):
                out += problems(v, schema["additionalProperties"], resolve, f"{path}/{k}", depth + 1)
    if isinstance(value, list):
        if isinstance(schema.get("minItems"), int) and len(value) < schema["minItems"]:
            out.append(f"{where}: array is too short: must have at least {schema['minItems']} elements but instance "
                       f"has {len(value)} elements")
        if isinstance(schema.get("maxItems"), int) and len(value) > schema["maxItems"]:
            out.append(f"{where}: array is too long: must have at most {schema['maxItems']} elements but instance "
                       f"has {len(value)} elements")
        if isinstance(schema.get("items"), dict):
            for i, v in enumerate(value):
                out += problems(v, schema["items"], resolve, f"{path}/{i}", depth + 1)
    for sub in schema.get("allOf") or []:
        out += problems(value, sub, resolve, path, depth + 1)
    if schema.get("anyOf") and all(problems(value, s, resolve, path, depth + 1) for s in schema["anyOf"]):
        out.append(f"{where}: instance failed to match at least one required schema among {len(schema['anyOf'])}")
    if schema.get("oneOf"):
        fits = sum(1 for s in schema["oneOf"] if not problems(value, s, resolve, path, depth + 1))
        if fits != 1:
            out.append(f"{where}: instance failed to match exactly one schema (matched {fits} out of "
                       f"{len(schema['oneOf'])})")
    if isinstance(schema.get("not"), dict) and not problems(value, schema["not"], resolve, path, depth + 1):
        out.append(f"{where}: instance matched a schema which it should not have")
    return out

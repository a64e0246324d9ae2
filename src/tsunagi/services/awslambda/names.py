"""Function names, ARNs and qualifiers as Lambda accepts them."""

from __future__ import annotations

import re

from tsunagi.services.awslambda.errors import InvalidParameterValue, pattern_error

NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
QUALIFIER_RE = re.compile(r"^(\$LATEST|[a-zA-Z0-9_-]+)$")
ALIAS_RE = re.compile(r"^(?!^[0-9]+$)[a-zA-Z0-9_-]{1,128}$")
LAYER_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,140}$")
ROLE_RE = re.compile(r"^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
ROLE_PATTERN = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
FUNCTION_NAME_PATTERN = (r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?"
                         r"([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?")
_ARN_RE = re.compile(r"^arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):function:([a-zA-Z0-9_-]+)(?::([^:]+))?$")
_PARTIAL_RE = re.compile(r"^(\d{12}):function:([a-zA-Z0-9_-]+)(?::([^:]+))?$")
_LAYER_ARN_RE = re.compile(r"^arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):layer:([a-zA-Z0-9_-]+)(?::(\d+))?$")


def function_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def layer_arn(region: str, account: str, name: str, version: int | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account}:layer:{name}"
    return f"{arn}:{version}" if version is not None else arn


def parse_function(value: str, account: str, region: str,
                   qualifier: str | None = None, member: str = "functionName") -> tuple[str, str, str, str | None]:
    """(account, region, name, qualifier) for a name, partial ARN or ARN, with an optional qualifier."""
    derived: str | None = None
    m = _ARN_RE.match(value)
    if m:
        region, account, name, derived = m.group(1), m.group(2), m.group(3), m.group(4)
    else:
        m = _PARTIAL_RE.match(value)
        if m:
            account, name, derived = m.group(1), m.group(2), m.group(3)
        else:
            name, _, derived_s = value.partition(":")
            derived = derived_s or None
            if not NAME_RE.match(name) or (derived is not None and ":" in derived):
                raise pattern_error(value, member, FUNCTION_NAME_PATTERN)
    if derived is not None and not QUALIFIER_RE.match(derived):
        raise pattern_error(value, member, FUNCTION_NAME_PATTERN)
    if qualifier is not None and derived is not None and qualifier != derived:
        raise InvalidParameterValue("The derived qualifier from the function name does not match the specified "
                                    "qualifier.", Type="User")
    return account, region, name, qualifier if qualifier is not None else derived


def parse_layer(value: str, account: str, region: str) -> tuple[str, str, str]:
    """(account, region, name) for a layer name or layer ARN."""
    m = _LAYER_ARN_RE.match(value)
    if m:
        return m.group(2), m.group(1), m.group(3)
    if not LAYER_NAME_RE.match(value):
        raise pattern_error(value, "layerName",
                            r"(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+")
    return account, region, value


def parse_layer_version_arn(value: str) -> tuple[str, str, str, int] | None:
    m = _LAYER_ARN_RE.match(value)
    if not m or m.group(4) is None:
        return None
    return m.group(2), m.group(1), m.group(3), int(m.group(4))

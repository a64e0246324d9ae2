"""Function names, partial ARNs, ARNs and qualifiers, as Lambda accepts them."""

from __future__ import annotations

import pytest

from tsunagi.protocol.errors import ServiceError
from tsunagi.services.awslambda import names

ACCT, REGION = "000000000000", "us-east-1"


@pytest.mark.parametrize(("value", "qualifier", "expected"), [
    ("fn", None, (ACCT, REGION, "fn", None)),
    ("fn:live", None, (ACCT, REGION, "fn", "live")),
    ("fn", "3", (ACCT, REGION, "fn", "3")),
    ("fn:$LATEST", None, (ACCT, REGION, "fn", "$LATEST")),
    ("111122223333:function:fn", None, ("111122223333", REGION, "fn", None)),
    ("111122223333:function:fn:2", None, ("111122223333", REGION, "fn", "2")),
    ("arn:aws:lambda:eu-west-1:111122223333:function:fn", None, ("111122223333", "eu-west-1", "fn", None)),
    ("arn:aws:lambda:eu-west-1:111122223333:function:fn:live", "live", ("111122223333", "eu-west-1", "fn", "live")),
])
def test_parse_function(value: str, qualifier: str | None, expected: tuple) -> None:
    assert names.parse_function(value, ACCT, REGION, qualifier) == expected


@pytest.mark.parametrize("value", ["bad name", "fn:a:b", "x" * 65, "fn:bad/q", ""])
def test_bad_names(value: str) -> None:
    with pytest.raises(ServiceError) as info:
        names.parse_function(value, ACCT, REGION)
    assert info.value.code == "ValidationException"


def test_qualifier_conflict() -> None:
    with pytest.raises(ServiceError) as info:
        names.parse_function("fn:1", ACCT, REGION, "2")
    assert info.value.code == "InvalidParameterValueException"
    assert info.value.message == "The derived qualifier from the function name does not match the specified qualifier."


def test_layers() -> None:
    arn = names.layer_arn(REGION, ACCT, "shared", 3)
    assert arn == "arn:aws:lambda:us-east-1:000000000000:layer:shared:3"
    assert names.parse_layer_version_arn(arn) == (ACCT, REGION, "shared", 3)
    assert names.parse_layer_version_arn(names.layer_arn(REGION, ACCT, "shared")) is None
    assert names.parse_layer("shared", ACCT, REGION) == (ACCT, REGION, "shared")
    assert names.parse_layer(names.layer_arn("eu-west-1", "111122223333", "x"), ACCT, REGION) == (
        "111122223333", "eu-west-1", "x")


def test_alias_names() -> None:
    assert names.ALIAS_RE.match("live") and names.ALIAS_RE.match("v1-beta")
    assert not names.ALIAS_RE.match("123")

"""IAM's identifiers: AWS's prefixes and lengths, account numbers carried in access key ids, pages."""

from __future__ import annotations

import pytest

from tsunagi.ids import access_key_id, account_of_access_key
from tsunagi.protocol.errors import ServiceError
from tsunagi.services.iam import names


@pytest.mark.parametrize("account", ["000000000000", "123456789012", "999999999999", "000000000001"])
def test_access_key_ids_carry_their_account(account: str) -> None:
    for prefix in ("AKIA", "ASIA"):
        key = access_key_id(prefix, account)
        assert len(key) == 20 and key.startswith(prefix) and key.isalnum() and key.isupper()
        assert account_of_access_key(key) == account


def test_keys_of_another_form_carry_no_account() -> None:
    assert account_of_access_key("test") is None
    assert account_of_access_key("AKIA" + "1" * 16) is None         # '1' is not in the base32 alphabet
    assert account_of_access_key("AIDA" + "A" * 16) is None


def test_unique_ids_have_aws_prefixes_and_length() -> None:
    for prefix in (names.USER_ID, names.GROUP_ID, names.ROLE_ID, names.POLICY_ID, names.PROFILE_ID):
        made = names.unique_id(prefix)
        assert made.startswith(prefix) and len(made) == 21
    assert names.stable_id("ANPA", "x") == names.stable_id("ANPA", "x") != names.stable_id("ANPA", "y")


def test_markers_round_trip_and_a_bad_one_is_a_validation_error() -> None:
    assert names.from_marker(names.to_marker("bob\x00arn")) == "bob\x00arn"
    with pytest.raises(ServiceError) as info:
        names.from_marker("***")
    assert info.value.code == "ValidationError"


def test_documents_are_returned_url_encoded() -> None:
    assert names.encode_document('{"Action": "s3:*"}') == "%7B%22Action%22%3A%20%22s3%3A*%22%7D"

"""What a device of each platform receives, and the checks on platform application attributes."""

from __future__ import annotations

import json

import pytest

from tsunagi.protocol.errors import ServiceError
from tsunagi.services.sns.mobile import check_app_attributes, check_token
from tsunagi.services.sns.phones import E164, e164_form
from tsunagi.services.sns.push import device_payload


def test_the_platforms_own_key_wins_else_the_default_wrapped_for_the_platform() -> None:
    per = {"default": "hello", "GCM": '{"fcmV1Message":{}}'}
    assert device_payload("GCM", "ignored", per) == '{"fcmV1Message":{}}'
    assert json.loads(device_payload("APNS", "ignored", per)) == {"aps": {"alert": "hello"}}
    assert json.loads(device_payload("APNS_SANDBOX", "plain", None)) == {"aps": {"alert": "plain"}}
    assert json.loads(device_payload("ADM", "plain", None)) == {"data": {"default": "plain"}}
    assert json.loads(device_payload("BAIDU", "plain", None)) == {"title": "plain", "description": "plain"}
    assert device_payload("WNS", "plain", None) == "plain"


def test_application_attributes() -> None:
    attrs = check_app_attributes({"PlatformCredential": "k"}, "GCM", None)
    assert attrs == {"PlatformCredential": "k", "Enabled": "true"}
    later = check_app_attributes({"Enabled": "FALSE", "SuccessFeedbackSampleRate": "100"}, "GCM", attrs)
    assert later["Enabled"] == "false" and later["PlatformCredential"] == "k"
    for given, platform in (({"PlatformCredential": "k", "SuccessFeedbackSampleRate": "101"}, "GCM"),
                            ({"PlatformCredential": "k", "Bogus": "1"}, "GCM"),
                            ({"PlatformCredential": "k"}, "WNS"),
                            ({"PlatformCredential": "k", "PlatformPrincipal": "p", "ApplePlatformTeamID": "T"},
                             "APNS"),
                            ({"PlatformCredential": "k", "FailureFeedbackRoleArn": "role"}, "GCM")):
        with pytest.raises(ServiceError) as e:
            check_app_attributes(given, platform, None)
        assert e.value.code == "InvalidParameter"


def test_tokens_and_numbers() -> None:
    assert check_token("APNS", "ab" * 32) == "ab" * 32
    assert check_token("GCM", "any:token-form") == "any:token-form"
    with pytest.raises(ServiceError):
        check_token("APNS", "zz")
    with pytest.raises(ServiceError):
        check_token("GCM", "")
    assert E164.match("+15555550100") and not E164.match("15555550100") and not E164.match("+0123")
    assert e164_form("1-555-555-0100") == "+15555550100"

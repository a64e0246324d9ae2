"""SNS mobile push and SMS through boto3 (and the aws CLI), on SQLite and PostgreSQL: platform
applications and endpoints, Publish to an endpoint or a phone number, the local outbox they land in,
SMS attributes, opt-outs and the SMS sandbox."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.parse
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.sns_support import queue, receive
from tests.support.server import TsunagiServer

APNS_TOKEN = "a" * 64


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def outbox(server: Any, to: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    query = {k: v for k, v in (("to", to), ("kind", kind)) if v}
    with server.internal(f"/_tsunagi/sns/mail?{urllib.parse.urlencode(query)}") as r:
        return list(json.loads(r.read())["Messages"])


def wait_outbox(server: Any, n: int, to: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    got: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        got = outbox(server, to, kind)
        if len(got) >= n:
            return got
        time.sleep(0.05)
    raise AssertionError(f"{len(got)} messages to {to} ({kind}), wanted {n}")


def test_platform_applications_lifecycle_and_checks(server) -> None:
    sns = server.client("sns")
    arn = sns.create_platform_application(Name="shop", Platform="GCM",
                                          Attributes={"PlatformCredential": "server-key"})["PlatformApplicationArn"]
    assert arn == "arn:aws:sns:us-east-1:000000000000:app/GCM/shop"
    # the same again is the same application
    assert sns.create_platform_application(Name="shop", Platform="GCM", Attributes={
        "PlatformCredential": "server-key"})["PlatformApplicationArn"] == arn
    attrs = sns.get_platform_application_attributes(PlatformApplicationArn=arn)["Attributes"]
    assert "PlatformCredential" not in attrs and attrs["Enabled"] == "true"
    topic = sns.create_topic(Name="push-events")["TopicArn"]
    sns.set_platform_application_attributes(PlatformApplicationArn=arn, Attributes={
        "EventEndpointCreated": topic, "SuccessFeedbackSampleRate": "50", "PlatformCredential": "new-key"})
    attrs = sns.get_platform_application_attributes(PlatformApplicationArn=arn)["Attributes"]
    assert attrs["EventEndpointCreated"] == topic and attrs["SuccessFeedbackSampleRate"] == "50"
    assert "PlatformCredential" not in attrs
    ios = sns.create_platform_application(Name="shop", Platform="APNS", Attributes={
        "PlatformCredential": "private key", "PlatformPrincipal": "certificate"})["PlatformApplicationArn"]
    assert ios.endswith(":app/APNS/shop")
    listed = sns.list_platform_applications()["PlatformApplications"]
    assert sorted(a["PlatformApplicationArn"] for a in listed) == sorted([arn, ios])
    assert all("PlatformCredential" not in a["Attributes"] for a in listed)

    for kwargs, message in (
            ({"Name": "x", "Platform": "NOKIA", "Attributes": {"PlatformCredential": "k"}},
             "Invalid parameter: Platform Reason: NOKIA is not supported"),
            ({"Name": "x", "Platform": "GCM", "Attributes": {"PlatformPrincipal": "p"}},
             "Invalid parameter: Attributes Reason: Platform credentials are invalid"),
            ({"Name": "x", "Platform": "APNS", "Attributes": {"PlatformCredential": "k"}},
             "Invalid parameter: PlatformPrincipal not valid."),
            ({"Name": "bad name", "Platform": "GCM", "Attributes": {"PlatformCredential": "k"}}, None),
            ({"Name": "x", "Platform": "GCM", "Attributes": {"PlatformCredential": "k", "EventDeliveryFailure": "q"}},
             None)):
        with pytest.raises(ClientError) as e:
            sns.create_platform_application(**kwargs)
        assert _error(e)[0] == "InvalidParameter"
        if message:
            assert _error(e)[1] == message
    with pytest.raises(ClientError) as e:
        sns.get_platform_application_attributes(PlatformApplicationArn=arn.replace("shop", "gone"))
    assert _error(e) == ("NotFound", "PlatformApplication does not exist")
    with pytest.raises(ClientError) as e:
        sns.get_platform_application_attributes(PlatformApplicationArn="not-an-arn")
    assert _error(e)[0] == "InvalidParameter"
    sns.delete_platform_application(PlatformApplicationArn=ios)
    sns.delete_platform_application(PlatformApplicationArn=ios)      # idempotent
    assert [a["PlatformApplicationArn"] for a in sns.list_platform_applications()["PlatformApplications"]] == [arn]


def test_endpoints_idempotence_attributes_listing(server) -> None:
    sns = server.client("sns")
    app = sns.create_platform_application(Name="game", Platform="APNS_SANDBOX", Attributes={
        "PlatformCredential": "key", "PlatformPrincipal": "cert"})["PlatformApplicationArn"]
    ep = sns.create_platform_endpoint(PlatformApplicationArn=app, Token=APNS_TOKEN,
                                      CustomUserData="user-1")["EndpointArn"]
    assert re.fullmatch(r"arn:aws:sns:us-east-1:000000000000:endpoint/APNS_SANDBOX/game/[0-9a-f-]{36}", ep)
    assert sns.create_platform_endpoint(PlatformApplicationArn=app, Token=APNS_TOKEN, CustomUserData="user-1",
                                        Attributes={"Enabled": "true"})["EndpointArn"] == ep
    with pytest.raises(ClientError) as e:
        sns.create_platform_endpoint(PlatformApplicationArn=app, Token=APNS_TOKEN, CustomUserData="user-2")
    assert _error(e) == ("InvalidParameter", f"Invalid parameter: Token Reason: Endpoint {ep} already exists "
                                             "with the same Token, but different attributes.")
    with pytest.raises(ClientError) as e:
        sns.create_platform_endpoint(PlatformApplicationArn=app, Token="not hex")
    assert _error(e)[0] == "InvalidParameter"
    assert sns.get_endpoint_attributes(EndpointArn=ep)["Attributes"] == {
        "Enabled": "true", "Token": APNS_TOKEN, "CustomUserData": "user-1"}
    sns.set_endpoint_attributes(EndpointArn=ep, Attributes={"Token": "b" * 64, "Enabled": "false"})
    assert sns.get_endpoint_attributes(EndpointArn=ep)["Attributes"] == {
        "Enabled": "false", "Token": "b" * 64, "CustomUserData": "user-1"}
    with pytest.raises(ClientError) as e:
        sns.set_endpoint_attributes(EndpointArn=ep, Attributes={"Colour": "red"})
    assert _error(e)[0] == "InvalidParameter"
    others = [sns.create_platform_endpoint(PlatformApplicationArn=app, Token=f"{i:064x}")["EndpointArn"]
              for i in range(1, 104)]
    page = sns.list_endpoints_by_platform_application(PlatformApplicationArn=app)
    assert len(page["Endpoints"]) == 100 and page["NextToken"]
    rest = sns.list_endpoints_by_platform_application(PlatformApplicationArn=app, NextToken=page["NextToken"])
    assert "NextToken" not in rest
    seen = [x["EndpointArn"] for x in page["Endpoints"] + rest["Endpoints"]]
    assert sorted(seen) == sorted([ep, *others])
    sns.delete_endpoint(EndpointArn=ep)
    sns.delete_endpoint(EndpointArn=ep)         # idempotent
    with pytest.raises(ClientError) as e:
        sns.get_endpoint_attributes(EndpointArn=ep)
    assert _error(e) == ("NotFound", "Endpoint does not exist")
    sns.delete_platform_application(PlatformApplicationArn=app)     # takes its endpoints along
    with pytest.raises(ClientError) as e:
        sns.get_endpoint_attributes(EndpointArn=others[0])
    assert _error(e)[0] == "NotFound"
    with pytest.raises(ClientError) as e:
        sns.list_endpoints_by_platform_application(PlatformApplicationArn=app)
    assert _error(e)[0] == "NotFound"


def test_publish_to_endpoints_lands_in_the_push_outbox(server) -> None:
    sns = server.client("sns")
    android = sns.create_platform_application(Name="app", Platform="GCM", Attributes={
        "PlatformCredential": "k"})["PlatformApplicationArn"]
    ios = sns.create_platform_application(Name="app", Platform="APNS", Attributes={
        "PlatformCredential": "k", "PlatformPrincipal": "c"})["PlatformApplicationArn"]
    phone = sns.create_platform_endpoint(PlatformApplicationArn=android, Token="fcm-token")["EndpointArn"]
    tablet = sns.create_platform_endpoint(PlatformApplicationArn=ios, Token=APNS_TOKEN)["EndpointArn"]
    assert sns.publish(TargetArn=phone, Message="plain hello")["MessageId"]
    gcm = json.dumps({"fcmV1Message": {"message": {"notification": {"title": "Hi", "body": "there"}}}})
    sns.publish(TargetArn=phone, MessageStructure="json", Message=json.dumps({"default": "d", "GCM": gcm}))
    sns.publish(TargetArn=tablet, MessageStructure="json", Message=json.dumps({"default": "for all", "GCM": gcm}))
    got = wait_outbox(server, 2, to=phone, kind="push")
    assert [m["Body"] for m in got] == ['{"data":{"default":"plain hello"}}', gcm]
    assert got[0]["From"] == android and got[0]["Subject"] == "GCM" and got[0]["Kind"] == "push"
    (apns,) = wait_outbox(server, 1, to=tablet)
    assert json.loads(apns["Body"]) == {"aps": {"alert": "for all"}}
    assert outbox(server, kind="sms") == []

    # a topic's application subscriptions get the same
    topic = sns.create_topic(Name="news")["TopicArn"]
    sub = sns.subscribe(TopicArn=topic, Protocol="application", Endpoint=tablet)["SubscriptionArn"]
    assert sub.startswith(topic + ":")
    news = sns.publish(TopicArn=topic, Message=json.dumps({"default": "news!", "APNS": '{"aps":{"badge":3}}'}),
                       MessageStructure="json")["MessageId"]
    assert wait_outbox(server, 2, to=tablet)[1]["Body"] == '{"aps":{"badge":3}}'
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with server.internal(f"/_tsunagi/sns/deliveries?message_id={news}") as r:
            records = json.loads(r.read())["Deliveries"]
        if any(d["Outcome"] == "delivered" for d in records):
            break
        time.sleep(0.05)
    assert [(d["SubscriptionArn"], d["Protocol"]) for d in records if d["Outcome"] == "delivered"] == [
        (sub, "application")]
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="application",
                      Endpoint=tablet.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000")
    assert _error(e) == ("NotFound", "Endpoint does not exist")

    # disabled endpoint, disabled application
    sns.set_endpoint_attributes(EndpointArn=tablet, Attributes={"Enabled": "false"})
    with pytest.raises(ClientError) as e:
        sns.publish(TargetArn=tablet, Message="x")
    assert _error(e) == ("EndpointDisabled", "Endpoint is disabled")
    message_id = sns.publish(TopicArn=topic, Message="not delivered")["MessageId"]
    with server.internal(f"/_tsunagi/sns/deliveries?message_id={message_id}") as r:
        (record,) = json.loads(r.read())["Deliveries"]
    assert record["Outcome"] == "failed" and "disabled" in record["Reason"]
    sns.set_platform_application_attributes(PlatformApplicationArn=android, Attributes={"Enabled": "false"})
    with pytest.raises(ClientError) as e:
        sns.publish(TargetArn=phone, Message="x")
    assert _error(e)[0] == "PlatformApplicationDisabled"
    with pytest.raises(ClientError) as e:
        sns.publish(TargetArn=phone.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000", Message="x")
    assert _error(e) == ("NotFound", "Endpoint does not exist")
    with pytest.raises(ClientError) as e:
        sns.publish(TargetArn=tablet, Message="{}", MessageStructure="json")
    assert _error(e)[0] == "InvalidParameter"


def test_sms_attributes_e164_opt_outs(server) -> None:
    sns = server.client("sns")
    assert sns.get_sms_sandbox_account_status()["IsInSandbox"] is False
    sns.set_sms_attributes(attributes={"DefaultSenderID": "MyShop", "DefaultSMSType": "Transactional",
                                       "MonthlySpendLimit": "5"})
    assert sns.get_sms_attributes()["attributes"] == {"DefaultSenderID": "MyShop",
                                                      "DefaultSMSType": "Transactional", "MonthlySpendLimit": "5"}
    assert sns.get_sms_attributes(attributes=["DefaultSMSType"])["attributes"] == {"DefaultSMSType": "Transactional"}
    for attrs in ({"DefaultSMSType": "Loud"}, {"DefaultSenderID": "way-too-long-sender"}, {"Colour": "red"},
                  {"MonthlySpendLimit": "lots"}):
        with pytest.raises(ClientError) as e:
            sns.set_sms_attributes(attributes=attrs)
        assert _error(e)[0] == "InvalidParameter"
    sns.publish(PhoneNumber="+15555550100", Message="your code is 1234")
    (text,) = wait_outbox(server, 1, to="+15555550100", kind="sms")
    assert text["Body"] == "your code is 1234" and text["From"] == "MyShop"
    sns.publish(PhoneNumber="+15555550177", Message="sale!", MessageAttributes={
        "AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "Deals"},
        "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Promotional"}})
    (text,) = wait_outbox(server, 1, to="+15555550177")
    assert (text["From"], text["Subject"], text["Body"]) == ("Deals", "Promotional", "sale!")
    with pytest.raises(ClientError) as e:
        sns.publish(PhoneNumber="+15555550177", Message="x", MessageAttributes={
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Urgent"}})
    assert _error(e)[0] == "InvalidParameter"
    for bad in ("5555550100", "+0123", "+1555abc", "+1234567890123456"):
        with pytest.raises(ClientError) as e:
            sns.publish(PhoneNumber=bad, Message="x")
        assert _error(e) == ("InvalidParameter", f"Invalid parameter: PhoneNumber Reason: {bad} is not valid to "
                                                 "publish to")

    # the number answers STOP: it is opted out until OptInPhoneNumber
    assert sns.check_if_phone_number_is_opted_out(phoneNumber="+15555550100")["isOptedOut"] is False
    req = json.dumps({"From": "+15555550100", "Body": "stop"}).encode()
    with server.internal("/_tsunagi/sns/sms-reply", method="POST", data=req) as r:
        assert json.loads(r.read()) == {"OptedOut": True}
    assert sns.check_if_phone_number_is_opted_out(phoneNumber="+15555550100")["isOptedOut"] is True
    assert sns.list_phone_numbers_opted_out()["phoneNumbers"] == ["+15555550100"]
    assert sns.publish(PhoneNumber="+15555550100", Message="dropped")["MessageId"]
    sns.publish(PhoneNumber="+15555550199", Message="to another")
    wait_outbox(server, 1, to="+15555550199")
    assert [m["Body"] for m in outbox(server, to="+15555550100")] == ["your code is 1234"]
    # a topic's sms subscription does not text an opted-out number either
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    sub = sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint="1-555-555-0100")["SubscriptionArn"]
    message_id = sns.publish(TopicArn=topic, Message="alert")["MessageId"]
    with server.internal(f"/_tsunagi/sns/deliveries?message_id={message_id}") as r:
        (record,) = json.loads(r.read())["Deliveries"]
    assert (record["SubscriptionArn"], record["Outcome"]) == (sub, "failed") and "opted out" in record["Reason"]
    sns.opt_in_phone_number(phoneNumber="+15555550100")
    assert sns.list_phone_numbers_opted_out()["phoneNumbers"] == []
    with pytest.raises(ClientError) as e:
        sns.check_if_phone_number_is_opted_out(phoneNumber="12")
    assert _error(e)[0] == "InvalidParameter"
    assert sns.list_origination_numbers()["PhoneNumbers"] == []


def test_sandbox_numbers_with_the_password_from_the_outbox(server) -> None:
    sns = server.client("sns")
    sns.create_sms_sandbox_phone_number(PhoneNumber="+15555550123", LanguageCode="en-US")
    assert sns.list_sms_sandbox_phone_numbers()["PhoneNumbers"] == [
        {"PhoneNumber": "+15555550123", "Status": "Pending"}]
    (otp_text,) = wait_outbox(server, 1, to="+15555550123", kind="sms")
    otp = re.search(r"(\d{6})", otp_text["Body"]).group(1)
    wrong = "000000" if otp != "000000" else "111111"
    with pytest.raises(ClientError) as e:
        sns.verify_sms_sandbox_phone_number(PhoneNumber="+15555550123", OneTimePassword=wrong)
    assert _error(e)[0] == "VerificationException"
    sns.verify_sms_sandbox_phone_number(PhoneNumber="+15555550123", OneTimePassword=otp)
    assert sns.list_sms_sandbox_phone_numbers()["PhoneNumbers"] == [
        {"PhoneNumber": "+15555550123", "Status": "Verified"}]
    with pytest.raises(ClientError) as e:
        sns.verify_sms_sandbox_phone_number(PhoneNumber="+15555550999", OneTimePassword="123456")
    assert _error(e)[0] == "ResourceNotFound"
    with pytest.raises(ClientError) as e:
        sns.create_sms_sandbox_phone_number(PhoneNumber="15555550123x")
    assert _error(e)[0] == "InvalidParameter"
    sns.delete_sms_sandbox_phone_number(PhoneNumber="+15555550123")
    assert sns.list_sms_sandbox_phone_numbers()["PhoneNumbers"] == []
    with pytest.raises(ClientError) as e:
        sns.delete_sms_sandbox_phone_number(PhoneNumber="+15555550123")
    assert _error(e)[0] == "ResourceNotFound"


def test_aws_cli_and_tsunagi_mail_read_push(server) -> None:
    out = server.aws("sns", "create-platform-application", "--name", "cli", "--platform", "GCM",
                     "--attributes", "PlatformCredential=key")
    app = json.loads(out.stdout)["PlatformApplicationArn"]
    out = server.aws("sns", "create-platform-endpoint", "--platform-application-arn", app, "--token", "tok")
    ep = json.loads(out.stdout)["EndpointArn"]
    server.aws("sns", "publish", "--target-arn", ep, "--message", "from the cli")
    wait_outbox(server, 1, to=ep)
    shown = subprocess.run([sys.executable, "-m", "tsunagi", "mail", "--kind", "push", "--endpoint-url",
                            server.url], capture_output=True, text=True, env=server.cli_env(), timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert f"[push] to {ep} from {app}: GCM" in shown.stdout
    assert '{"data":{"default":"from the cli"}}' in shown.stdout


@pytest.fixture(scope="module")
def sandboxed():
    srv = TsunagiServer("sqlite", env={"TSUNAGI_SNS_SMS_SANDBOX": "1"}).start()
    yield srv
    srv.stop()


def test_in_the_sandbox_only_verified_numbers_get_texts(sandboxed) -> None:
    sns = sandboxed.client("sns")
    assert sns.get_sms_sandbox_account_status()["IsInSandbox"] is True
    with pytest.raises(ClientError) as e:
        sns.publish(PhoneNumber="+15555550142", Message="hi")
    assert _error(e)[0] == "AuthorizationError"
    sns.create_sms_sandbox_phone_number(PhoneNumber="+15555550142")
    otp = re.search(r"(\d{6})", wait_outbox(sandboxed, 1, to="+15555550142")[0]["Body"]).group(1)
    sns.verify_sms_sandbox_phone_number(PhoneNumber="+15555550142", OneTimePassword=otp)
    sns.publish(PhoneNumber="+15555550142", Message="now it arrives")
    assert wait_outbox(sandboxed, 2, to="+15555550142")[1]["Body"] == "now it arrives"


def test_endpoint_events_reach_the_applications_topics(server) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name="endpoint-events")["TopicArn"]
    url, queue_arn = queue(server, "endpoint-events")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    app = sns.create_platform_application(Name="events", Platform="GCM", Attributes={
        "PlatformCredential": "k", "EventEndpointCreated": topic, "EventEndpointUpdated": topic,
        "EventEndpointDeleted": topic, "EventDeliveryFailure": topic})["PlatformApplicationArn"]
    ep = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="t1")["EndpointArn"]
    sns.set_endpoint_attributes(EndpointArn=ep, Attributes={"Token": "t2"})
    sns.set_endpoint_attributes(EndpointArn=ep, Attributes={"Token": "t2"})     # no change: no event
    got = [json.loads(m["Body"]) for m in receive(server, url, 2, timeout=10)]
    assert [(d["EventType"], d["EndpointArn"], d["Resource"], d["Service"]) for d in got] == [
        ("EndpointCreated", ep, app, "SNS"), ("EndpointUpdated", ep, app, "SNS")]
    # a topic's notification the disabled endpoint cannot get: a DeliveryFailure notice
    news = sns.create_topic(Name="news-for-devices")["TopicArn"]
    sns.subscribe(TopicArn=news, Protocol="application", Endpoint=ep)
    sns.set_endpoint_attributes(EndpointArn=ep, Attributes={"Enabled": "false"})
    message_id = sns.publish(TopicArn=news, Message="missed")["MessageId"]
    got = [json.loads(m["Body"]) for m in receive(server, url, 2, timeout=10)]
    assert [d["EventType"] for d in got] == ["EndpointUpdated", "DeliveryFailure"]
    failure = got[1]
    assert (failure["EndpointArn"], failure["MessageId"], failure["FailureType"], failure["FailureMessage"],
            failure["Resource"]) == (ep, message_id, "EndpointDisabled", "Endpoint is disabled", app)
    sns.delete_endpoint(EndpointArn=ep)
    sns.delete_endpoint(EndpointArn=ep)                                          # gone already: no event
    got = [json.loads(m["Body"]) for m in receive(server, url, 2, timeout=3)]
    assert [(d["EventType"], d["EndpointArn"]) for d in got] == [("EndpointDeleted", ep)]

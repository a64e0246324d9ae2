"""No drive-by: a web page the developer opens, a name made to resolve to 127.0.0.1, or an SNS
subscription aimed back at tsunagi cannot act on the server. Real server, raw HTTP where the attack
needs exact bytes."""

from __future__ import annotations

import io
import json
import time
import urllib.error
import zipfile

import pytest

from tests.security.rawhttp import request, send_raw
from tests.support.server import TsunagiServer


@pytest.fixture(scope="module")
def srv():
    server = TsunagiServer("sqlite").start()
    yield server
    server.stop()


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "import os\ndef handler(event, context):\n    os.system('touch /tmp/pwned')\n")
    return buf.getvalue()


def _create_function_body() -> bytes:
    import base64

    return json.dumps({"FunctionName": "csrf", "Runtime": "python3.12", "Handler": "app.handler",
                       "Role": "arn:aws:iam::000000000000:role/x",
                       "Code": {"ZipFile": base64.b64encode(_zip()).decode()}}).encode()


def test_a_cross_site_form_post_cannot_create_a_function(srv):
    # What any web page can make a browser send without a preflight: a text/plain POST with its Origin.
    raw = request("POST", "/2015-03-31/functions", {"Content-Type": "text/plain", "Origin": "http://evil.example",
                                                    "Sec-Fetch-Site": "cross-site"}, _create_function_body(),
                  host=f"127.0.0.1:{srv.port}")
    answer = send_raw(srv.port, raw)
    assert answer.status == 403 and b"other sites" in answer.raw
    names = [f["FunctionName"] for f in srv.client("lambda").list_functions()["Functions"]]
    assert "csrf" not in names


def test_a_rebound_host_name_is_refused(srv):
    # DNS rebinding: the attacker's name resolves to 127.0.0.1, and the browser sends that name.
    raw = request("POST", "/", {"Content-Type": "application/x-www-form-urlencoded"},
                  b"Action=ListQueues&Version=2012-11-05", host=f"rebind.attacker.example:{srv.port}")
    answer = send_raw(srv.port, raw)
    assert answer.status == 403 and b"does not serve the host name" in answer.raw


def test_reset_needs_the_admin_token(srv):
    sqs = srv.sqs_client()
    url = sqs.create_queue(QueueName="keep-me")["QueueUrl"]
    answer = send_raw(srv.port, request("POST", "/_tsunagi/reset", host=f"127.0.0.1:{srv.port}"))
    assert answer.status == 403
    answer = send_raw(srv.port, request("POST", "/_tsunagi/reset", {"X-Tsunagi-Token": "guess"},
                                        host=f"127.0.0.1:{srv.port}"))
    assert answer.status == 403
    assert sqs.get_queue_url(QueueName="keep-me")["QueueUrl"] == url
    with srv.internal("/_tsunagi/sns/mail") as r:      # the token opens them
        assert r.status == 200


def test_an_sns_subscription_aimed_at_reset_wipes_nothing(srv):
    sns = srv.client("sns")
    sqs = srv.sqs_client()
    sqs.create_queue(QueueName="survivor")
    topic = sns.create_topic(Name="inward")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=f"http://127.0.0.1:{srv.port}/_tsunagi/reset")
    sns.publish(TopicArn=topic, Message="x")
    time.sleep(1.0)          # the confirmation POST and the notification have been tried by now
    assert sqs.get_queue_url(QueueName="survivor")["QueueUrl"].endswith("/survivor")
    assert topic in [t["TopicArn"] for t in sns.list_topics()["Topics"]]


def test_the_token_file_is_readable_only_by_the_owner(tmp_path):
    server = TsunagiServer("sqlite", data_dir=str(tmp_path), env={"TSUNAGI_ADMIN_TOKEN": ""})
    server.env.pop("TSUNAGI_ADMIN_TOKEN")
    server.start()
    try:
        path = tmp_path / "admin-token"
        assert path.stat().st_mode & 0o077 == 0
        server.token = path.read_text().strip()
        server.reset()
        with pytest.raises(urllib.error.HTTPError):
            server.token = "wrong"
            server.reset()
    finally:
        server.stop()

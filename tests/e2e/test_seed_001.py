"""Seed 001 end to end: ``examples/001-pipeline/deploy.py`` against a real server. Invoking the
preprocessor (as the article's console "Test" button does) writes JSON to S3 and publishes the request
id to the connector topic; service01's queue gets the SNS envelope, the mapping runs service01, which
rewrites the JSON under its own prefix and publishes to the notifier, whose e-mail lands in the local
mailbox. The pipeline also starts "from the middle": a publish straight to the connector."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.e2e.support import load_example, log_messages, mailbox, queue_counts, wait_for

FOLDER = "001-pipeline"
EMAIL = "e2e@example.com"


def notified(server, request_id: str) -> list[dict]:
    return [m for m in mailbox(server, EMAIL) if m["Body"].startswith(json.dumps({"request_id": request_id}))]


def service_output(server, deploy, request_id: str):
    s3 = server.client("s3")
    try:
        body = s3.get_object(Bucket=deploy.BUCKET, Key=f"{deploy.PREFIX}/service01/{request_id}.json")["Body"]
    except s3.exceptions.NoSuchKey:
        return None
    return json.loads(body.read())


def test_seed_001_preprocessor_to_service_to_mail(server) -> None:
    deploy = load_example(FOLDER)
    out = deploy.deploy(server.url, email=EMAIL)
    lam, sqs = server.client("lambda"), server.sqs_client()
    env = lam.get_function_configuration(FunctionName="preprocessor")["Environment"]["Variables"]
    assert env == {"S3_BUCKET": deploy.BUCKET, "S3_PREFIX": deploy.PREFIX,
                   "SNS_TOPIC_ARN_CONNECTOR": out["connector_topic_arn"]}
    env = lam.get_function_configuration(FunctionName="service01")["Environment"]["Variables"]
    assert env["SNS_TOPIC_ARN_NOTIFIER"] == out["notifier_topic_arn"]

    # the e-mail subscription waits for its confirmation, as on AWS: confirm it the README's way
    wait_for(lambda: mailbox(server, EMAIL), what="the confirmation e-mail")
    done = subprocess.run([sys.executable, "-m", "tsunagi", "mail", EMAIL, "--confirm", "--endpoint-url", server.url],
                          capture_output=True, text=True, timeout=60, env=server.cli_env())
    assert done.returncode == 0 and "confirmed" in done.stdout, done.stdout + done.stderr

    # the article's test: run the preprocessor with any event
    r = lam.invoke(FunctionName="preprocessor", Payload=b"{}")
    result = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, result
    request_id = result["body"]["request_id"]
    assert result == {"statusCode": 200, "body": {"request_id": request_id}}
    raw = server.client("s3").get_object(Bucket=deploy.BUCKET, Key=f"{deploy.PREFIX}/preprocessor/{request_id}.json")
    assert json.loads(raw["Body"].read()) == {"key1": "val1", "key2": "val2", "key3": "val3"}

    # service01 changed the JSON and wrote it under its own prefix
    changed = wait_for(lambda: service_output(server, deploy, request_id), timeout=30, what="service01's output")
    assert changed == {"key1": None, "key2": "val2", "key3": "val3"}
    # ... and the notifier's mail carries the request id
    (mail,) = wait_for(lambda: notified(server, request_id), timeout=15, what="the notifier's e-mail")
    assert mail["To"] == EMAIL and mail["Kind"] == "email"
    # service01 read the SNS envelope from the SQS record body (it would have raised otherwise)
    lines = log_messages(server, "service01")
    assert any(line.startswith("REPORT RequestId:") for line in lines)
    assert not any("Traceback" in line or "[ERROR]" in line for line in lines), lines
    wait_for(lambda: queue_counts(sqs, out["service01"]["queue_url"]) == (0, 0), what="service01's queue drained")

    # starting from the middle (the article's reason for the connector): publish to it directly
    s3 = server.client("s3")
    s3.put_object(Bucket=deploy.BUCKET, Key=f"{deploy.PREFIX}/preprocessor/from-the-middle.json",
                  Body=json.dumps({"key1": "x", "key2": "y"}).encode())
    server.client("sns").publish(TopicArn=out["connector_topic_arn"],
                                 Message=json.dumps({"request_id": "from-the-middle"}))
    assert wait_for(lambda: service_output(server, deploy, "from-the-middle"), timeout=30,
                    what="the middle start") == {"key1": None, "key2": "y"}
    wait_for(lambda: notified(server, "from-the-middle"), timeout=15, what="the second e-mail")

"""Seed handlers, unchanged, against tsunagi's own services (seed 001's preprocessor: S3 + SNS)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.lambda_support import create, invoke

# Seed 001's preprocessor, copied unchanged from the article into examples/ (tests/e2e checks the copy).
PREPROCESSOR = Path(__file__).resolve().parents[2] / "examples" / "001-pipeline" / "preprocessor" / "lambda_function.py"


def _preprocessor_code() -> str:
    return PREPROCESSOR.read_text(encoding="utf-8")


def test_seed_001_preprocessor_unchanged(server) -> None:
    s3 = server.client("s3")
    sns = server.client("sns")
    s3.create_bucket(Bucket="pipeline-data")
    topic = sns.create_topic(Name="connector")["TopicArn"]
    lam = server.client("lambda")
    create(lam, "preprocessor", "lambda_function.lambda_handler", runtime="python3.12", Timeout=30,
           files={"lambda_function.py": _preprocessor_code()},
           Environment={"Variables": {"S3_BUCKET": "pipeline-data", "S3_PREFIX": "requests",
                                      "SNS_TOPIC_ARN_CONNECTOR": topic}})
    r, body = invoke(lam, "preprocessor")
    assert "FunctionError" not in r, body
    request_id = body["body"]["request_id"]
    obj = s3.get_object(Bucket="pipeline-data", Key=f"requests/preprocessor/{request_id}.json")
    assert json.loads(obj["Body"].read()) == {"key1": "val1", "key2": "val2", "key3": "val3"}

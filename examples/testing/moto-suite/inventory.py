"""The code under test: stock reports in S3, restock requests on a queue. It makes its own clients with
plain ``boto3.client(...)``, as most code does: no endpoint anywhere."""

from __future__ import annotations

import json

import boto3

REPORTS = "inventory-reports"


def save_report(day: str, stock: dict[str, int]) -> str:
    key = f"reports/{day}.json"
    boto3.client("s3").put_object(Bucket=REPORTS, Key=key, Body=json.dumps(stock).encode(),
                                  ContentType="application/json")
    return key


def load_report(day: str) -> dict[str, int]:
    body = boto3.client("s3").get_object(Bucket=REPORTS, Key=f"reports/{day}.json")["Body"].read()
    return dict(json.loads(body))


def request_restock(stock: dict[str, int], threshold: int = 5) -> list[str]:
    """One message on the ``restock`` queue per item below ``threshold``; the items, sorted."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="restock")["QueueUrl"]
    low = sorted(sku for sku, count in stock.items() if count < threshold)
    for sku in low:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"sku": sku, "have": stock[sku]}))
    return low

"""A plain-Python stand-in for the article's Django side, so the flow runs without Django.

    python task_app.py submit data.csv               # steps 1-4: CSV to S3, a que row, {"que_id": …} to the FIFO queue
    python task_app.py import QUE_ID -r RECEIPT      # step 9: what the ECS task runs (the article's management command)

``import`` follows the article's command (seed/import_command.py) step by step: look the que row up;
missing -> delete the message; RUNNING -> skip (someone else is on it); SUCCESS/FAILURE -> delete the
leftover message; otherwise extend the message's visibility to 3 hours, import the CSV from S3, delete
the message. The que table is a SQLite file ($QUE_DB, default tsunagi-seed003-que.sqlite3 in the temp directory) instead of a Django model.
$LONG_TASK_SECONDS makes the import take that long (to watch the extended visibility at work).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sqlite3
import sys
import tempfile
import time
from typing import Any

import boto3

BUCKET = "csv-uploads"
QUEUE = "que.fifo"
GROUP = "csv-import"
TIMEOUT = 3 * 60 * 60          # the article's visibility extension: 3 hours


def client(service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL", "http://localhost:4566"),
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "ap-northeast-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))


def db() -> sqlite3.Connection:
    conn = sqlite3.connect(os.environ.get("QUE_DB") or os.path.join(tempfile.gettempdir(), "tsunagi-seed003-que.sqlite3"), isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS que (id INTEGER PRIMARY KEY, key TEXT, status TEXT, rows INTEGER)")
    return conn


def submit(csv_path: str) -> int:
    """The web app's side: keep the upload, record a que row, send its id to the FIFO queue."""
    conn = db()
    que_id = int(conn.execute("INSERT INTO que (key, status) VALUES ('', 'PENDING')").lastrowid or 0)
    key = f"uploads/{que_id}.csv"
    conn.execute("UPDATE que SET key = ? WHERE id = ?", (key, que_id))
    with open(csv_path, "rb") as f:
        client("s3").put_object(Bucket=BUCKET, Key=key, Body=f.read())
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"que_id": que_id}), MessageGroupId=GROUP)
    return que_id


def import_csv(que_id: int, receipt_handle: str | None) -> str:
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    conn = db()
    row = conn.execute("SELECT key, status FROM que WHERE id = ?", (que_id,)).fetchone()
    if row is None:
        print(f"no que row {que_id}; deleting the message")
        if receipt_handle:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=receipt_handle)
        return "missing"
    key, status = row
    if status == "RUNNING":
        print(f"que {que_id} is running elsewhere; skipping")
        return "skipped"
    if status in ("SUCCESS", "FAILURE"):
        print(f"que {que_id} already done ({status}); deleting the leftover message")
        if receipt_handle:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=receipt_handle)
        return "done-before"
    try:
        if receipt_handle:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt_handle, VisibilityTimeout=TIMEOUT)
        conn.execute("UPDATE que SET status = 'RUNNING' WHERE id = ?", (que_id,))
        body = client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
        rows = list(csv.DictReader(io.StringIO(body)))
        time.sleep(float(os.environ.get("LONG_TASK_SECONDS", "0")))
        conn.execute("UPDATE que SET status = 'SUCCESS', rows = ? WHERE id = ?", (len(rows), que_id))
        print(f"que {que_id}: imported {len(rows)} rows from s3://{BUCKET}/{key}")
        if receipt_handle:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=receipt_handle)
        return "imported"
    except Exception as e:
        conn.execute("UPDATE que SET status = 'FAILURE' WHERE id = ?", (que_id,))
        print(e)
        return "failed"


def main() -> int:
    parser = argparse.ArgumentParser(description="the article's web app and long task, without Django")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("submit", help="upload a CSV and queue its import")
    p.add_argument("csv_path")
    p = sub.add_parser("import", help="the long task (what the ECS task runs)")
    p.add_argument("que_id", type=int)
    p.add_argument("-r", "--receipt-handle", default=None)
    args = parser.parse_args()
    if args.cmd == "submit":
        print(f"que_id {submit(args.csv_path)}")
        return 0
    return 0 if import_csv(args.que_id, args.receipt_handle) in ("imported", "missing", "done-before", "skipped") else 1


if __name__ == "__main__":
    sys.exit(main())

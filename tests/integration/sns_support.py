"""Helpers for the SNS integration tests: a local HTTP subscriber, queue helpers, signature checks."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding


class Subscriber:
    """An HTTP endpoint on 127.0.0.1 that records every POST; ``fail`` makes the next N requests answer 500."""

    def __init__(self, port: int = 0, status: int = 200) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail = 0
        self.status = status
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner.lock:
                    failing = owner.fail > 0
                    if failing:
                        owner.fail -= 1
                    owner.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()},
                                           "body": body.decode(), "failed": failing, "path": self.path})
                self.send_response(500 if failing else owner.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sns"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def of_type(self, kind: str, *, ok_only: bool = True) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["headers"].get("x-amz-sns-message-type") == kind
                    and (not ok_only or not r["failed"])]

    def wait(self, kind: str, n: int = 1, timeout: float = 15.0, *, ok_only: bool = True) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.of_type(kind, ok_only=ok_only)
            if len(got) >= n:
                return got
            time.sleep(0.02)
        raise AssertionError(f"{len(self.of_type(kind, ok_only=ok_only))} {kind} requests, wanted {n}")

    def confirm(self) -> str:
        """Visit the SubscribeURL of the first confirmation, as a subscriber would."""
        doc = json.loads(self.wait("SubscriptionConfirmation")[0]["body"])
        with urllib.request.urlopen(doc["SubscribeURL"], timeout=10) as r:
            return r.read().decode()


def queue(server: Any, name: str, **attributes: str) -> tuple[str, str]:
    """(url, arn) of a new queue."""
    sqs = server.sqs_client()
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive(server: Any, url: str, n: int = 1, timeout: float = 10.0, **kw: Any) -> list[dict[str, Any]]:
    sqs = server.sqs_client()
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, n - len(out)), WaitTimeSeconds=1,
                                  **kw).get("Messages", [])
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        out.extend(got)
    return out


def deliveries(server: Any, **query: str) -> list[dict[str, Any]]:
    qs = "&".join(f"{k}={urllib.request.quote(v, safe='')}" for k, v in query.items())
    with server.internal(f"/_tsunagi/sns/deliveries?{qs}") as r:
        return list(json.loads(r.read())["Deliveries"])


def mailbox(server: Any, to: str | None = None) -> list[dict[str, Any]]:
    qs = f"?to={urllib.request.quote(to, safe='')}" if to else ""
    with server.internal(f"/_tsunagi/sns/mail{qs}") as r:
        return list(json.loads(r.read())["Messages"])


def verify_like_a_subscriber(doc: dict[str, Any]) -> None:
    """Check a message's signature the way AWS's docs tell subscribers to: fetch the certificate from
    SigningCertURL, rebuild the string to sign from the message's own fields, verify SHA1/SHA256 RSA."""
    with urllib.request.urlopen(doc["SigningCertURL"], timeout=10) as r:
        cert = x509.load_pem_x509_certificate(r.read())
    if doc["Type"] == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    text = "".join(f"{k}\n{doc[k]}\n" for k in keys if k in doc)
    algorithm = hashes.SHA256() if doc["SignatureVersion"] == "2" else hashes.SHA1()
    cert.public_key().verify(base64.b64decode(doc["Signature"]), text.encode(), padding.PKCS1v15(),  # type: ignore[call-arg,arg-type]
                             algorithm)  # raises InvalidSignature

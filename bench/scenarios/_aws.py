"""Raw-client helpers for SNS (query), Lambda (rest-json) and S3 (rest-xml), shared by the scenarios.

Control-plane calls (create topic, subscribe, create function, create bucket ...) go through ``Api``
on one keep-alive connection; they are not measured. Measured calls are pre-signed bytes replayed
with ``bench.client`` as everywhere else.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import threading
import time
import urllib.parse
import uuid
import zipfile
from collections.abc import Callable

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from ..client import CREDS, Conn, Signer
from ..servers import Server
from .sqs import Sqs

ROLE = "arn:aws:iam::{account}:role/bench-lambda"
RUNTIME = "python3.11"


class ApiError(Exception):
    pass


def sns_body(action: str, params: dict[str, str]) -> str:
    return urllib.parse.urlencode({"Action": action, "Version": "2010-03-31", **params})


def sns_raw(sig: Signer, action: str, params: dict[str, str]) -> bytes:
    return sig.query("sns", sns_body(action, params))


def lambda_raw(sig: Signer, method: str, path: str, payload: dict | bytes | None = None,
               headers: dict[str, str] | None = None) -> bytes:
    if isinstance(payload, dict):
        body = json.dumps(payload, separators=(",", ":")).encode()
    else:
        body = payload or b""
    return sig.raw("lambda", body, {"Content-Type": "application/json", **(headers or {})}, path=path,
                   method=method)


def invoke_raw(sig: Signer, name: str, payload: bytes = b"{}") -> bytes:
    return lambda_raw(sig, "POST", f"/2015-03-31/functions/{name}/invocations", payload)


def s3_head(sig: Signer, method: str, path: str, length: int, payload_hash: str = "UNSIGNED-PAYLOAD",
            headers: dict[str, str] | None = None) -> bytes:
    """The head of a signed S3 request whose body (``length`` bytes) the caller sends itself."""
    hdrs = {"Host": sig.netloc, "X-Amz-Content-SHA256": payload_hash, **(headers or {})}
    req = AWSRequest(method=method, url=f"http://{sig.netloc}{path}", data=b"", headers=hdrs)
    SigV4Auth(CREDS, "s3", sig.region).add_auth(req)
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in req.headers.items()]
    lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def s3_raw(sig: Signer, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    return s3_head(sig, method, path, len(body), hashlib.sha256(body).hexdigest(), headers) + body


def _xml(body: bytes, tag: str) -> str | None:
    m = re.search(rf"<{tag}>([^<]*)</{tag}>".encode(), body)
    return m.group(1).decode() if m else None


def zip_of(source: str, name: str = "app.py") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, source)
    return buf.getvalue()


NOOP = "def handler(event, context):\n    return None\n"


class Api(Sqs):
    """Control-plane calls for SQS (inherited), SNS, Lambda and S3 on one connection."""

    def __init__(self, s: Server) -> None:
        super().__init__(s)
        self.lock = threading.Lock()

    def _req(self, raw: bytes) -> tuple[int, bytes]:
        with self.lock:
            return self.conn.request(raw)

    # ---- SQS extras
    def queue_arn(self, url: str) -> str:
        return self.call("GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["QueueArn"]})["Attributes"]["QueueArn"]

    def allow_all(self, url: str, arn: str) -> None:
        """A queue policy that lets any principal send (AWS needs it for SNS/S3 → SQS; peers ignore it)."""
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                                                          "Action": "sqs:SendMessage", "Resource": arn}]}
        self.call("SetQueueAttributes", {"QueueUrl": url, "Attributes": {"Policy": json.dumps(policy)}})

    # ---- SNS
    def sns(self, action: str, **params: str) -> bytes:
        status, body = self._req(sns_raw(self.sig, action, params))
        if status != 200:
            raise ApiError(f"SNS {action} → HTTP {status}: {body[:200]!r}")
        return body

    def topic(self, prefix: str) -> str:
        arn = _xml(self.sns("CreateTopic", Name=f"bench-{prefix}-{uuid.uuid4().hex[:8]}"), "TopicArn")
        if not arn:
            raise ApiError("CreateTopic: no TopicArn")
        return arn

    def subscribe_sqs(self, topic: str, queue_arn: str, raw: bool = False) -> str:
        params = {"TopicArn": topic, "Protocol": "sqs", "Endpoint": queue_arn, "ReturnSubscriptionArn": "true"}
        if raw:
            params.update({"Attributes.entry.1.key": "RawMessageDelivery", "Attributes.entry.1.value": "true"})
        return _xml(self.sns("Subscribe", **params), "SubscriptionArn") or ""

    def delete_topic(self, arn: str) -> None:
        try:
            self.sns("DeleteTopic", TopicArn=arn)
        except Exception:  # noqa: BLE001
            pass

    # ---- Lambda
    def lam(self, method: str, path: str, payload: dict | None = None, ok: tuple[int, ...] = (200, 201, 202, 204)
            ) -> dict:
        status, body = self._req(lambda_raw(self.sig, method, path, payload))
        if status not in ok:
            raise ApiError(f"Lambda {method} {path} → HTTP {status}: {body[:200]!r}")
        return json.loads(body) if body.strip() else {}

    def create_function_raw(self, name: str, zipped: bytes, env: dict[str, str] | None = None,
                            timeout: int = 30) -> bytes:
        return lambda_raw(self.sig, "POST", "/2015-03-31/functions", {
            "FunctionName": name, "Runtime": RUNTIME, "Role": ROLE.format(account=self.s.account),
            "Handler": "app.handler", "Code": {"ZipFile": base64.b64encode(zipped).decode()},
            "Timeout": timeout, "MemorySize": 128, "Environment": {"Variables": env or {}}})

    def create_function(self, name: str, zipped: bytes, env: dict[str, str] | None = None, timeout: int = 30
                        ) -> None:
        status, body = self._req(self.create_function_raw(name, zipped, env, timeout))
        if status not in (200, 201):
            raise ApiError(f"CreateFunction → HTTP {status}: {body[:200]!r}")
        self.wait_active(name)

    def wait_active(self, name: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        state = "?"
        while time.monotonic() < deadline:
            state = self.lam("GET", f"/2015-03-31/functions/{name}/configuration").get("State", "Active")
            if state == "Active":
                return state
            if state == "Failed":
                raise ApiError(f"function {name} is Failed")
            time.sleep(0.01)
        raise ApiError(f"function {name} not Active after {timeout:.0f}s ({state})")

    def delete_function(self, name: str) -> None:
        try:
            self.lam("DELETE", f"/2015-03-31/functions/{name}", ok=(200, 204, 404))
        except Exception:  # noqa: BLE001
            pass

    def mapping(self, function: str, source_arn: str, batch: int = 10, window: int = 0, enabled: bool = True
                ) -> str:
        return self.lam("POST", "/2015-03-31/event-source-mappings/", {
            "FunctionName": function, "EventSourceArn": source_arn, "BatchSize": batch,
            "MaximumBatchingWindowInSeconds": window, "Enabled": enabled})["UUID"]

    def mapping_state(self, uuid_: str) -> str:
        return self.lam("GET", f"/2015-03-31/event-source-mappings/{uuid_}").get("State", "?")

    def wait_mapping(self, uuid_: str, states: tuple[str, ...], timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        st = "?"
        while time.monotonic() < deadline:
            st = self.mapping_state(uuid_)
            if st in states:
                return st
            time.sleep(0.02)
        raise ApiError(f"mapping {uuid_} still {st} after {timeout:.0f}s (wanted {'/'.join(states)})")

    def delete_mapping(self, uuid_: str) -> None:
        try:
            self.lam("DELETE", f"/2015-03-31/event-source-mappings/{uuid_}", ok=(200, 202, 204, 404))
        except Exception:  # noqa: BLE001
            pass

    # ---- S3
    def s3(self, method: str, path: str, body: bytes = b"", ok: tuple[int, ...] = (200, 204),
           headers: dict[str, str] | None = None) -> bytes:
        status, out = self._req(s3_raw(self.sig, method, path, body, headers))
        if status not in ok:
            raise ApiError(f"S3 {method} {path} → HTTP {status}: {out[:200]!r}")
        return out

    def bucket(self, prefix: str) -> str:
        name = f"bench-{prefix}-{uuid.uuid4().hex[:8]}"
        self.s3("PUT", f"/{name}")
        return name

    def empty_bucket(self, bucket: str) -> None:
        """Delete every object (in batches of up to 1,000) and the bucket; failures are ignored."""
        try:
            for _ in range(100):
                listing = self.s3("GET", f"/{bucket}?list-type=2&max-keys=1000")
                keys = re.findall(rb"<Key>([^<]*)</Key>", listing)
                if not keys:
                    break
                objs = "".join(f"<Object><Key>{k.decode()}</Key></Object>" for k in keys)
                body = f"<Delete><Quiet>true</Quiet>{objs}</Delete>".encode()
                md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
                self.s3("POST", f"/{bucket}?delete", body, headers={"Content-MD5": md5, "Content-Type": "application/xml"})
            self.s3("DELETE", f"/{bucket}", ok=(200, 204, 404, 409))
        except Exception:  # noqa: BLE001
            pass


def not_docker(name: str) -> str:
    return f"n/a: {name} runs functions only in Docker (none here)"


FUNCTION_PEERS = ("tsunagi", "tsunagi-pg", "ministack")   # servers that run Python functions without Docker


def pct_ms(values: list[float], p: float) -> float | None:
    from ..client import pct

    v = pct(values, p)
    return None if v is None else v * 1000.0


def wait_until(pred: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def xml_text(body: bytes, tag: str) -> str | None:
    return _xml(body, tag)


def long_poll(url: str, sig: Signer, wait: int = 20, n: int = 10, visibility: int = 30) -> bytes:
    return sig.sqs("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": n, "WaitTimeSeconds": wait,
                                      "VisibilityTimeout": visibility})


def messages(status: int, body: bytes) -> list[dict]:
    if status != 200:
        return []
    try:
        return json.loads(body).get("Messages") or []
    except ValueError:
        return []


def delete_batch(conn: Conn, sig: Signer, url: str, msgs: list[dict]) -> None:
    for i in range(0, len(msgs), 10):
        chunk = msgs[i:i + 10]
        conn.request(sig.sqs("DeleteMessageBatch", {"QueueUrl": url, "Entries": [
            {"Id": f"d{j}", "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(chunk)]}))

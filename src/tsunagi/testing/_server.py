"""A real ``tsunagi serve`` for a test suite: started on a free port with a temporary data dir, or one
already running (``TSUNAGI_ENDPOINT``), and the :class:`Endpoint` handle tests use to reach it."""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_REGION = "us-east-1"
# A 12-digit access key id is an account id to tsunagi: the same account moto-based tests expect.
ACCESS_KEY = "123456789012"
SECRET_KEY = "test"
START_TIMEOUT_S = 60.0


class StartError(RuntimeError):
    """``tsunagi serve`` exited or never answered its health check."""


class Endpoint(str):
    """A tsunagi server: the string is its URL (``endpoint_url=`` takes it as it is), with the admin token
    its internal endpoints need and helpers for tests (clients, reset, waiting on pipelines, the mailbox).
    """

    url: str
    token: str
    region: str
    access_key: str
    _host: str
    _port: int
    _https: bool
    _local: threading.local

    def __new__(cls, url: str, token: str = "", *, region: str = DEFAULT_REGION,
                access_key: str = ACCESS_KEY) -> Endpoint:
        self = super().__new__(cls, url.rstrip("/"))
        self.url = str.__str__(self)
        self.token = token
        self.region = region
        self.access_key = access_key
        parts = urllib.parse.urlsplit(self.url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._https = parts.scheme == "https"
        self._local = threading.local()
        return self

    # -- clients -----------------------------------------------------------------------------------
    def client_kwargs(self, region: str | None = None) -> dict[str, str]:
        """What ``boto3.client(service, **kwargs)`` needs to reach this server."""
        return {"endpoint_url": self.url, "region_name": region or self.region,
                "aws_access_key_id": self.access_key, "aws_secret_access_key": SECRET_KEY}

    def client(self, service: str, *, region: str | None = None, **kwargs: Any) -> Any:
        """A boto3 client of ``service`` pointed at this server (dummy credentials, the region given or
        the endpoint's). Further keyword arguments go to ``boto3.client`` (``config=``, say)."""
        import boto3

        return boto3.client(service, **{**self.client_kwargs(region), **kwargs})  # type: ignore[call-overload]

    def resource(self, service: str, *, region: str | None = None, **kwargs: Any) -> Any:
        import boto3

        return boto3.resource(service, **{**self.client_kwargs(region), **kwargs})  # type: ignore[call-overload]

    # -- tsunagi's own endpoints ---------------------------------------------------------------------
    def _request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """One request on this thread's keep-alive connection (opened again if the server closed it)."""
        headers = {"X-Tsunagi-Token": self.token, "Content-Length": str(len(body or b""))}
        for attempt in (0, 1):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
                conn = self._local.conn = cls(self._host, self._port, timeout=30)
            try:
                conn.request(method, path, body=body or b"", headers=headers)
                resp = conn.getresponse()
                return resp.status, resp.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _internal(self, method: str, path: str) -> Any:
        status, data = self._request(method, path)
        if status != 200:
            hint = ""
            if status == 403:
                hint = (" (set TSUNAGI_ADMIN_TOKEN to the server's admin token: it is printed when the server "
                        "starts and kept in <data dir>/admin-token)")
            raise RuntimeError(f"{method} {path} answered {status}: {data[:300]!r}{hint}")
        return json.loads(data)

    def healthy(self) -> bool:
        try:
            status, _ = self._request("GET", "/_tsunagi/health")
        except OSError:
            return False
        return status == 200

    def reset(self) -> None:
        """Wipe all state: every queue, topic, function, bucket, key, log, ... (``POST /_tsunagi/reset``);
        running functions and ECS tasks are stopped."""
        self._internal("POST", "/_tsunagi/reset")

    def mailbox(self, to: str | None = None, *, after: int = 0, limit: int = 1000,
                kind: str | None = None) -> list[dict[str, Any]]:
        """SNS's local mailbox: what e-mail and SMS subscriptions received (and subscription confirmations),
        texts to phone numbers and push notifications to platform endpoints (``kind="push"``), oldest
        first. Each is a dict with ``To``, ``Subject``, ``Body``, ``Kind``, ``TopicArn``, ..."""
        query = {"after": str(after), "limit": str(limit)}
        if to:
            query["to"] = to
        if kind:
            query["kind"] = kind
        doc = self._internal("GET", "/_tsunagi/sns/mail?" + urllib.parse.urlencode(query))
        return list(doc.get("Messages", []))

    def wait_for_mail(self, count: int = 1, to: str | None = None, *, timeout: float = 10.0,
                      kind: str | None = None) -> list[dict[str, Any]]:
        """The mailbox (to ``to``, of ``kind``) once it holds at least ``count`` messages; AssertionError
        after ``timeout``."""
        return _until(lambda: self.mailbox(to, kind=kind), lambda mail: len(mail) >= count, timeout, 0.02,
                      lambda mail: f"the mailbox{' of ' + to if to else ''} holds {len(mail)} messages, "
                                   f"not {count}, after {timeout}s")

    def deliveries(self, **query: str) -> list[dict[str, Any]]:
        """Delivery records (every pipe's), by ``trace_id``, ``message_id``, ``source_arn`` or ``account``."""
        doc = self._internal("GET", "/_tsunagi/api/deliveries?" + urllib.parse.urlencode(query))
        return list(doc.get("Deliveries", []))

    def wait_for_deliveries(self, count: int = 1, *, timeout: float = 10.0, **query: str) -> list[dict[str, Any]]:
        """The delivery records of a journey (``trace_id=``, ``message_id=``, ``source_arn=`` or ``account=``)
        once there are at least ``count``: each says where a message went (``TargetArn``, ``Protocol``) and
        how it ended (``Outcome``, ``Reason``). AssertionError after ``timeout``."""
        return _until(lambda: self.deliveries(**query), lambda records: len(records) >= count, timeout, 0.02,
                      lambda records: f"{len(records)} delivery records for {query}, not {count}, after "
                                      f"{timeout}s: {records[-3:]}")

    # -- waiting on pipelines ------------------------------------------------------------------------
    def _queue_url(self, sqs: Any, queue: str) -> str:
        if queue.startswith(("http://", "https://")):
            return queue
        if queue.startswith("arn:"):
            parts = queue.split(":")
            return str(sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"])
        return str(sqs.get_queue_url(QueueName=queue)["QueueUrl"])

    def wait_for_messages(self, queue: str, count: int, *, timeout: float = 10.0, region: str | None = None) -> int:
        """Wait until ``queue`` (its URL, ARN or name) holds at least ``count`` visible messages, and return
        how many it holds; AssertionError after ``timeout`` seconds. Nothing is received: the messages stay."""
        sqs = self._sqs(region)
        url = self._queue_url(sqs, queue)
        def held() -> int:
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

        return _until(held, lambda n: n >= count, timeout, 0.01,
                      lambda n: f"{queue} holds {n} messages, not {count}, after {timeout}s")

    def receive_messages(self, queue: str, count: int, *, timeout: float = 10.0, region: str | None = None,
                         delete: bool = True) -> list[dict[str, Any]]:
        """Receive ``count`` messages from ``queue`` (URL, ARN or name), long-polling until they are all in
        or ``timeout`` passes (AssertionError); deleted once received unless ``delete=False``."""
        sqs = self._sqs(region)
        url = self._queue_url(sqs, queue)
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"received {len(got)} messages from {queue}, not {count}, in {timeout}s")
            resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, count - len(got)),
                                       WaitTimeSeconds=max(0, min(20, int(left))), MessageAttributeNames=["All"],
                                       MessageSystemAttributeNames=["All"])
            batch = resp.get("Messages", [])
            got.extend(batch)
            if delete and batch:
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])
        return got

    def function_logs(self, function: str, *, contains: str | None = None, timeout: float = 10.0,
                      region: str | None = None) -> list[str]:
        """The log lines a function printed (its log group, ``/aws/lambda/<function>``, every stream, oldest
        first). With ``contains``, wait until a line containing it is there (AssertionError after
        ``timeout``); without, wait until there is any line."""
        logs = self.client("logs", region=region)
        group = function if function.startswith("/") else f"/aws/lambda/{function}"
        if not function.startswith("/"):
            try:
                conf = self.client("lambda", region=region).get_function_configuration(FunctionName=function)
                group = conf.get("LoggingConfig", {}).get("LogGroup") or group
            except Exception:  # the function is gone: its default group still holds what it printed
                pass
        deadline = time.monotonic() + timeout
        while True:
            lines: list[str] = []
            kwargs: dict[str, Any] = {"logGroupName": group}
            try:
                while True:
                    page = logs.filter_log_events(**kwargs)
                    lines.extend(e["message"].rstrip("\n") for e in page.get("events", []))
                    if not page.get("nextToken"):
                        break
                    kwargs["nextToken"] = page["nextToken"]
            except logs.exceptions.ResourceNotFoundException:
                lines = []
            if (contains is None and lines) or (contains is not None and any(contains in ln for ln in lines)):
                return lines
            if time.monotonic() > deadline:
                want = f"a line containing {contains!r}" if contains is not None else "any line"
                raise AssertionError(f"{group} has no {want} after {timeout}s; it has {len(lines)} lines: "
                                     f"{lines[-5:]}")
            time.sleep(0.05)

    def _sqs(self, region: str | None) -> Any:
        key = region or self.region
        cache: dict[str, Any] = self._local.__dict__.setdefault("sqs", {})
        if key not in cache:
            cache[key] = self.client("sqs", region=key)
        return cache[key]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


# ---------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One ``tsunagi serve`` child process with a temporary data dir (removed on :meth:`stop`)."""

    def __init__(self, *, args: Sequence[str] = (), env: dict[str, str] | None = None, store: str = "sqlite",
                 data_dir: str | None = None, region: str = DEFAULT_REGION) -> None:
        self.args = list(args)
        self.env = dict(env or {})
        self.store = store
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="tsunagi-test-")
        self.region = region
        self.token = self.env.get("TSUNAGI_ADMIN_TOKEN") or secrets.token_urlsafe(16)
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoint: Endpoint | None = None
        self.port = 0

    @property
    def log_path(self) -> str:
        return os.path.join(self.data_dir, "server.log")

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-8000:]
        except OSError:
            return ""

    def start(self, timeout: float = START_TIMEOUT_S) -> Endpoint:
        last: Exception | None = None
        for _ in range(3):      # a free port can be taken between finding it and binding it
            try:
                return self._start_once(timeout)
            except StartError as e:
                last = e
                if "in use" not in str(e).lower():
                    raise
        assert last is not None
        raise last

    def _start_once(self, timeout: float) -> Endpoint:
        self.port = free_port()
        env = {**os.environ, **self.env, "TSUNAGI_ADMIN_TOKEN": self.token}
        # SNS signs on threads: a test suite needs no signing processes, and starting one would compete
        # with the server's own start for the CPU (set the variable to have them anyway)
        env.setdefault("TSUNAGI_SNS_SIGNING_PROCESSES", "0")
        # the test suite's AWS settings are for its clients, not the server
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            env.pop(name, None)
        # --exit-with-parent: the server's stdin is a pipe whose write end only this process holds (not
        # inherited by its other children); when this process dies, even by SIGKILL, the pipe closes and
        # the server stops instead of running on, orphaned. --ready-fd: the server writes a line to another
        # pipe once its port accepts connections, so this process waits on that pipe instead of polling
        ready_r, ready_w = os.pipe()
        argv = [sys.executable, "-m", "tsunagi", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                "--data-dir", self.data_dir, "--store", self.store, "--log-level", "warning",
                "--exit-with-parent", "--ready-fd", str(ready_w), *self.args]
        try:
            try:
                with open(self.log_path, "ab") as log:
                    proc = self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                                        stdin=subprocess.PIPE, env=env, start_new_session=True,
                                                        pass_fds=(ready_w,))
            finally:
                os.close(ready_w)   # the server's copy is the only one left: its exit reads as end of file
            endpoint = Endpoint(f"http://127.0.0.1:{self.port}", self.token, region=self.region)
            _import_boto3()
            deadline = time.monotonic() + timeout
            said = _wait_ready(ready_r, deadline)
        finally:
            os.close(ready_r)
        if said == "ready":
            self.endpoint = endpoint
            return endpoint
        if said == "closed":        # it exited (or is exiting) before its port opened
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(1.0, deadline - time.monotonic()))
        if proc.poll() is None:
            self.kill()
            raise StartError(f"tsunagi serve did not become ready in {timeout:.0f}s:\n{self.log()}")
        _close_pipe(proc)
        self.proc = None
        raise StartError(f"tsunagi serve exited with {proc.returncode}:\n{self.log()}")

    def stop(self, timeout: float = 15.0) -> None:
        if self.endpoint is not None:
            self.endpoint.close()
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
        if proc is not None:
            _close_pipe(proc)
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            _kill_group(proc)
        if proc is not None:
            _close_pipe(proc)


def _close_pipe(proc: subprocess.Popen[bytes]) -> None:
    """Close this end of the server's stdin pipe (the server stops when it closes)."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()


def _until(fetch: Callable[[], T], enough: Callable[[T], bool], timeout: float, interval: float,
           failure: Callable[[T], str]) -> T:
    """``fetch()`` again every ``interval`` seconds until ``enough`` of it; AssertionError with
    ``failure(last)`` once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if enough(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(failure(value))
        time.sleep(interval)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the server and what it started (function workers), which share its session."""
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _import_boto3() -> None:
    """While the server starts (its own process, on another CPU): import boto3 if this process has not
    yet, as the test is about to make its clients with it. Nothing more: a client made here, on a session
    of its own, would not make the test's first client cheaper (botocore loads every session's models and
    endpoint data anew: the test's first SQS client executes as many instructions either way), and while
    it was being made the server's readiness went unnoticed."""
    if "boto3" in sys.modules:
        return
    try:
        import boto3  # noqa: F401
    except Exception:  # noqa: BLE001 - only a head start (no boto3): the test finds out
        return


def _wait_ready(fd: int, deadline: float) -> str:
    """What the server said on the pipe ``fd`` (its ``--ready-fd``) by ``deadline``: "ready" (its port
    accepts connections), "closed" (end of file without that line: it exited) or "timeout"."""
    got = b""
    while not got.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return "timeout"
        chunk = os.read(fd, 256)
        if not chunk:
            return "closed"
        got += chunk
    return "ready" if got.startswith(b"ready") else "closed"


# ---------------------------------------------------------------------------------------------------
# one server per process, shared by the pytest plugin and mock_aws()

_lock = threading.Lock()
_shared: Endpoint | None = None
_shared_server: Server | None = None


def from_environment() -> Endpoint | None:
    """The server named by ``TSUNAGI_ENDPOINT`` (its admin token in ``TSUNAGI_ADMIN_TOKEN``), if set."""
    url = os.environ.get("TSUNAGI_ENDPOINT", "").strip()
    if not url:
        return None
    return Endpoint(url, os.environ.get("TSUNAGI_ADMIN_TOKEN", ""),
                    region=os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEFAULT_REGION)


def shared(*, args: Sequence[str] = (), env: dict[str, str] | None = None) -> Endpoint:
    """This process's tsunagi: ``TSUNAGI_ENDPOINT`` when set, else a ``tsunagi serve`` started on first use
    (``args`` and ``env`` apply then) and stopped when the process exits."""
    global _shared, _shared_server
    with _lock:
        if _shared is not None:
            return _shared
        found = from_environment()
        if found is None:
            srv = Server(args=args, env=env)
            found = srv.start()
            _shared_server = srv
            atexit.register(stop_shared)
        _shared = found
        return found


def stop_shared() -> None:
    """Stop this process's shared server (if this process started it)."""
    global _shared, _shared_server
    with _lock:
        srv, _shared_server, _shared = _shared_server, None, None
    if srv is not None:
        srv.stop()


@contextlib.contextmanager
def server(*, args: Sequence[str] = (), env: dict[str, str] | None = None, store: str = "sqlite",
           region: str = DEFAULT_REGION) -> Iterator[Endpoint]:
    """A tsunagi of its own for the ``with`` block: ``tsunagi serve`` on a free port with a temporary data
    dir, stopped (and the dir removed) on exit. ``args`` are more ``tsunagi serve`` flags
    (``["--policies", "enforce"]``), ``env`` more environment (``TSUNAGI_*``), ``store`` a PostgreSQL URL
    to keep state there. With ``TSUNAGI_ENDPOINT`` set, that server is used instead and nothing starts."""
    found = from_environment()
    if found is not None:
        yield found
        found.close()
        return
    srv = Server(args=args, env=env, store=store, region=region)
    try:
        yield srv.start()
    finally:
        srv.stop()

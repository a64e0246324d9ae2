"""A real ``tsunagi serve`` process for tests: start, stop (SIGTERM), kill -9, restart."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

from tests.support.postgres import SHARED_MASTER_KEYS

REPO = Path(__file__).resolve().parents[2]
TSUNAGI = [sys.executable, "-m", "tsunagi"]
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}


_QUERY_SESSION = None


def _query_sqs_session():
    """A botocore session whose SQS model is the query form (old SDKs, curl, API Gateway)."""
    global _QUERY_SESSION
    if _QUERY_SESSION is None:
        import json

        import botocore.session
        from botocore.loaders import Loader

        from tsunagi.protocol.sqs_query import patch_description

        folder = Path(tempfile.mkdtemp(prefix="sqs-query-model-"))
        model_dir = folder / "sqs" / "2012-11-05"
        model_dir.mkdir(parents=True)
        description = patch_description(Loader().load_service_model("sqs", "service-2"))
        (model_dir / "service-2.json").write_text(json.dumps(description))
        session = botocore.session.Session()
        session.get_component("data_loader").search_paths.insert(0, str(folder))
        _QUERY_SESSION = session
    return _QUERY_SESSION


def healthy(port: int) -> bool:
    """Whether a tsunagi answers its health check on 127.0.0.1:``port``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_tsunagi/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TsunagiServer:
    """One server process. ``store`` is passed to ``--store`` (``sqlite`` or a PostgreSQL URL)."""

    def __init__(self, store: str = "sqlite", data_dir: str | None = None, port: int | None = None,
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        self.store = store
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="tsunagi-test-")
        os.makedirs(self.data_dir, exist_ok=True)
        self.port = port or free_port()
        self.extra_args = extra_args or []
        self.env = env or {}
        shared_key = SHARED_MASTER_KEYS.get(store)
        if shared_key is not None:
            self.env.setdefault("TSUNAGI_MASTER_KEY", shared_key)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(self.data_dir) / f"server-{self.port}.log"
        # the token tsunagi's internal endpoints (/_tsunagi/reset, the mailbox, …) require
        self.token = self.env.setdefault("TSUNAGI_ADMIN_TOKEN", secrets.token_urlsafe(16))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> TsunagiServer:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child holds it
        self.proc = subprocess.Popen(
            [*TSUNAGI, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", self.data_dir,
             "--store", self.store, "--log-level", "info", *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(REPO))
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tsunagi exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_tsunagi/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"tsunagi did not become healthy in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self) -> TsunagiServer:
        self.stop()
        return self.start()

    def reset(self) -> None:
        with self.internal("/_tsunagi/reset", method="POST", data=b"", timeout=30) as r:
            assert r.status == 200

    def cli_env(self) -> dict[str, str]:
        """The environment for ``tsunagi`` subcommands that talk to this server (its admin token)."""
        return {**os.environ, "TSUNAGI_ADMIN_TOKEN": self.token}

    @property
    def strict(self) -> bool:
        args = " ".join(self.extra_args)
        return self.env.get("TSUNAGI_AUTH", os.environ.get("TSUNAGI_AUTH", "")) == "strict" or "--auth strict" in args

    def internal(self, path: str, *, method: str = "GET", data: bytes | None = None, timeout: float = 10):
        """An internal endpoint (``/_tsunagi/…``) with the admin token: ``with srv.internal(path) as r``.
        Under ``--auth strict`` the request is also signed with the root key pair (reset wants the root)."""
        headers = {"X-Tsunagi-Token": self.token}
        if self.strict:
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials

            key = self.env.get("TSUNAGI_ACCESS_KEY_ID") or "test"
            secret = self.env.get("TSUNAGI_SECRET_ACCESS_KEY") or "test"
            signed = AWSRequest(method=method, url=f"{self.url}{path}", data=data or b"", headers=headers)
            SigV4Auth(Credentials(key, secret), "sts", "us-east-1").add_auth(signed)
            headers = dict(signed.headers.items())
        req = urllib.request.Request(f"{self.url}{path}", method=method, data=data, headers=headers)
        return urllib.request.urlopen(req, timeout=timeout)

    def client(self, service: str, *, access_key: str = "test", region: str = "us-east-1", **config):
        cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=30, connect_timeout=5,
                     **config)
        return boto3.client(service, endpoint_url=self.url, aws_access_key_id=access_key,
                            aws_secret_access_key="test", region_name=region, config=cfg)

    def sqs_client(self, protocol: str = "json", *, access_key: str = "test", region: str = "us-east-1"):
        """An SQS client speaking ``json`` (today's SDKs) or the older ``query`` protocol."""
        if protocol == "json":
            return self.client("sqs", access_key=access_key, region=region)
        session = boto3.Session(botocore_session=_query_sqs_session(), aws_access_key_id=access_key,
                                aws_secret_access_key="test", region_name=region)
        cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=30, connect_timeout=5)
        return session.client("sqs", endpoint_url=self.url, config=cfg)

    def aws(self, *args: str, access_key: str = "test", check: bool = True,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the aws CLI against this server."""
        aws = Path(sys.executable).parent / "aws"
        env = {**os.environ, "AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": "test",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": "", "AWS_CONFIG_FILE": "/dev/null",
               "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
        env.pop("AWS_PROFILE", None)
        proc = subprocess.run([str(aws), "--endpoint-url", self.url, "--output", "json", *args],
                              capture_output=True, text=True, env=env, input=input, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

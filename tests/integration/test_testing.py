"""tsunagi in other projects' test suites (``tsunagi.testing`` and its pytest plugin), run as a user runs
them: the sample suites in ``examples/testing/`` with this venv's pytest, in a subprocess, against a
server they start themselves and against a running one (``TSUNAGI_ENDPOINT``, on both stores)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3
import pytest

from tests.support.server import REPO, TsunagiServer
from tsunagi import testing
from tsunagi.testing._server import free_port

EXAMPLES = REPO / "examples" / "testing"


def run_suite(name: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("TSUNAGI_", "AWS_", "PYTEST_")) and k != "CI"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly"], cwd=EXAMPLES / name,
                          env={**clean, **env}, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"{name}:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.parametrize("name, passed", [("pytest-plugin", 6), ("moto-suite", 7)])
def test_sample_suite_passes_with_its_own_server(name: str, passed: int) -> None:
    proc = run_suite(name)
    assert f"{passed} passed" in proc.stdout


@pytest.mark.parametrize("name, passed", [("pytest-plugin", "5 passed, 1 skipped"), ("moto-suite", "7 passed")])
def test_sample_suite_passes_against_a_running_server(server: TsunagiServer, name: str, passed: str) -> None:
    # (the policy test is skipped: this server was not started with the suite's --policies enforce)
    proc = run_suite(name, TSUNAGI_ENDPOINT=server.url, TSUNAGI_ADMIN_TOKEN=server.token)
    assert passed in proc.stdout


@pytest.fixture
def shared_is(server: TsunagiServer, monkeypatch: pytest.MonkeyPatch):
    """This process's shared tsunagi is the session's server (no other process started)."""
    testing.stop_shared()
    monkeypatch.setenv("TSUNAGI_ENDPOINT", server.url)
    monkeypatch.setenv("TSUNAGI_ADMIN_TOKEN", server.token)
    yield server
    testing.stop_shared()


def test_mock_aws_points_plain_clients_at_tsunagi_and_restores_everything(shared_is, monkeypatch) -> None:
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    boto3.setup_default_session()
    real = boto3.DEFAULT_SESSION.get_credentials()       # resolved (and kept) before the block
    assert real.access_key == "AKIAREALKEY"
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "https://sqs.example.invalid")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    before = dict(os.environ)
    session = boto3.DEFAULT_SESSION

    with testing.mock_aws() as endpoint:
        assert endpoint == shared_is.url
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="inside")["QueueUrl"]
        assert url.startswith(shared_is.url)
        assert boto3.client("sts").get_caller_identity()["Account"] == "123456789012"
        with testing.mock_aws():        # nested: the same state
            assert boto3.client("sqs").get_queue_url(QueueName="inside")["QueueUrl"] == url
        assert boto3.client("sqs").list_queues()["QueueUrls"] == [url]

    assert dict(os.environ) == before
    assert boto3.DEFAULT_SESSION is session
    assert boto3.DEFAULT_SESSION.get_credentials() is real
    monkeypatch.delenv("AWS_PROFILE")       # (no such profile here, for the check below)
    # state was wiped when the outermost block ended
    assert shared_is.client("sqs", access_key="123456789012").list_queues().get("QueueUrls", []) == []


def test_mock_aws_restores_the_environment_when_the_test_fails(shared_is, monkeypatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)

    @testing.mock_aws
    def broken() -> None:
        boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="left-behind")
        raise ValueError("the test failed")

    with pytest.raises(ValueError):
        broken()
    assert "AWS_ENDPOINT_URL" not in os.environ
    # the default session made in the block stays, but does not keep the block's credentials
    assert boto3.DEFAULT_SESSION is not None and boto3.DEFAULT_SESSION._session._credentials is None
    assert shared_is.client("sqs", access_key="123456789012").list_queues().get("QueueUrls", []) == []


def test_mock_aws_on_a_coroutine_function(shared_is) -> None:
    import asyncio

    @testing.mock_aws
    async def work() -> str:
        return str(boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="async")["QueueUrl"])

    assert asyncio.run(work()).endswith("/123456789012/async")


@pytest.mark.sqlite_only
def test_server_starts_a_private_server_and_stops_it(monkeypatch) -> None:
    monkeypatch.delenv("TSUNAGI_ENDPOINT", raising=False)
    with testing.server(args=["--policies", "enforce"]) as endpoint:
        sqs = endpoint.client("sqs")
        sqs.create_queue(QueueName="private")
        assert endpoint.wait_for_messages("private", 0) == 0
        url = endpoint.url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/_tsunagi/health", timeout=2)


@pytest.mark.sqlite_only
def test_a_server_that_cannot_start_is_a_start_error_with_its_log_at_once(monkeypatch) -> None:
    # the ready pipe reads end of file when the server exits: no waiting out the start timeout
    monkeypatch.delenv("TSUNAGI_ENDPOINT", raising=False)
    began = time.monotonic()
    with pytest.raises(testing.StartError, match=r"exited with 2:(.|\n)*--policies"), \
            testing.server(args=["--policies", "sometimes"]):
        pass
    assert time.monotonic() - began < 30


@pytest.mark.sqlite_only
def test_serve_writes_its_ready_line_once_the_port_accepts_connections(tmp_path) -> None:
    read_end, write_end = os.pipe()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tsunagi", "serve", "--port", str(port), "--data-dir",
                             str(tmp_path), "--log-level", "warning", "--ready-fd", str(write_end)],
                            pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "TSUNAGI_SNS_SIGNING_PROCESSES": "0"})
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as ready:
            assert ready.readline() == f"ready http://localhost:{port}\n".encode()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_tsunagi/health", timeout=10) as r:
                assert r.status == 200
            assert ready.read() == b""          # closed after the line: nothing holds it open
    finally:
        proc.terminate()
        proc.wait(15)


def test_reset_needs_the_admin_token(server: TsunagiServer) -> None:
    wrong = testing.Endpoint(server.url, "not-the-token")
    with pytest.raises(RuntimeError, match="403"):
        wrong.reset()


def test_delivery_records_of_a_publish(shared_is) -> None:
    endpoint = testing.shared()
    sns, sqs = endpoint.client("sns"), endpoint.client("sqs")
    topic = sns.create_topic(Name="news")["TopicArn"]
    url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    message_id = sns.publish(TopicArn=topic, Message="hello")["MessageId"]

    (record,) = endpoint.wait_for_deliveries(1, message_id=message_id)
    assert record["TargetArn"].startswith(topic + ":")      # the subscription
    assert record["Protocol"] == "sqs"
    assert endpoint.wait_for_messages(url, 1) == 1


def _gone(pid: int, timeout: float) -> bool:
    """Whether process ``pid`` has exited (or is a zombie nobody reaped) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def _start_and_kill(tmp_path, *args: str) -> tuple[int, str]:
    """Run a child python (``args``) that starts a server and writes ``<server pid> <url>`` to
    ``tmp_path/started``; SIGKILL the child once it has; the server's pid and URL."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TSUNAGI_", "AWS_", "PYTEST_"))}
    marker = tmp_path / "started"
    child = subprocess.Popen([sys.executable, *args], cwd=tmp_path, env={**clean, "MARKER": str(marker)},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (marker.exists() and marker.read_text().endswith("\n")):
            assert child.poll() is None, f"the child exited with {child.returncode} before starting a server"
            assert time.monotonic() < deadline, "no server started in 60 s"
            time.sleep(0.05)
        pid, url = marker.read_text().split()
        with urllib.request.urlopen(f"{url}/_tsunagi/health", timeout=5) as r:
            assert r.status == 200
    finally:
        child.kill()        # SIGKILL: no atexit, no finally, no fixture teardown in the child
        child.wait()
    return int(pid), url


SERVER_CHILD = """
import os, time
from tsunagi import testing
from tsunagi.testing._server import free_port
srv = testing.Server()
endpoint = srv.start()
with open(os.environ["MARKER"], "w") as f:
    f.write(f"{srv.proc.pid} {endpoint.url}\\n")
time.sleep(120)
"""

PYTEST_CHILD = """
import os, time
from tsunagi.testing import _server

def test_waits(tsunagi_endpoint):
    with open(os.environ["MARKER"], "w") as f:
        f.write(f"{_server._shared_server.proc.pid} {tsunagi_endpoint.url}\\n")
    time.sleep(120)
"""


@pytest.mark.sqlite_only
def test_a_server_stops_when_the_process_that_started_it_is_killed(tmp_path) -> None:
    (tmp_path / "child.py").write_text(SERVER_CHILD)
    pid, url = _start_and_kill(tmp_path, "child.py")
    gone = _gone(pid, 20)
    if not gone:
        os.kill(pid, signal.SIGKILL)
    assert gone, "the server runs on after its parent was killed"
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/_tsunagi/health", timeout=2)


@pytest.mark.sqlite_only
def test_the_plugins_server_stops_when_pytest_is_killed(tmp_path) -> None:
    (tmp_path / "test_wait.py").write_text(PYTEST_CHILD)
    pid, url = _start_and_kill(tmp_path, "-m", "pytest", "-q", "-p", "no:randomly",
                               "-p", "no:cacheprovider", "test_wait.py")
    gone = _gone(pid, 20)
    if not gone:
        os.kill(pid, signal.SIGKILL)
    assert gone, "the plugin's server runs on after pytest was killed"
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/_tsunagi/health", timeout=2)

"""The first five minutes, tried as a new user would: the README's commands, `tsunagi serve` started
from a folder, the aws CLI. Each test is one thing a newcomer met that went wrong before."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.server import REPO, TsunagiServer, free_port, healthy

TSUNAGI = [sys.executable, "-m", "tsunagi"]
ENV = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PAGER": ""}
for _name in ("AWS_ENDPOINT_URL", "TSUNAGI_DATA_DIR", "TSUNAGI_PORT", "TSUNAGI_STORE", "TSUNAGI_ADMIN_TOKEN"):
    ENV.pop(_name, None)


def wait_healthy(proc: subprocess.Popen, port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not healthy(port):
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no answer on :{port} within {timeout}s")
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.stdout.read() if proc.stdout else ""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty folder the user starts things from."""
    d = tmp_path / "work"
    d.mkdir()
    return d


def serve_in(folder: Path, port: int, *args: str) -> subprocess.Popen:
    return subprocess.Popen([*TSUNAGI, "serve", "--port", str(port), *args], cwd=folder, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_make_run_installs_only_what_serving_needs_and_says_so(tmp_path: Path) -> None:
    """A fresh copy of the project: `make run` sets up a venv without test or lint tools, says what
    it is doing, and serves; the port comes from ARGS, as the README says."""
    readme = (REPO / "README.md").read_text()
    assert 'make run ARGS="--port' in readme
    clone = tmp_path / "clone"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for name in files:
        src = REPO / name
        if src.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, clone / name)
    port = free_port()
    proc = subprocess.Popen(["make", "run", f"ARGS=--port {port}"], cwd=clone, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(proc, port, timeout=300)
        bin_dir = clone / ".venv" / "bin"
        assert (bin_dir / "tsunagi").exists()
        assert (bin_dir / "python").exists()
        for tool in ("pytest", "ruff", "mypy", "aws"):
            assert not (bin_dir / tool).exists(), f"make run installed {tool}, which serving does not need"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out = proc.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out = proc.communicate()[0]
    assert "installing tsunagi and what serving needs" in out
    assert f"starting tsunagi serve --port {port}" in out


def test_start_says_where_the_data_lives_and_whether_it_is_new(folder: Path) -> None:
    port = free_port()
    proc = serve_in(folder, port)
    try:
        wait_healthy(proc, port)
    finally:
        first = stop(proc)
    data = folder / ".tsunagi"
    assert f"data: {data} (SQLite store {data / 'tsunagi.db'}, new)" in first
    assert "applying migration" not in first        # one line for a new store, not one per migration
    # a new store's tables: migrated, or copied from the user's cached empty schema once one exists
    assert "new store: creating its tables" in first or "new store: its tables copied from" in first
    proc = serve_in(folder, port)
    try:
        wait_healthy(proc, port)
    finally:
        again = stop(proc)
    assert f"data: {data} (SQLite store {data / 'tsunagi.db'}, existing)" in again
    assert "new store" not in again


def test_a_busy_port_is_one_clear_line_and_a_non_zero_exit(folder: Path, tmp_path: Path) -> None:
    port = free_port()
    first = serve_in(folder, port)
    try:
        wait_healthy(first, port)
        other = tmp_path / "other"
        out = subprocess.run([*TSUNAGI, "serve", "--port", str(port), "--data-dir", str(other)], cwd=folder,
                             env=ENV, capture_output=True, text=True, timeout=60)
        assert out.returncode == 1
        assert "Traceback" not in out.stderr + out.stdout
        assert f"tsunagi: port {port} on 127.0.0.1 is already in use" in out.stderr
        assert healthy(port)                        # the first server is untouched
    finally:
        stop(first)


def test_a_second_server_on_the_same_sqlite_data_is_one_clear_line(folder: Path) -> None:
    port = free_port()
    first = serve_in(folder, port)
    try:
        wait_healthy(first, port)
        token = (folder / ".tsunagi" / "admin-token").read_text()
        out = subprocess.run([*TSUNAGI, "serve", "--port", str(free_port())], cwd=folder, env=ENV,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 1
        assert "Traceback" not in out.stderr + out.stdout
        assert "tsunagi: cannot open the store:" in out.stderr
        assert "is in use by another tsunagi process" in out.stderr
        # The refused server left the running one's admin token (and its endpoint file) alone.
        assert (folder / ".tsunagi" / "admin-token").read_text() == token
        assert (folder / ".tsunagi" / "endpoint").read_text().strip() == f"http://localhost:{port}"
    finally:
        stop(first)


def test_logs_and_mail_find_the_server_started_from_the_same_folder(folder: Path) -> None:
    port = free_port()
    proc = serve_in(folder, port)
    try:
        wait_healthy(proc, port)
        mail = subprocess.run([*TSUNAGI, "mail"], cwd=folder, env=ENV, capture_output=True, text=True, timeout=60)
        assert mail.returncode == 0, mail.stderr
        assert "(no messages)" in mail.stdout
        logs = subprocess.run([*TSUNAGI, "logs", "nothing-here"], cwd=folder, env=ENV, capture_output=True,
                              text=True, timeout=60)
        assert "log group /aws/lambda/nothing-here does not exist" in logs.stderr   # it reached the server
    finally:
        stop(proc)
    # With no server, the commands say so in a line and say how to point them elsewhere.
    # (The server's endpoint file is gone with it; the address named here has no server, whatever
    # else runs on this machine's :4566.)
    assert not (folder / ".tsunagi" / "endpoint").exists()
    nobody = f"http://127.0.0.1:{free_port()}"
    mail = subprocess.run([*TSUNAGI, "mail", "--endpoint-url", nobody], cwd=folder, env=ENV, capture_output=True,
                          text=True, timeout=60)
    assert mail.returncode == 1
    assert f"no tsunagi server answers at {nobody}" in mail.stderr
    assert "--endpoint-url" in mail.stderr


def test_serve_help_recommends_aws_commands_that_work_with_the_cli_installed_here() -> None:
    """The help's example must not rely on AWS_ENDPOINT_URL, which aws CLI v1 ignores for `aws sqs`
    (it then waits and fails against AWS's own endpoint): each `aws` line it shows is run as shown."""
    text = subprocess.run([*TSUNAGI, "--help"], env=ENV, capture_output=True, text=True, check=True).stdout
    text += subprocess.run([*TSUNAGI, "serve", "--help"], env=ENV, capture_output=True, text=True, check=True).stdout
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("aws --endpoint-url")]
    assert lines, "the help shows no aws command"
    assert "export AWS_ENDPOINT_URL" not in text
    server = TsunagiServer("sqlite").start()
    try:
        aws = str(Path(sys.executable).parent / "aws")
        for line in lines:
            argv = line.replace("http://localhost:4566", server.url).split()
            out = subprocess.run([aws, *argv[1:]], env=ENV, capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, f"{line}: {out.stderr}"
    finally:
        server.stop()


def test_a_queue_in_another_region_answers_aws_error_and_the_log_names_the_region(server: TsunagiServer) -> None:
    """The article's code hard-codes ap-northeast-1; a queue made in us-east-1 is not found from there.
    The error keeps AWS's words; the server's log says where the queue is."""
    name = f"region-hint-{os.getpid()}"
    url = server.sqs_client(region="us-east-1").create_queue(QueueName=name)["QueueUrl"]
    tokyo = server.sqs_client(region="ap-northeast-1")
    with pytest.raises(tokyo.exceptions.QueueDoesNotExist) as e:
        tokyo.send_message(QueueUrl=url, MessageBody="hello")
    assert e.value.response["Error"]["Message"] == "The specified queue does not exist."
    deadline = time.monotonic() + 10
    pattern = re.compile(rf"no queue '{name}' in account \d{{12}}, region ap-northeast-1 .*exists in us-east-1")
    while not pattern.search(server.log()):
        assert time.monotonic() < deadline, "no region hint in the server's log"
        time.sleep(0.1)

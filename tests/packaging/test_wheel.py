"""tsunagi as a user installs it: the sdist and the wheel built as a release would build them, the
wheel installed into a clean virtual environment of each Python 3.11–3.14 on this machine, and the
installed `tsunagi serve` answering the aws CLI and boto3 (a queue round trip and a function invoked)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.support.server import REPO, free_port, healthy
from tsunagi import __version__

ENV = {k: v for k, v in os.environ.items() if not k.startswith(("TSUNAGI_", "AWS_", "PYTHON", "VIRTUAL_ENV"))}
# Run as root here, the server would run functions as nobody, who cannot reach a venv under pytest's
# owner-only temporary folder; containment has its own tests (tests/security), this one is the install.
ENV["TSUNAGI_FUNCTION_USER"] = "root"
ENV.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PAGER": ""})


def interpreters() -> list[str]:
    """Each Python 3.11–3.14 found here (this one, and others on PATH or under pyenv)."""
    found: dict[str, str] = {f"{sys.version_info.major}.{sys.version_info.minor}": sys.executable}
    for minor in (11, 12, 13, 14):
        version = f"3.{minor}"
        if version in found:
            continue
        candidates: list[str | None] = []
        pyenv = Path(os.path.expanduser("~/.pyenv/versions"))
        if pyenv.is_dir():
            candidates += [str(p / "bin" / "python") for p in sorted(pyenv.glob(f"{version}.*"), reverse=True)]
        candidates.append(shutil.which(f"python{version}"))
        for c in candidates:
            # (a pyenv shim on PATH may name a version that is not selected: it must run)
            if c and os.access(c, os.X_OK) and subprocess.run(
                    [c, "-c", "import venv"], capture_output=True, timeout=30).returncode == 0:
                found[version] = c
                break
    return [found[v] for v in sorted(found)]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist, and the wheel built from it (``python -m build``: as a release is built)."""
    out = tmp_path_factory.mktemp("dist")
    src = tmp_path_factory.mktemp("src") / "tsunagi"
    # A copy of the tracked files: the build must not depend on anything else in the checkout.
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for name in files:
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    run = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(src)], capture_output=True,
                         text=True, env=ENV, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return out


def test_the_sdist_and_the_wheel_carry_every_file_the_server_reads(dist: Path) -> None:
    (sdist,) = dist.glob("tsunagi-*.tar.gz")
    (wheel,) = dist.glob("tsunagi-*.whl")
    assert sdist.name == f"tsunagi-{__version__}.tar.gz" and wheel.name.startswith(f"tsunagi-{__version__}-")
    package = REPO / "src" / "tsunagi"
    wanted = sorted(str(p.relative_to(package.parent)) for p in package.rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts)
    with zipfile.ZipFile(wheel) as z:
        in_wheel = set(z.namelist())
    assert [f for f in wanted if f not in in_wheel] == []
    with tarfile.open(sdist) as t:
        in_sdist = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    assert [f for f in wanted if f"src/{f}" not in in_sdist] == []


def handler_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "import boto3\n\ndef handler(event, context):\n"
                             "    return {'echo': event, 'boto3': boto3.__version__}\n")
    return buf.getvalue()


@pytest.mark.parametrize("python", interpreters(), ids=lambda p: Path(p).resolve().name)
def test_the_wheel_installs_in_a_clean_venv_and_serves(dist: Path, python: str, tmp_path: Path) -> None:
    (wheel,) = dist.glob("tsunagi-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True, env=ENV, timeout=120)
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
                             capture_output=True, text=True, env=ENV, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    version = subprocess.run([str(venv / "bin" / "python"), "-m", "tsunagi", "--version"], capture_output=True,
                             text=True, env=ENV, timeout=60)
    assert version.stdout.strip() == f"tsunagi {__version__}"

    port = free_port()
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.Popen([str(venv / "bin" / "tsunagi"), "serve", "--port", str(port)], cwd=work, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not healthy(port):
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the installed server did not answer"
            time.sleep(0.2)
        url = f"http://127.0.0.1:{port}"
        aws = [str(Path(sys.executable).parent / "aws"), "--endpoint-url", url, "--output", "json"]
        made = subprocess.run([*aws, "sqs", "create-queue", "--queue-name", "smoke"], capture_output=True,
                              text=True, env=ENV, timeout=60, check=True)
        queue = json.loads(made.stdout)["QueueUrl"]
        subprocess.run([*aws, "sqs", "send-message", "--queue-url", queue, "--message-body", "hello"],
                       capture_output=True, env=ENV, timeout=60, check=True)
        sqs = boto3.client("sqs", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                           aws_secret_access_key="test")
        got = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"]
        assert [m["Body"] for m in got] == ["hello"]

        lam = boto3.client("lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                           aws_secret_access_key="test", config=Config(read_timeout=60))
        lam.create_function(FunctionName="smoke", Runtime="python3.12", Handler="app.handler",
                            Role="arn:aws:iam::000000000000:role/any", Code={"ZipFile": handler_zip()})
        lam.get_waiter("function_active_v2").wait(FunctionName="smoke")
        out = lam.invoke(FunctionName="smoke", Payload=b'{"n": 1}')
        body = json.loads(out["Payload"].read())
        assert "FunctionError" not in out, body
        assert body["echo"] == {"n": 1} and body["boto3"]      # the function imports boto3, as on AWS
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    assert code == 0                                           # SIGTERM drains and exits cleanly


def docker_engine() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    ok = subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode == 0
    return docker if ok else None


@pytest.mark.skipif(docker_engine() is None, reason="no Docker engine on this machine: the Dockerfile is built "
                                                    "and smoke-tested only where one runs")
def test_the_container_image_builds_and_serves(tmp_path: Path) -> None:
    docker = docker_engine()
    assert docker
    tag = f"tsunagi-test:{os.getpid()}"
    subprocess.run([docker, "build", "-t", tag, str(REPO)], check=True, timeout=900)
    port = free_port()
    name = f"tsunagi-test-{os.getpid()}"
    subprocess.run([docker, "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:4566", tag], check=True,
                   timeout=120)
    try:
        deadline = time.monotonic() + 60
        while not healthy(port):
            assert time.monotonic() < deadline, "the container did not answer"
            time.sleep(0.5)
        sqs = boto3.client("sqs", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        url = sqs.create_queue(QueueName="in-a-container")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="hi")
        assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"][0]["Body"] == "hi"
    finally:
        subprocess.run([docker, "stop", "-t", "20", name], capture_output=True, timeout=60)
        subprocess.run([docker, "rmi", "-f", tag], capture_output=True, timeout=120)

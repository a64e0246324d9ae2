"""`tsunagi status`, `tsunagi aws` and `--log-format json` against a server started from a folder, as a
user runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.integration.test_first_contact import ENV, TSUNAGI, serve_in, stop, wait_healthy
from tests.support.server import free_port


def test_status_aws_and_json_logs_from_the_servers_folder(tmp_path: Path) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    port = free_port()
    proc = serve_in(folder, port, "--log-format", "json")
    try:
        wait_healthy(proc, port)
        status = subprocess.run([*TSUNAGI, "status"], cwd=folder, env=ENV, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        assert f"at http://localhost:{port}: ready" in status.stdout
        assert f"store:    sqlite {folder / '.tsunagi' / 'tsunagi.db'}" in status.stdout
        assert "sqs" in status.stdout and f"data dir: {folder / '.tsunagi'}" in status.stdout

        env = {k: v for k, v in ENV.items() if not k.startswith("AWS_")}      # nothing configured for aws
        made = subprocess.run([*TSUNAGI, "aws", "sqs", "create-queue", "--queue-name", "from-tsunagi-aws"],
                              cwd=folder, env=env, capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        assert json.loads(made.stdout)["QueueUrl"] == f"http://localhost:{port}/000000000000/from-tsunagi-aws"
        who = subprocess.run([*TSUNAGI, "aws", "sts", "get-caller-identity", "--output", "text"], cwd=folder,
                             env=env, capture_output=True, text=True, timeout=60)
        assert who.stdout.split()[0] == "000000000000", who.stderr
    finally:
        out = stop(proc)
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any(r["message"] == f"tsunagi serving on http://127.0.0.1:{port}" for r in records)
    assert any("draining requests in flight" in r["message"] for r in records)   # SIGINT drains

    assert not (folder / ".tsunagi" / "endpoint").exists()
    nobody = f"http://127.0.0.1:{free_port()}"
    status = subprocess.run([*TSUNAGI, "status", "--endpoint-url", nobody], cwd=folder, env=ENV, capture_output=True,
                            text=True, timeout=60)
    assert status.returncode == 1 and f"no tsunagi server answers at {nobody}" in status.stderr

"""One measurement of a test suite's local AWS, run in a fresh interpreter of the venv under test (tsunagi's
``.venv`` or a peer's): stdlib and boto3 only, so it runs in moto's venv as well. Prints one JSON line.

  start-tsunagi                      tsunagi.testing's fixture path: Server().start(), then a client and its first call
  start-server --cmd JSON [--env JSON] [--cwd DIR]
                                     spawn a server (``{port}`` in the command or env is replaced), make a client
                                     and retry its first call until it succeeds
  start-moto                         import moto, mock_aws().start(), a client, its first call (all in-process)
  reset-server --endpoint URL --path P [--header K:V] --n N
                                     N rounds of a small test (queue, message, bucket, object), each followed by the
                                     reset, timed alone (keep-alive connection)
  reset-moto --n N                   the same in-process: mock_aws's stop() + start() between tests
  reset-tsunagi-mock --endpoint URL --token T --n N
                                     the same through tsunagi.testing.mock_aws(): block exit (reset) + next entry

Start figures are from just before the fixture starts to the first successful boto3 call (client made in the
window; boto3 itself is imported before, as a test process has it). Reset figures are milliseconds per reset.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time

import boto3
from botocore.config import Config

CREDS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}
CFG = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_ms(pid: int) -> float | None:
    """A process's CPU time so far (user + system, ms), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _workload(sqs, s3, i: int) -> None:
    url = sqs.create_queue(QueueName=f"jobs-{i}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    s3.create_bucket(Bucket=f"bucket-{i}")
    s3.put_object(Bucket=f"bucket-{i}", Key="k", Body=b"x" * 100)


def start_tsunagi() -> dict:
    from tsunagi.testing import Server

    t0 = time.perf_counter()
    srv = Server()
    endpoint = srv.start()
    ready = time.perf_counter()
    sqs = boto3.client("sqs", endpoint_url=endpoint.url, config=CFG, **CREDS)
    sqs.list_queues()
    t1 = time.perf_counter()
    cpu = _cpu_ms(srv.proc.pid) if srv.proc is not None else None
    srv.stop()
    return {"ms": (t1 - t0) * 1000, "ready_ms": (ready - t0) * 1000, "cpu_ms": cpu}


def start_server(cmd: list[str], env: dict[str, str], cwd: str | None) -> dict:
    port = str(_free_port())
    argv = [a.replace("{port}", port) for a in cmd]
    full_env = {**os.environ, **{k: v.replace("{port}", port) for k, v in env.items()}}
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=full_env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        sqs = boto3.client("sqs", endpoint_url=f"http://127.0.0.1:{port}", config=CFG, **CREDS)
        deadline = t0 + 60
        while True:
            try:
                sqs.list_queues()
                break
            except Exception:
                if proc.poll() is not None or time.perf_counter() > deadline:
                    return {"error": f"no successful call (exit {proc.poll()})"}
                time.sleep(0.005)
        return {"ms": (time.perf_counter() - t0) * 1000, "cpu_ms": _cpu_ms(proc.pid)}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def start_moto() -> dict:
    t0 = time.perf_counter()
    c0 = time.process_time()
    from moto import mock_aws

    mock = mock_aws()
    mock.start()
    sqs = boto3.client("sqs", config=CFG, **CREDS)
    sqs.list_queues()
    t1 = time.perf_counter()
    cpu = (time.process_time() - c0) * 1000       # in-process: the test process's own CPU
    mock.stop()
    return {"ms": (t1 - t0) * 1000, "cpu_ms": cpu}


def reset_server(endpoint: str, path: str, headers: dict[str, str], n: int) -> dict:
    import http.client
    import urllib.parse

    u = urllib.parse.urlsplit(endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    sqs = boto3.client("sqs", endpoint_url=endpoint, config=CFG, **CREDS)
    s3 = boto3.client("s3", endpoint_url=endpoint, config=CFG, **CREDS)
    times = []
    for i in range(n):
        _workload(sqs, s3, i)
        t0 = time.perf_counter()
        conn.request("POST", path, body=b"", headers={**headers, "Content-Length": "0"})
        r = conn.getresponse()
        r.read()
        times.append((time.perf_counter() - t0) * 1000)
        if r.status >= 300:
            return {"error": f"reset answered {r.status}"}
    if sqs.list_queues().get("QueueUrls"):
        return {"error": "queues left after the reset"}
    return {"ms": times}


def reset_moto(n: int) -> dict:
    from moto import mock_aws

    mock = mock_aws()
    mock.start()
    times = []
    for i in range(n):
        sqs = boto3.client("sqs", config=CFG, **CREDS)
        s3 = boto3.client("s3", config=CFG, **CREDS)
        _workload(sqs, s3, i)
        t0 = time.perf_counter()
        mock.stop()
        mock.start()
        times.append((time.perf_counter() - t0) * 1000)
    left = boto3.client("sqs", config=CFG, **CREDS).list_queues().get("QueueUrls")
    mock.stop()
    if left:
        return {"error": "queues left after the reset"}
    return {"ms": times}


def reset_tsunagi_mock(endpoint: str, token: str, n: int) -> dict:
    os.environ["TSUNAGI_ENDPOINT"] = endpoint
    os.environ["TSUNAGI_ADMIN_TOKEN"] = token
    from tsunagi.testing import mock_aws

    times = []
    mock = mock_aws()
    mock.start()
    for i in range(n):
        sqs = boto3.client("sqs", config=CFG)
        s3 = boto3.client("s3", config=CFG)
        _workload(sqs, s3, i)
        t0 = time.perf_counter()
        mock.stop()
        mock.start()
        times.append((time.perf_counter() - t0) * 1000)
    mock.stop()
    return {"ms": times}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode")
    p.add_argument("--cmd", default="[]")
    p.add_argument("--env", default="{}")
    p.add_argument("--cwd", default=None)
    p.add_argument("--endpoint", default="")
    p.add_argument("--path", default="")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--token", default="")
    p.add_argument("--n", type=int, default=30)
    a = p.parse_args()
    try:
        if a.mode == "start-tsunagi":
            out = start_tsunagi()
        elif a.mode == "start-server":
            out = start_server(json.loads(a.cmd), json.loads(a.env), a.cwd)
        elif a.mode == "start-moto":
            out = start_moto()
        elif a.mode == "reset-server":
            headers = dict(h.split(":", 1) for h in a.header)
            out = reset_server(a.endpoint, a.path, headers, a.n)
        elif a.mode == "reset-moto":
            out = reset_moto(a.n)
        elif a.mode == "reset-tsunagi-mock":
            out = reset_tsunagi_mock(a.endpoint, a.token, a.n)
        else:
            out = {"error": f"unknown mode {a.mode}"}
    except Exception as e:  # noqa: BLE001 - reported, not raised
        out = {"error": f"{type(e).__name__}: {e}"[:300]}
    print(json.dumps(out), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()

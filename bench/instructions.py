"""Instructions the server executes per SQS call, counted by valgrind's callgrind: steadier than CPU time on a
busy machine (user-space only: the kernel's share of a call, its syscalls, is not in it).

``.venv/bin/python -m bench.instructions --store postgres --op send --n 300``

One ``tsunagi serve`` under ``valgrind --tool=callgrind --instr-atstart=no`` (SQLite in a scratch directory, or
a scratch PostgreSQL database created here and dropped at the end), a queue, 30 calls to warm up; then
counting is switched on (``callgrind_control -i on``) for ``--n`` calls made one after the other with boto3:

- ``send``: SendMessage of 100 bytes (per call);
- ``batch``: SendMessageBatch of 10 × 100 bytes (per message);
- ``recvdel``: ReceiveMessage(10) + DeleteMessageBatch of what it got, on a queue filled beforehand (per message).

The server's background work (leases, polls, sweeps) runs on wall-clock timers, and valgrind makes the process
~50× slower, so it weighs far more per call than it does outside valgrind: after the calls the same counting
runs over an idle window twice as long, and half of it is subtracted (``net``). CloudWatch's publish and
evaluation timers are set to an hour for the run. Needs valgrind (``callgrind_control``) on PATH.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from .cli import PG_ADMIN, ScratchDBs

PER_MESSAGE = {"send": 1, "batch": 10, "recvdel": 10}


def _totals(path: str) -> tuple[str, int]:
    trigger, total = "", 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("desc: Trigger:"):
                trigger = line.split(":", 2)[2].strip()
            elif line.startswith("totals:"):
                total = int(line.split()[1])
                break
    return trigger, total


def measure(store: str, op: str, n: int, out: str) -> dict[str, float]:
    import boto3
    from botocore.config import Config

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    data = tempfile.mkdtemp(prefix="tsunagi-instr-")
    env = dict(os.environ, TSUNAGI_CLOUDWATCH_PUBLISH_SECONDS="3600", TSUNAGI_CLOUDWATCH_EVALUATION_SECONDS="3600")
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}/cg.%p",
           sys.executable, "-m", "tsunagi", "serve", "--port", str(port), "--data-dir", data, "--store", store,
           "--log-level", "warning"]
    with open(os.path.join(out, "server.log"), "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=env)
    try:
        cfg = Config(retries={"max_attempts": 0}, read_timeout=300, connect_timeout=300)
        kw = dict(endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1", aws_access_key_id="test",
                  aws_secret_access_key="test", config=cfg)
        sqs = boto3.client("sqs", **kw)
        for _ in range(600):
            try:
                sqs.list_queues()
                break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.5)
        url = sqs.create_queue(QueueName=f"instr-{os.getpid()}")["QueueUrl"]
        entries = [{"Id": str(j), "MessageBody": "x" * 100} for j in range(10)]

        def call() -> None:
            if op == "send":
                sqs.send_message(QueueUrl=url, MessageBody="x" * 100)
            elif op == "batch":
                sqs.send_message_batch(QueueUrl=url, Entries=entries)
            else:
                got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(got)])

        if op == "recvdel":
            for _ in range(n + 30):
                sqs.send_message_batch(QueueUrl=url, Entries=entries)
        for _ in range(30):
            call()
        ctl = ["callgrind_control"]
        subprocess.run([*ctl, "-i", "on", str(proc.pid)], stdout=subprocess.DEVNULL, check=True)
        t0 = time.monotonic()
        for _ in range(n):
            call()
        time.sleep(0.5)
        wall = time.monotonic() - t0
        subprocess.run([*ctl, "-d", "calls", str(proc.pid)], stdout=subprocess.DEVNULL, check=True)
        time.sleep(2 * wall)
        subprocess.run([*ctl, "-d", "idle", str(proc.pid)], stdout=subprocess.DEVNULL, check=True)
        subprocess.run([*ctl, "-i", "off", str(proc.pid)], stdout=subprocess.DEVNULL, check=True)
    finally:
        proc.terminate()
        proc.wait(120)
    found = dict(_totals(f) for f in glob.glob(f"{out}/cg.{proc.pid}*"))
    calls, idle = found.get("dump calls", 0), found.get("dump idle", 0)
    per = n * PER_MESSAGE[op]
    return {"gross": calls / per, "idle": idle / 2 / per, "net": (calls - idle / 2) / per, "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--store", choices=["sqlite", "postgres"], default="postgres")
    ap.add_argument("--op", choices=sorted(PER_MESSAGE), default="send")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--out", default="", help="where callgrind's files go (default: a scratch directory)")
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="tsunagi-callgrind-")
    dbs = ScratchDBs(PG_ADMIN)
    try:
        if args.store == "postgres":
            url = dbs.create("instr")
            if url is None:
                raise SystemExit(dbs.reason)
        else:
            url = "sqlite"
        res = measure(url, args.op, args.n, out)
    finally:
        dbs.drop_all()
    unit = "call" if args.op == "send" else "message"
    print(json.dumps({"store": args.store, "op": args.op, "n": args.n, "per": unit, "callgrind_files": out,
                      **{k: round(v, 1) for k, v in res.items()}}))


if __name__ == "__main__":
    main()

"""Instructions the server executes per SNS publish, counted by valgrind: robust where timings are not.

``.venv/bin/python -m bench.sns_instructions [--python PATH] [--n 300] [--subs 3]``: one
``tsunagi serve`` (SQLite, scratch data directory) under ``valgrind --tool=callgrind
--instr-atstart=no``, a topic with ``--subs`` SQS queue subscriptions (enveloped, signed, as in the
``sns.burst`` scenario), 60 publishes to warm up, then counting is switched on (``callgrind_control
-i on``) after ``--settle`` seconds, ``--n`` publishes are made over 4 connections with boto3, and counting stops once the
queues hold every message. Prints instructions per publish.

``--python`` runs another build (``/work/base/.venv/bin/python`` for an older checkout with its own
venv): run both, one after the other or side by side, and compare. Everything the server does while
counting is counted (the HTTP layer, the store, its timers and pollers: more on a busy machine, so
run builds being compared at the same time); the signing processes are not (valgrind follows no
children here). Not part of ``make bench``.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3

from .scenarios.sns import MESSAGE

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.sns_instructions", description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=str(ROOT / ".venv/bin/python"), help="the build's interpreter")
    ap.add_argument("--n", type=int, default=300, help="publishes counted")
    ap.add_argument("--subs", type=int, default=3, help="SQS queue subscriptions")
    ap.add_argument("--settle", type=float, default=90.0,
                    help="seconds to wait after the warm-up before counting (work a server does in the background "
                         "after it starts takes tens of seconds under valgrind)")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    port = _free_port()
    work = Path(tempfile.mkdtemp(prefix="sns-instr-"))
    log_path = work / "valgrind.log"
    with log_path.open("w") as log_file:
        server = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={work}/callgrind.%p",
             args.python, "-m", "tsunagi", "serve", "--port", str(port), "--data-dir", str(work / "data"),
             "--log-level", "error"], stdout=log_file, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 600
        while True:
            try:
                urllib.request.urlopen(f"{url}/_tsunagi/health", timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit(f"the server did not start: see {log_path}")
                time.sleep(1)
        kw = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "test",
              "aws_secret_access_key": "test"}
        sns, sqs = boto3.client("sns", **kw), boto3.client("sqs", **kw)
        topic = sns.create_topic(Name="instr")["TopicArn"]
        urls = []
        for i in range(args.subs):
            queue_url = sqs.create_queue(QueueName=f"instr{i}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
            urls.append(queue_url)
        clients = [boto3.client("sns", **kw) for _ in range(4)]

        def burst(n: int) -> None:
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda i: clients[i % 4].publish(TopicArn=topic, Message=MESSAGE), range(n)))

        def held() -> int:
            return sum(int(sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["ApproximateNumberOfMessages"])
                           ["Attributes"]["ApproximateNumberOfMessages"]) for u in urls)

        def wait_for(total: int) -> None:
            while held() < total:
                time.sleep(2)

        def control(*what: str) -> None:
            subprocess.run(["callgrind_control", *what, str(server.pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        burst(60)
        wait_for(60 * args.subs)
        time.sleep(args.settle)
        control("-z")
        control("-i", "on")
        burst(args.n)
        wait_for((60 + args.n) * args.subs)
        control("-i", "off")
    finally:
        server.terminate()
        server.wait(120)
    counted = [int(x.replace(",", "")) for x in re.findall(r"Collected : ([0-9,]+)", log_path.read_text())]
    if not counted:
        sys.exit(f"valgrind reported no count: see {log_path}")
    total = max(counted)
    print(f"{args.python}: {total:,} instructions for {args.n} publishes to {args.subs} queues: "
          f"{total / args.n / 1000:,.1f} k per publish")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

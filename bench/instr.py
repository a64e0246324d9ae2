"""Instructions per call of a tsunagi server, counted by valgrind's callgrind: a figure the machine's
load does not move, for comparing two builds on a busy machine.

    .venv/bin/python -m bench.instr .                      # this checkout
    .venv/bin/python -m bench.instr /work/base --n 500     # another checkout (its own .venv)
    .venv/bin/python -m bench.instr . --ops send,recvdel --out /tmp/cg-new   # keep the callgrind files

Each checkout's ``.venv/bin/python -m tsunagi serve`` runs under ``valgrind --tool=callgrind
--instr-atstart=no`` on a scratch data directory (SQLite); once every service is loaded, each
operation is warmed up, then counted alone (``callgrind_control -i on``, N calls, ``-i off``,
dumped): STS GetCallerIdentity (``gateway``), SQS SendMessage (``send``), SendMessageBatch of 10
(``batch``, per message) and ReceiveMessage(10) + DeleteMessageBatch (``recvdel``, per message), with
sqs.*'s 203-byte body, one request at a time on one keep-alive connection. The count covers every
thread of the server. ``callgrind_annotate --inclusive=yes <file>`` shows where they go.

Under valgrind a server runs ~50 times slower, so work done once a second (a cache refreshed, a WAL
checkpoint) weighs ~50 times more per call than at full speed; and each run moves by a few percent
(group commits and checkpoints fall differently): compare builds run side by side, several times.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable

from .client import Conn, Signer, run_fixed
from .scenarios.sqs import BODY

OPS = ("gateway", "send", "batch", "recvdel")


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def _ctl(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_tsunagi/health", timeout=30) as r:
            return json.loads(r.read()) if r.status == 200 else None
    except (OSError, ValueError):
        return None


def _totals(path: str) -> int:
    with open(path) as f:
        for line in f:
            m = re.match(r"totals: (\d+)", line)
            if m:
                return int(m.group(1))
    return 0


def run(checkout: str, ops: list[str], n: int, work: str) -> dict[str, float]:
    """Instructions per call (per message for batch and recvdel) of each of ``ops``."""
    port = _free_port()
    python = os.path.join(os.path.abspath(checkout), ".venv", "bin", "python")
    log = open(os.path.join(work, "server.log"), "w")  # noqa: SIM115 - open while the server runs
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                             f"--callgrind-out-file={work}/cg.%p", python, "-m", "tsunagi", "serve",
                             "--port", str(port), "--data-dir", os.path.join(work, "data")],
                            stdout=log, stderr=subprocess.STDOUT, cwd=work)
    pid = str(proc.pid)
    out: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 900
        while True:       # ready, then every service loaded (a new store loads them in the background)
            health = _health(port)
            services = (health or {}).get("services") or {}
            if health is not None and all(v == "running" for v in services.values()):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"the server under valgrind did not start: see {work}/server.log")
            time.sleep(2)
        time.sleep(5)
        sig = Signer("127.0.0.1", port)
        conn = Conn("127.0.0.1", port)

        def call(op: str, payload: dict) -> dict:
            status, body = conn.request(sig.sqs(op, payload))
            if status != 200:
                raise SystemExit(f"{op}: HTTP {status} {body[:300]!r}")
            return json.loads(body) if body.strip() else {}

        def fixed(raw: bytes, calls: int) -> None:
            res = run_fixed("127.0.0.1", port, [raw], calls, 1)
            if res.errors:
                raise SystemExit(f"errors: {res.samples}")

        def measure(name: str, fn: Callable[[int], None]) -> None:
            fn(max(50, n // 5))                      # warm-up
            _ctl("-z", pid)
            _ctl("-i", "on", pid)
            fn(n)
            _ctl("-i", "off", pid)
            before = set(os.listdir(work))
            _ctl("-d", name, pid)
            for _ in range(100):
                new = [f for f in set(os.listdir(work)) - before if f.startswith("cg.")]
                if new and _totals(os.path.join(work, new[0])):
                    out[name] = _totals(os.path.join(work, new[0])) / n
                    return
                time.sleep(0.2)
            raise SystemExit(f"no callgrind dump for {name}")

        if "gateway" in ops:
            gci = sig.query("sts", "Action=GetCallerIdentity&Version=2011-06-15")
            measure("gateway", lambda k: fixed(gci, k))
        if "send" in ops:
            url = call("CreateQueue", {"QueueName": "instr-send"})["QueueUrl"]
            send = sig.sqs("SendMessage", {"QueueUrl": url, "MessageBody": BODY})
            measure("send", lambda k: fixed(send, k))
        url = call("CreateQueue", {"QueueName": "instr-batch"})["QueueUrl"]
        batch = sig.sqs("SendMessageBatch", {"QueueUrl": url, "Entries": [
            {"Id": f"m{i}", "MessageBody": BODY} for i in range(10)]})
        if "batch" in ops:
            measure("batch", lambda k: fixed(batch, k // 10))      # k messages
        if "recvdel" in ops:
            fixed(batch, (2 * n) // 10)
            recv = sig.sqs("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10,
                                              "VisibilityTimeout": 120, "WaitTimeSeconds": 0})

            def recvdel(k: int) -> None:              # k messages received and deleted
                got = 0
                while got < k:
                    status, body = conn.request(recv)
                    msgs = json.loads(body).get("Messages") or [] if status == 200 else []
                    if not msgs:
                        raise SystemExit(f"ReceiveMessage: HTTP {status} {body[:200]!r}")
                    got += len(msgs)
                    done = call("DeleteMessageBatch", {"QueueUrl": url, "Entries": [
                        {"Id": f"d{j}", "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(msgs)]})
                    if len(done.get("Successful", ())) != len(msgs):
                        raise SystemExit(f"DeleteMessageBatch: {done}")
            fixed(batch, n // 10 + 10)
            measure("recvdel", recvdel)
        conn.close()
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.instr", description=__doc__.split("\n\n")[0])
    ap.add_argument("checkout", help="a tsunagi checkout with its .venv (this one: .)")
    ap.add_argument("--ops", default=",".join(OPS), help=f"some of {','.join(OPS)}")
    ap.add_argument("--n", type=int, default=500, help="calls (messages for batch, recvdel) counted per operation")
    ap.add_argument("--out", default=None, help="where the callgrind files and the server log go (default: a temp dir)")
    a = ap.parse_args()
    ops = [o for o in a.ops.split(",") if o]
    unknown = set(ops) - set(OPS)
    if unknown:
        ap.error(f"unknown operations: {', '.join(sorted(unknown))}")
    work = a.out or tempfile.mkdtemp(prefix="tsunagi-instr-")
    os.makedirs(work, exist_ok=True)
    for name, per in run(a.checkout, ops, a.n, work).items():
        unit = "message" if name in ("batch", "recvdel") else "call"
        print(f"{name:8s} {per:12,.0f} instructions per {unit}")
    print(f"callgrind files: {work}")


if __name__ == "__main__":
    main()

"""Instructions a new store's ``tsunagi serve`` executes from its exec to its answer to the first call: the
server's side of issue 19's session start, counted instead of timed, so that a change to it shows on a
loaded machine.

``.venv/bin/python -m bench.start_instructions [--call list|create] [--runs 2] [--src DIR ...]``: each run
starts ``tsunagi serve`` (a fresh data dir, SQLite, as tsunagi.testing starts it) under valgrind's callgrind,
waits for ``/_tsunagi/health``, makes the first call through boto3 (``ListQueues`` or ``CreateQueue``),
then has callgrind dump its count (``callgrind_control -d``) and stops the server. ``--src DIR`` runs another
checkout's ``src`` on this venv (``PYTHONPATH``, bytecode compiled first), one line per tree, interleaved:
``--src /path/to/main/src --src src`` compares a branch with main.

The services a new store has not needed yet load in the background half a second after the start; under
callgrind that half second is far less of the start's work than it is otherwise, so the runs put that load
off (``BACKGROUND_LOAD_DELAY_S``) and count only the path to the first answer. Each run takes about a
minute (callgrind runs the server ~50x slower). Needs valgrind. Not part of ``make bench``.
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"

# the server's entry point, with the background load of unused services put off (see above)
_SERVE = ("import sys, tsunagi.services.base as b; b.BACKGROUND_LOAD_DELAY_S = 3600; "
          "from tsunagi.cli import main; raise SystemExit(main(sys.argv[1:]))")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def count(call: str, src: str | None) -> int:
    """Instructions the server executed up to its answer to the first ``call``."""
    import boto3
    from botocore.config import Config

    port = _free_port()
    work = tempfile.mkdtemp(prefix="tsunagi-start-ir-")
    out = os.path.join(work, "callgrind.out")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TSUNAGI_", "AWS_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update({"TSUNAGI_SNS_SIGNING_PROCESSES": "0", "TSUNAGI_ADMIN_TOKEN": "start-instructions"})
    if src:
        env["PYTHONPATH"] = src
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(PYTHON), "-c", _SERVE, "serve",
            "--host", "127.0.0.1", "--port", str(port), "--data-dir", os.path.join(work, "data"),
            "--log-level", "warning", "--exit-with-parent"]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, cwd=str(ROOT))
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_tsunagi/health", timeout=60) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start under valgrind") from None
                time.sleep(0.2)
        sqs = boto3.client("sqs", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test",
                           config=Config(read_timeout=600, retries={"max_attempts": 1}))
        if call == "create":
            sqs.create_queue(QueueName="first")
        else:
            sqs.list_queues()
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True, check=True)
        dumps = [f for f in sorted(glob.glob(out + ".*")) if not f.endswith(".lock")]
        if not dumps:
            raise RuntimeError("callgrind wrote no dump")
        with open(dumps[0]) as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1])
        raise RuntimeError(f"no total in {dumps[0]}")
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--call", choices=["list", "create"], default="list")
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--src", action="append", default=None,
                   help="a checkout's src to run on this venv (repeat to compare; default: this checkout's)")
    a = p.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("valgrind (with callgrind_control) is needed")
    trees = [str(Path(s).resolve()) for s in a.src] if a.src else [None]
    for tree in trees:
        if tree is not None:
            subprocess.run([str(PYTHON), "-m", "compileall", "-q", tree], capture_output=True)
    counts: dict[str | None, list[int]] = {t: [] for t in trees}
    for _ in range(a.runs):             # interleaved
        for tree in trees:
            counts[tree].append(count(a.call, tree))
    for tree, got in counts.items():
        shown = ", ".join(f"{n / 1e6:,.1f}M" for n in got)
        print(f"{tree or 'this checkout'}: first {a.call} answered after {statistics.median(got) / 1e6:,.1f}M "
              f"instructions (median of {len(got)}: {shown})")


if __name__ == "__main__":
    main()

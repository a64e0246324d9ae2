"""Instructions a tsunagi server executes per call, counted by valgrind's callgrind: a figure the machine's
load barely moves, for comparing builds on a busy machine (user space only: the kernel's share of a call,
its syscalls, is not in it).

    .venv/bin/python -m bench.instructions send batch recvdel --n 300             # this checkout, SQLite
    .venv/bin/python -m bench.instructions send --store postgres --n 300
    .venv/bin/python -m bench.instructions gateway send --build /work/base --build .   # two checkouts, ratios
    .venv/bin/python -m bench.instructions sns --subs 3 --python /work/base/.venv/bin/python --python .venv/bin/python
    .venv/bin/python -m bench.instructions start --call create --runs 2 --src /path/to/main/src --src src

Operations (``all`` = every one but ``start`` and the S3 ones):

- ``gateway``: STS GetCallerIdentity (per call);
- ``send``: SQS SendMessage of bench.scenarios.sqs's 203-byte body (per call);
- ``batch``: SendMessageBatch of 10 such bodies (per message);
- ``recvdel``: ReceiveMessage(10) + DeleteMessageBatch of what it got, on a queue filled beforehand (per message);
- ``sns``: Publish to a topic with ``--subs`` SQS subscriptions (enveloped, signed), over 4 connections;
  counting stops once the queues hold every delivery (per publish);
- ``s3get``: S3 GetObject of a 1 KiB object, in a bucket without a metrics configuration (per call);
- ``s3put``: S3 PutObject of a 1 KiB object there (per call);
- ``s3metered``: ``s3get`` in a bucket with a metrics configuration (AWS/S3 request metrics counted; per call);
- ``start``: a new store's server from its exec to its answer to the first call (``--call list|create``:
  ListQueues or CreateQueue), the background load of unused services put off (``BACKGROUND_LOAD_DELAY_S``),
  signing processes off (per start).

A build (``--build``, repeatable; default: this checkout) is an interpreter (``/work/base/.venv/bin/python``),
a checkout with its own venv (``/work/base``: its ``.venv/bin/python``), or a source tree run on this
checkout's venv (``/path/to/main/src``, or a checkout without a venv: its ``src``; put on ``PYTHONPATH``,
bytecode compiled first). ``--python`` and ``--src`` name one explicitly. Builds run in the order given, one
after the other, interleaved over ``--runs``; each op's figure is the median of its runs; ratios are to the first.

Every op but ``start`` runs on one ``tsunagi serve`` per build and run under ``valgrind --tool=callgrind
--instr-atstart=no`` (a scratch data directory; with ``--store postgres`` a scratch database on 127.0.0.1:5432,
dropped at the end), CloudWatch's publish and evaluation timers set to an hour: once it answers and every
service has loaded, ``--settle`` seconds of quiet, then per op a warm-up, ``callgrind_control -z`` and
``-i on``, ``--n`` calls one at a time on one keep-alive connection (boto3 for ``sns``), a dump (``-d``),
then an idle window ``--idle`` times as long as the calls took, dumped and subtracted in proportion
(``net``: the server's timers, pollers and sweeps run on the wall clock, and valgrind makes everything ~50×
slower, so their share per call is far larger than outside valgrind); ``-i off``. ``start`` counts from the
exec (no ``--instr-atstart=no``) and dumps after the first answer. The count covers every thread of the
server, not its child processes. ``--out DIR`` keeps the callgrind files (``callgrind_annotate
--inclusive=yes FILE`` shows where the instructions go). Needs valgrind and callgrind_control; valgrind runs
the server ~50× slower (here the four gateway and SQS ops at ``--n 50`` took ~30 s on one server, ``start``
~40 s a server). Not part of ``make bench``.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .cli import PG_ADMIN, ScratchDBs
from .client import Conn, Signer, run_fixed
from .scenarios.sns import MESSAGE
from .scenarios.sqs import BODY

ROOT = Path(__file__).resolve().parent.parent
STEADY = ("gateway", "send", "batch", "recvdel", "sns")
S3_OPS = ("s3get", "s3put", "s3metered")
OPS = (*STEADY, *S3_OPS, "start")
UNIT = {"gateway": "call", "send": "call", "batch": "message", "recvdel": "message", "sns": "publish",
        "s3get": "call", "s3put": "call", "s3metered": "call", "start": "start"}

# the server's entry point with the background load of unused services put off (``start``); a build without
# that setting simply ignores it
_SERVE = ("import sys\ntry:\n    import tsunagi.services.base as b\n    b.BACKGROUND_LOAD_DELAY_S = 3600\n"
          "except ImportError:\n    pass\nfrom tsunagi.cli import main\nraise SystemExit(main(sys.argv[1:]))")


@dataclass
class Build:
    label: str
    python: str
    pythonpath: str | None = None


def this_python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def resolve(spec: str, kind: str = "build") -> Build:
    """A build from ``--build``/``--python``/``--src``: an interpreter, a checkout with a venv, or a src tree."""
    p = Path(spec).expanduser()
    if kind in ("build", "python") and p.is_file() and os.access(p, os.X_OK):
        return Build(spec, str(p.absolute()))     # not resolve(): a venv's python is a symlink to the base one
    if kind == "python":
        raise SystemExit(f"--python {spec}: not an executable file")
    if not p.is_dir():
        raise SystemExit(f"{spec}: no such directory or interpreter")
    p = p.resolve()
    if kind == "build" and (p / ".venv" / "bin" / "python").exists():
        return Build(spec, str(p / ".venv" / "bin" / "python"))
    for tree in (p, p / "src"):
        if (tree / "tsunagi" / "__init__.py").exists():
            return Build(spec, this_python(), str(tree))
    raise SystemExit(f"{spec}: neither a checkout with .venv/bin/python nor a tree holding tsunagi/")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _totals(path: Path) -> int | None:
    """The file's total instruction count, or None while callgrind is still writing it."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    return None


@dataclass
class Server:
    """One ``tsunagi serve`` under callgrind, with what is needed to count and dump."""
    build: Build
    work: Path
    store: str
    start_op: bool = False
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TSUNAGI_", "AWS_"))}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(TSUNAGI_CLOUDWATCH_PUBLISH_SECONDS="3600", TSUNAGI_CLOUDWATCH_EVALUATION_SECONDS="3600")
        if self.start_op:
            env["TSUNAGI_SNS_SIGNING_PROCESSES"] = "0"
        if self.build.pythonpath:
            env["PYTHONPATH"] = self.build.pythonpath
        entry = ["-c", _SERVE] if self.start_op else ["-m", "tsunagi"]
        argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.work}/cg.%p",
                *([] if self.start_op else ["--instr-atstart=no"]),
                self.build.python, *entry, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                "--data-dir", str(self.work / "data"), "--store", self.store, "--log-level", "warning"]
        with (self.work / "server.log").open("w") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=env, cwd=str(self.work))

    def wait_ready(self, all_services: bool) -> None:
        """Until /_tsunagi/health answers (and, with ``all_services``, every service it lists is running)."""
        assert self.proc is not None
        deadline = time.monotonic() + 900
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/_tsunagi/health", timeout=60) as r:
                    services = (json.loads(r.read()) or {}).get("services") or {}
                    if not all_services or all(v == "running" for v in services.values()):
                        return
            except (OSError, ValueError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server under valgrind did not start: see {self.work}/server.log")
            time.sleep(1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ctl(self, *args: str) -> None:
        assert self.proc is not None
        subprocess.run(["callgrind_control", *args, str(self.proc.pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def dump(self) -> int:
        """Dump the counts since the last dump or zeroing; the instructions in that dump."""
        before = set(self.work.glob("cg.*"))
        self.ctl("-d")
        for _ in range(600):
            for f in set(self.work.glob("cg.*")) - before:
                total = _totals(f)
                if total is not None:
                    return total
            time.sleep(0.2)
        raise SystemExit(f"callgrind wrote no dump in {self.work}")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Count:
    gross: float          # instructions per unit while the calls ran
    idle: float           # of which the idle window's rate accounts for
    wall_s: float

    @property
    def net(self) -> float:
        return self.gross - self.idle


def window(server: Server, work: Callable[[], int], idle: float) -> Count:
    """Count ``work`` (which returns the units it did) alone, then an idle window ``idle`` times as long."""
    server.ctl("-z")
    server.ctl("-i", "on")
    t0 = time.monotonic()
    n_units = max(work(), 1)
    wall = time.monotonic() - t0
    calls = server.dump()
    quiet = 0.0
    if idle > 0:
        t1 = time.monotonic()
        time.sleep(idle * wall)
        quiet = server.dump() * wall / (time.monotonic() - t1)
    server.ctl("-i", "off")
    return Count(calls / n_units, quiet / n_units, wall)


def steady(server: Server, ops: list[str], n: int, idle: float, subs: int) -> dict[str, Count]:
    """Each of ``ops`` (not ``start``) warmed up then counted on the running ``server``."""
    import boto3
    from botocore.config import Config

    sig = Signer("127.0.0.1", server.port)
    conn = Conn("127.0.0.1", server.port, timeout=600)
    warm = max(20, n // 5)
    out: dict[str, Count] = {}

    def call(op: str, payload: dict) -> dict:
        status, body = conn.request(sig.sqs(op, payload))
        if status != 200:
            raise SystemExit(f"{op}: HTTP {status} {body[:300]!r}")
        return json.loads(body) if body.strip() else {}

    def fixed(raw: bytes, calls: int, per_call: int = 1) -> int:
        res = run_fixed("127.0.0.1", server.port, [raw], calls, 1)
        if res.errors:
            raise SystemExit(f"errors: {res.samples}")
        return calls * per_call

    def measure(op: str, fn: Callable[[int], int]) -> None:
        fn(warm)
        out[op] = window(server, lambda: fn(n), idle)

    if "gateway" in ops:
        gci = sig.query("sts", "Action=GetCallerIdentity&Version=2011-06-15")
        measure("gateway", lambda k: fixed(gci, k))
    if "send" in ops:
        url = call("CreateQueue", {"QueueName": "instr-send"})["QueueUrl"]
        send = sig.sqs("SendMessage", {"QueueUrl": url, "MessageBody": BODY})
        measure("send", lambda k: fixed(send, k))
    if "batch" in ops or "recvdel" in ops:
        url = call("CreateQueue", {"QueueName": "instr-batch"})["QueueUrl"]
        batch = sig.sqs("SendMessageBatch", {"QueueUrl": url, "Entries": [
            {"Id": f"m{i}", "MessageBody": BODY} for i in range(10)]})
        if "batch" in ops:                         # k messages, in whole batches
            measure("batch", lambda k: fixed(batch, -(-k // 10), 10))
        if "recvdel" in ops:
            recv = sig.sqs("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10,
                                              "VisibilityTimeout": 600, "WaitTimeSeconds": 0})

            def recvdel(k: int) -> int:           # at least k messages received and deleted
                got = 0
                while got < k:
                    status, body = conn.request(recv)
                    msgs = (json.loads(body).get("Messages") or []) if status == 200 else []
                    if not msgs:
                        raise SystemExit(f"ReceiveMessage: HTTP {status} {body[:200]!r}")
                    got += len(msgs)
                    done = call("DeleteMessageBatch", {"QueueUrl": url, "Entries": [
                        {"Id": f"d{j}", "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(msgs)]})
                    if len(done.get("Successful", ())) != len(msgs):
                        raise SystemExit(f"DeleteMessageBatch: {done}")
                return got

            fixed(batch, (warm + n) // 10 + 2)      # what the warm-up and the count take, on top of batch's
            measure("recvdel", recvdel)
    if "sns" in ops:
        cfg = Config(retries={"max_attempts": 0}, read_timeout=600, connect_timeout=600)
        kw = {"endpoint_url": server.url, "region_name": "us-east-1", "aws_access_key_id": "test",
              "aws_secret_access_key": "test", "config": cfg}
        sns, sqs = boto3.client("sns", **kw), boto3.client("sqs", **kw)
        topic = sns.create_topic(Name="instr")["TopicArn"]
        urls = []
        for i in range(subs):
            q = sqs.create_queue(QueueName=f"instr-sns{i}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
            urls.append(q)
        clients = [boto3.client("sns", **kw) for _ in range(4)]
        published = 0

        def held() -> int:
            return sum(int(sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["ApproximateNumberOfMessages"])
                           ["Attributes"]["ApproximateNumberOfMessages"]) for u in urls)

        def burst(k: int) -> int:           # k publishes, then until every queue holds every delivery
            nonlocal published
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda i: clients[i % 4].publish(TopicArn=topic, Message=MESSAGE), range(k)))
            published += k
            deadline = time.monotonic() + 900
            while held() < published * subs:
                if time.monotonic() > deadline:
                    raise SystemExit(f"sns: {held()} of {published * subs} deliveries after 15 minutes")
                time.sleep(1)
            return k

        measure("sns", burst)
    if any(op in ops for op in S3_OPS):
        cfg = Config(retries={"max_attempts": 0}, read_timeout=600, connect_timeout=600)
        s3 = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test", config=cfg)
        data = b"b" * 1024
        for bucket in ("instr-s3", "instr-s3-metered"):
            s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key="obj", Body=data)
        s3.put_bucket_metrics_configuration(Bucket="instr-s3-metered", Id="EntireBucket",
                                            MetricsConfiguration={"Id": "EntireBucket"})
        get = sig.raw("s3", b"", {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, "/instr-s3/obj", "GET")
        put = sig.raw("s3", data, {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, "/instr-s3/put", "PUT")
        metered = sig.raw("s3", b"", {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, "/instr-s3-metered/obj", "GET")
        if "s3get" in ops:
            measure("s3get", lambda k: fixed(get, k))
        if "s3put" in ops:
            measure("s3put", lambda k: fixed(put, k))
        if "s3metered" in ops:
            measure("s3metered", lambda k: fixed(metered, k))
    conn.close()
    return out


def start_count(server: Server, call: str) -> int:
    """Instructions from the server's exec to its answer to the first ``call``."""
    import boto3
    from botocore.config import Config

    server.wait_ready(all_services=False)
    sqs = boto3.client("sqs", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="test",
                       aws_secret_access_key="test", config=Config(read_timeout=600, retries={"max_attempts": 1}))
    if call == "create":
        sqs.create_queue(QueueName="first")
    else:
        sqs.list_queues()
    return server.dump()


class Stores:
    """A store URL per server: ``sqlite``, or a scratch PostgreSQL database (bench.cli's, dropped at the end)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.dbs = ScratchDBs(PG_ADMIN)

    def new(self) -> str:
        if self.kind == "sqlite":
            return "sqlite"
        url = self.dbs.create("instr")
        if url is None:
            raise SystemExit(self.dbs.reason)
        return url

    def drop(self) -> None:
        self.dbs.drop_all()


@contextmanager
def running(build: Build, work: Path, store: str, start_op: bool = False) -> Iterator[Server]:
    work.mkdir(parents=True, exist_ok=True)
    server = Server(build, work, store, start_op)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def table(builds: list[Build], ops: list[str], results: dict[tuple[int, str], list[Count]]) -> str:
    """Median net instructions per unit per build (gross and idle share beside it), and ratios to the first."""
    head = ["op", "per"]
    for b in builds:
        head += [f"{b.label} net", "gross", "idle"]
    head += [f"{b.label} / {builds[0].label}" for b in builds[1:]]
    rows = [head]
    for op in ops:
        row = [op, UNIT[op]]
        nets: list[float] = []
        for i, _ in enumerate(builds):
            got = results.get((i, op), [])
            if not got:
                row += ["-", "-", "-"]
                nets.append(0.0)
                continue
            net = statistics.median(c.net for c in got)
            nets.append(net)
            row += [f"{net:,.0f}", f"{statistics.median(c.gross for c in got):,.0f}",
                    f"{statistics.median(c.idle for c in got):,.0f}" if op != "start" else "-"]
        row += [f"{nets[i] / nets[0]:.3f}" if nets[0] and nets[i] else "-" for i in range(1, len(builds))]
        rows.append(row)
    widths = [max(len(r[k]) for r in rows) for k in range(len(head))]
    lines = ["  ".join(c.ljust(w) if k < 2 else c.rjust(w) for k, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("ops", nargs="+", metavar="OP", help=f"{', '.join(OPS)} or all ({', '.join(STEADY)})")
    ap.add_argument("--build", dest="builds", action="append", default=[], metavar="PATH",
                    type=lambda s: ("build", s),
                    help="an interpreter, a checkout with .venv, or a src tree (repeat to compare; default: .)")
    ap.add_argument("--python", dest="builds", action="append", metavar="PATH", type=lambda s: ("python", s),
                    help="a build's interpreter")
    ap.add_argument("--src", dest="builds", action="append", metavar="DIR", type=lambda s: ("src", s),
                    help="a tsunagi source tree run on this checkout's venv")
    ap.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--n", type=int, default=300, help="calls (messages for batch, recvdel; publishes) counted")
    ap.add_argument("--runs", type=int, default=1, help="servers per build, interleaved (median reported)")
    ap.add_argument("--settle", type=float, default=10.0,
                    help="seconds of quiet after the server is up, before the first warm-up")
    ap.add_argument("--idle", type=float, default=1.0,
                    help="idle window after the calls, as a multiple of their wall time (0: none)")
    ap.add_argument("--subs", type=int, default=3, help="sns: SQS queue subscriptions")
    ap.add_argument("--call", choices=["list", "create"], default="list", help="start: the first call")
    ap.add_argument("--out", default="", help="keep callgrind files and server logs here (default: removed)")
    a = ap.parse_args(argv)
    ops = [o for spec in a.ops for o in (STEADY if spec == "all" else spec.split(",")) if o]
    unknown = sorted(set(ops) - set(OPS))
    if unknown:
        ap.error(f"unknown operations: {', '.join(unknown)}")
    ops = [o for o in OPS if o in ops]
    if a.n < 1 or a.runs < 1:
        ap.error("--n and --runs must be at least 1")
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed")
    builds = [resolve(spec, kind) for kind, spec in a.builds] or [Build(".", this_python())]
    for b in builds:
        if b.pythonpath:
            subprocess.run([b.python, "-m", "compileall", "-q", b.pythonpath], capture_output=True)
    out = Path(a.out).resolve() if a.out else Path(tempfile.mkdtemp(prefix="tsunagi-instr-"))
    out.mkdir(parents=True, exist_ok=True)
    stores = Stores(a.store)
    results: dict[tuple[int, str], list[Count]] = {}
    steady_ops = [o for o in ops if o != "start"]
    try:
        for run in range(a.runs):
            for i, b in enumerate(builds):
                if steady_ops:
                    with running(b, out / f"b{i}-r{run}", stores.new()) as server:
                        server.wait_ready(all_services=True)
                        time.sleep(a.settle)
                        for op, c in steady(server, steady_ops, a.n, a.idle, a.subs).items():
                            results.setdefault((i, op), []).append(c)
                if "start" in ops:
                    with running(b, out / f"b{i}-r{run}-start", stores.new(), start_op=True) as server:
                        total = start_count(server, a.call)
                        results.setdefault((i, "start"), []).append(Count(total, 0.0, 0.0))
                print(f"run {run + 1}/{a.runs}, build {b.label}: done", file=sys.stderr)
    finally:
        stores.drop()
        if not a.out:
            shutil.rmtree(out, ignore_errors=True)
    print(f"instructions per unit, {a.store}, n={a.n}, runs={a.runs}"
          + (f", start: first {a.call}" if "start" in ops else ""))
    print(table(builds, ops, results))
    for b in builds:
        print(f"{b.label}: {b.python}" + (f" with PYTHONPATH={b.pythonpath}" if b.pythonpath else ""))
    if a.out:
        print(f"callgrind files and server logs: {out}")


if __name__ == "__main__":
    main()

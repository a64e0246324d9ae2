"""The servers under test: tsunagi (SQLite / PostgreSQL), the bare handler, and the peers.

Peers are installed on demand, each in its own venv under ``bench/.peers/<name>/venv`` built with
the machine's ``python3`` (never into tsunagi's ``.venv``). Installation is skipped when the
``.installed`` marker is there. A peer that cannot be installed or started is reported as
"not available: <why>" and the run goes on.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .client import Signer
from .procs import Proc, cpu_seconds, free_port, rss_bytes

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS = BENCH / ".peers"
VENV = ROOT / ".venv"


@dataclass
class Server:
    name: str                      # tsunagi, tsunagi-pg, tsunagi-base(-pg), bare, ministack, moto, localstack
    scale: float = 1.0             # count multiplier (slow servers do fewer calls, same per-call figures)
    like: str = ""                 # whose per-name settings it shares (tsunagi-base: tsunagi); "" = its own
    port: int = 0
    host: str = "127.0.0.1"
    proc: Proc | None = None
    available: bool = False
    reason: str = "not started"
    version: str = ""
    startup_s: float | None = None
    account: str = "000000000000"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.like = self.like or self.name

    @property
    def signer(self) -> Signer:
        return Signer(self.host, self.port)

    def cpu(self) -> float:
        assert self.proc is not None
        return cpu_seconds(self.proc.pid)

    def rss(self, own: bool = False) -> int:
        """RSS of the server and its children (function workers); ``own``: the server process alone."""
        assert self.proc is not None
        return rss_bytes(self.proc.pid, own)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


# ---------------------------------------------------------------- peer installation

def _pip_version(venv: Path, dist: str) -> str:
    pats = glob.glob(str(venv / "lib" / "python*" / "site-packages" / f"{dist}-*.dist-info"))
    return os.path.basename(pats[0])[len(dist) + 1:-len(".dist-info")] if pats else "?"


def install_peer(name: str, python: str, packages: list[str], log, timeout: float = 600) -> tuple[bool, str]:
    """Create ``bench/.peers/<name>/venv`` and pip-install ``packages``; idempotent."""
    home = PEERS / name
    venv = home / "venv"
    marker = home / ".installed"
    if marker.exists() and (venv / "bin" / "python").exists():
        return True, "present"
    home.mkdir(parents=True, exist_ok=True)
    exe = shutil.which(python)
    if not exe:
        return False, f"{python} not found"
    log(f"installing {name} into {venv} ({' '.join(packages)}) ...")
    logf = home / "install.log"
    t0 = time.monotonic()
    try:
        with open(logf, "wb") as f:
            if not (venv / "bin" / "python").exists():
                subprocess.run([exe, "-m", "venv", str(venv)], check=True, stdout=f, stderr=f, timeout=120)
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *packages],
                           check=True, stdout=f, stderr=f, timeout=timeout)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        tail = ""
        try:
            tail = " | ".join(ln for ln in logf.read_text(errors="replace").splitlines()[-2:])
        except OSError:
            pass
        return False, f"install failed ({type(e).__name__}) {tail}"[:200]
    marker.write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
    log(f"installed {name} in {time.monotonic() - t0:.0f}s")
    return True, "installed"


# ---------------------------------------------------------------- server definitions

def start_bare(work: Path, http: str = "tsunagi") -> Server:
    """A canned-reply handler: on tsunagi's own HTTP server (``bare``, the gateway's reference) or on
    uvicorn (``bare-uvicorn``, the ceiling of a general ASGI stack)."""
    name = "bare" if http == "tsunagi" else "bare-uvicorn"
    s = Server(name, port=free_port())
    py = VENV / "bin" / "python"
    if not py.exists():
        s.reason = "no .venv (run make install)"
        return s
    if http == "tsunagi":
        cmd = [str(py), "-m", "bench.bare_tsunagi", "--host", s.host, "--port", str(s.port)]
        s.version = "tsunagi's HTTP server, canned 200"
    else:
        cmd = [str(py), "-m", "uvicorn", "bench.bare_app:app", "--host", s.host, "--port", str(s.port),
               "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
        s.version = "uvicorn+uvloop+httptools canned 200"
    s.proc = Proc(cmd, work / f"{name}.log", cwd=str(ROOT))
    s.meta["health"] = f"http://{s.host}:{s.port}/"
    return s


def start_tsunagi(work: Path, name: str = "tsunagi", store: str | None = None, baseline=None,
                  like: str = "", extra_args: list[str] | None = None, cores: list[int] | None = None,
                  env: dict[str, str] | None = None) -> Server:
    """``tsunagi serve`` from this checkout's .venv, or from ``baseline`` (a :class:`bench.baseline.Baseline`):
    the older build, with the same counts as the server it is ``like``. With ``cores``, started under
    ``taskset -c`` on those cores (taskset execs the server, so the pid is the server's)."""
    s = Server(name, port=free_port(), like=like)
    venv, cwd = (baseline.venv, baseline.root) if baseline is not None else (VENV, ROOT)
    exe = venv / "bin" / "tsunagi"
    if not exe.exists():
        s.reason = f"no {exe} (run make install)"
        return s
    data = work / f"{name}-data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    argv = [str(exe), "serve", "--host", s.host, "--port", str(s.port), "--data-dir", str(data)]
    if store:
        argv += ["--store", store]
        s.scale = 0.5
    argv += extra_args or []
    if cores is not None:
        taskset = shutil.which("taskset")
        if taskset is None:
            s.reason = "no taskset on PATH (util-linux) for --pin"
            return s
        argv = [taskset, "-c", ",".join(map(str, cores))] + argv
    # the ECS scenario's image (an environment variable, which older builds ignore)
    env = {"TSUNAGI_ECS_IMAGES": f"bench-task={ROOT / 'bench' / 'ecs_image'}", **(env or {})}
    s.proc = Proc(argv, work / f"{name}.log", env=env, cwd=str(cwd))
    s.meta["health"] = f"http://{s.host}:{s.port}/_tsunagi/health"
    s.meta["reset"] = f"http://{s.host}:{s.port}/_tsunagi/reset"
    s.version = _pip_version(venv, "tsunagi") + (" on PostgreSQL" if store else " on SQLite")
    if baseline is not None:
        s.version += f", baseline {baseline.commit}{' (modified)' if baseline.dirty else ''}"
    return s


def start_moto(work: Path, log) -> Server:
    s = Server("moto", scale=0.025, account="123456789012")
    ok, why = install_peer("moto", "python3", ["moto[server]>=5.2,<5.3"], log)
    if not ok:
        s.reason = why
        return s
    venv = PEERS / "moto" / "venv"
    s.port = free_port(5000)
    s.proc = Proc([str(venv / "bin" / "moto_server"), "-H", s.host, "-p", str(s.port)], work / "moto.log")
    s.meta["health"] = f"http://{s.host}:{s.port}/moto-api/"
    s.meta["reset"] = f"http://{s.host}:{s.port}/moto-api/reset"
    s.version = "moto " + _pip_version(venv, "moto")
    return s


def start_ministack(work: Path, log) -> Server:
    s = Server("ministack", scale=0.3)
    ok, why = install_peer("ministack", "python3",
                           ["ministack>=1.5,<1.6", "boto3", "cryptography", "aws-sam-translator"], log)
    if not ok:
        s.reason = why
        return s
    venv = PEERS / "ministack" / "venv"
    s.port = free_port(4567)
    s.proc = Proc([str(venv / "bin" / "ministack")], work / "ministack.log",
                  env={"BIND_HOST": s.host, "GATEWAY_PORT": str(s.port)}, cwd=str(work))
    s.meta["health"] = f"http://{s.host}:{s.port}/_ministack/health"
    s.meta["reset"] = f"http://{s.host}:{s.port}/_ministack/reset"
    s.version = "ministack " + _pip_version(venv, "ministack")
    return s


def _runs(python: str, code: str) -> bool:
    exe = shutil.which(python)
    if not exe:
        return False
    try:
        return subprocess.run([exe, "-c", f"import sys; {code}"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _pythons_312() -> list[str]:
    """Interpreters that may be Python >= 3.12: on PATH, then pyenv's installed versions (a pyenv shim
    on PATH answers only for the global version, so the versions' own binaries are listed too)."""
    found = ["python3.13", "python3.12", "python3"]
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for exe in sorted(glob.glob(os.path.join(root, "versions", "3.1[2-9]*", "bin", "python3")), reverse=True):
        found.append(exe)
    return found


def start_localstack(work: Path, log) -> Server:
    s = Server("localstack", scale=0.1)
    py = next((p for p in _pythons_312() if _runs(p, "assert sys.version_info >= (3, 12)")), None)
    if py is None:
        s.reason = "needs Python >= 3.12 (none on PATH or under pyenv)"
        return s
    ok, why = install_peer("localstack", py, ["localstack-core[runtime]==2026.3.0", "cbor2<6", "pyopenssl<25",
                                              "cryptography<45", "service_identity"], log, timeout=900)
    if not ok:
        s.reason = why
        return s
    venv = PEERS / "localstack" / "venv"
    s.port = free_port(4566)
    env = {"GATEWAY_LISTEN": f"{s.host}:{s.port}", "SERVICES": "sqs,sns,s3,lambda,sts,kms,apigateway,iam,logs,cloudwatch",
           "LOCALSTACK_HOST": f"{s.host}:{s.port}", "SKIP_SSL_CERT_DOWNLOAD": "1", "DNS_ADDRESS": "0"}
    s.proc = Proc([str(venv / "bin" / "python"), "-m", "localstack.runtime.main"], work / "localstack.log",
                  env=env, cwd=str(work))
    s.meta["health"] = f"http://{s.host}:{s.port}/_localstack/health"
    s.meta["ready_timeout"] = 60
    s.version = "localstack-core " + _pip_version(venv, "localstack_core")
    return s


def wait_ready(s: Server, timeout: float = 20.0) -> None:
    if s.proc is None:
        return
    t = s.proc.wait_ready(s.meta["health"], s.meta.get("ready_timeout", timeout))
    if t is None:
        why = "exited" if not s.proc.alive() else f"no 200 from {s.meta['health']} in {timeout:.0f}s"
        tail = s.proc.tail(2)
        s.reason = f"{why}: {tail}"[:260] if tail else why
        s.proc.stop()
        s.available = False
    else:
        s.available, s.reason, s.startup_s = True, "", t

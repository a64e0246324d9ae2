"""A test suite's local AWS: time from the fixture's start to the first successful call, and the cost of
the reset between tests. tsunagi as its pytest plugin starts it (``tsunagi.testing.Server``: ``tsunagi
serve`` on a free port, temporary data dir), beside moto's ``mock_aws`` (in-process), moto's server and
MiniStack, each started the same way: a fresh interpreter of its own venv (``bench/fixture_probe.py``)
with boto3 already imported spawns it (or enters ``mock_aws``), makes a client and times the first
``ListQueues`` that succeeds.

Reset: each round is a small test (a queue, a message, a bucket, an object; not timed) and then the reset,
timed alone: ``POST /_tsunagi/reset`` on a keep-alive connection (what the ``tsunagi`` fixture does),
``mock_aws()``'s block exit and next entry (tsunagi.testing and moto), ``POST /moto-api/reset``,
``POST /_ministack/reset``. Targets (issue 19): tsunagi's start ≤ 300 ms, reset ≤ 5 ms.

Start figures are wall-clock on a shared 2-core machine, so the server's own CPU time at its first
answer (from /proc) is shown beside them: it moves far less with the machine's load.
"""
from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import time
from pathlib import Path

from ..core import Context, log
from ..report import Col, Table
from ..servers import PEERS, ROOT, VENV, install_peer
from . import scenario

PROBE = str(ROOT / "bench" / "fixture_probe.py")
START_TARGET_MS = 300.0
RESET_TARGET_MS = 5.0


def _probe(python: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 180) -> dict:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("TSUNAGI_", "AWS_"))}
    full.pop("PYTHONDONTWRITEBYTECODE", None)        # a user's venv has its bytecode cached
    full.update(env or {})
    try:
        proc = subprocess.run([str(python), PROBE, *args], capture_output=True, text=True, timeout=timeout,
                              env=full, cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"error": f"no result (exit {proc.returncode}): {proc.stderr[-200:]}"}
    return dict(json.loads(lines[-1]))


def _peers() -> dict[str, Path | None]:
    moto_ok, _ = install_peer("moto", "python3", ["moto[server]>=5.2,<5.3"], log)
    ms_ok, _ = install_peer("ministack", "python3",
                            ["ministack>=1.5,<1.6", "boto3", "cryptography", "aws-sam-translator"], log)
    return {"moto": PEERS / "moto" / "venv" if moto_ok else None,
            "ministack": PEERS / "ministack" / "venv" if ms_ok else None}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Peer:
    """A peer server for the reset rounds (started once, like a session fixture)."""

    def __init__(self, argv: list[str], env: dict[str, str], health: str, cwd: str) -> None:
        self.proc = subprocess.Popen(argv, env={**os.environ, **env}, cwd=cwd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        import urllib.request

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(health, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{argv[0]} did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _start_row(t: Table, name: str, how: str, results: list[dict]) -> None:
    ok = [r for r in results if "ms" in r]
    errors = [r["error"] for r in results if "error" in r]
    if not ok:
        t.add(server=name, how=how, _note=f"not available: {errors[0] if errors else 'no runs'}")
        return
    ms = [r["ms"] for r in ok]
    cpu = [r["cpu_ms"] for r in ok if r.get("cpu_ms") is not None]
    t.add(server=name, how=how, runs=len(ok), median=statistics.median(ms), best=min(ms),
          cpu=statistics.median(cpu) if cpu else None, errors=len(errors) or None)


def _reset_row(t: Table, name: str, how: str, result: dict) -> None:
    if "ms" not in result:
        t.add(server=name, how=how, _note=f"not available: {result.get('error', '?')}")
        return
    ms = sorted(result["ms"])
    t.add(server=name, how=how, resets=len(ms), median=statistics.median(ms), best=ms[0],
          p90=ms[min(len(ms) - 1, int(len(ms) * 0.9))])


@scenario("testing.start", needs=frozenset(), order=86)
def start(ctx: Context) -> list[Table]:
    """A test suite's session start: fixture start → first successful boto3 call (ms), per server."""
    runs = 3 if ctx.quick else 5
    peers = _peers()
    py = VENV / "bin" / "python"
    t = Table(f"Test-suite start: fixture start → first successful ListQueues (median of {runs} fresh starts)",
              [Col("server", "server", "text"), Col("how", "started as", "text"), Col("runs", "runs", "int"),
               Col("median", "median ms", "ms"), Col("best", "best ms", "ms"),
               Col("cpu", "server CPU ms", "ms"), Col("errors", "errors", "int")])
    plans: list[tuple[str, str, Path | None, list[str]]] = [
        ("tsunagi", "tsunagi.testing (the pytest fixture)", py, ["start-tsunagi"]),
        ("moto", "mock_aws() in-process (import moto + start)", peers["moto"] and peers["moto"] / "bin" / "python",
         ["start-moto"]),
        ("moto-server", "moto_server subprocess", peers["moto"] and peers["moto"] / "bin" / "python",
         ["start-server", "--cmd", json.dumps([str(PEERS / "moto" / "venv" / "bin" / "moto_server"), "-H",
                                               "127.0.0.1", "-p", "{port}"])]),
        ("ministack", "ministack subprocess", peers["ministack"] and peers["ministack"] / "bin" / "python",
         ["start-server", "--cmd", json.dumps([str(PEERS / "ministack" / "venv" / "bin" / "ministack")]),
          "--env", json.dumps({"BIND_HOST": "127.0.0.1", "GATEWAY_PORT": "{port}"}), "--cwd", str(ctx.work)]),
    ]
    results: dict[str, list[dict]] = {name: [] for name, *_ in plans}
    for _ in range(runs):           # interleaved, so that the machine's load falls on each alike
        for name, _how, python, args in plans:
            if python is None:
                results[name].append({"error": "peer not installed"})
                continue
            results[name].append(_probe(python, *args))
    for name, how, _python, _args in plans:
        _start_row(t, name, how, results[name])
    rows = [r for r in t.rows if r.get("server") == "tsunagi" and r.get("median") is not None]
    if rows:
        v = rows[0]["median"]
        t.notes.append(f"target session start ≤ {START_TARGET_MS:g} ms: tsunagi {v:,.0f} ms (best "
                       f"{rows[0]['best']:,.0f}, server CPU {rows[0]['cpu'] or 0:,.0f} ms) → "
                       f"{'met' if v <= START_TARGET_MS else 'NOT met'}; load average {os.getloadavg()[0]:.1f}")
    return [t]


@scenario("testing.reset", needs=frozenset(), order=87)
def reset(ctx: Context) -> list[Table]:
    """The reset between tests (ms per reset after a small test), per server and store."""
    n = 20 if ctx.quick else 40
    peers = _peers()
    py = VENV / "bin" / "python"
    t = Table(f"Reset between tests ({n} rounds: a queue, a message, a bucket, an object, then the reset, timed "
              "alone)", [Col("server", "server", "text"), Col("how", "reset by", "text"),
                         Col("resets", "resets", "int"), Col("median", "median ms", "ms"),
                         Col("best", "best ms", "ms"), Col("p90", "p90 ms", "ms")])
    from tsunagi.testing import Server

    stores: list[tuple[str, str]] = [("tsunagi", "sqlite")]
    pg = ctx.dbs.create("fixtures") if ctx.dbs is not None else None
    if pg:
        stores.append(("tsunagi-pg", pg))
    for name, store in stores:
        srv = Server(store=store)
        try:
            ep = srv.start()
        except Exception as e:  # noqa: BLE001
            t.add(server=name, how="POST /_tsunagi/reset", _note=f"not available: {e}"[:200])
            continue
        try:
            _reset_row(t, name, "POST /_tsunagi/reset (the tsunagi fixture)",
                       _probe(py, "reset-server", "--endpoint", ep.url, "--path", "/_tsunagi/reset",
                              "--header", f"X-Tsunagi-Token:{ep.token}", "--n", str(n)))
            if store == "sqlite":
                _reset_row(t, name, "tsunagi.testing.mock_aws() exit + entry",
                           _probe(py, "reset-tsunagi-mock", "--endpoint", ep.url, "--token", ep.token,
                                  "--n", str(n)))
        finally:
            srv.stop()
    moto = peers["moto"]
    if moto is not None:
        _reset_row(t, "moto", "mock_aws() stop + start (in-process)",
                   _probe(moto / "bin" / "python", "reset-moto", "--n", str(n)))
        port = _free_port()
        try:
            peer = _Peer([str(moto / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], {},
                         f"http://127.0.0.1:{port}/moto-api/", str(ctx.work))
        except RuntimeError as e:
            t.add(server="moto-server", how="POST /moto-api/reset", _note=f"not available: {e}")
        else:
            try:
                _reset_row(t, "moto-server", "POST /moto-api/reset",
                           _probe(py, "reset-server", "--endpoint", f"http://127.0.0.1:{port}",
                                  "--path", "/moto-api/reset", "--n", str(n)))
            finally:
                peer.stop()
    ms = peers["ministack"]
    if ms is not None:
        port = _free_port()
        try:
            peer = _Peer([str(ms / "bin" / "ministack")], {"BIND_HOST": "127.0.0.1", "GATEWAY_PORT": str(port)},
                         f"http://127.0.0.1:{port}/_ministack/health", str(ctx.work))
        except RuntimeError as e:
            t.add(server="ministack", how="POST /_ministack/reset", _note=f"not available: {e}")
        else:
            try:
                _reset_row(t, "ministack", "POST /_ministack/reset",
                           _probe(py, "reset-server", "--endpoint", f"http://127.0.0.1:{port}",
                                  "--path", "/_ministack/reset", "--n", str(n)))
            finally:
                peer.stop()
    for name in ("tsunagi", "tsunagi-pg"):
        rows = [r for r in t.rows if r.get("server") == name and r.get("median") is not None]
        if rows:
            v = rows[0]["median"]
            t.notes.append(f"target reset ≤ {RESET_TARGET_MS:g} ms: {name} {v:,.1f} ms → "
                           f"{'met' if v <= RESET_TARGET_MS else 'NOT met'}")
    return [t]

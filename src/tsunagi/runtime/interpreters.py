"""Which program runs a runtime: python3.X on this machine, the server's own Python, or node.

Lambda's runtimes map to local interpreters like this:

- ``python3.9`` … ``python3.14``: ``python3.X`` if the machine has it (pyenv versions are used
  directly, not through pyenv's slow shims) and it can import boto3 (its own, or the server's put
  after the function's path), else the server's interpreter with a one-time warning: handlers
  that call ``boto3`` must work.
- runtimes AWS has retired (``python3.6``–``python3.8``): the server's interpreter, with a warning
  that AWS no longer accepts them (boto3 does not import on those versions).
- ``nodejs18.x`` / ``nodejs20.x`` / ``nodejs22.x``: the machine's ``node``.
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from functools import cache

log = logging.getLogger("tsunagi.runtime")

PYTHON_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14")
RETIRED_PYTHON = ("python3.6", "python3.7", "python3.8")
NODE_RUNTIMES = ("nodejs18.x", "nodejs20.x", "nodejs22.x")
SUPPORTED = PYTHON_RUNTIMES + NODE_RUNTIMES
ACCEPTED = SUPPORTED + RETIRED_PYTHON

_warned: set[str] = set()


@dataclass(frozen=True, slots=True)
class Interpreter:
    kind: str                 # "python" | "node"
    argv: tuple[str, ...]     # the program and its fixed arguments
    own: bool                 # the server's own Python (boto3 already importable)
    version: str              # "3.11" / node's runtime name


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message)


def _pyenv_python(version: str) -> str | None:
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = []
    for path in glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}")):
        tail = path.split(os.sep)[-3][len(version) + 1:]
        if tail.isdigit():
            found.append((int(tail), path))
    return max(found)[1] if found else None


@cache
def find_python(version: str) -> str | None:
    """The path of python``version`` on this machine, or None."""
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return sys.executable
    path = _pyenv_python(version)
    if path:
        return path
    which = shutil.which(f"python{version}")
    if which and "/shims/" not in which:
        return which
    return None


@cache
def find_node() -> str | None:
    return shutil.which("node")


@cache
def server_site_packages() -> tuple[str, ...]:
    """Where the server's boto3 lives: put after the function's code for other interpreters."""
    paths = []
    spec = importlib.util.find_spec("boto3")      # found, not imported: the server has no use for it
    if spec is not None and spec.origin:
        paths.append(os.path.dirname(os.path.dirname(spec.origin)))
    purelib = sysconfig.get_paths().get("purelib")
    if purelib:
        paths.append(purelib)
    paths.extend(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    out: list[str] = []
    for p in paths:
        if p and p not in out and os.path.isdir(p):
            out.append(p)
    return tuple(out)


@cache
def imports_boto3(python: str) -> bool:
    """Whether ``python`` can import boto3 (its own, or the server's put after its path)."""
    probe = "import sys; sys.path.extend(sys.argv[1:]); import boto3, botocore.session"
    try:
        done = subprocess.run([python, "-s", "-c", probe, *server_site_packages()], capture_output=True,
                              timeout=60, env={"PATH": os.environ.get("PATH", "")})
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def resolve(runtime: str) -> Interpreter:
    """The interpreter for a runtime name (already validated as one we accept)."""
    if runtime in NODE_RUNTIMES:
        node = find_node()
        if node is None:
            raise RuntimeError(f"The {runtime} runtime needs Node.js: no 'node' program on this machine's PATH.")
        return Interpreter("node", (node,), False, runtime)
    own_version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if runtime in RETIRED_PYTHON:
        _warn_once(runtime, f"runtime {runtime} is retired: AWS no longer accepts it for new or updated "
                            f"functions; tsunagi runs it on Python {own_version}")
        return Interpreter("python", (sys.executable,), True, own_version)
    version = runtime[len("python"):]
    path = find_python(version)
    if path is None:
        _warn_once(runtime, f"no python{version} on this machine: functions with runtime {runtime} "
                            f"run on Python {own_version}")
        return Interpreter("python", (sys.executable,), True, own_version)
    own = os.path.realpath(path) == os.path.realpath(sys.executable) or path == sys.executable
    if not own and not imports_boto3(path):
        _warn_once(runtime, f"python{version} on this machine cannot import boto3 (this server's boto3 does not "
                            f"support it): functions with runtime {runtime} run on Python {own_version}")
        return Interpreter("python", (sys.executable,), True, own_version)
    return Interpreter("python", (path,), own, version)

"""The baseline: an older tsunagi run beside the current one in the same ``make bench`` run.

``--baseline DIR``: a tsunagi checkout with its own venv (``DIR/.venv/bin/tsunagi``, what
``make -C DIR install`` makes). The bench does not install anything into a directory it is given: if
the venv is missing it stops before starting any server and names the command to run.

``--baseline REV`` (anything ``git rev-parse`` resolves to a commit of this repository, when no
directory of that name exists): a detached ``git worktree`` of that commit under
``bench/.work/baselines/<12 hex>/``, its venv made once with the revision's own ``make install``
(about a minute) and kept for the next run; ``.bench-ready`` in the worktree marks a finished install.
Remove one with ``git worktree remove --force bench/.work/baselines/<hash>``.

Either way the baseline's venv must import tsunagi from the baseline's own ``src/`` (an editable
install): a venv that runs other code would compare a build with itself, so that stops the run too.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .servers import BENCH, ROOT, VENV

CACHE = BENCH / ".work" / "baselines"
READY = ".bench-ready"


@dataclass
class Baseline:
    root: Path                     # the checkout the baseline servers run from (their cwd)
    venv: Path                     # root/.venv
    origin: str                    # what --baseline named: the directory, or the revision and its worktree
    commit: str = "?"              # short hash of the checkout's HEAD
    dirty: bool = False            # tracked files modified in the checkout
    version: str = "?"             # the tsunagi distribution's version in its venv
    python: str = "?"
    warnings: list[str] = field(default_factory=list)

    @property
    def exe(self) -> Path:
        return self.venv / "bin" / "tsunagi"

    def describe(self) -> str:
        return f"{self.origin} (commit {self.commit}{', modified' if self.dirty else ''}, Python {self.python})"


def _git(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=timeout)


def _clean_env() -> dict[str, str]:
    """The environment for a sub-make: without the outer ``make bench``'s flags and overrides
    (``ARGS=…``, ``VENV=…`` would otherwise reach the baseline's Makefile through MAKEFLAGS)."""
    drop = {"MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "MAKELEVEL", "VIRTUAL_ENV"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _probe(venv: Path) -> tuple[str, str, str]:
    """(file tsunagi is imported from, its distribution version, Python version) in ``venv``, run the way
    the server will be run (same environment, not from the checkout's directory)."""
    code = ("import sys, importlib.metadata as m, tsunagi; print(tsunagi.__file__); "
            "print(m.version('tsunagi')); print(sys.version.split()[0])")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True,
                         cwd="/", timeout=60)
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1]
        raise SystemExit(f"--baseline: {venv}/bin/python cannot import tsunagi: {tail}")
    f, v, py = out.stdout.split()[-3:]
    return f, v, py


def _check(b: Baseline) -> Baseline:
    if not b.exe.exists():
        raise SystemExit(
            f"--baseline: {b.exe} not found. The bench does not install into a checkout it is given; run "
            f"`make -C {b.root} install` first, or pass a git revision of this repository (e.g. "
            f"--baseline main~1) and the bench makes its own worktree and venv under {CACHE}.")
    where, b.version, b.python = _probe(b.venv)
    src = (b.root / "src").resolve()
    if not Path(where).resolve().is_relative_to(src):
        raise SystemExit(f"--baseline: {b.venv} imports tsunagi from {where}, not from {src}: it would not run "
                         f"the baseline's code (reinstall with `make -C {b.root} clean install`).")
    stamp, pyproject = b.venv / ".installed", b.root / "pyproject.toml"
    if stamp.exists() and pyproject.exists() and stamp.stat().st_mtime < pyproject.stat().st_mtime:
        b.warnings.append(f"{pyproject} is newer than its venv: its dependencies may be out of date "
                          f"(`make -C {b.root} install` refreshes them)")
    here = sys.version.split()[0]
    if b.python != here:
        b.warnings.append(f"the baseline runs on Python {b.python}, the current build on {here}: "
                          "the comparison includes the interpreter")
    head = _git(b.root, "rev-parse", "--short=9", "HEAD")
    if head.returncode == 0:
        b.commit = head.stdout.strip()
        b.dirty = bool(_git(b.root, "status", "--porcelain", "--untracked-files=no").stdout.strip())
    if b.root.resolve() == ROOT.resolve() or b.venv.resolve() == VENV.resolve():
        b.warnings.append("the baseline is this checkout itself: an A/A run (every ratio should be 1 within noise)")
    return b


def _worktree(rev: str, sha: str, log) -> Baseline:
    """A detached worktree of ``sha`` under bench/.work/baselines with its venv, made once."""
    CACHE.mkdir(parents=True, exist_ok=True)
    wt = CACHE / sha[:12]
    origin = f"{rev}, worktree {wt.relative_to(ROOT)}"
    with open(CACHE / ".lock", "w") as lock:          # two runs at once build it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (wt / READY).exists() and (wt / ".venv" / "bin" / "tsunagi").exists():
            return _check(Baseline(wt, wt / ".venv", origin))
        listed = _git(ROOT, "worktree", "list", "--porcelain").stdout
        if wt.exists() or f"worktree {wt}" in listed:   # a half-made one from an interrupted run
            _git(ROOT, "worktree", "remove", "--force", str(wt))
            _git(ROOT, "worktree", "prune")
        if not wt.exists():
            out = _git(ROOT, "worktree", "add", "--detach", str(wt), sha, timeout=300)
            if out.returncode != 0:
                raise SystemExit(f"--baseline {rev}: git worktree add failed: {out.stderr.strip()[:300]}")
        logf = CACHE / f"{sha[:12]}.install.log"
        log(f"baseline {rev} = {sha[:9]}: installing its venv with `make -C {wt} install` (once; log {logf}) ...")
        t0 = time.monotonic()
        with open(logf, "wb") as f:
            try:
                rc = subprocess.run(["make", "-C", str(wt), "install"], stdout=f, stderr=subprocess.STDOUT,
                                    env=_clean_env(), timeout=1200).returncode
            except subprocess.TimeoutExpired:
                rc = -1
        if rc != 0:
            tail = " | ".join(logf.read_text(errors="replace").strip().splitlines()[-3:])
            raise SystemExit(f"--baseline {rev}: `make -C {wt} install` failed (exit {rc}): {tail[:400]}")
        b = _check(Baseline(wt, wt / ".venv", origin))
        (wt / READY).write_text(f"{sha}\n{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        log(f"baseline venv ready in {time.monotonic() - t0:.0f} s")
        return b


def resolve(arg: str, log) -> Baseline:
    """``--baseline ARG``: an existing directory is a checkout; anything else must be a git revision."""
    p = Path(arg).expanduser()
    if p.is_dir():
        root = p.resolve()
        return _check(Baseline(root, root / ".venv", str(root)))
    out = _git(ROOT, "rev-parse", "--verify", "--quiet", f"{arg}^{{commit}}")
    if out.returncode != 0:
        raise SystemExit(f"--baseline {arg}: neither a directory nor a git revision of {ROOT}")
    return _worktree(arg, out.stdout.strip(), log)

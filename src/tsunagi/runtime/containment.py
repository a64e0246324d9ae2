"""What confines a function's processes: the user they run as, the limits on their whole process tree,
and how that tree is ended.

- **User.** When tsunagi runs as root, function workers run as an unprivileged user
  (``TSUNAGI_FUNCTION_USER``, default ``nobody``): they cannot write the data dir (root's), the store or
  other functions' code. The interpreter, the worker script and the code must be reachable by that user;
  when they are not (an interpreter under ``/root``), the worker runs as the server's user and a warning
  says why and what to change. ``TSUNAGI_FUNCTION_USER=root`` keeps the server's user on purpose.
- **cgroup v2**, where the machine has it and this process may manage its own cgroup: each worker gets
  a cgroup of its own with ``memory.max`` (the function's MemorySize), ``pids.max``
  (:data:`MAX_PROCESSES`, Lambda's 1,024 processes and threads) and no swap; it is ended with
  ``cgroup.kill``, which reaches every process in it however it detached itself.
- **Otherwise** (cgroup v1 machines, containers without delegation, macOS): the worker's tree is found
  by walking ``/proc`` (its descendants, its process group, and any process carrying the worker's
  marker in its environment, which catches a double-forked daemon); its resident memory and process
  count are summed over that tree and checked while it runs; ``RLIMIT_NPROC`` limits forks when the
  worker has a user of its own, ``RLIMIT_CORE`` is 0. A ``setsid`` child is part of the tree and is
  killed with it: at timeout, at out-of-memory, when the worker is retired and when the server stops.

This is containment of mistakes and runaway code, not a sandbox for hostile code: processes of one
user can signal and read each other, the network is open, and ``/proc`` walks can be escaped by code
that clears its environment and re-parents itself (docs/SECURITY.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import resource
import signal
import stat
from collections.abc import Iterable
from dataclasses import dataclass

log = logging.getLogger("tsunagi.runtime")

MAX_PROCESSES = 1024             # Lambda: 1,024 processes or threads per execution environment
MARKER = "TSUNAGI_WORKER_MARK"   # environment variable every process of a worker's tree inherits
CGROUP_ROOT = "/sys/fs/cgroup"


# -- the user functions run as ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FunctionUser:
    name: str
    uid: int
    gid: int


def function_user(configured: str) -> FunctionUser | None:
    """The user workers run as: None for the server's own (tsunagi is not root, or ``root`` was asked)."""
    if os.geteuid() != 0:
        return None
    name = configured.strip() or "nobody"
    if name in ("root", "0"):
        return None
    try:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except (KeyError, ValueError):
        raise ValueError(f"TSUNAGI_FUNCTION_USER names no user of this machine: {name!r}") from None
    if entry.pw_uid == 0:
        return None
    return FunctionUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _may(st: os.stat_result, user: FunctionUser, bits: int) -> bool:
    """Whether ``user`` has permission ``bits`` (r=4, w=2, x=1) on a file with status ``st``."""
    if st.st_uid == user.uid:
        return bool((st.st_mode >> 6) & bits == bits)
    if st.st_gid == user.gid:
        return bool((st.st_mode >> 3) & bits == bits)
    return bool(st.st_mode & bits == bits)


def reachable(path: str, user: FunctionUser, *, execute: bool = False) -> bool:
    """Whether ``user`` can reach ``path`` (every folder above it searchable) and read it (and execute
    it, or search it when it is a folder)."""
    real = os.path.realpath(path)
    try:
        parts = real.split(os.sep)
        for i in range(1, len(parts)):
            folder = os.sep.join(parts[:i]) or os.sep
            if not _may(os.stat(folder), user, 1):
                return False
        st = os.stat(real)
    except OSError:
        return False
    want = 4 | (1 if execute or stat.S_ISDIR(st.st_mode) else 0)
    return _may(st, user, want)


def writable_by(path: str, user: FunctionUser) -> bool:
    """Whether ``user`` could create or replace files in the folder ``path``."""
    try:
        return reachable(path, user) and _may(os.stat(path), user, 3)
    except OSError:
        return False


# -- what the function user runs: reachable interpreters, scripts and code ---------------------------
_STAGING: list[str] = []         # the folder made by staging_dir() (one per server process)


def staging_dir() -> str:
    """A folder of this server (root's, mode 0755, in the temp folder) the function user may read but not
    write: where the code cache and the runtime's scripts go when the function user cannot reach them
    where they are (a data dir or a virtualenv under ``/root``). Made fresh for each server process and
    removed when it exits, so nobody else can have made it first."""
    if not _STAGING:
        import atexit
        import shutil
        import tempfile

        folder = tempfile.mkdtemp(prefix="tsunagi-functions-")
        os.chmod(folder, 0o755)
        _STAGING.append(folder)
        atexit.register(shutil.rmtree, folder, True)
    return _STAGING[0]


def code_cache_dir(default: str, user: FunctionUser | None) -> str:
    """Where unpacked function code and layers live: ``default`` (``<data dir>/lambda``), unless the
    function user could not reach it, then a folder under :func:`staging_dir` (the code is a cache of the
    store; functions may read it, as on Lambda, and not write it)."""
    if user is None:
        return default
    probe = default
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    if reachable(probe, user):
        return default
    folder = os.path.join(staging_dir(), "lambda")
    log.info("functions: %s cannot reach %s; function code is unpacked in %s instead", user.name, default, folder)
    return folder


def staged_script(path: str, user: FunctionUser) -> str:
    """``path`` (a runtime's bootstrap script), or a copy of it the function user can read."""
    if reachable(path, user):
        return path
    import shutil

    copy = os.path.join(staging_dir(), "runtime", os.path.basename(path))
    if not os.path.exists(copy):
        os.makedirs(os.path.dirname(copy), mode=0o755, exist_ok=True)
        shutil.copyfile(path, copy + ".tmp")
        os.chmod(copy + ".tmp", 0o644)
        os.replace(copy + ".tmp", copy)
    return copy


_runnable: dict[tuple[str, FunctionUser, tuple[str, ...]], str | None] = {}


def runnable_program(names: Iterable[str], user: FunctionUser, probe: list[str] | None = None) -> str | None:
    """The first of the programs ``names`` (paths, or names looked up in the system's folders and on
    ``PATH``) that ``user`` can reach and run, and for which ``probe`` (arguments after the program) exits
    0 when run as ``user``; None when there is none."""
    import shutil
    import subprocess

    key = (" ".join(names), user, tuple(probe or ()))
    if key in _runnable:
        return _runnable[key]
    found: str | None = None
    seen: set[str] = set()
    for name in names:
        candidates = [name] if os.sep in name else [
            os.path.join(folder, name) for folder in ("/usr/local/bin", "/usr/bin", "/bin")]
        if os.sep not in name:
            which = shutil.which(name)
            if which:
                candidates.append(which)
        for path in candidates:
            real = os.path.realpath(path)
            if real in seen or "/shims/" in path or not os.path.isfile(real):
                continue
            seen.add(real)
            if not reachable(real, user, execute=True):
                continue
            if probe is not None:
                try:
                    done = subprocess.run([path, *probe], capture_output=True, timeout=60, cwd="/",
                                          env={"PATH": os.environ.get("PATH", "")}, user=user.uid, group=user.gid,
                                          extra_groups=[])
                except (OSError, subprocess.SubprocessError):
                    continue
                if done.returncode != 0:
                    continue
            found = path
            break
        if found:
            break
    _runnable[key] = found
    return found


def python_version(program: str) -> str | None:
    """``3.11`` for a Python 3.11 program."""
    import subprocess

    try:
        done = subprocess.run([program, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, timeout=30, env={"PATH": os.environ.get("PATH", "")})
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.decode().strip()
    return out if done.returncode == 0 and out else None


# -- cgroup v2 ----------------------------------------------------------------------------------------
class Cgroups:
    """Per-worker cgroups under this server's own cgroup (v2), or unavailable (``detect`` returns None)."""

    def __init__(self, base: str) -> None:
        self.base = base                                   # <our cgroup>/tsunagi-functions

    @staticmethod
    def detect(root: str = CGROUP_ROOT, own: str | None = None, pid: int | None = None) -> Cgroups | None:
        """Set up ``<our cgroup>/tsunagi-functions`` with the memory and pids controllers, or None when
        the machine has no cgroup v2 or this process may not manage its cgroup."""
        try:
            if not os.path.exists(os.path.join(root, "cgroup.controllers")):
                log.info("functions: no cgroup v2 hierarchy at %s (cgroup v1 or hybrid); limits by rlimits and "
                         "process-tree checks", root)
                return None
            if own is None:
                with open("/proc/self/cgroup") as f:
                    own = next((line.strip()[3:] for line in f if line.startswith("0::")), None)
            if own is None:
                return None
            mine = os.path.join(root, own.lstrip("/"))
            with open(os.path.join(mine, "cgroup.controllers")) as f:
                if not {"memory", "pids"} <= set(f.read().split()):
                    log.info("functions: cgroup v2 does not hand this server the memory and pids controllers; "
                             "limits by rlimits and process-tree checks")
                    return None
            try:
                _write(os.path.join(mine, "cgroup.subtree_control"), "+memory +pids")
            except OSError:
                # a cgroup with processes cannot hand controllers down: move this server into a leaf first
                leaf = os.path.join(mine, "tsunagi-server")
                os.makedirs(leaf, exist_ok=True)
                _write(os.path.join(leaf, "cgroup.procs"), str(pid or os.getpid()))
                _write(os.path.join(mine, "cgroup.subtree_control"), "+memory +pids")
            base = os.path.join(mine, "tsunagi-functions")
            os.makedirs(base, exist_ok=True)
            _write(os.path.join(base, "cgroup.subtree_control"), "+memory +pids")
            return Cgroups(base)
        except (OSError, StopIteration) as e:
            log.info("functions: cgroup v2 not available here (%s); limits by rlimits and process-tree checks", e)
            return None

    def create(self, name: str, memory_bytes: int, pids: int) -> str | None:
        path = os.path.join(self.base, name)
        try:
            os.makedirs(path, exist_ok=True)
            _write(os.path.join(path, "memory.max"), str(memory_bytes))
            _write(os.path.join(path, "pids.max"), str(pids))
            with contextlib.suppress(OSError):
                _write(os.path.join(path, "memory.swap.max"), "0")
            return path
        except OSError as e:
            log.warning("functions: could not make cgroup %s: %s", path, e)
            return None

    @staticmethod
    def enter(path: str, pid: int) -> bool:
        try:
            _write(os.path.join(path, "cgroup.procs"), str(pid))
            return True
        except OSError as e:
            log.warning("functions: could not move worker %d into %s: %s", pid, path, e)
            return False

    @staticmethod
    def pids(path: str) -> list[int]:
        try:
            with open(os.path.join(path, "cgroup.procs")) as f:
                return [int(p) for p in f.read().split()]
        except (OSError, ValueError):
            return []

    @staticmethod
    def memory_bytes(path: str) -> int:
        try:
            with open(os.path.join(path, "memory.current")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return 0

    @staticmethod
    def oom_killed(path: str) -> bool:
        try:
            with open(os.path.join(path, "memory.events")) as f:
                return any(line.startswith("oom_kill ") and int(line.split()[1]) > 0 for line in f)
        except (OSError, ValueError):
            return False

    @classmethod
    def kill(cls, path: str) -> None:
        """End every process in the cgroup, then remove it (now, or once the processes are gone)."""
        try:
            _write(os.path.join(path, "cgroup.kill"), "1")
        except OSError:                                  # kernels before 5.14: signal each, twice over
            for _ in range(2):
                for pid in cls.pids(path):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.rmdir(path)

    @staticmethod
    def remove(path: str) -> bool:
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            return False


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


# -- without cgroups: the tree through /proc -------------------------------------------------------------
def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                out.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return out


def descendants(pid: int, limit: int = 4 * MAX_PROCESSES) -> list[int]:
    """``pid`` and every process below it (at most ``limit``)."""
    found = [pid]
    i = 0
    while i < len(found) and len(found) < limit:
        found.extend(c for c in _children(found[i]) if c not in found)
        i += 1
    return found


def tree_usage(pid: int) -> tuple[int, int]:
    """(resident bytes, process count) of ``pid``'s tree."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    pids = descendants(pid)
    for p in pids:
        try:
            with open(f"/proc/{p}/statm", "rb") as f:
                total += int(f.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    return total, len(pids)


def _proc_entries() -> list[str]:
    """The names in /proc. Listing it has failed here with EBADF while other threads opened and closed
    descriptors (seen once in a full test run, during a reset); it is tried again before giving up."""
    for attempt in range(3):
        try:
            return os.listdir("/proc")
        except OSError:
            if attempt == 2:
                raise
    return []


def marked(tokens: Iterable[str]) -> list[int]:
    """Processes whose environment carries one of ``tokens`` as the worker marker (a daemon a
    function left behind keeps its parent's environment)."""
    wanted = {f"{MARKER}={t}".encode() for t in tokens}
    if not wanted:
        return []
    own = os.getpid()
    found = []
    for name in _proc_entries():
        if not name.isdigit() or int(name) == own:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if any(w in env.split(b"\0") for w in wanted):
            found.append(int(name))
    return found


def kill_tree(pid: int, pgid: int | None, token: str | None) -> int:
    """SIGKILL ``pid``'s tree: its process group, its descendants, processes carrying its marker.
    Stopped first (SIGSTOP) so that nothing forks while it is being collected. Returns how many."""
    victims: set[int] = set(descendants(pid))
    if token:
        victims.update(marked([token]))
    for p in victims:
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGSTOP)
    victims.update(descendants(pid))                 # what forked before it stopped
    if pgid is not None and pgid > 1:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    for p in victims:
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGKILL)
    return len(victims)


def self_limited(argv: list[str], *, own_user: bool) -> list[str]:
    """``argv`` started through util-linux's ``prlimit``, which lowers its own limits (no core files; at
    most :data:`MAX_PROCESSES` processes with a user of its own) and then runs it: for runtimes that cannot
    set them on themselves (Node), because setting them from outside on a process of another user needs
    CAP_SYS_RESOURCE, which containers often drop. ``argv`` unchanged where there is no ``prlimit``."""
    import shutil

    tool = shutil.which("prlimit")
    if tool is None:
        return argv
    limits = ["--core=0"] + ([f"--nproc={MAX_PROCESSES}"] if own_user else [])
    return [tool, *limits, "--", *argv]


def rlimits(pid: int, *, own_user: bool, memory_bytes: int | None) -> None:
    """Limits applied from outside to a started worker (both runtimes): no core files; with a user of its
    own, at most :data:`MAX_PROCESSES` processes (forks past it fail, as on Lambda); address space."""
    wanted = [(resource.RLIMIT_CORE, 0)]
    if own_user:
        wanted.append((resource.RLIMIT_NPROC, MAX_PROCESSES))
    if memory_bytes:
        wanted.append((resource.RLIMIT_AS, memory_bytes))
    for which, value in wanted:
        with contextlib.suppress(OSError, ValueError):
            resource.prlimit(pid, which, (value, value))

"""Run a guide of ``docs/guides/`` as its reader would: its shell blocks, in order, in one bash session.

A guide marks each fenced ``sh`` block with an HTML comment on the line before it (invisible once
rendered):

- ``<!-- serve -->``: how the reader starts the server. Not run as written: the test starts a server on a
  free port with the flags the block passes to ``tsunagi serve`` (none for ``make run``).
- ``<!-- run -->``: run; every command in it must succeed.
- ``<!-- run: expect="text" absent="text" match="regex" within=20 -->``: also, its output contains each
  ``expect``, none of ``absent``, and matches each ``match`` (multi-line regex); with ``within``, the block
  is run again (every half second, for up to that many seconds) until it does — for what happens
  asynchronously (a function's log lines, a queue draining).
- ``<!-- run: fails="text" -->``: a command in it must fail, with ``text`` in the output.
- ``<!-- shown -->``: not run (an alternative the reader may pick, said so in the text).

Every ``sh`` block carries one of these, so no command in a guide goes untested by accident.
``localhost:4566`` in a block becomes the test server's address.
"""

from __future__ import annotations

import os
import re
import select
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

GUIDES = Path(__file__).resolve().parents[2] / "docs" / "guides"

_BLOCK = re.compile(r"^<!--\s*(?P<kind>serve|run|shown)(?::\s*(?P<attrs>.*?))?\s*-->\n```sh\n(?P<body>.*?)^```$",
                    re.M | re.S)
_FENCE = re.compile(r"^```sh$", re.M)
_ATTR = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|(\S+))')


@dataclass
class Block:
    kind: str
    body: str
    line: int
    expect: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    match: list[str] = field(default_factory=list)
    fails: str | None = None
    within: float = 0.0


def blocks(path: Path) -> list[Block]:
    text = path.read_text()
    found: list[Block] = []
    for m in _BLOCK.finditer(text):
        block = Block(m.group("kind"), m.group("body"), text.count("\n", 0, m.start()) + 1)
        for key, quoted, bare in _ATTR.findall(m.group("attrs") or ""):
            value = quoted.replace('\\"', '"').replace("\\t", "\t") if quoted or not bare else bare
            if key in ("expect", "absent", "match"):
                getattr(block, key).append(value)
            elif key == "fails":
                block.fails = value
            elif key == "within":
                block.within = float(value)
            else:
                raise ValueError(f"{path.name}:{block.line}: unknown marker attribute {key!r}")
        found.append(block)
    fences = len(_FENCE.findall(text))
    if fences != len(found):
        raise ValueError(f"{path.name}: {fences} ```sh blocks but {len(found)} carry a marker "
                         "(<!-- serve -->, <!-- run -->, <!-- shown -->) on the line before")
    return found


def serve_args(block: Block) -> list[str]:
    """The flags a ``serve`` block passes to ``tsunagi serve`` (none for ``make run``)."""
    for line in block.body.splitlines():
        words = shlex.split(line, comments=True)
        if "serve" in words and any(w.endswith("tsunagi") for w in words):
            return words[words.index("serve") + 1:]
    return []


class Shell:
    """One bash session for a whole guide: variables and functions carry from block to block."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.proc = subprocess.Popen(["bash", "--norc", "--noprofile"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        self.count = 0
        # a failing command anywhere (a function's too) leaves a line the test looks for
        self._send("exec 2>&1\nset -E -o pipefail\ntrap 'echo \"__FAILED__ status $? in: $BASH_COMMAND\"' ERR\n")

    def _send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def run(self, script: str, timeout: float = 120.0) -> str:
        """Run ``script`` in the session; its output (stdout and stderr)."""
        self.count += 1
        path = self.cwd / f".block-{self.count}.sh"
        path.write_text(script)
        end = f"__END_{self.count}__"
        self._send(f"source {shlex.quote(str(path))}\necho {end}\n")
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        out = b""
        deadline = time.monotonic() + timeout
        while end.encode() + b"\n" not in out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"block did not finish within {timeout}s:\n{script}\n--- output:\n{out.decode()}")
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"the shell exited:\n{out.decode(errors='replace')}")
                out += chunk
        return out.decode(errors="replace").split(end + "\n", 1)[0]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def check(block: Block, output: str) -> str | None:
    """What is wrong with ``output`` for ``block`` (None: it is what the guide promises)."""
    failed = "__FAILED__" in output
    if block.fails is not None:
        if not failed:
            return "a command was to fail, none did"
        if block.fails not in output:
            return f"the failure does not say {block.fails!r}"
    elif failed:
        return "a command failed"
    for text in block.expect:
        if text not in output:
            return f"the output does not contain {text!r}"
    for text in block.absent:
        if text in output:
            return f"the output contains {text!r}"
    for pattern in block.match:
        if not re.search(pattern, output, re.M):
            return f"the output does not match {pattern!r}"
    return None


def run_guide(path: Path, shell: Shell, port: int) -> list[tuple[Block, str]]:
    """Run every ``run`` block of the guide in order; AssertionError at the first that breaks its promise."""
    done: list[tuple[Block, str]] = []
    for block in blocks(path):
        if block.kind != "run":
            continue
        script = block.body.replace("localhost:4566", f"localhost:{port}")
        deadline = time.monotonic() + block.within
        while True:
            output = shell.run(script)
            problem = check(block, output)
            if problem is None or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        if problem is not None:
            waited = f" (after {block.within:g} s of retries)" if block.within else ""
            raise AssertionError(f"{path.name}:{block.line}: {problem}{waited}\n--- block:\n{block.body}"
                                 f"--- output:\n{output}")
        done.append((block, output))
    return done

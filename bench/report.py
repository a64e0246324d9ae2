"""Tables: fixed-width for the terminal, markdown for bench/RESULTS.md."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

HEADER = """\
# tsunagi benchmark results

Appended by `make bench` (`python -m bench`); newest run last. Method, in short:

- every server runs on this machine at the same time and is driven by the same client in the same run;
- the client is a raw HTTP/1.1 client replaying botocore-signed (SigV4) request bytes over keep-alive
  sockets, so the client's own cost stays small (boto3 would cap every server near 1,000 calls/s);
- **server CPU per call** is the server's own utime+stime (its process and children, as in
  `/proc/<pid>/stat`, read at ns precision through the process's CPU clock) before and after the
  measured phase, divided by the calls (or messages): the figure a noisy 2-core machine disturbs
  least. Throughput and latency include the client's cost;
- slow servers run fewer calls (a per-server scale factor), the per-call figures are comparable;
- `tsunagi/x` is tsunagi's figure divided by that server's (below 1 = tsunagi cheaper or faster);
- with `--baseline`, `tsunagi-base` and `tsunagi-base-pg` are an older build of tsunagi run beside the
  current one, and a "Current build / baseline" table gives each headline figure's ratio;
- each peer's work is checked (send counts, receive counts, empty queue at the end); errors are shown.

See `bench/README.md` for how to run it and read it.
"""


@dataclass
class Col:
    key: str
    head: str
    fmt: str = "num"      # num | int | ms | ratio | text | mb


@dataclass
class Table:
    title: str
    cols: list[Col]
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    key: str = ""          # the scenario that made it (set by the runner)

    def add(self, **row) -> dict:
        self.rows.append(row)
        return row


def fmt(v, kind: str) -> str:
    if v is None or v == "":
        return "–"
    if kind == "text":
        return str(v)
    if isinstance(v, str):
        return v
    if kind == "int":
        return f"{int(round(v)):,}"
    if kind == "ratio":
        if 0 < v < 0.095:
            return f"1/{1 / v:,.0f}"         # e.g. 1/25: a 25th
        return f"{v:.2f}×" if v < 10 else f"{v:.1f}×"
    if kind == "ms":
        return f"{v:.2f}" if v < 10 else (f"{v:.1f}" if v < 100 else f"{v:,.0f}")
    if kind == "mb":
        return f"{v / 1e6:,.0f}"
    # num: a few significant figures
    a = abs(v)
    if a >= 999.5:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _cells(t: Table) -> list[list[str]]:
    return [[fmt(r.get(c.key), c.fmt) for c in t.cols] for r in t.rows]


def render_text(t: Table) -> str:
    heads = [c.head for c in t.cols]
    cells = _cells(t)
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(heads)]
    out = [f"== {t.title}"]

    def line(vals: list[str]) -> str:
        return "  ".join(v.ljust(w) if i == 0 or t.cols[i].fmt == "text" else v.rjust(w)
                         for i, (v, w) in enumerate(zip(vals, widths, strict=False))).rstrip()

    out.append(line(heads))
    out.append("  ".join("-" * w for w in widths))
    for row, r in zip(cells, t.rows, strict=False):
        out.append(line(row))
        if r.get("_note"):
            out.append(f"    ↳ {r['server']}: {r['_note']}")
    for n in t.notes:
        out.append(f"  * {n}")
    return "\n".join(out)


def render_md(t: Table) -> str:
    out = [f"### {t.title}", ""]
    out.append("| " + " | ".join(c.head for c in t.cols) + " |")
    out.append("|" + "|".join("---" if i == 0 or c.fmt == "text" else "---:"
                              for i, c in enumerate(t.cols)) + "|")
    for row in _cells(t):
        out.append("| " + " | ".join(v.replace("|", "/") for v in row) + " |")
    notes = [f"{r['server']}: {r['_note']}" for r in t.rows if r.get("_note")] + t.notes
    if notes:
        out.append("")
        out.extend(f"- {n}" for n in notes)
    out.append("")
    return "\n".join(out)


def machine() -> dict:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = next((int(ln.split()[1]) for ln in f if ln.startswith("MemTotal")), 0)
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=RESULTS.parent, timeout=5).stdout.strip() or "no commit"
    except (OSError, subprocess.SubprocessError):
        commit = "?"
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "nproc": os.cpu_count(), "cpu": model,
            "mem": mem, "python": platform.python_version(), "kernel": platform.release(),
            "commit": commit, "argv": " ".join(sys.argv[1:]) or "(defaults)",
            "load": "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())}


def append_results(tables: list[Table], facts: dict, servers: list[str], wall: float) -> None:
    if not RESULTS.exists():
        RESULTS.write_text(HEADER)
    out = ["", f"## {facts['date']} — `python -m bench {facts['argv']}`", "",
           f"Machine: {facts['nproc']} CPUs ({facts['cpu']}), {facts['mem']} RAM, Linux {facts['kernel']}, "
           f"Python {facts['python']}; tsunagi commit {facts['commit']}; run took {wall:.0f} s; "
           f"load average {facts['load']} at the start, {'{:.2f} {:.2f} {:.2f}'.format(*os.getloadavg())} at the end "
           "(other work on the machine inflates every server's figures alike).", "",
           *([f"Baseline (tsunagi-base, tsunagi-base-pg): {facts['baseline']}", ""] if facts.get("baseline") else []),
           "Servers: " + "; ".join(servers), ""]
    out.extend(render_md(t) for t in tables)
    with open(RESULTS, "a") as f:
        f.write("\n".join(out))

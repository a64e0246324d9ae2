"""The throughput model of docs/SCALING.md: its tables and docs/scaling.svg.

``.venv/bin/python scripts/scaling_model.py`` prints the prediction tables (Markdown) and writes
docs/scaling.svg, drawn by hand with the standard library (no plotting package). Not part of ``make test``.
Every input is a figure measured on the 2-core development machine; docs/SCALING.md says where each came from.
"""
from __future__ import annotations

from pathlib import Path

# --- inputs (µs of CPU per SendMessage call unless said otherwise) -----------------------------------
T_SERVER = 255.0        # tsunagi CPU per SendMessage on PostgreSQL (bench/pg_costs.py: 268 and 241)
T_SERVER_SQLITE = 105.0  # the same on SQLite (make bench, idle machine) - for comparison only
T_PG = 180.0            # PostgreSQL backend CPU per SendMessage (bench/pg_costs.py: 190 and 170)
COMMITS_PER_MSG = 0.375  # transactions per SendMessage, 4 connections per server (pg_costs: 0.38, 0.37)
WAL_PER_MSG = 750.0     # WAL bytes per SendMessage (pg_costs: 741, 752)
COMMIT_CEILING = 5_000.0  # commits/s, 1-row commits on 8 connections, this machine (pg_costs: 5,037)
COMMIT_FAST = 20_000.0  # an ASSUMED ceiling for a dedicated database host with a fast WAL device
WAL_BANDWIDTH = 100e6   # bytes/s, an ASSUMED sustained WAL write rate; far from binding either way

SERVERS = (1, 2, 4, 8, 12, 16)
PG_CORES = (4, 8, 16)


# the same three inputs measured with 8 connections on the one server (bench/pg_costs.py --conns 8, one run):
# more sends arrive together, share an INSERT and a commit, and cost less each
T_SERVER_8, T_PG_8, COMMITS_PER_MSG_8 = 215.0, 136.0, 0.22


def throughput(n: int, pg_cores: int, cores_per_server: float = 1.0, commit_ceiling: float = COMMIT_CEILING,
               t_server: float = T_SERVER, t_pg: float = T_PG,
               commits_per_msg: float = COMMITS_PER_MSG) -> tuple[float, str]:
    """SendMessage/s for ``n`` servers on one PostgreSQL, and which limit binds."""
    limits = {
        "servers": n * cores_per_server / (t_server * 1e-6),
        "PG CPU": pg_cores / (t_pg * 1e-6),
        "commits": commit_ceiling / commits_per_msg,
        "WAL": WAL_BANDWIDTH / WAL_PER_MSG,
    }
    which = min(limits, key=lambda k: limits[k])
    return limits[which], which


def table(commit_ceiling: float, **inputs: float) -> str:
    head = "| servers (1 core each) | " + " | ".join(f"PG {c} cores" for c in PG_CORES) + " |"
    out = [head, "|---:|" + "---:|" * len(PG_CORES)]
    for n in SERVERS:
        cells = []
        for c in PG_CORES:
            x, which = throughput(n, c, commit_ceiling=commit_ceiling, **inputs)
            cells.append(f"{x:,.0f} ({which})")
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def svg(path: Path) -> None:
    """Predicted SendMessage/s against servers, one line per PostgreSQL size and commit ceiling."""
    w, h, left, right, top, bottom = 760, 440, 70, 240, 30, 50
    xmax, ymax = 16, 60_000

    def px(n: float) -> float:
        return left + (n / xmax) * (w - left - right)

    def py(y: float) -> float:
        return h - bottom - (min(y, ymax) / ymax) * (h - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
             f'font-size="12"><rect width="{w}" height="{h}" fill="white"/>']
    for y in range(0, ymax + 1, 10_000):
        parts.append(f'<line x1="{left}" y1="{py(y):.1f}" x2="{w - right}" y2="{py(y):.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y // 1000}k</text>')
    for n in (1, 2, 4, 8, 12, 16):
        parts.append(f'<line x1="{px(n):.1f}" y1="{h - bottom}" x2="{px(n):.1f}" y2="{top}" stroke="#eee"/>'
                     f'<text x="{px(n):.1f}" y="{h - bottom + 16}" text-anchor="middle">{n}</text>')
    parts.append(f'<text x="{(left + w - right) / 2}" y="{h - 12}" text-anchor="middle">tsunagi servers, '
                 f'1 core each</text>')
    parts.append(f'<text x="16" y="{(top + h - bottom) / 2}" transform="rotate(-90 16 {(top + h - bottom) / 2})" '
                 f'text-anchor="middle">SendMessage/s (model)</text>')
    colours = ("#1f77b4", "#2ca02c", "#d62728")
    series = [(c, COMMIT_CEILING, col, "") for c, col in zip(PG_CORES, colours, strict=True)]
    series += [(c, COMMIT_FAST, col, "6,4") for c, col in zip(PG_CORES, colours, strict=True)]
    ly = top + 10
    for cores, ceiling, col, dash in series:
        pts = " ".join(f"{px(n):.1f},{py(throughput(n, cores, commit_ceiling=ceiling)[0]):.1f}"
                       for n in range(1, 17))
        d = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{col}" stroke-width="2"{d}/>')
        parts.append(f'<line x1="{w - right + 10}" y1="{ly}" x2="{w - right + 34}" y2="{ly}" stroke="{col}" '
                     f'stroke-width="2"{d}/><text x="{w - right + 40}" y="{ly + 4}">PG {cores} cores, '
                     f'{ceiling / 1000:.0f}k commits/s</text>')
        ly += 18
    for n, rate, _where in MEASURED:
        parts.append(f'<circle cx="{px(n):.1f}" cy="{py(rate):.1f}" r="4" fill="black"/>')
    parts.append(f'<circle cx="{w - right + 22}" cy="{ly}" r="4" fill="black"/><text x="{w - right + 40}" '
                 f'y="{ly + 4}">measured, 2-core VM</text>')
    parts.append(f'<text x="{w - right + 10}" y="{ly + 24}" font-size="10">(servers, client and PG</text>'
                 f'<text x="{w - right + 10}" y="{ly + 37}" font-size="10">on 2 shared cores)</text>')
    parts.append("</svg>\n")
    path.write_text("".join(parts))


# measured SendMessage/s on this machine (servers, msgs/s, where): see docs/SCALING.md
MEASURED = [(1, 852, "pinned run 1"), (2, 1398, "pinned run 1"), (4, 1360, "pinned run 1"),
            (1, 941, "pinned run 2"), (2, 1369, "pinned run 2"), (4, 1365, "pinned run 2")]


if __name__ == "__main__":
    print("Commit ceiling as measured here (5,000 commits/s):\n")
    print(table(COMMIT_CEILING))
    print("\nCommit ceiling assumed 20,000 commits/s:\n")
    print(table(COMMIT_FAST))
    print("\nCommit ceiling as measured here, inputs measured with 8 connections per server:\n")
    print(table(COMMIT_CEILING, t_server=T_SERVER_8, t_pg=T_PG_8, commits_per_msg=COMMITS_PER_MSG_8))
    out = Path(__file__).resolve().parent.parent / "docs" / "scaling.svg"
    svg(out)
    print(f"\nwrote {out}")

"""The throughput model of docs/SCALING.md: its tables and docs/scaling.svg.

``.venv/bin/python scripts/scaling_model.py`` prints the prediction tables (Markdown) and writes the figure
twice: docs/scaling.svg (by hand, standard library) and docs/scaling.png (Pillow, one of the dev tools
`make install` installs). Not part of ``make test``.
Every input is a figure measured on the 2-core development machine; docs/SCALING.md says where each came from.
"""
from __future__ import annotations

from itertools import pairwise
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


# The figure is a list of drawing primitives, written out twice: as SVG (by hand, standard library) and as
# PNG (Pillow, installed by `make install`), so the two files always show the same drawing.
Shape = tuple  # ("line", x1, y1, x2, y2, colour, width, dash) | ("polyline", points, colour, width, dash)
#                ("circle", cx, cy, r, colour) | ("text", x, y, text, anchor, size, rotate)


def figure() -> tuple[int, int, list[Shape]]:
    """Predicted SendMessage/s against servers, one line per PostgreSQL size and commit ceiling."""
    w, h, left, right, top, bottom = 760, 440, 70, 240, 30, 50
    xmax, ymax = 16, 60_000

    def px(n: float) -> float:
        return left + (n / xmax) * (w - left - right)

    def py(y: float) -> float:
        return h - bottom - (min(y, ymax) / ymax) * (h - top - bottom)

    shapes: list[Shape] = []
    for y in range(0, ymax + 1, 10_000):
        shapes.append(("line", left, py(y), w - right, py(y), "#dddddd", 1, ""))
        shapes.append(("text", left - 6, py(y) + 4, f"{y // 1000}k", "end", 12, 0))
    for n in (1, 2, 4, 8, 12, 16):
        shapes.append(("line", px(n), h - bottom, px(n), top, "#eeeeee", 1, ""))
        shapes.append(("text", px(n), h - bottom + 16, str(n), "middle", 12, 0))
    shapes.append(("text", (left + w - right) / 2, h - 12, "tsunagi servers, 1 core each", "middle", 12, 0))
    shapes.append(("text", 16, (top + h - bottom) / 2, "SendMessage/s (model)", "middle", 12, -90))
    colours = ("#1f77b4", "#2ca02c", "#d62728")
    series = [(c, COMMIT_CEILING, col, "") for c, col in zip(PG_CORES, colours, strict=True)]
    series += [(c, COMMIT_FAST, col, "6,4") for c, col in zip(PG_CORES, colours, strict=True)]
    ly = top + 10
    for cores, ceiling, col, dash in series:
        pts = [(px(n), py(throughput(n, cores, commit_ceiling=ceiling)[0])) for n in range(1, 17)]
        shapes.append(("polyline", pts, col, 2, dash))
        shapes.append(("line", w - right + 10, ly, w - right + 34, ly, col, 2, dash))
        shapes.append(("text", w - right + 40, ly + 4, f"PG {cores} cores, {ceiling / 1000:.0f}k commits/s",
                       "start", 12, 0))
        ly += 18
    for n, rate, _where in MEASURED:
        shapes.append(("circle", px(n), py(rate), 4, "#000000"))
    shapes.append(("circle", w - right + 22, ly, 4, "#000000"))
    shapes.append(("text", w - right + 40, ly + 4, "measured, 2-core VM", "start", 12, 0))
    shapes.append(("text", w - right + 10, ly + 24, "(servers, client and PG", "start", 10, 0))
    shapes.append(("text", w - right + 10, ly + 37, "on 2 shared cores)", "start", 10, 0))
    return w, h, shapes


def svg(path: Path) -> None:
    w, h, shapes = figure()
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
             f'font-size="12"><rect width="{w}" height="{h}" fill="white"/>']
    for kind, *a in shapes:
        if kind == "line":
            x1, y1, x2, y2, col, width, dash = a
            extra = (f' stroke-width="{width}"' if width != 1 else "") + (f' stroke-dasharray="{dash}"' if dash else "")
            parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{col}"{extra}/>')
        elif kind == "polyline":
            pts, col, width, dash = a
            d = f' stroke-dasharray="{dash}"' if dash else ""
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            parts.append(f'<polyline points="{points}" fill="none" stroke="{col}" stroke-width="{width}"{d}/>')
        elif kind == "circle":
            cx, cy, r, col = a
            parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r}" fill="{col}"/>')
        else:
            x, y, text, anchor, size, rotate = a
            attrs = f' text-anchor="{anchor}"' if anchor != "start" else ""
            attrs += f' font-size="{size}"' if size != 12 else ""
            attrs += f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate else ""
            parts.append(f'<text x="{x:.1f}" y="{y:.1f}"{attrs}>{text}</text>')
    parts.append("</svg>\n")
    path.write_text("".join(parts))


def png(path: Path, scale: int = 2) -> None:
    """The same drawing as a PNG, at ``scale`` times the SVG's size."""
    from PIL import Image, ImageDraw, ImageFont

    w, h, shapes = figure()
    img = Image.new("RGB", (w * scale, h * scale), "white")
    draw = ImageDraw.Draw(img)

    def dashed(p: tuple[float, float], q: tuple[float, float], col: str, width: int, dash: str) -> None:
        if not dash:
            draw.line([(p[0] * scale, p[1] * scale), (q[0] * scale, q[1] * scale)], fill=col, width=width * scale)
            return
        on, off = (float(v) for v in dash.split(","))
        length = ((q[0] - p[0]) ** 2 + (q[1] - p[1]) ** 2) ** 0.5
        t = 0.0
        while t < length:
            t2 = min(t + on, length)
            a = (p[0] + (q[0] - p[0]) * t / length, p[1] + (q[1] - p[1]) * t / length)
            b = (p[0] + (q[0] - p[0]) * t2 / length, p[1] + (q[1] - p[1]) * t2 / length)
            draw.line([(a[0] * scale, a[1] * scale), (b[0] * scale, b[1] * scale)], fill=col, width=width * scale)
            t = t2 + off

    for kind, *a in shapes:
        if kind == "line":
            x1, y1, x2, y2, col, width, dash = a
            dashed((x1, y1), (x2, y2), col, width, dash)
        elif kind == "polyline":
            pts, col, width, dash = a
            for p, q in pairwise(pts):
                dashed(p, q, col, width, dash)
        elif kind == "circle":
            cx, cy, r, col = a
            draw.ellipse([(cx - r) * scale, (cy - r) * scale, (cx + r) * scale, (cy + r) * scale], fill=col)
        else:
            x, y, text, anchor, size, rotate = a
            font = ImageFont.load_default(size=size * scale)
            # SVG places text by its baseline; Pillow's anchors "ls", "ms", "rs" do the same
            pil_anchor = {"start": "ls", "middle": "ms", "end": "rs"}[anchor]
            if not rotate:
                draw.text((x * scale, y * scale), text, fill="black", font=font, anchor=pil_anchor)
                continue
            box = draw.textbbox((0, 0), text, font=font, anchor="mm")
            tw, th = box[2] - box[0] + 4, box[3] - box[1] + 4
            label = Image.new("RGBA", (tw, th), (255, 255, 255, 0))
            ImageDraw.Draw(label).text((tw / 2, th / 2), text, fill="black", font=font, anchor="mm")
            turned = label.rotate(-rotate, expand=True)
            img.paste(turned, (int(x * scale - turned.width / 2), int(y * scale - turned.height / 2)), turned)
    img.save(path, optimize=True)


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
    docs = Path(__file__).resolve().parent.parent / "docs"
    svg(docs / "scaling.svg")
    png(docs / "scaling.png")
    print(f"\nwrote {docs / 'scaling.svg'} and {docs / 'scaling.png'}")

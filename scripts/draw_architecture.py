"""Draw docs/img/architecture.png from the code's own imports; --check lists import circles and rig.cli imports.

The boxes are the package groups scripts/import_graph.py finds (each top folder and each of its
first-level subpackages: basics, morphable, morphable/fit, ..., rig/cli, bench, scripts), with
their module counts; an arrow A -> B means modules of A import modules of B (runtime imports,
module level and inside functions; the number is how many import statements). Rows are layers:
a box sits above everything it imports. Where packages import each other both ways (a circle
between packages), the lighter direction is drawn red, pointing up: an import against the layers.

    python scripts/draw_architecture.py [OUT.png]
    python scripts/draw_architecture.py --check     # exit 1 on a module-level import circle in the
                                                    # library or a library module importing rig.cli
"""
from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import import_graph as ig  # noqa: E402

ROOT = ig.ROOT
COLOURS = {"basics": "#e6e6e6", "morphable": "#d5e3f0", "gan": "#d8ecd2", "rig": "#f4d6dc",
           "bench": "#f6e8c3", "scripts": "#f6e8c3"}
EDGE_COLOURS = {"basics": "#666", "morphable": "#2b5d8a", "gan": "#3d7a32", "rig": "#a33a55",
                "bench": "#9a7a20", "scripts": "#9a7a20"}


def _up_weight(order: list[str], edges: Counter) -> int:
    rank = {v: i for i, v in enumerate(order)}
    return sum(n for (a, b), n in edges.items() if rank[a] > rank[b])


def order_packages(nodes: list[str], edges: Counter) -> list[str]:
    """A linear order with importers before what they import, breaking circles where the fewest import
    statements go against it: Eades, Lin and Smyth's greedy order, then moves of one package at a time."""
    left, head, tail = set(nodes), [], []
    weight = lambda a, b: edges.get((a, b), 0)  # noqa: E731
    while left:
        changed = True
        while changed:
            changed = False
            for v in sorted(left):
                if not any(weight(v, w) for w in left if w != v):       # imports nothing left: at the end
                    tail.insert(0, v)
                    left.discard(v)
                    changed = True
                elif not any(weight(w, v) for w in left if w != v):    # imported by nothing left: at the front
                    head.append(v)
                    left.discard(v)
                    changed = True
        if left:
            v = max(sorted(left), key=lambda v: sum(weight(v, w) - weight(w, v) for w in left))
            head.append(v)
            left.discard(v)
    order = head + tail
    best = _up_weight(order, edges)
    improved = True
    while improved:
        improved = False
        for v in list(order):
            rest = [w for w in order if w != v]
            for i in range(len(rest) + 1):
                trial = rest[:i] + [v] + rest[i:]
                cost = _up_weight(trial, edges)
                if cost < best:
                    order, best, improved = trial, cost, True
                    break
    return order


def layers(nodes: list[str], edges: Counter) -> tuple[dict[str, int], set[tuple[str, str]]]:
    """{package: row (0 = bottom)} with each package above what it imports, and the edges that point up."""
    rank = {v: i for i, v in enumerate(order_packages(nodes, edges))}
    up = {(a, b) for (a, b) in edges if rank[a] > rank[b]}
    row: dict[str, int] = {}
    for v in sorted(nodes, key=lambda v: -rank[v]):   # from the bottom of the order up
        below = [row[b] for (a, b) in edges if a == v and (a, b) not in up and b in row]
        row[v] = 1 + max(below) if below else 0
    return row, up


def label(package: str) -> str:
    return {"rig": "rig (models, pipeline, outputs)"}.get(package, package.replace(".", "/"))


#: x range of each family's column (the tools share the top row, basics the bottom)
COLUMNS = {"gan": (0.0, 4.2), "rig": (4.2, 11.4), "morphable": (11.4, 16.0), "basics": (4.2, 11.4),
           "bench": (0.0, 8.0), "scripts": (8.0, 16.0)}
TOOLS = ("bench", "scripts")


def place(nodes: list[str], row: dict[str, int], box_h: float, gap_y: float) -> dict[str, tuple[float, float, float]]:
    """{package: (x, y bottom, width)}: rows by layer, the tools on a row of their own at the top, x by family."""
    top_row = 1 + max(row[v] for v in nodes if v not in TOOLS)
    cells: dict[tuple[int, str], list[str]] = {}
    for v in sorted(nodes):
        r = top_row if v in TOOLS else row[v]
        family = v.split(".")[0]
        cells.setdefault((r, "rig" if family == "basics" else family), []).append(v)   # basics: the middle column
    pos = {}
    for (r, family), members in cells.items():
        x0, x1 = COLUMNS.get(family, (0.0, 16.0))
        slot = (x1 - x0) / len(members)
        for i, v in enumerate(members):
            pos[v] = (x0 + i * slot + 0.08 * slot, 0.3 + r * (box_h + gap_y), 0.84 * slot)
    return pos


def draw(out: Path, graph: ig.Graph | None = None) -> Path:
    graph = graph or ig.scan()
    sizes = ig.packages(graph)
    edges = ig.package_edges(graph)
    nodes = sorted(sizes)
    row, up = layers(nodes, edges)
    width, box_h, gap_y = 16.0, 0.62, 0.62
    pos = place(nodes, row, box_h, gap_y)
    height = max(y for _, y, _ in pos.values()) + box_h + 0.3
    fig, ax = plt.subplots(figsize=(13, 0.8 * height), dpi=100)
    ax.set_xlim(-0.2, width + 0.2)
    ax.set_ylim(-0.6, height)
    ax.axis("off")
    for v, (x, y, w) in pos.items():
        top = v.split(".")[0]
        ax.add_patch(FancyBboxPatch((x, y), w, box_h, boxstyle="round,pad=0.02,rounding_size=0.1",
                                    fc=COLOURS.get(top, "#eee"), ec="#555", zorder=2))
        ax.text(x + w / 2, y + box_h / 2, f"{label(v)}  ({sizes[v]})", ha="center", va="center", fontsize=9.5,
                weight="bold", zorder=3)
    # attach points: spread each box's arrows along an edge of it, ordered by where the other end is; an arrow
    # that would cross boxes of its own column leaves from a side and bends round them (left and right in turn)
    def blocked(a: str, b: str) -> bool:
        (xa, ya, wa), (xb, yb, wb) = pos[a], pos[b]
        lo, hi = min(ya, yb), max(ya, yb)
        return any(lo < y < hi and x < min(xa + wa, xb + wb) and x + w > max(xa, xb)
                   for v, (x, y, w) in pos.items() if v not in (a, b))
    ends: dict[tuple[str, str], list[tuple[str, str]]] = {}
    bend: dict[tuple[str, str], float] = {}
    turn = 0
    for (a, b) in sorted(edges):
        ya, yb = pos[a][1], pos[b][1]
        if ya != yb and a not in TOOLS and blocked(a, b):
            side = ("left", "right")[turn % 2]
            turn += 1
            side_a = side_b = side
            bend[(a, b)] = (0.22 if side == "left" else -0.22) * (1 if ya > yb else -1)
        else:
            side_a, side_b = ("bottom", "top") if ya > yb else ("top", "bottom") if ya < yb else ("side", "side")
        ends.setdefault((a, side_a), []).append((a, b))
        ends.setdefault((b, side_b), []).append((a, b))
    point: dict[tuple[str, str, str], tuple[float, float]] = {}
    for (v, side), lst in ends.items():
        x, y, w = pos[v]
        other = lambda e: pos[e[1] if e[0] == v else e[0]]  # noqa: E731
        if side in ("left", "right"):
            lst.sort(key=lambda e: other(e)[1])
            for i, e in enumerate(lst):
                point[(e[0], e[1], v)] = (x if side == "left" else x + w, y + box_h * (i + 1) / (len(lst) + 1))
            continue
        lst.sort(key=lambda e: other(e)[0])
        for i, e in enumerate(lst):
            px = x + w * (i + 1) / (len(lst) + 1)
            py = y if side == "bottom" else y + box_h if side == "top" else y + box_h / 2
            if side == "side":
                px = x + w if other(e)[0] > x else x
            point[(e[0], e[1], v)] = (px, py)
    for (a, b), n in sorted(edges.items()):
        start, end = point[(a, b, a)], point[(a, b, b)]
        red = (a, b) in up
        tool = a in TOOLS
        colour = "#d01010" if red else "#999" if tool else EDGE_COLOURS.get(a.split(".")[0], "#333")
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=9, color=colour,
                                     lw=(0.4 if tool else 0.6) + 0.4 * math.log2(n + 1),
                                     alpha=0.9 if red else 0.35 if tool else 0.7,
                                     connectionstyle=f"arc3,rad={bend.get((a, b), 0.06)}", zorder=4 if red else 1,
                                     linestyle="--" if red else "-"))
    against = [f"{label(a)} -> {label(b)} ({edges[(a, b)]})" for (a, b) in sorted(up)]
    if against:
        ax.text(0.0, -0.1, "against the layers (red): " + ", ".join(against), fontsize=8, color="#d01010",
                va="top", ha="left", wrap=True)
    ax.set_title("facerig: packages (modules) and their imports, read from the code by scripts/draw_architecture.py\n"
                 "an arrow points at what a package imports (width: import statements; grey: the tools'); "
                 "red, dashed, pointing up: against the layers", fontsize=10)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    return out


def check(graph: ig.Graph | None = None) -> list[str]:
    """Problems: module-level import circles among library modules, library modules importing rig.cli."""
    graph = graph or ig.scan()
    problems = [f"import circle: {' -> '.join(c)}" for c in ig.circles(graph)]
    problems += [f"{i.importer} imports {i.target} (line {i.line}, {i.level} level): library code never imports rig.cli"
                 for i in ig.library_imports_of_cli(graph)]
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python scripts/draw_architecture.py", description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", type=Path, default=ROOT / "docs" / "img" / "architecture.png")
    ap.add_argument("--check", action="store_true", help="list import circles and rig.cli imports; exit 1 on any")
    args = ap.parse_args(argv)
    if args.check:
        problems = check()
        print("\n".join(problems) if problems else "no import circles; no library module imports rig.cli")
        return 1 if problems else 0
    print(draw(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

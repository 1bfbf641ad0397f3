"""One table of face-control limits: morphable.controls. No second pose/expression limits table in the library.

An AST scan of basics/, morphable/, gan/ and rig/ (morphable/controls.py aside) for
  - a dict literal (or dict(...) call) keyed by 'yaw'/'pitch'/'roll' whose values are (low, high) number pairs, and
  - a module-level name *_LIMITS / *_RANGE / *_RANGES holding such a dict keyed by any pose or expression
    control, or a (low, high) pair under a pose/expression-ish name (EXPRESSION_RANGE = (0.0, 1.0)).
A command or engine that holds to less than the table says so in its own words, never with a copy of it."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from morphable import controls

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("basics", "morphable", "gan", "rig")
TABLE = Path("morphable") / "controls.py"
POSE_KEYS = {"yaw", "pitch", "roll"}
FACE_KEYS = set(controls.names("pose")) | set(controls.names("expression"))
LIMIT_NAME = re.compile(r"^_?[A-Z0-9_]*_(LIMITS|RANGE|RANGES)$")
FACE_WORDS = re.compile(r"POSE|EXPR|WEIGHT|BLEND|ARKIT|YAW|PITCH|ROLL|ANGLE|HEAD|ROTATION")


def _number_pair(node: ast.AST) -> bool:
    """(low, high) / [low, high] of two literal numbers."""
    if not isinstance(node, (ast.Tuple, ast.List)) or len(node.elts) != 2:
        return False
    try:
        values = [ast.literal_eval(e) for e in node.elts]
    except ValueError:
        return False
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _keyed_pairs(node: ast.AST) -> set[str]:
    """Names a dict literal or dict(...) call maps to a number pair."""
    if isinstance(node, ast.Dict):
        items = [(k.value, v) for k, v in zip(node.keys, node.values)
                 if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        items = [(kw.arg, kw.value) for kw in node.keywords if kw.arg]
    else:
        return set()
    return {name for name, value in items if _number_pair(value)}


def second_tables(source: str, where: str = "<source>") -> list[str]:
    """Every second limits table in one module's source, as 'where:line what'."""
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if _keyed_pairs(node) & POSE_KEYS:
            found.append(f"{where}:{node.lineno} a pose limits dict")
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        value = node.value
        for target in targets:
            if not (isinstance(target, ast.Name) and LIMIT_NAME.match(target.id)) or value is None:
                continue
            if _keyed_pairs(value) & FACE_KEYS and not _keyed_pairs(value) & POSE_KEYS:
                found.append(f"{where}:{node.lineno} {target.id} (face control limits)")
            elif _number_pair(value) and FACE_WORDS.search(target.id):
                found.append(f"{where}:{node.lineno} {target.id} (a pose/expression range)")
    return found


def test_the_scan_finds_a_planted_table():
    planted = ('POSE_LIMITS = {"yaw": (-60.0, 60.0), "pitch": (-40, 40)}\n'
               'EXPRESSION_RANGE = (0.0, 1.0)\n'
               'JAW_LIMITS = {"jawOpen": (0.0, 0.8)}\n'
               'FPS_RANGE = (0.0, 240.0)\n'
               'def f():\n    return dict(roll=(-45, 45))\n')
    found = second_tables(planted)
    assert [f.split(" ", 1)[0] for f in found] == ["<source>:1", "<source>:6", "<source>:2", "<source>:3"], found


def test_no_second_limits_table_in_the_library():
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if rel != TABLE:
                found += second_tables(path.read_text(encoding="utf-8"), str(rel))
    assert not found, "limits belong in morphable/controls.py only:\n" + "\n".join(found)

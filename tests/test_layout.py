"""The layout rules of docs/architecture.md, checked on the code's own imports (scripts/import_graph.py, AST only).

Import circles count module-level imports (what runs on import: a circle there is an import-order
bug); the "never imports" rules count every import, module level, inside functions and under
TYPE_CHECKING (a dependency however it is written)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import import_graph as ig  # noqa: E402

#: the GAN rig and the engines above the photo engine: rig/photo imports none of them
ABOVE_PHOTO = tuple(f"rig.{m}" for m in ("face_rig", "reenact", "pipeline", "sources", "bundle", "estimator",
                                         "rignet", "engine"))


@pytest.fixture(scope="module")
def graph() -> ig.Graph:
    return ig.scan()


def _lines(found: list[ig.Import]) -> str:
    return "\n".join(f"{i.importer} -> {i.target} (line {i.line}, {i.level})" for i in found)


def test_the_scan_reads_levels_relative_imports_and_circles(tmp_path):
    pkg = tmp_path / "rig"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .b import f\n")
    (pkg / "a.py").write_text("from .sub import b\nfrom typing import TYPE_CHECKING\n"
                              "if TYPE_CHECKING:\n    from .c import C\n")
    (pkg / "sub" / "b.py").write_text("import rig.a\ndef f():\n    from ..c import g\n")
    (pkg / "c.py").write_text("try:\n    from rig.sub.b import f\nexcept ImportError:\n    pass\n")
    g = ig.scan(tmp_path, folders=("rig",))
    got = {(i.importer, i.target, i.level) for i in g.imports}
    assert got == {("rig.sub", "rig.sub.b", "module"), ("rig.a", "rig.sub.b", "module"),
                   ("rig.a", "rig.c", "typing"), ("rig.sub.b", "rig.a", "module"),
                   ("rig.sub.b", "rig.c", "function"), ("rig.c", "rig.sub.b", "module")}
    assert ig.circles(g) == [["rig.a", "rig.sub.b", "rig.a"]]
    assert len(ig.circles(g, levels=("module", "function"))) == 1   # a, b and c: one strongly connected group
    assert ig.package_of("rig.sub.b", g) == "rig.sub" and ig.package_of("rig.a", g) == "rig"


def test_no_import_circles_among_library_modules(graph):
    found = ig.circles(graph)
    assert not found, "module-level import circles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_library_never_imports_rig_cli(graph):
    found = ig.library_imports_of_cli(graph)
    assert not found, "library modules import rig.cli:\n" + _lines(found)


def test_morphable_and_gan_never_import_each_other_or_rig(graph):
    found = ig.imports_of(graph, "morphable", ("gan", "rig")) + ig.imports_of(graph, "gan", ("morphable", "rig"))
    assert not found, _lines(found)


def test_basics_imports_nothing_of_the_project(graph):
    found = ig.imports_of(graph, "basics", ("morphable", "gan", "rig", "bench", "scripts"))
    assert not found, _lines(found)


def test_rig_photo_imports_nothing_of_the_gan_rig_or_the_engines(graph):
    found = ig.imports_of(graph, "rig.photo", ABOVE_PHOTO)
    assert not found, "rig/photo imports modules above it:\n" + _lines(found)

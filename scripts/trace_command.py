"""Measure the path a facerig command takes through the project's modules: modules, stops, returns.

Runs `facerig ARGS` in this process (rig.cli.main) under sys.setprofile and records every
Python-level call into a project module (a file under basics/, morphable/, gan/ or rig/). The
definition (issue 23, "the house"):

- follow the command's call chain: the sequence of project modules entered by calls, in the
  order the calls happen;
- consecutive calls within the same module collapse into one stop;
- a return is a stop in a module already visited and left earlier;
- stops = distinct modules + returns.

To measure the code's structure and not its loop counts, each distinct (caller function ->
callee function) edge counts once, the first time it is taken; the caller is the nearest project
function up the stack (so a callback through torch or numpy, such as nn.Module.__call__ ->
forward, is an edge from the project function that made the call). Import-time work (module
bodies and what they call) is no part of the chain. Only the main thread is traced.

Two counts come out: the whole command (building the argument parser too, which calls every
command module's register()) and the command's handler alone (from the call of the parsed
command's function, e.g. rig.cli.reenact.cmd_reenact, with its own edge set): the handler's path
is "the command's path" of docs/house.md.

"Rig side" counts the modules under rig/ other than the front end (rig/cli/), the output layer
(rig/outputs.py) and the provenance plug-in (rig/provenance/): the rig's own engine code.

    python scripts/trace_command.py [--json OUT.json] [--sequence] -- reenact --photo P --driver D -o /tmp/t.mp4
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, FrameType
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PACKAGES = ("basics", "morphable", "gan", "rig")
#: rig modules that are not "rig side": the front end, the output layer, the provenance plug-in
NOT_RIG_SIDE = ("rig.cli", "rig.outputs", "rig.provenance")


@dataclass
class Trace:
    """What one traced command did: its stops (module names, consecutive repeats collapsed) and edges taken."""

    argv: list[str]
    exit_code: int = 0
    seconds: float = 0.0
    edges: int = 0
    stops: list[str] = field(default_factory=list)

    @property
    def modules(self) -> list[str]:
        """Distinct modules, in the order first entered."""
        return list(dict.fromkeys(self.stops))

    @property
    def returns(self) -> int:
        """Stops in a module already visited and left earlier."""
        return len(self.stops) - len(self.modules)

    @property
    def rig_side(self) -> list[str]:
        return [m for m in self.modules if is_rig_side(m)]

    def summary(self) -> dict:
        return {"argv": self.argv, "exit_code": self.exit_code, "seconds": round(self.seconds, 1),
                "edges": self.edges, "modules": len(self.modules), "stops": len(self.stops),
                "returns": self.returns, "rig_side_modules": len(self.rig_side)}


def is_rig_side(module: str) -> bool:
    """A module of the rig's own engine code (under rig/, not the front end, outputs or provenance)."""
    return module.split(".")[0] == "rig" and not any(module == p or module.startswith(p + ".") for p in NOT_RIG_SIDE)


def module_of(filename: str, root: Path = ROOT) -> str | None:
    """'rig.photo.flow' for ROOT/rig/photo/flow.py (a package's __init__.py: the package); None outside the project."""
    try:
        rel = Path(filename).resolve().relative_to(root)
    except ValueError:
        return None
    if rel.parts[0] not in PACKAGES or rel.suffix != ".py":
        return None
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


class Path_:
    """One recorded path: the first-taken edges and the stops they made."""

    def __init__(self) -> None:
        self.edges: set[tuple[CodeType | None, CodeType]] = set()
        self.stops: list[str] = []

    def take(self, edge: tuple[CodeType | None, CodeType], module: str) -> None:
        if edge not in self.edges:
            self.edges.add(edge)
            if not self.stops or self.stops[-1] != module:
                self.stops.append(module)


class Tracer:
    """The profile hook: records the module of each first-taken project call edge, for the whole command and,
    from the first call of `handler` on, for the handler alone."""

    def __init__(self, handler: CodeType | None = None, root: Path = ROOT):
        self.root = root
        self.handler = handler
        self._module: dict[CodeType, str | None] = {}
        self.whole = Path_()
        self.in_handler: Path_ | None = None

    def module(self, code: CodeType) -> str | None:
        if code not in self._module:
            self._module[code] = module_of(code.co_filename, self.root)
        return self._module[code]

    def _project_caller(self, frame: FrameType) -> FrameType | None:
        f = frame.f_back
        while f is not None and self.module(f.f_code) is None:
            f = f.f_back
        return f

    def __call__(self, frame: FrameType, event: str, arg: object) -> None:
        if event != "call":
            return
        code = frame.f_code
        callee = self.module(code)
        if callee is None or code.co_name == "<module>":
            return
        caller = self._project_caller(frame)
        if caller is not None and caller.f_code.co_name == "<module>":
            return   # import-time work
        edge = (caller.f_code if caller is not None else None, code)
        if code is self.handler and self.in_handler is None:
            self.in_handler = Path_()
        self.whole.take(edge, callee)
        if self.in_handler is not None:
            self.in_handler.take(edge, callee)


def trace_command(argv: Sequence[str]) -> tuple[Trace, Trace]:
    """Run `facerig ARGV` in-process under the tracer: (the whole command, its handler alone)."""
    from rig.cli import build_parser, main

    handler = getattr(build_parser().parse_args(list(argv)), "func", None)   # untraced: which function runs it
    tracer = Tracer(getattr(handler, "__code__", None))
    t0 = time.perf_counter()
    sys.setprofile(tracer)
    try:
        code = main(list(argv))
    except SystemExit as exc:   # argparse errors and --help
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.setprofile(None)
    seconds, code = time.perf_counter() - t0, int(code or 0)
    part = tracer.in_handler or Path_()
    return (Trace(list(argv), code, seconds, len(tracer.whole.edges), tracer.whole.stops),
            Trace(list(argv), code, seconds, len(part.edges), part.stops))


def _numbers(trace: Trace) -> str:
    s = trace.summary()
    return (f"modules {s['modules']}  stops {s['stops']}  returns {s['returns']}  "
            f"rig-side modules {s['rig_side_modules']}  (call edges {s['edges']})")


def report(whole: Trace, trace: Trace, sequence: bool = False) -> str:
    """The numbers, the handler's modules (rig side marked *) and, with `sequence`, its every stop in order."""
    lines = [f"facerig {' '.join(trace.argv)}  (exit {trace.exit_code}, {trace.seconds:.1f} s traced)",
             f"whole command (with the argument parser): {_numbers(whole)}",
             f"the command's handler:                    {_numbers(trace)}",
             "the handler's modules, first entered first (* rig side):"]
    lines += [f"  {'*' if is_rig_side(m) else ' '} {m}  ({trace.stops.count(m)} stops)" for m in trace.modules]
    if sequence:
        seen: set[str] = set()
        lines.append("stops in order (<- a return):")
        for m in trace.stops:
            lines.append(f"  {m}{'  <-' if m in seen else ''}")
            seen.add(m)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python scripts/trace_command.py", description=__doc__.splitlines()[0],
                                 usage="%(prog)s [--json OUT] [--sequence] -- FACERIG-ARGS...")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers, modules and stops as JSON")
    ap.add_argument("--sequence", action="store_true", help="print every stop in order")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="the facerig command line (after --)")
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("give the facerig command after --, e.g. -- reenact --photo P --driver D -o out.mp4")
    whole, trace = trace_command(command)
    print(report(whole, trace, args.sequence))
    if args.json is not None:
        args.json.write_text(json.dumps({"whole": whole.summary(), **trace.summary(), "modules_list": trace.modules,
                                         "rig_side": trace.rig_side, "stops_list": trace.stops}, indent=1))
    return 0 if trace.exit_code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

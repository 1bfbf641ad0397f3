"""`facerig morph info|render|convert`: inspect, render and convert 3D morphable models."""
from __future__ import annotations

import argparse
from pathlib import Path

from morphable import controls

from ..errors import RigError
from .common import MESH_SUFFIXES, bounded_int, check_face_value, name_value_pairs, seed_arg
from .label_args import add_label_args, labeller


def _limits_help(name: str) -> str:
    """'degrees, -90 .. 90; head turn; ...': a pose flag's help, from its morphable.controls row."""
    c = controls.control(name)
    unit = "degrees" if c.unit == "deg" else c.unit
    return f"{unit}, {c.low:g} .. {c.high:g}; {c.help}"


def register(sub: argparse._SubParsersAction) -> None:
    morph = sub.add_parser("morph", help="3D morphable face models: info, render, convert")
    msub = morph.add_subparsers(dest="morph_command", required=True)

    info = msub.add_parser("info", help="counts, components and expression names of a model")
    info.add_argument("--model", default="default", help="'default', a .npz, an ICT folder, FLAME .pkl, BFM .mat/.h5")
    info.set_defaults(func=cmd_info)

    render = msub.add_parser("render", help="render a posed, expressive, lit face to PNG (and a mesh)")
    render.add_argument("--model", default="default")
    render.add_argument("--identity-seed", type=seed_arg, default=None,
                        help="draw identity ~ N(0,1) with this seed (default: the mean face)")
    low, high = controls.limits("jawOpen")
    render.add_argument("--expression", nargs="+", action="extend", metavar="NAME=V",
                        help=f"ARKit weights in [{low:g}, {high:g}], e.g. jawOpen=0.6")
    for name in ("yaw", "pitch", "roll"):
        render.add_argument(f"--{name}", type=float, default=0.0, help=_limits_help(name))
    render.add_argument("--light", default="front", help="light preset: ambient, front, left, right, top, bottom")
    render.add_argument("--size", type=bounded_int(16, 2048), default=256, help="image size in pixels")
    render.add_argument("-o", "--out", required=True, help="output PNG")
    render.add_argument("--mesh", default=None, help="also write the posed mesh (.glb, .obj or .ply)")
    add_label_args(render)
    render.set_defaults(func=cmd_render)

    conv = msub.add_parser("convert", help="convert ICT / FLAME / BFM / .npz to facerig's .npz")
    conv.add_argument("source", help="ICT folder, FLAME .pkl, BFM .mat/.h5 or .npz")
    conv.add_argument("out", help="output .npz")
    conv.add_argument("--landmarks", default=None,
                      help="68 landmark vertex ids (.json/.txt) or FLAME landmark embedding, for models without them")
    conv.add_argument("--full", action="store_true", help="ICT: keep the whole model, not only face + head")
    conv.set_defaults(func=cmd_convert)


def _load(source: str, **options):
    from morphable.formats import load_model

    return load_model(source, **options)


def cmd_info(args: argparse.Namespace) -> int:
    m = _load(args.model)
    print(f"model        {m.name}")
    for key in ("source", "licence"):
        if key in m.meta:
            print(f"{key:<12} {m.meta[key]}")
    print(f"vertices     {m.num_vertices}")
    print(f"triangles    {m.num_faces}")
    print(f"identity     {m.num_identity} components")
    print(f"albedo       {m.num_albedo} components" + (" (mean colour)" if m.albedo_mean is not None else ""))
    names = m.expression_names
    print(f"expressions  {len(names)} of 52 ARKit shapes")
    for i in range(0, len(names), 6):
        print("             " + " ".join(names[i:i + 6]))
    print("landmarks    68 (iBUG)")
    print(f"regions      {', '.join(sorted(m.regions)) or '-'}")
    return 0


def build_params(model, identity_seed, expression: dict[str, float], yaw: float, pitch: float,
                 roll: float, light: str):
    """FaceParams for one face from CLI-style values, validating names and ranges."""
    from morphable import lighting

    for name, value in [("yaw", yaw), ("pitch", pitch), ("roll", roll)]:
        check_face_value(name, value, "pose")
    for name, value in expression.items():
        check_face_value(name, value, "expression")  # an expression, even one named like a pose angle
    absent = [n for n in expression if n not in model.expression_names]
    if absent:
        raise RigError(f"model {model.name!r} has no shape for {', '.join(absent)} "
                       f"(it has {len(model.expression_names)} of 52; see `facerig morph info`)")
    if identity_seed is None:
        params = model.neutral_params(1)
    else:
        params = model.random_params(1, seed=identity_seed)
    params = params.with_expression(expression).with_pose(yaw=yaw, pitch=pitch, roll=roll)
    return params.replace(light=lighting.preset(light, device=model.device))


def cmd_render(args: argparse.Namespace) -> int:
    from morphable.export import export_mesh
    from morphable.render import Renderer, to_uint8

    from ..outputs import Outputs

    with Outputs(provenance=labeller(args, "morph render", source="rendered", generator="3DMM renderer")) as outputs:
        out = outputs.expect(args.out, (".png", ".jpg", ".jpeg"))
        mesh = outputs.expect(args.mesh, MESH_SUFFIXES)
        model = _load(args.model)
        params = build_params(model, args.identity_seed, name_value_pairs(args.expression), args.yaw,
                              args.pitch, args.roll, args.light)
        result = Renderer(model, size=args.size)(params)
        outputs.image(out, to_uint8(result.image[0]))
        if mesh is not None:
            outputs.file(mesh, lambda tmp: export_mesh(model, params, tmp))
    for path in outputs.written:
        print(f"wrote {path}")
    return 0


def _read_landmark_ids(path: str):
    """Landmark ids from .json (a list) or a whitespace text file; embeddings pass through as paths."""
    import json

    p = Path(path)
    if not p.is_file():
        raise RigError(f"landmark file not found: {p}")
    if p.suffix.lower() in (".npy", ".pkl", ".npz"):
        return str(p)  # loader-specific embedding files
    try:
        text = p.read_text()
        ids = json.loads(text) if p.suffix.lower() == ".json" else [int(t) for t in text.split()]
    except (ValueError, UnicodeDecodeError) as exc:
        raise RigError(f"cannot read landmark ids from {p}: {exc}") from None
    if len(ids) != 68:
        raise RigError(f"{p} holds {len(ids)} landmark ids, expected 68")
    return [int(i) for i in ids]


def cmd_convert(args: argparse.Namespace) -> int:
    from ..outputs import Outputs

    with Outputs() as outputs:
        out = outputs.expect(args.out, (".npz",))
        options = {}
        if args.landmarks:
            options["landmarks"] = _read_landmark_ids(args.landmarks)
        if args.full:
            options["head_only"] = False
        model = _load(args.source, **options)
        outputs.file(out, model.save)
    print(f"wrote {out}: {model.name}, {model.num_vertices} vertices, {model.num_identity} identity "
          f"components, {len(model.expression_names)} ARKit expressions")
    return 0

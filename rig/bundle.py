"""Rig bundles: one folder with a manifest naming the generator, 3DMM, estimator and RigNet.

manifest.json = {"format": "facerig-rig-bundle", "version": 1,
                 "generator": {"kind": "dcgan" | "stylegan2", "path": relative path or "package:gan_face_generate"},
                 "morphable": "default" or a relative path, "estimator": "estimator.safetensors",
                 "rignet": "rignet.safetensors", "info": {...},
                 "trained_range": {"percentiles": [5, 95], "low": [...], "high": [...], "source": ...},
                 "landmarks": "mediapipe" | "dlib"}
(trained_range is optional: the estimator's label range per flat parameter, see TrainedRange.
landmarks is the backend that labelled the estimator's training pairs; FaceRig reads a missing
entry as "dlib", which labelled every bundle written before the entry existed.)
Relative paths resolve against the bundle folder, so a bundle can be moved with what it names.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import RigError

MANIFEST = "manifest.json"
FORMAT = "facerig-rig-bundle"
VERSION = 1
PACKAGE_DCGAN = "package:gan_face_generate"
GENERATOR_KINDS = ("dcgan", "stylegan2")


def bundle_dir(path: str | os.PathLike) -> Path:
    """The bundle folder for a folder or its manifest.json path; RigError when there is none."""
    path = Path(path)
    folder = path.parent if path.name == MANIFEST else path
    if not (folder / MANIFEST).is_file():
        raise RigError(f"no rig bundle at {path} (missing {MANIFEST})")
    return folder


def read_manifest(path: str | os.PathLike) -> dict:
    """Parse and check a bundle's manifest (RigError on a missing or malformed one)."""
    folder = bundle_dir(path)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise RigError(f"cannot read {folder / MANIFEST}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RigError(f"{folder / MANIFEST} is not a facerig rig bundle manifest")
    if manifest.get("version") != VERSION:
        raise RigError(f"{folder / MANIFEST}: unsupported bundle version {manifest.get('version')!r}")
    gen = manifest.get("generator")
    if not isinstance(gen, dict) or gen.get("kind") not in GENERATOR_KINDS or not isinstance(gen.get("path"), str):
        raise RigError(f"{folder / MANIFEST}: 'generator' must be {{kind: dcgan|stylegan2, path: ...}}")
    for key in ("morphable", "estimator", "rignet"):
        if not isinstance(manifest.get(key), str):
            raise RigError(f"{folder / MANIFEST}: missing entry {key!r}")
    return manifest


def generator_entry(generator: str | os.PathLike, folder: str | os.PathLike, kind: str = "stylegan2") -> dict:
    """Manifest entry for `dcgan` (the packaged DCGAN) or a checkpoint path (stored relative to folder)."""
    if str(generator) in ("dcgan", PACKAGE_DCGAN):
        return {"kind": "dcgan", "path": PACKAGE_DCGAN}
    if kind not in GENERATOR_KINDS:
        raise RigError(f"generator kind must be one of {GENERATOR_KINDS}, got {kind!r}")
    path = Path(generator).resolve()
    return {"kind": kind, "path": os.path.relpath(path, Path(folder).resolve())}


def generator_kind(G) -> str:
    """'dcgan' for gan.dcgan.DCGANGenerator, else 'stylegan2'."""
    return "dcgan" if type(G).__name__ == "DCGANGenerator" else "stylegan2"


def resolve(folder: Path, entry: str) -> Path:
    return (folder / entry).resolve()


def load_generator(entry: dict, folder: Path, device=None):
    """The frozen generator a manifest names (eval mode, no grad)."""
    if entry["path"] == PACKAGE_DCGAN:
        from gan.dcgan import load_dcgan

        G = load_dcgan(None)
    else:
        path = resolve(folder, entry["path"])
        if not path.is_file():
            raise RigError(f"generator named by the bundle not found: {path}")
        from gan.checkpoint_formats import load_any_generator

        G = load_any_generator(path)
    return G.eval().requires_grad_(False).to(device or "cpu")


def load_morphable(entry: str, folder: Path, device=None):
    """The 3DMM a manifest names: 'default' or a model file relative to the bundle."""
    from morphable.formats import load_model

    return load_model(entry if entry == "default" else resolve(folder, entry), device=device)


def write_bundle(folder: str | os.PathLike, generator: str | os.PathLike, estimator, rignet,
                 morphable: str = "default", info: dict | None = None, kind: str = "stylegan2") -> Path:
    """Write estimator + RigNet weights and the manifest (last, atomically) into `folder`."""
    from .estimator import save_estimator
    from .rignet import save_rignet

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    est_info = dict(getattr(estimator, "info", None) or {})
    save_estimator(estimator, folder / "estimator.safetensors", info=est_info)
    save_rignet(rignet, folder / "rignet.safetensors", info=info)
    manifest = {"format": FORMAT, "version": VERSION, "generator": generator_entry(generator, folder, kind),
                "morphable": morphable, "estimator": "estimator.safetensors",
                "rignet": "rignet.safetensors", "info": info or {}}
    if "trained_range" in est_info:  # the estimator's label range travels with the bundle
        manifest["trained_range"] = est_info["trained_range"]
    if est_info.get("landmarks"):  # the detector the estimator was labelled with: drivers are tracked with it
        manifest["landmarks"] = str(est_info["landmarks"])
    _write_manifest(folder, manifest)
    return folder


def _write_manifest(folder: Path, manifest: dict) -> None:
    from morphable.fileio import atomic_output

    with atomic_output(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")


def set_trained_range(path: str | os.PathLike, trained_range) -> Path:
    """Store a TrainedRange in an existing bundle's manifest (the rest of the manifest is kept)."""
    manifest = read_manifest(path)
    folder = bundle_dir(path)
    manifest["trained_range"] = trained_range.to_dict()
    _write_manifest(folder, manifest)
    return folder


def trained_range_entry(manifest: dict, where: str = "manifest"):
    """The manifest's TrainedRange, or None when it has none; RigError when it is malformed."""
    from .estimator import TrainedRange

    d = manifest.get("trained_range")
    if d is None:
        return None
    if not isinstance(d, dict):
        raise RigError(f"{where}: 'trained_range' must be an object")
    return TrainedRange.from_dict(d, f"{where} 'trained_range'")


def copy_bundle(src: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Copy a bundle's manifest and weights (not a training run's checkpoint) into `dest`, re-pointing
    relative generator / 3DMM paths so the copy names the same files."""
    import shutil

    manifest = read_manifest(src)
    folder, dest = bundle_dir(src), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for key in ("estimator", "rignet"):
        if not (folder / manifest[key]).is_file():
            raise RigError(f"bundle {folder} is missing its {key} file {manifest[key]}")
        name = Path(manifest[key]).name
        if (folder / manifest[key]).resolve() != (dest / name).resolve():
            shutil.copyfile(folder / manifest[key], dest / name)
        manifest[key] = name
    if manifest["generator"]["path"] != PACKAGE_DCGAN:
        manifest["generator"]["path"] = os.path.relpath(resolve(folder, manifest["generator"]["path"]), dest.resolve())
    if manifest["morphable"] != "default":
        manifest["morphable"] = os.path.relpath(resolve(folder, manifest["morphable"]), dest.resolve())
    _write_manifest(dest, manifest)
    return dest

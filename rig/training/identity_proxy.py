"""A differentiable stand-in for dlib's face descriptor, as a function of the latent.

dlib's ResNet descriptor (what the rig is measured with) runs in C++ on images and gives no
gradient. RigNet never runs the generator, so an identity loss must live in latent space: this
module labels generated faces with their dlib descriptors and fits an MLP latent -> descriptor.
The data mixes independent faces with nearby latents (random steps and rig edits of the same
faces), so the MLP learns which latent directions change the descriptor. It is only used while
training RigNet; the rig is still measured with the real descriptor on the generated images.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from basics.npz import read_npz
from basics.tagged_safetensors import load_tagged_module, save_tagged

from ..errors import RigError

FORMAT = "facerig-identity-proxy"
WHAT = "an identity proxy"
DESCRIPTOR_DIM = 128
#: share of the base faces (with their neighbours) held out to validate the proxy
VAL_SHARE = 0.1


class IdentityProxy(nn.Module):
    """MLP: whitened flat latent -> dlib descriptor (128)."""

    def __init__(self, num_ws: int, w_dim: int, hidden: int = 512, depth: int = 3):
        super().__init__()
        self.num_ws, self.w_dim, self.hidden, self.depth = num_ws, w_dim, hidden, depth
        dims = [num_ws * w_dim] + [hidden] * depth
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.SiLU()]
        layers.append(nn.Linear(dims[-1], DESCRIPTOR_DIM))
        self.net = nn.Sequential(*layers)
        self.register_buffer("input_mean", torch.zeros(num_ws * w_dim))
        self.register_buffer("input_std", torch.ones(num_ws * w_dim))

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        x = ws.reshape(ws.shape[0], -1)
        return self.net((x - self.input_mean) / self.input_std)

    def config(self) -> dict:
        return {"num_ws": self.num_ws, "w_dim": self.w_dim, "hidden": self.hidden, "depth": self.depth}


def save_proxy(proxy: IdentityProxy, path: str | os.PathLike, report: dict | None = None) -> None:
    """Write the proxy as safetensors with its config and training report in the metadata."""
    save_tagged(path, proxy.state_dict(), FORMAT, {"config": proxy.config(), "report": report or {}}, RigError)


def load_proxy(path: str | os.PathLike) -> IdentityProxy:
    """Read a proxy written by save_proxy; a file of another kind or a damaged one is a RigError."""
    proxy, _ = load_tagged_module(path, FORMAT, WHAT, IdentityProxy, RigError)
    return proxy.eval()


def descriptors_of(images: np.ndarray) -> np.ndarray:
    """(N,128) float32 dlib descriptors on dlib's own 68 points (NaN rows where dlib finds no face)."""
    from morphable.landmarks import DlibBackend, face_descriptors

    return face_descriptors(images, DlibBackend()).astype(np.float32)


def make_latents(rig, base: torch.Tensor, gen: torch.Generator, step_range=(0.1, 0.6)) -> dict[str, torch.Tensor]:
    """Base latents, a random step of each (length a random share of |v - w_mean|), and a random rig edit of each."""
    n = base.shape[0]
    centred = base - rig.rignet.w_mean
    length = centred.flatten(1).norm(dim=1)
    direction = torch.randn(base.shape, generator=gen)
    direction = direction / direction.flatten(1).norm(dim=1).view(-1, 1, 1)
    share = step_range[0] + (step_range[1] - step_range[0]) * torch.rand(n, generator=gen)
    stepped = base + direction * (share * length).view(-1, 1, 1)
    edited = torch.empty_like(base)
    kinds = torch.randint(5, (n,), generator=gen)
    angle = (torch.rand(n, generator=gen) * 60 - 30).tolist()
    weight = torch.rand(n, generator=gen).tolist()
    with torch.no_grad():
        for i in range(n):
            k, a, x = int(kinds[i]), angle[i], weight[i]
            kw = [{"yaw": a}, {"pitch": a}, {"expression": {"jawOpen": x}},
                  {"expression": {"mouthSmileLeft": x, "mouthSmileRight": x}},
                  {"expression": {"eyeBlinkLeft": x, "eyeBlinkRight": x}}][k]
            edited[i] = rig.edit(base[i:i + 1], **kw)[0]
    return {"base": base, "step": stepped, "edit": edited}


def label(rig, latents: dict[str, torch.Tensor], batch: int = 256) -> dict[str, np.ndarray]:
    """dlib descriptors of the generated image of every latent group."""
    out = {}
    for name, ws in latents.items():
        parts = []
        for s in range(0, ws.shape[0], batch):
            with torch.no_grad():
                parts.append(descriptors_of(rig.to_uint8(rig.image(ws[s:s + batch]))))
        out[name] = np.concatenate(parts)
    return out


def validation_mask(groups: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Rows whose group (a base face and its neighbours) is held out: `share` of the groups, drawn by `seed`."""
    ids = np.unique(groups)
    held = np.random.default_rng(seed).choice(ids, max(1, int(len(ids) * share)), replace=False)
    return np.isin(groups, held)


def fit_proxy(ws: np.ndarray, desc: np.ndarray, groups: np.ndarray, epochs: int = 300, lr: float = 1e-3,
              hidden: int = 512, depth: int = 3, val_share: float = VAL_SHARE, seed: int = 0,
              progress: bool = True) -> tuple[IdentityProxy, dict]:
    """Fit the proxy on (N, num_ws, w_dim) latents and their descriptors; `groups` keeps a face and its
    neighbours on the same side of the train/validation split. Returns the proxy and a report."""
    ok = np.isfinite(desc).all(1)
    held_out = validation_mask(groups, val_share, seed)
    val, train = held_out & ok, ~held_out & ok
    torch.manual_seed(seed)
    x = torch.from_numpy(ws).float()
    y = torch.from_numpy(np.nan_to_num(desc)).float()
    proxy = IdentityProxy(x.shape[1], x.shape[2], hidden, depth)
    flat = x[train].flatten(1)
    proxy.input_mean.copy_(flat.mean(0))
    proxy.input_std.copy_(flat.std(0).clamp_min(1e-6))
    opt = torch.optim.Adam(proxy.parameters(), lr=lr, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    tr = torch.from_numpy(np.nonzero(train)[0])
    from tqdm import tqdm

    for _ in tqdm(range(epochs), desc="identity proxy", disable=not progress):
        proxy.train()
        for idx in tr[torch.randperm(len(tr))].split(256):
            loss = (proxy(x[idx]) - y[idx]).pow(2).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
    proxy.eval()
    with torch.no_grad():
        pred = proxy(x).numpy()
    report = {"train": int(train.sum()), "validation": int(val.sum()), "epochs": epochs}
    resid = ((pred - desc) ** 2).sum(1)
    total = ((desc - desc[train].mean(0)) ** 2).sum(1)
    report["r2_validation"] = float(1 - resid[val].sum() / total[val].sum())
    report["r2_train"] = float(1 - resid[train].sum() / total[train].sum())
    return proxy, report


def pair_agreement(proxy: IdentityProxy, ws_a: np.ndarray, ws_b: np.ndarray, da: np.ndarray, db: np.ndarray) -> dict:
    """How well proxy distances track true descriptor distances over latent pairs (Pearson r, n)."""
    ok = np.isfinite(da).all(1) & np.isfinite(db).all(1)
    with torch.no_grad():
        pa = proxy(torch.from_numpy(ws_a[ok]).float()).numpy()
        pb = proxy(torch.from_numpy(ws_b[ok]).float()).numpy()
    true = np.linalg.norm(da[ok] - db[ok], axis=1)
    est = np.linalg.norm(pa - pb, axis=1)
    r = float(np.corrcoef(true, est)[0, 1]) if ok.sum() > 2 else float("nan")
    return {"n": int(ok.sum()), "pearson_r": r, "true_median": float(np.median(true)),
            "proxy_median": float(np.median(est))}


def parse_part(text: str) -> tuple[int, int]:
    """--part K/M as (K, M) with M >= 1 and 0 <= K < M; RigError otherwise."""
    try:
        k, m = (int(x) for x in text.split("/"))
    except ValueError:
        raise RigError(f"--part must be K/M, got {text!r}") from None
    if m < 1 or not 0 <= k < m:
        raise RigError(f"--part K/M needs M >= 1 and 0 <= K < M, got {text!r}")
    return k, m


PART_NAME = re.compile(r"descriptors_part(\d+)of(\d+)\.npz")
GROUPS = ("base", "step", "edit")


def part_files(folder: Path) -> list[Path]:
    """The part files in `folder`, K = 0..M-1 of one M; RigError for a missing part or mixed M."""
    found: dict[int, dict[int, Path]] = {}
    for path in folder.glob("descriptors_part*of*.npz"):
        match = PART_NAME.fullmatch(path.name)
        if match:
            found.setdefault(int(match[2]), {})[int(match[1])] = path
    if not found:
        return []
    if len(found) > 1:
        raise RigError(f"{folder}: part files of different splits ({', '.join(f'of{m}' for m in sorted(found))}); "
                       "keep one --part K/M run")
    (m, parts), = found.items()
    missing = sorted(set(range(m)) - set(parts))
    extra = sorted(set(parts) - set(range(m)))
    if missing or extra:
        raise RigError(f"{folder}: parts of {m} are incomplete (missing {missing or 'none'}, "
                       f"out of range {extra or 'none'}); run the missing --part K/{m}")
    return [parts[k] for k in range(m)]


def read_labels(paths: list[Path]) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Joined (rows, ws per group, descriptors per group) of descriptor files; the rows must be 0..N-1 once."""
    data = []
    for path in paths:
        d = read_npz(path, "a descriptors file of `facerig rig proxy` (an .npz of plain arrays)", RigError)
        keys = ["rows"] + [f"{a}_{g}" for a in ("ws", "desc") for g in GROUPS]
        if any(k not in d for k in keys):
            raise RigError(f"{path} is not a descriptors file of `facerig rig proxy` (missing "
                           f"{', '.join(k for k in keys if k not in d)})")
        data.append({k: d[k] for k in keys})
    rows = np.concatenate([d["rows"] for d in data])
    if not np.array_equal(np.sort(rows), np.arange(len(rows))):
        raise RigError(f"descriptor files {', '.join(p.name for p in paths)} do not cover base faces 0..N-1 "
                       "exactly once (parts made with different --n?)")
    ws = {g: np.concatenate([d[f"ws_{g}"] for d in data]) for g in GROUPS}
    desc = {g: np.concatenate([d[f"desc_{g}"] for d in data]) for g in GROUPS}
    return rows, ws, desc


@dataclass
class IdentityProxyConfig:
    """Label faces (optionally one `part` K/M of them) and, once all parts are there, join them and fit the proxy."""

    pairs: str                  # estimator pairs .npz: its first n latents are the base faces
    out: str                    # folder for descriptors.npz and identity_proxy.safetensors
    bundle: str | None = None   # rig bundle whose generator and RigNet make the data (None: the packaged one)
    n: int = 4000               # base faces (each adds a random step and a rig edit)
    epochs: int = 300
    seed: int = 0
    part: str = "0/1"           # label only part K of M of the base faces (K/M), for parallel jobs


def run_identity_proxy(config: IdentityProxyConfig) -> int:
    """Label (a part of) the faces, or join the parts and fit; prints what it wrote. Returns 0."""
    from ..face_rig import FaceRig, default_bundle
    from .training_pairs import load_pairs

    k, m = parse_part(config.part)
    if config.n < 1:
        raise RigError(f"--n must be >= 1, got {config.n}")
    out = Path(config.out)
    labels_path = out / "descriptors.npz"
    # without --part: reuse descriptors.npz, else join the part files (all of them), else label everything
    parts = part_files(out) if m == 1 and out.is_dir() and not labels_path.exists() else []
    if m > 1 or not (labels_path.exists() or parts):
        all_ws = torch.from_numpy(load_pairs(config.pairs)["ws"][:config.n]).float()
        rig = FaceRig.load(config.bundle or default_bundle())
        out.mkdir(parents=True, exist_ok=True)
        mine = np.arange(len(all_ws))[k::m]
        gen = torch.Generator().manual_seed(config.seed * 7919 + k)
        lat = make_latents(rig, all_ws[mine], gen)
        desc = label(rig, lat)
        part_path = out / (f"descriptors_part{k}of{m}.npz" if m > 1 else "descriptors.npz")
        np.savez(part_path, rows=mine, **{f"ws_{g}": v.numpy() for g, v in lat.items()},
                 **{f"desc_{g}": v for g, v in desc.items()})
        if m > 1:
            print(f"wrote {part_path}; run again without --part to join and fit")
            return 0
    joining = bool(parts)
    groups, ws, desc = read_labels(parts if joining else [labels_path])
    if joining:
        np.savez(labels_path, rows=groups, **{f"ws_{g}": v for g, v in ws.items()},
                 **{f"desc_{g}": v for g, v in desc.items()})
        print(f"joined {len(parts)} part files ({len(groups)} base faces) into {labels_path}")
    proxy, report = fit_proxy(np.concatenate([ws[g] for g in ws]), np.concatenate([desc[g] for g in desc]),
                              np.tile(groups, 3), epochs=config.epochs, seed=config.seed)
    val = validation_mask(groups, VAL_SHARE, config.seed)
    for g in ("step", "edit"):
        report[f"pairs_{g}_validation"] = pair_agreement(proxy, ws["base"][val], ws[g][val], desc["base"][val], desc[g][val])
    report["found"] = {g: float(np.isfinite(d).all(1).mean()) for g, d in desc.items()}
    save_proxy(proxy, out / "identity_proxy.safetensors", report)
    (out / "identity_proxy_report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


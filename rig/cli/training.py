"""`facerig rig ...`: make the rig. pairs -> estimator -> train (RigNet, a bundle); range and proxy besides.

    facerig rig pairs --n 1000 --seed 0 --out P0.npz         (generated faces, fitted with the 3DMM)
    facerig rig estimator --pairs P0.npz P1.npz --out EST    (F: latent -> 3DMM parameters)
    facerig rig train --generator dcgan --estimator EST/estimator.safetensors --out BUNDLE
    facerig rig range BUNDLE --pairs EST/pairs.npz           (store F's trained range in the bundle)
    facerig rig proxy --pairs P0.npz --out PROXY             (identity proxy for an identity loss)
Each builds a config (rig.training.*) and calls one library function.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import RigError
from .common import LANDMARK_BACKENDS, bounded_int, name_value_pairs, seed_arg


def cmd_train(args: argparse.Namespace) -> int:
    """Train RigNet against a frozen estimator and write a bundle into --out."""
    if (args.identity_proxy is None) != (args.identity_weight is None):
        raise RigError("--identity-proxy and --identity-weight go together")
    if args.identity_weight is not None and not 0 < args.identity_weight <= 1000:
        raise RigError(f"--identity-weight must be in (0, 1000], got {args.identity_weight:g}")
    if args.identity_proxy is not None and not Path(args.identity_proxy).is_file():
        raise RigError(f"no identity proxy at {args.identity_proxy}")
    from gan import distributed as dist_utils
    from gan.checkpoint_formats import load_any_generator
    from morphable.formats import load_model

    from ..bundle import generator_kind, write_bundle
    from ..estimator import load_estimator
    from ..training.losses import RigLossWeights
    from ..training.rignet_training import CHECKPOINT, RigTrainConfig, load_train_checkpoint, rig_info, train_rignet

    G = load_any_generator(args.generator)
    est = load_estimator(args.estimator)
    model = load_model("default")

    config = RigTrainConfig(seed=args.seed, batch=args.batch, lr=args.lr, truncation=args.truncation,
                            render_batch=args.render_batch, identity_proxy=args.identity_proxy,
                            weights=RigLossWeights(identity=args.identity_weight or 0.0))
    rignet, history = train_rignet(G, est, model, args.out, config, resume=args.resume, pairs=args.pairs,
                                   steps=args.steps)
    if dist_utils.init_from_env("cpu").is_main:
        cfg = RigTrainConfig.from_json(load_train_checkpoint(Path(args.out) / CHECKPOINT)["config"])
        write_bundle(args.out, args.generator, est, rignet, info=rig_info(cfg, history),
                     kind=generator_kind(G))
        print(f"wrote rig bundle {args.out} ({len(history) and history[-1]['step']} steps)")
    dist_utils.shutdown()
    return 0


def cmd_pairs(args: argparse.Namespace) -> int:
    from ..training.training_pairs import PairsConfig, pairs_landmarks, write_pairs_file

    config = PairsConfig(generator=args.generator, n=args.n, seed=args.seed, batch=args.batch,
                         truncation=args.truncation, landmarks=args.landmarks)
    pairs = write_pairs_file(config, args.out)
    ok = pairs["ok"].astype(bool)
    print(f"wrote {args.out}: {len(ok)} pairs labelled with {pairs_landmarks(pairs)}, {ok.mean():.1%} fitted, "
          f"{float(pairs['seconds_per_sample']):.3f} s per sample")
    return 0


def cmd_estimator(args: argparse.Namespace) -> int:
    from ..training.estimator_training import EstimatorTrainingConfig, run_estimator_training

    weights = name_value_pairs([w for w in args.weights.split(",") if w], "weights")
    config = EstimatorTrainingConfig(
        out=args.out, generator=args.generator, pairs=tuple(args.pairs or ()), n=args.n, seed=args.seed,
        batch=args.batch, truncation=args.truncation, landmarks=args.landmarks, hidden=args.hidden,
        depth=args.depth, epochs=args.epochs, patience=args.patience, lr=args.lr, dropout=args.dropout,
        linear_skip=args.linear_skip, weights=weights)
    report = run_estimator_training(config)
    e, m = report["val_errors"]["estimator"], report["val_errors"]["mean_predictor"]
    for k in e:
        print(f"{k:24s} estimator {e[k]:8.4f}   mean predictor {m[k]:8.4f}")
    print(f"wrote {Path(args.out) / 'estimator.safetensors'} and report.json")
    return 0


def cmd_range(args: argparse.Namespace) -> int:
    from ..training.estimator_training import range_summary, store_trained_range

    trained = store_trained_range(args.bundle, args.pairs, args.seed)
    print(json.dumps(range_summary(trained)))
    print(f"stored the trained range ({trained.source}) in {args.bundle}")
    return 0


def cmd_proxy(args: argparse.Namespace) -> int:
    import torch

    from ..training.identity_proxy import IdentityProxyConfig, run_identity_proxy

    torch.set_num_threads(1)
    config = IdentityProxyConfig(pairs=args.pairs, out=args.out, bundle=args.bundle, n=args.n, epochs=args.epochs,
                                 seed=args.seed, part=args.part)
    return run_identity_proxy(config)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `rig` command group: pairs, estimator, train, range, proxy."""
    rig = sub.add_parser("rig", help="make the rig: fitted pairs, the estimator, RigNet (a bundle), its range, "
                                     "an identity proxy")
    rsub = rig.add_subparsers(dest="rig_command", required=True, parser_class=type(rig))

    p = rsub.add_parser("pairs", help="generate faces and fit the 3DMM to each: (latent, params) pairs (.npz)")
    p.add_argument("--generator", default="dcgan", help="'dcgan' (the packaged DCGAN) or a checkpoint path")
    p.add_argument("--n", type=bounded_int(1, 10**7), default=1000, help="pairs in this file")
    p.add_argument("--seed", type=seed_arg, default=0, help="latent stream seed (chunk k of the default set: seed k)")
    p.add_argument("--batch", type=bounded_int(1, 4096), default=64, help="images fitted per batch")
    p.add_argument("--truncation", type=float, default=1.0)
    p.add_argument("--landmarks", choices=LANDMARK_BACKENDS, default="auto",
                   help="landmark backend that labels the pairs (auto: MediaPipe when importable, else dlib)")
    p.add_argument("--out", required=True, help="output .npz")
    p.set_defaults(func=cmd_pairs)

    e = rsub.add_parser("estimator", help="train the estimator F (latent -> 3DMM params) on fitted pairs")
    e.add_argument("--generator", default="dcgan", help="'dcgan' (gan-face-generate weights) or a checkpoint path")
    e.add_argument("--n", type=bounded_int(2, 10**7), default=4000, help="pairs to generate (ignored with --pairs)")
    e.add_argument("--pairs", nargs="+", help="train on existing pairs .npz file(s) instead of generating "
                   "(several are joined and written to OUT/pairs.npz)")
    e.add_argument("--out", default="out/rig/estimator", help="folder for pairs.npz, estimator.safetensors, report.json")
    e.add_argument("--seed", type=seed_arg, default=0)
    e.add_argument("--batch", type=bounded_int(1, 4096), default=64, help="images fitted per batch")
    e.add_argument("--truncation", type=float, default=1.0)
    e.add_argument("--landmarks", choices=LANDMARK_BACKENDS, default="auto",
                   help="landmark backend that labels generated pairs (ignored with --pairs: their files say)")
    e.add_argument("--hidden", type=bounded_int(1, 65536), default=512)
    e.add_argument("--depth", type=bounded_int(1, 64), default=3)
    e.add_argument("--epochs", type=bounded_int(1, 10**6), default=400)
    e.add_argument("--patience", type=bounded_int(1, 10**6), default=30)
    e.add_argument("--lr", type=float, default=1e-3)
    e.add_argument("--dropout", type=float, default=0.2)
    e.add_argument("--linear-skip", action="store_true", help="add a linear path beside the MLP")
    e.add_argument("--weights", default="", help="per-block loss weights, e.g. pose=2,expression=1")
    e.set_defaults(func=cmd_estimator)

    t = rsub.add_parser("train", help="train RigNet against a frozen estimator; writes a bundle")
    t.add_argument("--generator", required=True, help="generator checkpoint, or 'dcgan' for the packaged 64 px DCGAN")
    t.add_argument("--estimator", required=True, help="estimator .safetensors (`facerig rig estimator`)")
    t.add_argument("--out", required=True, help="bundle / run folder (checkpoint.pt, manifest.json, ...)")
    t.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    t.add_argument("--steps", type=bounded_int(1, 10**9), default=None, help="total training steps (default 1500)")
    t.add_argument("--batch", type=bounded_int(1, 4096), default=32)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=seed_arg, default=0)
    t.add_argument("--truncation", type=float, default=1.0)
    t.add_argument("--render-batch", type=bounded_int(0, 4096), default=4, help="faces per step rendered for the image losses")
    t.add_argument("--pairs", default=None, help="optional .npz with training latents 'ws' (else sampled from G)")
    t.add_argument("--identity-proxy", default=None,
                   help="identity proxy .safetensors (`facerig rig proxy`) for an identity-keeping loss")
    t.add_argument("--identity-weight", type=float, default=None, help="weight of that loss (with --identity-proxy)")
    t.set_defaults(func=cmd_train)


    g = rsub.add_parser("range", help="store the estimator's trained range in a bundle's manifest")
    g.add_argument("bundle", help="rig bundle folder")
    g.add_argument("--pairs", nargs="+", help="the estimator's training pairs (else F's predictions on 10,000 samples)")
    g.add_argument("--seed", type=seed_arg, default=0, help="the split seed the estimator was trained with")
    g.set_defaults(func=cmd_range)

    x = rsub.add_parser("proxy", help="label faces with dlib descriptors and fit the identity proxy (--part for "
                                      "parallel labelling jobs)")
    x.add_argument("--bundle", default=None, help="rig bundle whose generator and RigNet make the data (default: packaged)")
    x.add_argument("--pairs", required=True, help="estimator pairs .npz: its first --n latents are the base faces")
    x.add_argument("--n", type=bounded_int(1, 10**7), default=4000, help="base faces (each adds a random step and a rig edit)")
    x.add_argument("--out", required=True, help="folder for descriptors.npz and identity_proxy.safetensors")
    x.add_argument("--epochs", type=bounded_int(1, 10**6), default=300)
    x.add_argument("--seed", type=seed_arg, default=0)
    x.add_argument("--part", default="0/1", help="label only part K of M of the base faces (K/M), for parallel jobs")
    x.set_defaults(func=cmd_proxy)

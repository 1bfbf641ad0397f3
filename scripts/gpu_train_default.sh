#!/usr/bin/env bash
# Train (or continue) the default 128 px StyleGAN2 on UTKFace on one CUDA GPU, then put the
# exported fp16 G_ema (in parts < 16 MB), the latest samples and the metrics log into $OUT.
#
# Needs only: python3 with torch (2.11+), numpy, pillow, tqdm, safetensors, imageio.
# Run from the repository root, e.g. through the project's device tool:
#   bash scripts/gpu_train_default.sh            # one call = one resumable chunk of training
# The run folder (checkpoint, decoded-dataset cache) lives in out/ (git-ignored), which stays
# on the machine between calls while it is held, so each call continues the last one.
# Environment overrides: DATA, RUN, MINUTES, KIMG, BATCH, GAMMA, NPROC, DEVICE, PRECISION, TICK, OUT, PYTHON.
set -euo pipefail

PYTHON=${PYTHON:-python3}
RUN=${RUN:-out/gpu_default128}
MINUTES=${MINUTES:-8}        # wall time for this call's training; the device tool allows 10 min a command
KIMG=${KIMG:-25000}          # overall target; each call stops at MINUTES and can be resumed
BATCH=${BATCH:-64}
GAMMA=${GAMMA:-0.25}         # R1 weight for 128 px (the paper's 256 px value 1, scaled by (128/256)^2)
NPROC=${NPROC:-1}
DEVICE=${DEVICE:-cuda}       # DEVICE=cpu (with a tiny KIMG and BATCH) dry-runs this script on a CPU
TICK=${TICK:-4}
OUT=${OUT:-out/gpu_export}

# The zip: a carried shared/ folder in the checkout, or the project's ../shared beside it.
if [[ -z "${DATA:-}" ]]; then
  for cand in shared/data/utkface/utkface-128-webp.zip ../shared/data/utkface/utkface-128-webp.zip \
              .carry/utkface-128-webp.zip; do
    if [[ -f "$cand" ]]; then DATA=$cand; break; fi
  done
fi
if [[ -z "${DATA:-}" || ! -f "$DATA" ]]; then
  echo "gpu_train_default: UTKFace zip not found (set DATA=...)" >&2
  exit 2
fi

# bf16 autocast on CUDA; fp32 on a CPU unless PRECISION=bf16 (a CPU dry run of the exact GPU recipe)
PRECISION=${PRECISION:-$([[ "$DEVICE" == cuda* ]] && echo bf16 || echo fp32)}
if [[ "$DEVICE" == cuda* ]]; then
  "$PYTHON" - <<'EOF'
import torch
assert torch.cuda.is_available(), "no CUDA device visible"
print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}, bf16={torch.cuda.is_bf16_supported()}")
EOF
fi

ARGS=(--data "$DATA" --out "$RUN" --resolution 128 --resume --kimg "$KIMG" --batch "$BATCH"
      --channel-base 16384 --channel-max 512 --gamma "$GAMMA" --aug diffaugment --holdout 0.05
      --precision "$PRECISION" --device "$DEVICE" --seed 0 --snapshot-kimg 100 --tick-kimg "$TICK" --grid 8
      --max-minutes "$MINUTES")
if [[ "$NPROC" -gt 1 ]]; then
  "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node="$NPROC" -m gan.train "${ARGS[@]}"
else
  "$PYTHON" -m gan.train "${ARGS[@]}"
fi

# Export: fp16 G_ema split into < 16 MB parts (join with `cat G_ema_fp16.safetensors.part* > ...`),
# the newest sample grid, the real-image grid and the metrics log.
mkdir -p "$OUT"
"$PYTHON" - "$RUN" "$OUT" <<'EOF'
import json, shutil, sys
from pathlib import Path
from gan.checkpoint import load_generator, save_generator

run, out = Path(sys.argv[1]), Path(sys.argv[2])
G = load_generator(run / "G_ema.safetensors")
ckpt_info = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
fp16 = out / "G_ema_fp16.safetensors"
save_generator(G, fp16, fp16=True, info={"dataset": "UTKFace (non-commercial research only)",
                                         "kimg": ckpt_info["kimg"]})
data, part = fp16.read_bytes(), 15 * 2**20
for old in out.glob("G_ema_fp16.safetensors.part*"):
    old.unlink()
for i in range(0, len(data), part):
    (out / f"G_ema_fp16.safetensors.part{i // part:02d}").write_bytes(data[i:i + part])
fp16.unlink()
samples = sorted(run.glob("samples-*.png"))
for src in samples[-1:] + [run / "reals.png", run / "metrics.jsonl", run / "config.json"]:
    if src.exists():
        shutil.copy(src, out / src.name)
print(f"exported kimg={ckpt_info['kimg']} ({len(data) / 2**20:.1f} MB fp16) to {out}")
EOF
ls -la "$OUT"

#!/usr/bin/env bash
# Start (or continue) the 64 px CPU StyleGAN2 run on UTKFace in the background, at the lowest
# priority, surviving the shell that started it. Recipe and measurements: docs/gan_training.md.
#
#   bash scripts/cpu_train_utkface64.sh          # from the repository root; returns at once
#   tail -f ~/.cache/facerig/runs/utkface64/train.log
#
# The run folder is outside the checkout. Each start passes --resume, so it continues from the
# folder's checkpoint; a folder without one starts from the committed resume pack
# (assets/gan/utkface64-resume.safetensors, weights and kimg only) when it exists, else from scratch.
# Overrides: DATA RUN KIMG THREADS PYTHON PACK.
set -euo pipefail

PYTHON=${PYTHON:-.venv/bin/python}
RUN=${RUN:-$HOME/.cache/facerig/runs/utkface64}
DATA=${DATA:-../shared/data/utkface/utkface-128-webp.zip}
KIMG=${KIMG:-100000}          # no real end: stopped by hand or by the machine going away
THREADS=${THREADS:-1}       # measured: 1 thread beats 2 on this shared 2-core machine
PACK=${PACK:-assets/gan/utkface64-resume.safetensors}

if [[ ! -f "$DATA" ]]; then
  echo "cpu_train_utkface64: UTKFace zip not found at $DATA (set DATA=...)" >&2
  exit 2
fi
mkdir -p "$RUN"
INIT=()
if [[ ! -f "$RUN/checkpoint.pt" && -f "$PACK" ]]; then
  INIT=(--init-from "$PACK")
fi

nohup nice -n 19 "$PYTHON" -m gan.train --data "$DATA" --out "$RUN" --resume "${INIT[@]}" \
  --resolution 64 --batch 32 --channel-base 2048 --channel-max 128 --z-dim 128 --w-dim 128 \
  --mapping-layers 4 --gamma 0.0625 --aug color,translation --style-mix 0.9 --ema-kimg 10 \
  --holdout 0.05 --precision bf16 --channels-last --threads "$THREADS" --seed 0 --kimg "$KIMG" \
  --snapshot-kimg 2 --tick-kimg 1 --grid 8 --no-progress >>"$RUN/train.log" 2>&1 &
echo "$!" >"$RUN/train.pid"
echo "training in the background: pid $(cat "$RUN/train.pid"), log $RUN/train.log"

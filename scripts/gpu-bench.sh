#!/usr/bin/env bash
# A prepared GPU check, to run once on a machine with an NVIDIA GPU (driver and CUDA libraries)
# and nvcc: builds the `cuda` feature, trains every model of `vae train --model` on the GPU for a
# few epochs, and times PyTorch on the same GPU for the models it has a reference of (the MLP VAE
# and the conv VAE, when torch with CUDA is installed). Prints the card, seconds per epoch (the
# median of the epochs after the first) and the last held-out loss of each run, and writes them
# to $OUT/gpu-bench.tsv (OUT defaults to a new temporary folder).
# Usage: scripts/gpu-bench.sh [EPOCHS]   (default 4)
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${1:-4}"
out="${OUT:-$(mktemp -d)}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
command -v nvcc >/dev/null || { echo "gpu-bench: nvcc not found (candle's CUDA kernels need it to build)" >&2; exit 1; }
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
time cargo build --release --features cuda
bin="$CARGO_TARGET_DIR/release/vae"

summary() {  # name metrics.json -> one TSV line: model, framework, s/epoch, held-out loss
  python3 - "$1" "$2" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
m = json.load(open(path))["epochs"]
secs = sorted(e.get("train_seconds", e.get("seconds")) for e in (m[1:] or m))
last = m[-1]
loss = last["test_loss"] if "test_loss" in last else last["eval"]["loss"]
print(f"{name}\tcandle-cuda\t{secs[len(secs) // 2]:.3f}\t{loss:.3f}")
PY
}

printf 'model\tframework\ts/epoch\theld-out loss\n' > "$out/gpu-bench.tsv"
# Every model with its own required flags; the quadrant CVAE needs a trained baseline first.
runs=(
  "mlp|"
  "conv|--model conv"
  "iwae|--model iwae --k 5"
  "cvae|--model cvae"
  "quadrant-baseline|--model quadrant-baseline --quadrants 1"
  "quadrant|--model quadrant --quadrants 1 --baseline $out/quadrant-baseline/checkpoint.safetensors"
  "vrnn|--model vrnn --data chorales"
  "rnn|--model rnn --data chorales"
  "text|--model text"
)
for run in "${runs[@]}"; do
  name="${run%%|*}" flags="${run#*|}"
  # shellcheck disable=SC2086
  "$bin" train $flags --device cuda --epochs "$epochs" --out "$out/$name" --overwrite | tail -3
  summary "$name" "$out/$name/metrics.json" | tee -a "$out/gpu-bench.tsv"
done

if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  python3 scripts/pytorch_reference.py --device cuda --epochs "$epochs" | tee "$out/torch-mlp.log"
  python3 scripts/pytorch_models.py --model conv --device cuda --epochs "$epochs" | tee "$out/torch-conv.log"
else
  echo "gpu-bench: no torch with CUDA here; PyTorch not timed"
fi
echo "outputs in $out"

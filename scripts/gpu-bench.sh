#!/usr/bin/env bash
# A prepared GPU check, to run on a machine with an NVIDIA GPU and the CUDA toolkit (nvcc):
# builds the `cuda` feature, trains the classic VAE on the GPU with `vae train --device cuda`, and
# times PyTorch's version of the same model on the same GPU (when torch with CUDA is installed).
# Prints the card's name, seconds per epoch for each, and the test losses.
# Usage: scripts/gpu-bench.sh [EPOCHS]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${1:-5}"
out="${OUT:-$(mktemp -d)}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
command -v nvcc >/dev/null || { echo "gpu-bench: nvcc not found (candle's CUDA kernels need it to build)" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
time cargo build --release --features cuda
bin="$CARGO_TARGET_DIR/release/vae"
"$bin" train --device cuda --epochs "$epochs" --out "$out/candle-cuda" | tee "$out/candle-cuda.log"
python3 - "$out/candle-cuda/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["epochs"]
train = sorted(e["train_seconds"] for e in m[1:])
print(f"candle cuda: median train s/epoch {train[len(train)//2]:.3f}, test -ELBO {m[-1]['test_loss']:.2f}")
PY
if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  python3 scripts/pytorch_reference.py --device cuda --epochs "$epochs" | tee "$out/torch-cuda.log"
else
  echo "gpu-bench: no torch with CUDA here; PyTorch not timed"
fi
echo "outputs in $out"

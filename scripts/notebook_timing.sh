#!/usr/bin/env bash
# Measures how long a notebook takes from a new kernel to its first output: cold (evcxr builds the
# crate and its dependencies from nothing) and warm (the persistent EVCXR_TMPDIR that
# scripts/notebooks.sh uses). Writes book/src/generated/notebook-timing.md for the compute-cost
# chapter. Takes several minutes (the cold build).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${VAE_BOOK_CACHE:-$HOME/.cache/vae-book}"
export PATH="$CACHE/venv/bin:$HOME/.cargo/bin:$PATH"
sysroot=$(rustc --print sysroot)
export LD_LIBRARY_PATH="$sysroot/lib/rustlib/$(rustc -vV | sed -n "s/^host: //p")/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

work=$(mktemp -d)
# The first cell of every notebook, then one line of output.
cat > "$work/first.ipynb" <<NB
{"cells": [
 {"cell_type": "code", "id": "a", "metadata": {}, "execution_count": null, "outputs": [], "source": [":dep vae-book = { path = \"$PWD\" }"]},
 {"cell_type": "code", "id": "b", "metadata": {}, "execution_count": null, "outputs": [], "source": ["println!(\"{}\", vae_book::data::Mnist::embedded()?.train.len());"]}
 ],
 "metadata": {"kernelspec": {"display_name": "Rust", "language": "rust", "name": "rust"}},
 "nbformat": 4, "nbformat_minor": 5}
NB

run() { # $1 = EVCXR_TMPDIR
  local start end
  start=$(date +%s.%N)
  EVCXR_TMPDIR="$1" jupyter nbconvert --to notebook --execute --output-dir "$work/out" \
    --ExecutePreprocessor.timeout=1800 --ExecutePreprocessor.kernel_name=rust "$work/first.ipynb" >/dev/null 2>&1
  end=$(date +%s.%N)
  grep -q '"9000' "$work/out/first.ipynb" || { echo "the notebook printed nothing" >&2; exit 1; }
  python3 -c "print(f'{$end - $start:.0f}')"
}

mkdir -p "$CACHE/evcxr"
cold=$(run "$work/cold")
run "$CACHE/evcxr" >/dev/null   # make sure the persistent folder holds this version of the crate
warm=$(run "$CACHE/evcxr")
cpu=$(sed -n 's/^model name\s*:\s*//p' /proc/cpuinfo | head -1)
cat > book/src/generated/notebook-timing.md <<MD
| start of a notebook (new kernel, \`:dep\` on the crate, first output) | seconds |
|---|---:|
| cold: empty \`EVCXR_TMPDIR\`, evcxr compiles candle and the crate | $cold |
| warm: persistent \`EVCXR_TMPDIR\` (\`~/.cache/vae-book/evcxr\`) | $warm |

Measured by \`scripts/notebook_timing.sh\` on $cpu ($(nproc) cores).
MD
cat book/src/generated/notebook-timing.md
rm -rf "$work"

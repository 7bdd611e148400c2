#!/usr/bin/env bash
# Runs every notebook headless in real Jupyter with the evcxr kernel, one at a time.
# By default the small configuration (VAE_BOOK_QUICK=1) runs into a scratch folder and the committed
# notebooks are left alone; `scripts/notebooks.sh --full [NOTEBOOK...]` runs the book's configuration
# and writes the outputs back into notebooks/, ready to commit.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${VAE_BOOK_CACHE:-$HOME/.cache/vae-book}"
export PATH="$CACHE/venv/bin:$HOME/.cargo/bin:$PATH"
# evcxr builds the crate in this folder; keeping it makes every later start warm.
export EVCXR_TMPDIR="$CACHE/evcxr"
# evcxr builds the crate and its dependencies in a dev profile with debug assertions and overflow
# checks at opt-level 2, which made the notebooks' training two to three times slower than the
# command line's; cargo's environment overrides that profile (same arithmetic, no checks).
export CARGO_PROFILE_DEV_DEBUG_ASSERTIONS=false CARGO_PROFILE_DEV_OVERFLOW_CHECKS=false CARGO_PROFILE_DEV_OPT_LEVEL=3
# evcxr links cells against the toolchain's libstd.so; the kernel is not started through rustup, so
# tell the dynamic loader where that library lives.
sysroot=$(rustc --print sysroot)
export LD_LIBRARY_PATH="$sysroot/lib/rustlib/$(rustc -vV | sed -n "s/^host: //p")/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
mkdir -p "$EVCXR_TMPDIR"

full=0
if [ "${1:-}" = "--full" ]; then full=1; shift; fi
# Notebooks named on the command line, or all of them.
[ "$#" -gt 0 ] || set -- notebooks/*.ipynb
for nb in "$@"; do
  start=$(date +%s)
  if [ "$full" = 1 ]; then
    VAE_BOOK_QUICK=0 jupyter nbconvert --to notebook --execute --inplace \
      --ExecutePreprocessor.timeout=3600 --ExecutePreprocessor.kernel_name=rust "$nb"
  else
    out=$(mktemp -d)
    VAE_BOOK_QUICK=1 jupyter nbconvert --to notebook --execute --output-dir "$out" \
      --ExecutePreprocessor.timeout=1800 --ExecutePreprocessor.kernel_name=rust "$nb"
  fi
  echo "notebook $nb: $(( $(date +%s) - start )) s"
done

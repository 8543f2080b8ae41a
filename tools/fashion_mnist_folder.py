#!/usr/bin/python3
"""Writes a subset of Debian's Fashion-MNIST as a folder dataset of PNGs (acwa's `folder:DIR` layout):

    /usr/bin/python3 tools/fashion_mnist_folder.py OUT_DIR [--train 4000] [--test 1000]

OUT_DIR/train/<class>/<i>.png and OUT_DIR/test/<class>/<i>.png, the first N images of each split, 28x28 grey
(acwa converts to RGB and resizes to the model's input side). Needs python3-pil and dataset-fashion-mnist.
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

ROOT = "/usr/share/datasets/fashion-mnist/"
NAMES = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def load(kind):
    x = np.frombuffer(gzip.open(ROOT + f"{kind}-images-idx3-ubyte.gz").read(), np.uint8, offset=16).reshape(-1, 28, 28)
    y = np.frombuffer(gzip.open(ROOT + f"{kind}-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    return x, y


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--train", type=int, default=4000)
    ap.add_argument("--test", type=int, default=1000)
    a = ap.parse_args()
    for kind, split, n in [("train", "train", a.train), ("t10k", "test", a.test)]:
        x, y = load(kind)
        for i in range(n):
            folder = os.path.join(a.out, split, NAMES[y[i]])
            os.makedirs(folder, exist_ok=True)
            Image.fromarray(x[i]).save(os.path.join(folder, f"{i}.png"))
    print(a.out)


if __name__ == "__main__":
    main()

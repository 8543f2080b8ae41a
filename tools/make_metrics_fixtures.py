#!/usr/bin/python3
"""Writes golden metrics fixtures for tests/Acwa.Onnx.Tests/Metrics (run with /usr/bin/python3: needs numpy + sklearn).

Each case <name> gets <name>_labels.npy, <name>_preds.npy, optionally <name>_logits.npy (preds = argmax of logits),
and <name>_expected.json with scikit-learn's values (labels=range(C), zero_division=0).
"""
import json
import os
import warnings

import numpy as np
import sklearn
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix,
                             precision_recall_fscore_support)

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "Acwa.Onnx.Tests", "Fixtures", "metrics")


def expected(labels, preds, C):
    L = list(range(C))
    p, r, f, s = precision_recall_fscore_support(labels, preds, labels=L, zero_division=0)
    out = {
        "sklearn_version": sklearn.__version__,
        "classes": C,
        "n": int(len(labels)),
        "confusion": confusion_matrix(labels, preds, labels=L).astype(int).tolist(),
        "precision": p.tolist(), "recall": r.tolist(), "f1": f.tolist(), "support": s.astype(int).tolist(),
        "accuracy": float(accuracy_score(labels, preds)),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true" is expected in some cases
        out["balanced_accuracy"] = float(balanced_accuracy_score(labels, preds))
    for avg in ("macro", "micro", "weighted"):
        ap, ar, af, _ = precision_recall_fscore_support(labels, preds, labels=L, average=avg, zero_division=0)
        out[avg] = {"precision": float(ap), "recall": float(ar), "f1": float(af)}
    present = sorted(set(labels.tolist()) | set(preds.tolist()))
    ap, ar, af, _ = precision_recall_fscore_support(labels, preds, labels=present, average="macro", zero_division=0)
    out["macro_present"] = {"precision": float(ap), "recall": float(ar), "f1": float(af)}
    return out


def write(name, labels, preds, C, logits=None):
    np.save(os.path.join(OUT, f"{name}_labels.npy"), labels)
    np.save(os.path.join(OUT, f"{name}_preds.npy"), preds)
    if logits is not None:
        assert logits.flags["C_CONTIGUOUS"] and logits.dtype == np.float32
        assert (np.argmax(logits, axis=1) == preds).all()
        np.save(os.path.join(OUT, f"{name}_logits.npy"), logits)
    with open(os.path.join(OUT, f"{name}_expected.json"), "w") as fh:
        json.dump(expected(labels, preds, C), fh, indent=1)
        fh.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261126)

    # basic: 5 classes, fp32 logits biased towards the true class, int64 labels
    C, N = 5, 300
    labels = rng.integers(0, C, N).astype(np.int64)
    logits = rng.normal(size=(N, C)).astype(np.float32)
    logits[np.arange(N), labels] += 1.0
    write("basic", labels, np.argmax(logits, axis=1).astype(np.int64), C, logits)

    # absent: 6 classes; class 4 never occurs (absent), class 5 only predicted (recall 0/0),
    # class 3 only in labels and never predicted (precision 0/0); int32 files
    C = 6
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 0, 1, 2, 1], dtype=np.int32)
    preds = np.array([0, 1, 0, 1, 5, 2, 2, 0, 0, 1, 5, 1, 2, 0], dtype=np.int32)
    write("absent", labels, preds, C)

    # ties: 3 classes, logits from a tiny integer range so many rows tie; includes +-inf
    C, N = 3, 120
    logits = rng.integers(-1, 2, size=(N, C)).astype(np.float32)
    logits[5] = [np.inf, np.inf, 0]
    logits[6] = [-np.inf, -np.inf, -np.inf]
    logits[7] = [-np.inf, 0, np.inf]
    labels = rng.integers(0, C, N).astype(np.int64)
    write("ties", labels, np.argmax(logits, axis=1).astype(np.int64), C, logits)

    # imbalanced: 10 classes with a long tail, predictions right 80% of the time
    C, N = 10, 2000
    w = 0.5 ** np.arange(C)
    labels = rng.choice(C, size=N, p=w / w.sum()).astype(np.int64)
    preds = np.where(rng.random(N) < 0.8, labels, rng.integers(0, C, N)).astype(np.int64)
    write("imbalanced", labels, preds, C)


if __name__ == "__main__":
    main()

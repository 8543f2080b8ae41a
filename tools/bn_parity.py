#!/usr/bin/env python3
"""Batch-norm parity benchmark: `acwa train --model M.onnx` against PyTorch on the same network, initial weights and protocol.

For seeds 0..S-1, `torch.manual_seed(seed)` builds BnCnn (conv-BN-ReLU-pool, a residual block with two BNs, a strided
conv-BN-ReLU, global average pool, Dropout(0.2), Linear 32->10) and exports it twice with torch.onnx.export (opset 17,
input "x", output "logits", dynamic batch axis, do_constant_folding=False):

  training export : model.train(), TrainingMode.TRAINING (BatchNormalization nodes with training_mode=1, as in ONNX
                    Runtime's on-device-training tutorial). PyTorch trains BnCnn itself (train() for steps, eval() to test).
  eval export     : model.eval(), TrainingMode.EVAL (torch folds every BN into the conv before it and drops the eval-mode
                    Dropout: a network without BN or dropout). PyTorch trains the same network: the convs folded with
                    torch.nn.utils.fusion.fuse_conv_bn_eval, Dropout replaced by Identity (--keep-dropout-in-folded keeps it).

Each export is trained by `acwa train` and by PyTorch on acwa's Fashion-MNIST protocol, reproduced image for image:
the step imbalance (classes 5-9 keep floor(10%), chosen per class by acwa's xoshiro256** stream of (seed, class)), the
10% stratified validation split (round(n/10) per class, stream (seed, class)), the epoch order (a Fisher-Yates shuffle
of stream (seed, epoch), last short batch kept), normalisation (x/255 - 0.2860) / 0.3530, batch 128, Adam (lr 1e-3,
betas 0.9/0.999, eps 1e-8, no weight decay), constant lr, plain mean cross-entropy (policy uniform), no augmentation.
Only the Dropout masks of the training export differ (acwa draws its own). Test macro-F1 is taken on the full 10k test set after the last epoch.

Prints a table (and writes it as markdown with --markdown): per-seed test macro-F1, mean and sample std per (export,
trainer), acwa - PyTorch difference of means per export and whether it lies within the larger seed std, and the median
training time per epoch (acwa: its `timings.train`, the steps including batch loading; PyTorch: the same loop).

Run with Debian's python3-torch (/usr/bin/python3; the script re-executes itself there when `python3` lacks torch):
  tools/bn_parity.py --seeds 5 --epochs 5 --markdown /tmp/bn-parity-table \\
      --acwa "dotnet run --project src/Acwa.Cli -c Release --no-build --"
Build acwa first (dotnet build src/Acwa.Cli -c Release); --work DIR keeps the exports and run folders.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # `python3` may be a pyenv/venv interpreter without Debian's python3-torch
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") \
            and not os.environ.get("BN_PARITY_REEXEC"):
        os.environ["BN_PARITY_REEXEC"] = "1"
        os.environ["BN_PARITY_ARGV0"] = sys.argv[0]
        os.execv("/usr/bin/python3", ["/usr/bin/python3", os.path.abspath(__file__)] + sys.argv[1:])
    raise

TOOLS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)
from torch_reference import read_idx  # noqa: E402  (IDX reader shared with the other reference scripts)

# --- acwa's protocol constants (see the report / module docstring for where each comes from) -----------------------
FMNIST_MEAN, FMNIST_STD = 0.2860, 0.3530   # src/Acwa.Onnx/Data/Normalization.cs: Normalization.FashionMnist
STEP_FRACTION = 0.1                        # ImbalanceProtocol.PaperStep / `--imbalance step` = step:0.1, classes C/2..C-1
VAL_FRACTION = 0.1                         # TrainCommand --val-fraction default
BATCH, LR = 128, 1e-3                      # TrainCommand --batch / --lr defaults; --optimizer adam; --schedule constant
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # src/Acwa.Onnx/Training/Compiler/ArtifactOptions.cs: Beta1, Beta2, Epsilon
KEY_IMBALANCE, KEY_SPLIT, KEY_SHUFFLE = 0x1A8A1A11CE, 0x5B117, 0x5E1F1E  # Xoshiro256StarStar.Derive keys
M64 = (1 << 64) - 1


# --- acwa's random streams: src/Acwa.Onnx/Data/Xoshiro256StarStar.cs, ported bit for bit ---------------------------
def _splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return x, z ^ (z >> 31)


def _rotl(v, k):
    return ((v << k) | (v >> (64 - k))) & M64


class Xoshiro256StarStar:
    def __init__(self, seed):
        x = seed & M64
        s = []
        for _ in range(4):
            x, z = _splitmix64(x)
            s.append(z)
        self.s = s

    def next_u64(self):
        s0, s1, s2, s3 = self.s
        result = (_rotl((s1 * 5) & M64, 7) * 9) & M64
        t = (s1 << 17) & M64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = _rotl(s3, 45)
        self.s = [s0, s1, s2, s3]
        return result

    def next_int(self, bound):  # Lemire's multiply-and-reject, as NextInt(bound)
        m = self.next_u64() * bound
        low = m & M64
        if low < bound:
            threshold = ((1 << 64) - bound) % bound
            while low < threshold:
                m = self.next_u64() * bound
                low = m & M64
        return m >> 64

    def shuffle(self, items):  # Fisher-Yates from the last element down, in place (a Python list)
        for i in range(len(items) - 1, 0, -1):
            j = self.next_int(i + 1)
            items[i], items[j] = items[j], items[i]
        return items

    @staticmethod
    def derive(seed, *keys):
        _, h = _splitmix64(seed & M64)
        for k in keys:
            _, h = _splitmix64(h ^ (k & M64))
        return Xoshiro256StarStar(h)


def _self_test_xoshiro():
    """The reference outputs that tests/Acwa.Onnx.Tests/Data/XoshiroTests.cs checks (state {1, 2, 3, 4})."""
    r = Xoshiro256StarStar(0)
    r.s = [1, 2, 3, 4]
    got = [r.next_u64() for _ in range(4)]
    assert got == [11520, 0, 1509978240, 1215971899390074240], got


def acwa_splits(labels, seed, fraction=STEP_FRACTION, val_fraction=VAL_FRACTION):
    """(train indices, validation indices) into the 60k Fashion-MNIST training set, as `acwa train --seed SEED`:
    ImbalanceProtocol.Apply (minority classes C/2..C-1 keep max(1, floor(n * F + 1e-9)), the first of a shuffle of the
    ascending class indices by stream (seed, 0x1A8A1A11CE, class), then sorted), then StratifiedSplit.SplitIndices on
    that subset (held out: clamp(round-half-away(n * 0.1), 1, n - 1) per class, the first of a shuffle by stream
    (seed, 0x5B117, class)); both parts ascending."""
    classes = int(labels.max()) + 1
    keep = []
    for c in range(classes):
        idx = np.flatnonzero(labels == c).tolist()
        if c >= classes // 2:
            target = max(1, min(len(idx), int(np.floor(len(idx) * fraction + 1e-9))))
            if target < len(idx):
                idx = Xoshiro256StarStar.derive(seed, KEY_IMBALANCE, c).shuffle(idx)[:target]
        keep.extend(idx)
    keep = np.array(sorted(keep))
    sub = labels[keep]
    kept, held = [], []
    for c in range(classes):
        idx = np.flatnonzero(sub == c).tolist()
        n = len(idx)
        out = 0 if n < 2 else min(max(int(np.floor(n * val_fraction + 0.5)), 1), n - 1)
        idx = Xoshiro256StarStar.derive(seed, KEY_SPLIT, c).shuffle(idx)
        held.extend(idx[:out])
        kept.extend(idx[out:])
    return keep[np.array(sorted(kept))], keep[np.array(sorted(held))]


def acwa_epoch_order(n, seed, epoch):
    """BatchLoader.EpochOrder: identity permutation shuffled by stream (seed, 0x5E1F1E, epoch)."""
    return Xoshiro256StarStar.derive(seed, KEY_SHUFFLE, epoch).shuffle(list(range(n)))


def normalise(images):
    """Normalization.LookupTable computed in float32 as acwa does: (x / 255f - mean) / std."""
    table = (np.arange(256, dtype=np.float32) / np.float32(255) - np.float32(FMNIST_MEAN)) / np.float32(FMNIST_STD)
    return torch.from_numpy(table[images].astype(np.float32)).unsqueeze(1)


# --- the model --------------------------------------------------------------------------------------------------------
class BnCnn(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.res_conv1 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.res_bn1 = nn.BatchNorm2d(16)
        self.res_conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.res_bn2 = nn.BatchNorm2d(16)
        self.conv3 = nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(32)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(32, classes)

    PAIRS = [("conv1", "bn1"), ("res_conv1", "res_bn1"), ("res_conv2", "res_bn2"), ("conv3", "bn3")]

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        r = F.relu(self.res_bn1(self.res_conv1(x)))
        r = self.res_bn2(self.res_conv2(r))
        x = F.relu(r + x)
        x = F.relu(self.bn3(self.conv3(x)))
        x = torch.mean(x, dim=(2, 3))
        return self.fc(self.dropout(x))


def fold_bn(model, keep_dropout=False):
    """The BN-folded network of an eval-mode BnCnn: each conv replaced by fuse_conv_bn_eval(conv, bn) (with a bias), each
    BN by Identity: what torch.onnx.export(..., TrainingMode.EVAL) writes. That export also drops the Dropout node (an
    eval-mode Dropout is the identity), so acwa trains the file without dropout; by default the folded net drops it too
    (the same network on both sides); keep_dropout=True keeps Dropout(0.2) in the PyTorch net."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    import copy
    model = copy.deepcopy(model).eval()
    for conv, bn in BnCnn.PAIRS:
        setattr(model, conv, fuse_conv_bn_eval(getattr(model, conv), getattr(model, bn)))
        setattr(model, bn, nn.Identity())
    if not keep_dropout:
        model.dropout = nn.Identity()
    return model


def export(model, path, training):
    """torch.onnx.export as the brief fixes it. A TRAINING export traces the model in train mode, which moves the BN
    running statistics one step (running_var 1 -> 0.9 on the dummy input) before they are written: the file's running
    statistics are reset to the model's values from before the export, so that both trainers start from one state."""
    import onnx
    from onnx import numpy_helper
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.train(training)
    mode = torch.onnx.TrainingMode.TRAINING if training else torch.onnx.TrainingMode.EVAL
    with warnings.catch_warnings():  # "Removing mutation from node aten::add_ on block input: 'bn1.num_batches_tracked'"
        warnings.filterwarnings("ignore", message=".*Removing mutation from node aten::add_.*num_batches_tracked")
        torch.onnx.export(model, torch.zeros(2, 1, 28, 28), path, opset_version=17, input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, training=mode, do_constant_folding=False)
    model.load_state_dict(state)
    if training:
        m = onnx.load(path)
        for t in m.graph.initializer:
            if t.name.endswith(("running_mean", "running_var")) and t.name in state:
                t.CopyFrom(numpy_helper.from_array(state[t.name].numpy(), t.name))
        onnx.save(m, path)


def check_export(path, net, kind):
    """Compares the parameters the ONNX file holds with those PyTorch starts from; returns (max |diff|, BN node count,
    training_mode flags of the BN nodes, Dropout node count)."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    for n in m.graph.node:  # torch deduplicates equal initializers into Identity nodes (acwa unties them again)
        if n.op_type == "Identity" and n.input[0] in inits:
            inits[n.output[0]] = inits[n.input[0]]
    bns = [n for n in m.graph.node if n.op_type == "BatchNormalization"]
    modes = [next((a.i for a in n.attribute if a.name == "training_mode"), 0) for n in bns]
    dropouts = sum(n.op_type == "Dropout" for n in m.graph.node)
    diff = 0.0
    if kind == "training":
        for k, v in net.state_dict().items():
            if k.endswith("num_batches_tracked"):
                continue
            if k not in inits:
                raise SystemExit(f"{path}: initializer '{k}' missing (has {sorted(inits)})")
            diff = max(diff, float(np.abs(inits[k] - v.numpy()).max()))
    else:  # folded convs: the Conv nodes' weight/bias initializers in graph order against the folded modules
        convs = [n for n in m.graph.node if n.op_type == "Conv"]
        mods = [getattr(net, c) for c, _ in BnCnn.PAIRS]
        if len(convs) != len(mods) or bns:
            raise SystemExit(f"{path}: expected {len(mods)} Conv and no BatchNormalization nodes, got {len(convs)} and {len(bns)}")
        for node, mod in zip(convs, mods):
            diff = max(diff, float(np.abs(inits[node.input[1]] - mod.weight.detach().numpy()).max()),
                       float(np.abs(inits[node.input[2]] - mod.bias.detach().numpy()).max()))
        gemm = [n for n in m.graph.node if n.op_type in ("Gemm", "MatMul")]
        w = inits[gemm[0].input[1]]
        fw = net.fc.weight.detach().numpy()
        diff = max(diff, float(np.abs((w if w.shape == fw.shape else w.T) - fw).max()),
                   float(np.abs(inits[gemm[0].input[2]] - net.fc.bias.detach().numpy()).max()))
    return diff, len(bns), modes, dropouts


# --- PyTorch side -------------------------------------------------------------------------------------------------------
def macro_f1(net, x, y):
    from sklearn.metrics import f1_score
    net.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(y), 1000):
            preds.append(net(x[i:i + 1000]).argmax(1))
    return float(f1_score(y.numpy(), torch.cat(preds).numpy(), average="macro", labels=list(range(10)), zero_division=0))


def train_torch(net, data, seed, epochs):
    xtr, ytr, xval, yval, xte, yte = data
    torch.manual_seed(seed)  # Dropout masks
    opt = torch.optim.Adam(net.parameters(), lr=LR, betas=ADAM_BETAS, eps=ADAM_EPS, weight_decay=0.0)
    history = []
    for epoch in range(epochs):
        order = torch.tensor(acwa_epoch_order(len(ytr), seed, epoch))  # acwa's order; the pure-Python shuffle stays outside the timed loop
        net.train()
        loss_sum, seen = 0.0, 0
        t0 = time.perf_counter()
        for i in range(0, len(ytr), BATCH):
            b = order[i:i + BATCH]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(xtr[b]), ytr[b])
            loss.backward()
            opt.step()
            loss_sum += float(loss) * len(b)
            seen += len(b)
        train_s = time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_s": train_s,
                        "val_macro_f1": macro_f1(net, xval, yval)})
    return {"test_macro_f1": macro_f1(net, xte, yte), "epochs": history}


# --- acwa side ----------------------------------------------------------------------------------------------------------
def acwa_command(args, model, seed, out):
    cmd = shlex.split(args.acwa) + [
        "train", "--model", model, "--dataset", "fashion-mnist", "--imbalance", "step", "--policy", "uniform",
        "--loss", "ce", "--optimizer", "adam", "--lr", repr(LR), "--schedule", "constant", "--weight-decay", "0",
        "--batch", str(BATCH), "--val-fraction", repr(VAL_FRACTION), "--epochs", str(args.epochs), "--seed", str(seed),
        "--device", "cpu", "--threads", str(args.threads), "--quiet", "--out", out]
    return cmd


def train_acwa(args, model, seed, out, log):
    if os.path.exists(out):
        shutil.rmtree(out)
    cmd = acwa_command(args, model, seed, out)
    print("  $ " + shlex.join(cmd), flush=True)
    with open(log, "w") as f:
        p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO)
    if p.returncode != 0:
        with open(log) as f:
            tail = f.read()[-3000:]
        raise SystemExit(f"acwa failed (exit {p.returncode}); log {log}:\n{tail}")
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    with open(os.path.join(out, "test_report.json")) as f:
        report = json.load(f)
    history = [{"epoch": h["epoch"] + 1, "train_loss": h["train_loss"], "train_s": h["timings"]["train"],
                "epoch_s": h["timings"]["total"], "val_macro_f1": h["val_macro_f1"]} for h in metrics]
    return {"test_macro_f1": report["macro"]["f1"], "epochs": history, "command": shlex.join(cmd), "log": log}


# --- report -------------------------------------------------------------------------------------------------------------
def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fmt(v, digits=4):
    return "-" if v is None else f"{v:.{digits}f}"


def table(results, seeds, trainers):
    lines = []
    head = ["export", "trainer"] + [f"seed {s}" for s in seeds] + ["mean", "std", "median train s/epoch"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    summary = {}
    for mode in ("training", "eval"):
        for tr in trainers:
            runs = [results[(mode, tr, s)] for s in seeds if (mode, tr, s) in results]
            f1 = [r["test_macro_f1"] for r in runs]
            mean = statistics.mean(f1) if f1 else None
            std = statistics.stdev(f1) if len(f1) > 1 else None
            times = [e["train_s"] for r in runs for e in r["epochs"]]
            med = statistics.median(times) if times else None
            summary[(mode, tr)] = (mean, std, med)
            lines.append("| " + " | ".join([f"{mode} export", tr] + [fmt(results.get((mode, tr, s), {}).get("test_macro_f1")) for s in seeds]
                                           + [fmt(mean), fmt(std), fmt(med, 1)]) + " |")
    epochs = max((len(r["epochs"]) for r in results.values()), default=0)
    lines.append("")
    lines.append("| export | trainer | " + " | ".join(f"loss ep {e + 1}" for e in range(epochs)) + " | last val macro-F1 |")
    lines.append("|---|---|" + "---|" * (epochs + 1))
    for mode in ("training", "eval"):
        for tr in trainers:
            runs = [results[(mode, tr, s)] for s in seeds if (mode, tr, s) in results]
            if not runs:
                continue
            loss = [statistics.mean(r["epochs"][e]["train_loss"] for r in runs) for e in range(epochs)]
            val = statistics.mean(r["epochs"][-1]["val_macro_f1"] for r in runs)
            lines.append(f"| {mode} export | {tr} | " + " | ".join(fmt(v) for v in loss) + f" | {fmt(val)} |")
    diffs = []
    if set(trainers) == {"acwa", "pytorch"}:
        lines.append("")
        lines.append("| export | acwa - PyTorch (mean test macro-F1) | larger seed std | within the seed spread | acwa / PyTorch train time |")
        lines.append("|---|---|---|---|---|")
        for mode in ("training", "eval"):
            (ma, sa, ta), (mp, sp, tp) = summary[(mode, "acwa")], summary[(mode, "pytorch")]
            if ma is None or mp is None:
                continue
            d = ma - mp
            spread = max(v for v in (sa, sp) if v is not None) if (sa is not None or sp is not None) else None
            within = "n/a" if spread is None else ("yes" if abs(d) <= spread else "**no**")
            ratio = f"{ta / tp:.2f}x" if ta and tp else "-"
            lines.append(f"| {mode} export | {d:+.4f} | {fmt(spread)} | {within} | {ratio} |")
            diffs.append((mode, d, spread, within))
    return "\n".join(lines), diffs


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..S-1 (default 5)")
    p.add_argument("--epochs", type=int, default=5, help="epochs per run (default 5)")
    p.add_argument("--work", default=None, help="folder for the exports and acwa run folders (default: a temporary folder, removed)")
    p.add_argument("--markdown", default=None, metavar="FILE", help="also write the table as markdown")
    p.add_argument("--json", default=None, metavar="OUT.json", help="also write every run's numbers (per-epoch loss, times)")
    p.add_argument("--acwa", default=f"dotnet run --project {os.path.join(REPO, 'src', 'Acwa.Cli')} -c Release --no-build --",
                   help="command prefix that runs the acwa CLI (default: %(default)s)")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="Fashion-MNIST IDX folder for the PyTorch side (acwa reads its default, the same folder)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for both trainers (acwa --threads, torch.set_num_threads)")
    p.add_argument("--keep-dropout-in-folded", action="store_true",
                   help="keep Dropout(0.2) in PyTorch's BN-folded net (the eval export has no Dropout node, so acwa trains without it)")
    p.add_argument("--torch-from", default=None, metavar="RUNS.json",
                   help="take the PyTorch runs from an earlier --json output (same seeds and epochs; PyTorch's side does not depend on acwa's code) and run acwa only")
    only = p.add_mutually_exclusive_group()
    only.add_argument("--only-torch", action="store_true")
    only.add_argument("--only-acwa", action="store_true")
    args = p.parse_args()
    script = os.environ.get("BN_PARITY_ARGV0", sys.argv[0])
    command_line = f"(cd {shlex.quote(os.getcwd())} && {shlex.join(['python3', script] + sys.argv[1:])})"

    _self_test_xoshiro()
    torch.set_num_threads(args.threads)
    trainers = ["acwa"] if args.only_acwa else ["pytorch"] if args.only_torch else ["acwa", "pytorch"]
    reused = {}
    if args.torch_from:
        with open(args.torch_from) as f:
            for r in json.load(f):
                if r["trainer"] == "pytorch":
                    reused[(r["export"], "pytorch", r["seed"])] = {k: v for k, v in r.items() if k not in ("export", "trainer", "seed")}
    work = args.work or tempfile.mkdtemp(prefix="bn-parity-")
    os.makedirs(work, exist_ok=True)

    x = read_idx(os.path.join(args.data, "train-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(args.data, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    xte = normalise(read_idx(os.path.join(args.data, "t10k-images-idx3-ubyte.gz")))
    yte = torch.from_numpy(read_idx(os.path.join(args.data, "t10k-labels-idx1-ubyte.gz")).astype(np.int64))

    seeds = list(range(args.seeds))
    results = {}
    load_start = os.getloadavg()
    started = time.perf_counter()
    for seed in seeds:
        torch.manual_seed(seed)
        model = BnCnn()
        init = {k: v.clone() for k, v in model.state_dict().items()}
        files = {"training": os.path.join(work, f"bncnn-seed{seed}-training.onnx"), "eval": os.path.join(work, f"bncnn-seed{seed}-eval.onnx")}
        export(model, files["training"], training=True)
        export(model, files["eval"], training=False)
        nets = {"training": lambda: _restored(init), "eval": lambda: fold_bn(_restored(init), args.keep_dropout_in_folded)}
        for mode in ("training", "eval"):
            diff, nbn, modes, ndrop = check_export(files[mode], nets[mode](), mode)
            print(f"seed {seed} {mode} export {files[mode]}: {nbn} BatchNormalization nodes (training_mode {modes}), "
                  f"{ndrop} Dropout nodes, max |ONNX initializer - PyTorch start| = {diff:.2e}", flush=True)

        if "pytorch" in trainers and all((m, "pytorch", seed) in reused for m in ("training", "eval")):
            for m in ("training", "eval"):
                results[(m, "pytorch", seed)] = reused[(m, "pytorch", seed)]
            print(f"seed {seed}: PyTorch runs taken from {args.torch_from}", flush=True)
        elif "pytorch" in trainers:
            tr_idx, val_idx = acwa_splits(y, seed)
            data = (normalise(x[tr_idx]), torch.from_numpy(y[tr_idx]), normalise(x[val_idx]), torch.from_numpy(y[val_idx]), xte, yte)
            if seed == 0:
                counts = np.bincount(y[tr_idx], minlength=10).tolist()
                print(f"data: train {len(tr_idx)} {counts}, validation {len(val_idx)}, test {len(yte)}", flush=True)
            for mode in ("training", "eval"):
                t0 = time.perf_counter()
                r = train_torch(nets[mode](), data, seed, args.epochs)
                r["seconds"] = time.perf_counter() - t0
                results[(mode, "pytorch", seed)] = r
                print(f"seed {seed} {mode} export, pytorch: test macro-F1 {r['test_macro_f1']:.4f}, losses "
                      f"{[round(e['train_loss'], 4) for e in r['epochs']]}, train s/epoch {[round(e['train_s'], 1) for e in r['epochs']]}, "
                      f"{r['seconds']:.0f} s in all", flush=True)
        if "acwa" in trainers:
            for mode in ("training", "eval"):
                t0 = time.perf_counter()
                r = train_acwa(args, files[mode], seed, os.path.join(work, f"run-{mode}-seed{seed}"), os.path.join(work, f"acwa-{mode}-seed{seed}.log"))
                r["seconds"] = time.perf_counter() - t0
                results[(mode, "acwa", seed)] = r
                print(f"seed {seed} {mode} export, acwa: test macro-F1 {r['test_macro_f1']:.4f}, losses "
                      f"{[round(e['train_loss'], 4) for e in r['epochs']]}, train s/epoch {[round(e['train_s'], 1) for e in r['epochs']]}, "
                      f"{r['seconds']:.0f} s in all (process)", flush=True)

    body, diffs = table(results, seeds, trainers)
    per_seed = {tr: statistics.median([results[(m, tr, s)]["seconds"] for m in ("training", "eval") for s in seeds]) for tr in trainers}
    acwa_cmds = [results[(m, "acwa", 0)]["command"] for m in ("training", "eval") if (m, "acwa", 0) in results]
    header = [
        "# BatchNorm parity: acwa train vs PyTorch (BnCnn, step-imbalanced Fashion-MNIST)", "",
        f"Command: `{command_line}`", "",
        f"Date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}; torch {torch.__version__}; "
        f"Python {platform.python_version()}; CPU: {cpu_model()} ({os.cpu_count()} logical cores, {args.threads} threads per trainer)", "",
        f"Protocol: {args.epochs} epochs, batch {BATCH}, Adam lr {LR} (betas {ADAM_BETAS}, eps {ADAM_EPS}), constant lr, mean cross-entropy "
        f"(policy uniform); step imbalance (classes 5-9 keep 10%), 10% stratified validation split and epoch order as acwa draws them "
        f"for the seed; input (x/255 - {FMNIST_MEAN}) / {FMNIST_STD}; test macro-F1 on the 10k test set after the last epoch. "
        "Training export: BN in training mode, Dropout(0.2) (PyTorch trains BnCnn); eval export: BN folded into the convs and no Dropout "
        f"node (PyTorch trains the folded net, {'with Dropout(0.2) kept' if args.keep_dropout_in_folded else 'without dropout as in the file'}).", "",
    ]
    if acwa_cmds:
        header += ["acwa commands (seed 0):", ""] + [f"    {c}" for c in acwa_cmds] + [""]
    footer = ["", "Median wall time of one (seed, export) run: " + ", ".join(f"{tr} {per_seed[tr]:.0f} s" for tr in trainers)
              + " (acwa: the whole process, data loading and validation included; PyTorch: training, validation and test)."
              + f" Total {time.perf_counter() - started:.0f} s. Load average (1/5/15 min) at start "
              + "/".join(f"{v:.1f}" for v in load_start) + ", at end " + "/".join(f"{v:.1f}" for v in os.getloadavg())
              + f" on {os.cpu_count()} cores: times are only comparable when nothing else ran.",
              "", "Losses are the mean training loss of each epoch (mean over seeds); validation macro-F1 is on acwa's 10% split "
              + "after the last epoch (acwa: metrics.json, its eval graph; PyTorch: eval mode)."]
    text = "\n".join(header) + "\n" + body + "\n" + "\n".join(footer) + "\n"
    print()
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"export": m, "trainer": tr, "seed": s, **r} for (m, tr, s), r in sorted(results.items())], f, indent=1)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _restored(state):
    net = BnCnn()
    net.load_state_dict(state)
    return net


if __name__ == "__main__":
    sys.exit(main())

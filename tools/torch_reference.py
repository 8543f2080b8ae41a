#!/usr/bin/env python3
"""PyTorch reference timings for Acwa.Onnx benchmarks (same models, same batch, same optimizer).

  cpu-epoch  : one training epoch on step-imbalanced Fashion-MNIST (29,700 train images after a 10% stratified
               validation split; classes 5-9 keep 10%), batch 128, Adam 1e-3, for the MLP 784-256-10 and the
               small CNN (conv32-pool-conv64-pool-fc128). Run with Debian's python3-torch on the CPU machine.
  cpu-step   : PyTorch's own training step / forward ratio on the CPU (issue 3's quantity), batch 128, random data:
               one Adam step (zero_grad, forward in train mode, cross-entropy, backward, step) against the forward alone
               in eval mode under no_grad (batch norm uses running statistics, no autograd), for the MLP and the
               small CNN (1x28x28) and CIFAR ResNet-20 (3x32x32); medians of windows, interleaved so load changes hit both.
  gpu-step   : the same on CUDA (fp32, TF32 as PyTorch defaults, cudnn.benchmark on, timed with synchronize), for
               the built-in models and, by file stem, the models of tools/export_bench_models.py (seq_lstm, seq_gru, text,
               mobilenetv2, mobilenetv3, vit: the modules it exports, random weights, dropout off).
  gpu-throughput : training images/s on CUDA for CIFAR ResNet-32 (3x32x32), the small CNN (1x28x28) and the MLP,
               fp32, batch 128, data already on the GPU; median of several timed windows after warm-up.

Prints one JSON object per line, so the C# bench can print both side by side.
"""
import argparse, gzip, json, os, statistics, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Mlp(nn.Module):
    def __init__(self, inputs=784, hidden=256, classes=10):
        super().__init__()
        self.fc1 = nn.Linear(inputs, hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


class SmallCnn(nn.Module):
    def __init__(self, in_ch=1, size=28, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * (size // 4) ** 2, 128)
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = cout - cin
        self.stride = stride

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = x
        if self.stride != 1 or self.pad:  # option A: subsample + zero-pad channels
            sc = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad // 2, self.pad // 2))
        return F.relu(out + sc)


class ResNetCifar(nn.Module):
    def __init__(self, depth=32, classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for i, cout in enumerate([16, 32, 64]):
            for j in range(n):
                layers.append(BasicBlock(cin, cout, 2 if (i > 0 and j == 0) else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


BLAS = "unknown"


def blas_library():
    """The BLAS library this process loaded (Debian's python3-torch links libblas.so.3, which the alternatives system
    points at Netlib's reference BLAS unless an optimised one such as libopenblas0-pthread is installed): its resolved
    path, so that every figure says which BLAS PyTorch's Linear layers and matmuls ran on."""
    torch.ones(4, 4) @ torch.ones(4, 4)
    with open("/proc/self/maps") as f:
        libs = sorted({line.split()[-1] for line in f if "libblas" in line.lower() and "/" in line})
    return ", ".join(os.path.realpath(p) for p in libs) or "unknown"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(magic & 0xFF)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def step_imbalanced_train(root, seed=0):
    x = read_idx(os.path.join(root, "train-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(root, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    rng = np.random.default_rng(seed)
    keep = []
    for c in range(10):
        idx = np.flatnonzero(y == c)
        n = len(idx) if c < 5 else len(idx) // 10
        keep.append(rng.permutation(idx)[:n])
    train = []
    for k in keep:  # 10% stratified validation split
        train.append(k[len(k) // 10:])
    idx = np.concatenate(train)
    return x[idx], y[idx]


def time_epoch(model, x, y, batch=128):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
    yt = torch.from_numpy(y)
    perm = torch.randperm(len(yt))
    model.train()
    t0 = time.perf_counter()
    for i in range(0, len(yt), batch):
        b = perm[i:i + batch]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xt[b]), yt[b])
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def cpu_epoch(args):
    torch.set_num_threads(args.threads)
    x, y = step_imbalanced_train(args.data)
    for name, make in [("mlp", lambda: Mlp()), ("cnn", lambda: SmallCnn())]:
        if args.models and name not in args.models.split(","):
            continue
        times = [time_epoch(make(), x, y) for _ in range(args.repeats)]
        print(json.dumps({"framework": f"pytorch {torch.__version__}", "blas": BLAS, "mode": "cpu-epoch", "model": name,
                          "images": int(len(y)), "threads": args.threads, "epoch_s_median": statistics.median(times),
                          "epoch_s_min": min(times), "epoch_s_max": max(times)}), flush=True)


def bench_model_specs():
    """(name, constructor, input maker(batch, device)) of the models the step modes time."""
    def images(shape):
        return lambda n, dev: torch.randn(n, *shape, device=dev)
    specs = [("mlp", lambda: Mlp(), images((1, 28, 28))), ("cnn", lambda: SmallCnn(), images((1, 28, 28))),
             ("resnet20", lambda: ResNetCifar(20), images((3, 32, 32))), ("resnet32", lambda: ResNetCifar(32), images((3, 32, 32)))]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import export_bench_models as ebm  # the modules `acwa bench step --model FILE.onnx` times, by file stem

    def no_dropout(m):
        for mod in m.modules():
            if isinstance(mod, nn.Dropout):
                mod.p = 0.0
            if isinstance(mod, nn.MultiheadAttention):
                mod.dropout = 0.0
        return m
    specs += [("seq_lstm", lambda: ebm.SeqLstm(10), lambda n, dev: torch.randn(n, 100, 12, device=dev)),
              ("seq_gru", lambda: ebm.SeqLstm(10, cell=nn.GRU), lambda n, dev: torch.randn(n, 100, 12, device=dev)),
              ("text", lambda: no_dropout(ebm.TextClassifier(10)), lambda n, dev: torch.randint(1, 8000, (n, 64), device=dev)),
              ("mobilenetv2", lambda: ebm.mobilenetv2(10), images((3, 64, 64))),
              ("mobilenetv3", lambda: ebm.mobilenetv3_small(10), images((3, 64, 64))),
              ("vit", lambda: no_dropout(ebm.Vit(64, 10)), images((3, 64, 64)))]
    return specs


def cpu_step(args):
    step_ratio(args, torch.device("cpu"))


def gpu_step(args):
    torch.backends.cudnn.benchmark = True
    step_ratio(args, torch.device("cuda"))


def step_ratio(args, dev):
    torch.set_num_threads(args.threads)
    cuda = dev.type == "cuda"
    wanted = args.models.split(",") if args.models else ["mlp", "cnn", "resnet20"]
    for name, make, inputs in bench_model_specs():
        if name not in wanted:
            continue
        torch.manual_seed(0)
        model = make().to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = inputs(args.batch, dev)
        y = torch.randint(0, 10, (args.batch,), device=dev)

        def step():
            model.train()
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()

        def forward():
            model.eval()
            with torch.no_grad():
                model(x)

        def sync():
            if cuda:
                torch.cuda.synchronize()

        for _ in range(args.warmup):
            step()
            forward()
        sync()
        steps, fwds = [], []
        for w in range(args.windows):  # interleaved windows: step window, then forward window
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step()
            sync()
            t1 = time.perf_counter()
            for _ in range(args.steps):
                forward()
            sync()
            t2 = time.perf_counter()
            steps.append((t1 - t0) / args.steps * 1e3)
            fwds.append((t2 - t1) / args.steps * 1e3)
        print(json.dumps({"framework": f"pytorch {torch.__version__}", "blas": BLAS, "mode": "gpu-step" if cuda else "cpu-step",
                          "model": name, "device": torch.cuda.get_device_name(0) if cuda else "cpu",
                          "batch": args.batch, "threads": args.threads,
                          "step_ms_median": statistics.median(steps), "step_ms_min": min(steps), "step_ms_max": max(steps),
                          "forward_ms_median": statistics.median(fwds), "forward_ms_min": min(fwds),
                          "forward_ms_max": max(fwds),
                          "step_over_forward": statistics.median(s / f for s, f in zip(steps, fwds))}), flush=True)


def gpu_throughput(args):
    dev = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    specs = [("resnet32", lambda: ResNetCifar(32), (3, 32, 32)), ("cnn", lambda: SmallCnn(), (1, 28, 28)),
             ("mlp", lambda: Mlp(), (1, 28, 28))]
    for name, make, shape in specs:
        if args.models and name not in args.models.split(","):
            continue
        model = make().to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        xs = torch.randn(8, args.batch, *shape, device=dev)
        ys = torch.randint(0, 10, (8, args.batch), device=dev)

        def step(i):
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xs[i % 8]), ys[i % 8])
            loss.backward()
            opt.step()

        for i in range(args.warmup):
            step(i)
        torch.cuda.synchronize()
        rates = []
        for w in range(args.windows):
            t0 = time.perf_counter()
            for i in range(args.steps):
                step(i)
            torch.cuda.synchronize()
            rates.append(args.steps * args.batch / (time.perf_counter() - t0))
        print(json.dumps({"framework": f"pytorch {torch.__version__}", "mode": "gpu-throughput", "model": name,
                          "device": torch.cuda.get_device_name(0), "batch": args.batch,
                          "images_per_s_median": statistics.median(rates), "min": min(rates), "max": max(rates)}),
              flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["cpu-epoch", "cpu-step", "gpu-step", "gpu-throughput"])
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--models", default="")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--windows", type=int, default=5)
    args = p.parse_args()
    global BLAS
    BLAS = blas_library()
    torch.manual_seed(0)
    {"cpu-epoch": cpu_epoch, "cpu-step": cpu_step, "gpu-step": gpu_step, "gpu-throughput": gpu_throughput}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
